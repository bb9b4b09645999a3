"""The eligibility cross-checks (比对) on the demo county, the way a county runs them: the checks of
fixtures/cross_checks.json loaded (the administrator's road), one run over the county after its department files
and assistance are in, and a few hits verified by the officials of their townships through the same services as the
hit page (one confirmed, one dismissed with a reason), so that the pages, the report and the auditor's export show
every state. The rest stay pending for the county's officials."""

import datetime as dt
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings

from eligibility.models import CrossCheckHit
from eligibility.services import confirm_hit, dismiss_hit, load_cross_checks, run_cross_checks

CHECKS_FILE = Path(settings.BASE_DIR) / "fixtures" / "cross_checks.json"


def run_demo_cross_checks(
    *, county_code: str, as_of: dt.date, admin: Any, officials: list[Any], say: Callable[[str], Any]
) -> dict[str, int]:
    """Load the checks, run them over the county, verify two hits in each official's township; counts by check."""
    load_cross_checks(path=CHECKS_FILE, by=admin)
    run = run_cross_checks(county_code=county_code, as_of=as_of, by=admin)
    counts = {code: entry.get("found", 0) for code, entry in run.by_check.items()}
    found = "，".join(f"{entry['name']} {entry.get('found', 0)}" for entry in run.by_check.values())
    say(f"资格比对（{as_of:%Y-%m-%d}）：疑点 {run.hits_found} 条（{found}）。")
    for official in officials:
        pending = CrossCheckHit.objects.filter(
            township_code=official.region.code, status=CrossCheckHit.Status.PENDING
        ).order_by("cross_check__code", "id")
        first = pending.first()
        if first is not None:
            confirm_hit(hit=first, by=official, note="入户核实，情况属实，转县级审核。")
        second = pending.exclude(cross_check_id=getattr(first, "cross_check_id", None)).first()
        if second is not None:
            dismiss_hit(hit=second, by=official, reason="入户核实：部门记录与本人实际情况不符，已留存核实材料。")
    return counts
