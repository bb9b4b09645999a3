"""How many households each township verifies in one review round: the quota of the risk list.

Three sources, the first that speaks wins, for a township with n households scored (or on the list):

1. ReviewCapacity: a number for that township (administrators, in the admin);
2. ReviewQuota: the county's own default, edited by the county's staff on /risk/quota/: a number of
   households per township, or a share of n (rounded up);
3. the built-in default of the caller: evaluation (risk.evaluation) takes 10% of n, case opening
   (risk.services) 30 households, as before there were county settings.

Evaluation (targeting metrics of a trained model), case opening and the risk list's township summary
(risk.list_selectors.township_capacities) read the same ReviewQuota, so the EE/IE a model page shows are
measured at the county's own quota and the list shows the quota cases are opened by.
"""

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.audit.services import diff, record_event
from povertycloud.regions.models import PREFIX_LENGTH, Region
from risk.models import ReviewCapacity, ReviewQuota

COUNTY_DIGITS = PREFIX_LENGTH[Region.Level.COUNTY]


def county_of(code: str) -> str:
    return code[:COUNTY_DIGITS].ljust(12, "0")


@dataclass(frozen=True)
class Quota:
    """Per-township numbers (ReviewCapacity) and per-county defaults (ReviewQuota), resolved per township."""

    townships: Mapping[str, int] = field(default_factory=dict)
    counties: Mapping[str, tuple[int | None, float | None]] = field(default_factory=dict)

    def for_township(
        self, township: str, n: int, *, default_share: float | None = None, default_households: int | None = None
    ) -> int:
        if township in self.townships:
            return int(self.townships[township])
        households, share = self.counties.get(county_of(township), (None, None))
        if households is not None:
            return int(households)
        if share is not None:
            return math.ceil(share * n)
        if default_households is not None:
            return default_households
        return math.ceil((default_share or 0.0) * n)

    def source(self, default: str) -> str:
        """Words for what set the quota (stored with a model's metrics)."""
        parts = []
        if self.townships:
            parts.append("ReviewCapacity")
        for county, (households, share) in sorted(self.counties.items()):
            if households is not None:
                parts.append(f"ReviewQuota {county}: {households} per township")
            elif share is not None:
                parts.append(f"ReviewQuota {county}: {share:.1%} per township")
        return "; ".join([*parts, f"otherwise {default}"]) if parts else default

    def __bool__(self) -> bool:
        return bool(self.townships or self.counties)


def as_quota(capacity: "Quota | Mapping[str, int] | None") -> Quota:
    if isinstance(capacity, Quota):
        return capacity
    return Quota(townships=dict(capacity or {}))


def review_quota(townships: Iterable[str] | None = None) -> Quota:
    """The ReviewCapacity rows of the given townships (all when None) and their counties' ReviewQuota."""
    capacities = ReviewCapacity.objects.all()
    quotas = ReviewQuota.objects.all()
    if townships is not None:
        townships = set(townships)
        capacities = capacities.filter(region_id__in=townships)
        quotas = quotas.filter(region_id__in={county_of(t) for t in townships})
    return Quota(
        townships=dict(capacities.values_list("region_id", "households")),
        counties={
            code: (households, float(share) if share is not None else None)
            for code, households, share in quotas.values_list("region_id", "households", "share")
        },
    )


def township_quotas(sizes: Mapping[str, int], *, default_households: int) -> dict[str, int]:
    """The quota of each township given how many households it has on the list (case opening)."""
    quota = review_quota(sizes)
    return {t: quota.for_township(t, n, default_households=default_households) for t, n in sizes.items()}


def quota_of_county(county: Region) -> ReviewQuota | None:
    return ReviewQuota.objects.filter(region=county).first()


def can_edit_quota(user: Any, county: Region) -> bool:
    """County staff of that county, and administrators; not township officials, not auditors."""
    role = role_of(user)
    if role == Role.ADMIN:
        return True
    region = getattr(user, "region", None)
    return (
        role == Role.COUNTY_STAFF
        and region is not None
        and region.level == Region.Level.COUNTY
        and region.code == county.code
    )


def parse_share(value: Any) -> Decimal | None:
    if value in (None, ""):
        return None
    try:
        share = Decimal(str(value))
    except InvalidOperation as exc:
        raise ValidationError({"share": _("比例须为 0 到 1 之间的小数。")}) from exc
    if not (Decimal(0) < share <= Decimal(1)):
        raise ValidationError({"share": _("比例须大于 0、不超过 1（例如 0.1 即 10%）。")})
    return share.quantize(Decimal("0.001"))


@transaction.atomic
def set_review_quota(*, by: Any, county: Region, households: int | None, share: Any) -> ReviewQuota:
    """Set a county's default review quota (a number per township, or a share); audited."""
    if county.level != Region.Level.COUNTY:
        raise ValidationError(_("核实名额按县设置。"))
    if not can_edit_quota(by, county):
        raise PermissionDenied(_("只有本县的县级工作人员或系统管理员可以修改核实名额。"))
    share = parse_share(share)
    if households is not None and households < 1:
        raise ValidationError({"households": _("每个乡镇每轮核实户数至少为 1。")})
    if households is None and share is None:
        raise ValidationError(_("请填写每个乡镇每轮核实户数，或核实比例。"))
    quota = ReviewQuota.objects.select_for_update().filter(region=county).first()
    before = {"households": quota.households, "share": str(quota.share)} if quota else {}
    if quota is None:
        quota = ReviewQuota(region=county)
    quota.households, quota.share, quota.updated_by = households, share, by
    quota.save()
    record_event(
        actor=by,
        action="update" if before else "create",
        entity="risk.reviewquota",
        object_pk=county.code,
        object_repr=str(quota),
        region_code=county.code,
        changes=diff(before, {"households": households, "share": str(share)}),
        note=_("修改核实名额：%(county)s") % {"county": county.name},
    )
    return quota


def case_quotas(run: Any, *, default_households: int) -> dict[str, int]:
    """The quota of each township of a scoring run, for opening cases (risk.services): ReviewCapacity, else
    the county's ReviewQuota (a share counts the run's households of the township), else the caller's
    default (townships left out of the dict take it)."""
    from django.db.models import Count
    from django.db.models.functions import Substr

    from risk.models import RiskScore

    quota = review_quota()
    if not quota.counties:
        return dict(quota.townships)
    township_digits = PREFIX_LENGTH[Region.Level.TOWNSHIP]
    sizes = (
        RiskScore.objects.filter(run=run)
        .annotate(township=Substr("region_code", 1, township_digits))
        .values("township")
        .annotate(n=Count("id"))
        .values_list("township", "n")
    )
    return {
        (code := prefix.ljust(12, "0")): quota.for_township(code, n, default_households=default_households)
        for prefix, n in sizes
    }
