"""Reads for the risk list: the households a user may see with their scores, filters, keyset pages, and the
per-township summary.

Every queryset that reaches a user is narrowed by povertycloud.regions.scoping. Lists are keyset
paginated (no OFFSET, no COUNT over the table): a page reads size + 1 rows, the extra one only says
whether another page follows.
"""

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.db.models.functions import Substr
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from households.codes import codebook
from households.models import Household
from households.selectors import head_names
from povertycloud.paging import Page, keyset_page
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.scoping import region_prefix_of, scope_for_user, sees_everything
from risk.capacity import county_of, review_quota
from risk.models import RiskCase, RiskScore, ScoringRun, Warning, WarningRule
from risk.services import (
    DECIDED_STATUSES,
    DEFAULT_CAPACITY,
    OPEN_STATUSES,
    TOWNSHIP_DIGITS,
    ranking_column,
    township_code,
)

PAGE_SIZE = 50
TOP_FACTORS = 3
SORTS = {"p_return": "p_return", "p_poor": "p_poor"}
# Shown where a run has no return model (a county with one year of income: p_return is NULL).
NO_RETURN_MODEL = _("无返贫模型（需两年收支）")
Status = RiskCase.Status

# Case status filter values beyond the model's statuses.
NO_CASE, OPEN, OVERDUE = "none", "open", "overdue"


def code_range(prefix: str) -> tuple[str, str]:
    """A region prefix as a range of 12-digit codes, which a plain index can seek (a LIKE may not)."""
    return prefix.ljust(12, "0"), prefix.ljust(12, "9")


def townships_for(user: Any) -> QuerySet[Region]:
    townships = Region.objects.filter(level=Region.Level.TOWNSHIP)
    if sees_everything(user):
        return townships.order_by("code")
    prefix = region_prefix_of(user)
    if prefix is None:
        return townships.none()
    # A village official's township holds their village; anyone else sees the townships under them.
    region = user.region
    if region.level > Region.Level.TOWNSHIP:
        return townships.filter(code=township_code(region.code))
    return townships.filter(code__startswith=prefix).order_by("code")


def latest_run_for(user: Any) -> ScoringRun | None:
    """The newest finished scoring run that covers the user's region (or lies within it)."""
    runs = (
        ScoringRun.objects.filter(finished_at__isnull=False)
        .select_related("poor_model", "return_model")
        .only(
            "as_of",
            "region_code",
            "finished_at",
            "households_scored",
            "poor_model__version",
            "return_model__version",
        )
        .order_by("-as_of", "-finished_at", "-id")
    )
    if sees_everything(user):
        return runs.first()
    region = getattr(user, "region", None)
    if region is None:
        return None
    # The codes of the region and its ancestors, from the code itself (统计用区划代码 nest by prefix).
    covering = {
        region.code[:length].ljust(12, "0") for length in PREFIX_LENGTH.values() if length <= len(region.prefix)
    }
    return runs.filter(Q(region_code__in=sorted(covering)) | Q(region_code__startswith=region.prefix)).first()


def default_sort(run: ScoringRun | None) -> str:
    """The list's default order: by p_return, or by p_poor for a run without a return model."""
    return ranking_column(run) if run is not None else "p_return"


def sort_for(run: ScoringRun | None, sort: str) -> str:
    """The sort asked for, unless it is by p_return on a run without a return model (every p_return is
    NULL there): then by p_poor."""
    sort = sort if sort in SORTS else default_sort(run)
    if sort == "p_return" and run is not None and run.return_model_id is None:
        return "p_poor"
    return sort


def scores_for(user: Any, run: ScoringRun | None) -> QuerySet[RiskScore]:
    if run is None:
        return RiskScore.objects.none()
    queryset = scope_for_user(RiskScore.objects.filter(run=run), user)
    prefix = None if sees_everything(user) else region_prefix_of(user)
    if prefix:
        first, last = code_range(prefix)
        queryset = queryset.filter(region_code__gte=first, region_code__lte=last)
    return queryset


def _rule_contains(code: str) -> Q:
    # warning_rules is a JSON list of rule codes (slugs); '"code"' in its text matches one code exactly.
    return Q(warning_rules__icontains=f'"{code}"')


def filter_scores(
    queryset: QuerySet[RiskScore],
    filters: Mapping[str, Any],
    *,
    run: ScoringRun,
    today: dt.date | None = None,
) -> QuerySet[RiskScore]:
    today = today or timezone.localdate()
    township = filters.get("township")
    if township:
        first, last = code_range(township[:TOWNSHIP_DIGITS])
        queryset = queryset.filter(region_code__gte=first, region_code__lte=last)
    if filters.get("level"):
        queryset = queryset.filter(level=filters["level"])
    risk_type = filters.get("risk_type")
    if risk_type:
        warned = Warning.objects.filter(rule__risk_type=risk_type, as_of__lte=run.as_of)
        queryset = queryset.filter(
            Q(household__risk_types__contains=f",{risk_type},") | Q(household_id__in=warned.values("household_id"))
        )
    rule = filters.get("rule")
    if rule:
        queryset = queryset.filter(
            household_id__in=RiskCase.objects.filter(_rule_contains(rule)).values("household_id")
        )
    status = filters.get("status")
    open_cases = RiskCase.objects.filter(status__in=OPEN_STATUSES)
    if status == NO_CASE:
        queryset = queryset.exclude(Exists(RiskCase.objects.filter(household=OuterRef("household_id"))))
    elif status == OPEN:
        queryset = queryset.filter(household_id__in=open_cases.values("household_id"))
    elif status == OVERDUE:
        queryset = queryset.filter(household_id__in=open_cases.filter(due_on__lt=today).values("household_id"))
    elif status in OPEN_STATUSES:
        queryset = queryset.filter(household_id__in=open_cases.filter(status=status).values("household_id"))
    elif status in DECIDED_STATUSES:
        decided = RiskCase.objects.filter(status=status)
        queryset = queryset.filter(household_id__in=decided.values("household_id")).exclude(
            household_id__in=open_cases.values("household_id")
        )
    return queryset


# --- Keyset pages ------------------------------------------------------------------------------------


def parse_float_key(key: str | None) -> tuple[float, int] | None:
    if not key or ":" not in key:
        return None
    value, _, pk = key.rpartition(":")
    try:
        return float(value), int(pk)
    except ValueError:
        return None


def parse_date_key(key: str | None) -> tuple[str, int] | None:
    if not key or ":" not in key:
        return None
    value, _, pk = key.rpartition(":")
    try:
        return dt.date.fromisoformat(value).isoformat(), int(pk)
    except ValueError:
        return None


# --- The risk list -----------------------------------------------------------------------------------


@dataclass
class CaseState:
    case: RiskCase | None
    label: str = ""
    days_left: int | None = None
    overdue: bool = False
    decided: bool = False

    @property
    def overdue_days(self) -> int:
        return -self.days_left if self.overdue and self.days_left is not None else 0


def case_state(case: RiskCase | None, today: dt.date) -> CaseState:
    if case is None:
        return CaseState(case=None)
    state = CaseState(case=case, label=case.get_status_display())
    if case.status in OPEN_STATUSES:
        state.days_left = (case.due_on - today).days
        state.overdue = today > case.due_on
    else:
        state.decided = True
    return state


def current_cases(household_ids: list[int]) -> dict[int, RiskCase]:
    """Each household's current case: its open one, else its latest decided one."""
    chosen: dict[int, RiskCase] = {}
    cases = RiskCase.objects.filter(household_id__in=household_ids).select_related("assigned_to")
    for case in cases.order_by("household_id", "id"):
        current = chosen.get(case.household_id)
        if current is None or current.status not in OPEN_STATUSES:
            chosen[case.household_id] = case
    return chosen


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@dataclass
class RiskRow:
    score: RiskScore
    household: Household
    head_name: str
    village_name: str
    level_label: str
    factors: list[str]
    rules: list[str]
    state: CaseState
    risk_labels: list[str] = field(default_factory=list)

    @property
    def p_return(self) -> str:
        return percent(self.score.p_return)

    @property
    def p_poor(self) -> str:
        return percent(self.score.p_poor)


def rule_names() -> dict[str, str]:
    return dict(WarningRule.objects.values_list("code", "name"))


def rule_labels(codes: list[str]) -> list[str]:
    if not codes:
        return []
    names = dict(WarningRule.objects.filter(code__in=codes).values_list("code", "name"))
    return [names.get(code, code) for code in codes]


def factor_phrases(factors: Any, limit: int = TOP_FACTORS) -> list[str]:
    if not isinstance(factors, list):
        return []
    phrases = []
    for factor in factors:
        phrase = factor.get("phrase") if isinstance(factor, dict) else str(factor)
        if phrase:
            phrases.append(str(phrase))
        if len(phrases) >= limit:
            break
    return phrases


def risk_rows(scores: list[RiskScore], *, today: dt.date, rules: dict[str, str]) -> list[RiskRow]:
    ids = [score.household_id for score in scores]
    heads = head_names(ids) if ids else {}
    cases = current_cases(ids) if ids else {}
    book = codebook()
    rows = []
    for score in scores:
        case = cases.get(score.household_id)
        household = score.household
        rows.append(
            RiskRow(
                score=score,
                household=household,
                head_name=heads.get(score.household_id, ""),
                village_name=household.village.name,
                level_label=score.get_level_display(),
                factors=factor_phrases(score.factors),
                rules=[rules.get(code, code) for code in (case.warning_rules if case else [])],
                state=case_state(case, today),
                risk_labels=[book.label("risk_type", code) for code in household.risk_type_codes],
            )
        )
    return rows


def risk_page(
    queryset: QuerySet[RiskScore],
    *,
    sort: str = "p_return",
    after: str | None = None,
    before: str | None = None,
    size: int | None = None,
    today: dt.date | None = None,
    rules: dict[str, str] | None = None,
) -> Page:
    """One page of the risk list, highest probability first, found by key (probability, id). Sort by a
    column that is never NULL in the run (sort_for): keyset keys cannot hold a NULL."""
    size = size or PAGE_SIZE
    column = SORTS.get(sort, "p_return")
    queryset = queryset.select_related("household__village")
    page = keyset_page(
        queryset,
        columns=(column, "id"),
        descending=True,
        parse=parse_float_key,
        key_of=lambda score: f"{getattr(score, column)!r}:{score.pk}",
        after=after,
        before=before,
        size=size,
    )
    page.rows = risk_rows(
        page.rows, today=today or timezone.localdate(), rules=rules if rules is not None else rule_names()
    )
    return page


@dataclass
class TownshipSummary:
    township: Region
    capacity: int | None  # None: a share of a township's scored households, and no run to count them in
    open_cases: int = 0
    overdue: int = 0
    verifying: int = 0


def _scored_per_township(run: ScoringRun, townships: list[str]) -> dict[str, int]:
    """Households the run scored in each of the given townships (one grouped read of the run's rows
    there; only asked for townships whose quota is a share)."""
    if not townships:
        return {}
    first, last = code_range(min(townships)[:TOWNSHIP_DIGITS])[0], code_range(max(townships)[:TOWNSHIP_DIGITS])[1]
    rows = (
        RiskScore.objects.filter(run=run, region_code__gte=first, region_code__lte=last)
        .annotate(township=Substr("region_code", 1, TOWNSHIP_DIGITS))
        .values("township")
        .annotate(n=Count("id"))
        .values_list("township", "n")
    )
    wanted = set(townships)
    return {code: n for prefix, n in rows if (code := prefix.ljust(12, "0")) in wanted}


def township_capacities(townships: list[str], run: ScoringRun | None) -> dict[str, int | None]:
    """Each township's review quota as case opening applies it (risk.capacity): its ReviewCapacity, else
    the county's ReviewQuota (a number, or a share of the households the run scored there), else the
    built-in default. None where the quota is a share and there is no run to count households in."""
    quota = review_quota(townships)

    def by_share(township: str) -> bool:
        households, share = quota.counties.get(county_of(township), (None, None))
        return township not in quota.townships and households is None and share is not None

    shared = [t for t in townships if by_share(t)]
    sizes = _scored_per_township(run, shared) if run is not None else {}
    capacities: dict[str, int | None] = {}
    for township in townships:
        if township in shared and run is None:
            capacities[township] = None
            continue
        capacities[township] = quota.for_township(
            township, sizes.get(township, 0), default_households=DEFAULT_CAPACITY
        )
    return capacities


def township_summary(
    user: Any,
    *,
    today: dt.date | None = None,
    townships: list[Region] | None = None,
    run: ScoringRun | None = None,
) -> list[TownshipSummary]:
    """Per township of the user's region: review capacity (the county's quota settings, as case opening
    reads them), open cases, overdue cases (counted here from the open cases' rows, which are few, rather
    than by COUNT over any table)."""
    today = today or timezone.localdate()
    townships = list(townships_for(user)) if townships is None else townships
    capacities = township_capacities([t.code for t in townships], run)
    rows = {t.code: TownshipSummary(township=t, capacity=capacities.get(t.code)) for t in townships}
    open_cases = scope_for_user(RiskCase.objects.filter(status__in=OPEN_STATUSES), user)
    for region_code, status, due_on in open_cases.values_list("region_code", "status", "due_on"):
        row = rows.get(township_code(region_code))
        if row is None:
            continue
        row.open_cases += 1
        row.verifying += status == Status.VERIFYING
        row.overdue += today > due_on
    return list(rows.values())
