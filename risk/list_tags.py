"""The risk list's stored filter values (RiskListTag): built when a run is scored, kept current when cases
open or are decided, a warning is saved, or a household's risk types change.

Why a side table: the filters by risk type, warning rule and case status each pick a few percent of a
run's households. Asked of the source tables they were an OR of a '%…%' pattern on every household with a
warnings subquery over every region, or IN (cases of every region): scans that grow with the database.
Stored as (run, tag, region_code) rows they are one index range of the user's region, and the list joins
the few score ids it finds. A DB-agnostic shape: SQLite runs the same queries.

Tags of a score:

- ``risk:<code>`` — the household's own risk types (Household.risk_types) and those of the warnings raised
  in the run's region up to the run's date (a WarningRule's risk_type);
- ``rule:<code>`` — the warning rules named by any of the household's cases;
- ``case`` — the household has a case (the list's "no case" filter is its absence);
- ``status:<status>`` — the open case's status and ``status:open`` with its due date; without an open case,
  each decided status of its cases (纳入监测, 排除).

Case-derived tags are the household's now, so every run's rows of the household follow a case change.
"""

import datetime as dt
import time
from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from households.models import Household
from povertycloud.db import analyze
from povertycloud.regions.models import Region
from risk.models import RiskCase, RiskListTag, RiskScore, ScoringRun, Warning

RISK, RULE, CASE, STATUS = "risk:", "rule:", "case", "status:"
# A number in the shared cache that moves whenever any case is opened, joined, decided or deleted (every such
# write ends in refresh_households with case=True): what is computed from cases and cached (the risk list's
# per-township case counts) is keyed by it, so a change is seen on the next request.
CASES_VERSION_KEY = "risk:cases-version"
OPEN_TAG = "status:open"
OPEN = ("warned", "verifying")
BATCH = 5000
CHUNK = 2000
WARNING_FIELDS = ("household_id", "as_of", "rule__risk_type", "region_code")
CASE_FIELDS = ("household_id", "status", "due_on", "warning_rules")
SCORE_FIELDS = ("pk", "run_id", "household_id", "region_code", "p_poor", "p_return")


def risk_tag(code: str) -> str:
    return f"{RISK}{code}"


def rule_tag(code: str) -> str:
    return f"{RULE}{code}"


def status_tag(status: str) -> str:
    return f"{STATUS}{status}"


def _prefix(region_code: str) -> str:
    region = Region.objects.filter(code=region_code).only("code", "level").first()
    return region.prefix if region is not None else region_code


def _codes(text: str) -> list[str]:
    return [code for code in (text or "").split(",") if code]


def case_tags(cases: Iterable[tuple[str, dt.date, Any]]) -> list[tuple[str, dt.date | None]]:
    """The tags one household's cases give: (tag, due date) pairs."""
    cases = list(cases)
    if not cases:
        return []
    tags: dict[str, dt.date | None] = {CASE: None}
    for _status, _due_on, rules in cases:
        for code in rules if isinstance(rules, list) else []:
            tags.setdefault(rule_tag(str(code)), None)
    open_cases = [(status, due_on) for status, due_on, _rules in cases if status in OPEN]
    if open_cases:
        status, due_on = min(open_cases, key=lambda case: case[1])
        tags[status_tag(status)] = due_on
        tags[OPEN_TAG] = due_on
    else:
        for status, _due_on, _rules in cases:
            tags.setdefault(status_tag(status), None)
    return list(tags.items())


def _warned_types(warnings: Iterable[tuple[int, dt.date, str, str]], as_of: dt.date, prefix: str) -> dict:
    """Risk types per household from warnings raised in the run's region up to its date."""
    found: dict[int, set[str]] = defaultdict(set)
    for household_id, warned_on, risk_type, region_code in warnings:
        if risk_type and warned_on <= as_of and region_code.startswith(prefix):
            found[household_id].add(risk_type)
    return found


def _rows(scores, *, own, warned, cases) -> list[RiskListTag]:
    rows = []
    for score_id, run_id, household_id, region_code, p_poor, p_return in scores:
        tags: dict[str, dt.date | None] = {}
        for code in sorted(set(own.get(household_id, ())) | warned.get(household_id, set())):
            tags[risk_tag(code)] = None
        for tag, due_on in case_tags(cases.get(household_id, ())):
            tags[tag] = due_on
        rows.extend(
            RiskListTag(
                run_id=run_id, score_id=score_id, household_id=household_id, region_code=region_code,
                tag=tag, due_on=due_on, p_poor=p_poor, p_return=p_return,
            )
            for tag, due_on in tags.items()
        )
    return rows


def _cases_by_household(cases) -> dict[int, list]:
    found: dict[int, list] = defaultdict(list)
    for household_id, status, due_on, rules in cases:
        found[household_id].append((status, due_on, rules))
    return found


@transaction.atomic
def build_run(run: ScoringRun, *, analyze_after: bool = True) -> int:
    """Every tag of a run, read region by region (no IN list of the run's households), written in bulk.
    Returns the number of rows."""
    prefix = _prefix(run.region_code)
    first, last = prefix.ljust(12, "0"), prefix.ljust(12, "9")
    RiskListTag.objects.filter(run=run).delete()
    own = {
        pk: _codes(text)
        for pk, text in Household.objects.filter(village_id__gte=first, village_id__lte=last)
        .exclude(risk_types="")
        .values_list("pk", "risk_types")
        .iterator(chunk_size=BATCH)
    }
    warnings = Warning.objects.filter(
        region_code__gte=first, region_code__lte=last, as_of__lte=run.as_of
    ).exclude(rule__risk_type="")
    warned = _warned_types(warnings.values_list(*WARNING_FIELDS), run.as_of, prefix)
    cases = _cases_by_household(
        RiskCase.objects.filter(region_code__gte=first, region_code__lte=last).values_list(*CASE_FIELDS)
    )
    wanted = set(own) | set(warned) | set(cases)
    scores = [
        row
        for row in RiskScore.objects.filter(run=run).values_list(*SCORE_FIELDS)
        .iterator(chunk_size=BATCH)
        if row[2] in wanted
    ]
    rows = _rows(scores, own=own, warned=warned, cases=cases)
    RiskListTag.objects.bulk_create(rows, batch_size=BATCH)
    if analyze_after:
        analyze(RiskListTag)
    return len(rows)


@transaction.atomic
def refresh_households(household_ids: Iterable[int], *, risk: bool = True, case: bool = True) -> None:
    """Rebuild the tags of these households in every run that scored them (a case opened, joined or decided;
    a warning raised; the household's risk types changed). risk / case choose which tags to rebuild."""
    ids = sorted({int(pk) for pk in household_ids if pk is not None})
    if not (risk or case):
        return
    if case:
        # Now, and again once the write commits: a request in between must not keep the counts of before it
        # under the new number.
        cases_changed()
        transaction.on_commit(cases_changed, robust=True)
    # In chunks: an IN list stays within SQLite's limit of bound parameters however many cases a run opens.
    for start in range(0, len(ids), CHUNK):
        _refresh(ids[start : start + CHUNK], risk=risk, case=case)


def cases_changed() -> None:
    try:
        cache.incr(CASES_VERSION_KEY)
    except ValueError:  # not set yet (a new cache, or evicted): any new value differs from what keys used
        cache.set(CASES_VERSION_KEY, time.time_ns(), None)


def cases_version() -> int:
    return cache.get(CASES_VERSION_KEY, 0)


def _refresh(ids: list[int], *, risk: bool, case: bool) -> None:
    scores = list(RiskScore.objects.filter(household_id__in=ids).values_list(*SCORE_FIELDS))
    if not scores:
        return
    stale = RiskListTag.objects.filter(household_id__in=ids)
    if not (risk and case):
        stale = stale.filter(tag__startswith=RISK) if risk else stale.exclude(tag__startswith=RISK)
    stale.delete()
    runs = ScoringRun.objects.filter(pk__in={score[1] for score in scores}).only("as_of", "region_code")
    runs = {run.pk: run for run in runs}
    prefixes = {code: _prefix(code) for code in {run.region_code for run in runs.values()}}
    own, warnings, cases = {}, [], {}
    if risk:
        own = {pk: _codes(text) for pk, text in Household.objects.filter(pk__in=ids).values_list("pk", "risk_types")}
        warnings = list(
            Warning.objects.filter(household_id__in=ids)
            .exclude(rule__risk_type="")
            .values_list(*WARNING_FIELDS)
        )
    if case:
        cases = _cases_by_household(
            RiskCase.objects.filter(household_id__in=ids).values_list(*CASE_FIELDS)
        )
    rows = []
    for run_id, run in runs.items():
        run_scores = [s for s in scores if s[1] == run_id]
        warned = _warned_types(warnings, run.as_of, prefixes[run.region_code]) if risk else {}
        rows.extend(_rows(run_scores, own=own, warned=warned, cases=cases))
    RiskListTag.objects.bulk_create(rows, batch_size=BATCH)


# Single rows saved one by one (forms, the admin, tests) keep their tags current here; bulk writes (scoring,
# opening cases, raising warnings, registry imports) call build_run / refresh_households themselves.


def _score_saved(sender, instance: RiskScore, created: bool, raw: bool = False, **kwargs) -> None:
    if raw:
        return
    RiskListTag.objects.filter(score_id=instance.pk).delete()
    run = ScoringRun.objects.only("as_of", "region_code").get(pk=instance.run_id)
    household_id = instance.household_id
    risk_types = Household.objects.filter(pk=household_id).values_list("risk_types", flat=True).first()
    warnings = Warning.objects.filter(household_id=household_id).exclude(rule__risk_type="")
    warned = _warned_types(warnings.values_list(*WARNING_FIELDS), run.as_of, _prefix(run.region_code))
    cases = _cases_by_household(RiskCase.objects.filter(household_id=household_id).values_list(*CASE_FIELDS))
    row = (instance.pk, instance.run_id, household_id, instance.region_code, instance.p_poor, instance.p_return)
    RiskListTag.objects.bulk_create(
        _rows([row], own={household_id: _codes(risk_types or "")}, warned=warned, cases=cases)
    )


def _case_changed(sender, instance: RiskCase, raw: bool = False, **kwargs) -> None:
    if not raw:
        refresh_households([instance.household_id], risk=False)


def _warning_saved(sender, instance: Warning, raw: bool = False, **kwargs) -> None:
    if not raw:
        refresh_households([instance.household_id], case=False)


post_save.connect(_score_saved, sender=RiskScore, dispatch_uid="risk_list_tags_score")
post_save.connect(_case_changed, sender=RiskCase, dispatch_uid="risk_list_tags_case_saved")
post_delete.connect(_case_changed, sender=RiskCase, dispatch_uid="risk_list_tags_case_deleted")
post_save.connect(_warning_saved, sender=Warning, dispatch_uid="risk_list_tags_warning")
