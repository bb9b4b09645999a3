"""Reads for the risk pages: the risk list, the per-township summary, case lists and the case page.

Every queryset that reaches a user is narrowed by povertycloud.regions.scoping. Lists are keyset
paginated (no OFFSET, no COUNT over the table): a page reads size + 1 rows, the extra one only says
whether another page follows.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from households.codes import codebook, labels_of
from households.feeds.declarations import REGISTRY
from households.models import Household, Person
from households.selectors import head_names
from households.sensitive import HIDDEN, can_see_health, shown
from households.validation import RELATION_HEAD
from povertycloud.accounts.models import Role, User
from povertycloud.paging import Page, keyset_page
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.scoping import region_prefix_of, scope_for_user, sees_everything, user_may_see_code
from povertycloud.regions.selectors import full_name
from risk.models import CaseEvent, ReviewCapacity, RiskCase, RiskModel, RiskScore, ScoringRun, Warning, WarningRule
from risk.services import DECIDED_STATUSES, DEFAULT_CAPACITY, OPEN_STATUSES, TOWNSHIP_DIGITS, township_code

PAGE_SIZE = 50
TOP_FACTORS = 3
SORTS = {"p_return": "p_return", "p_poor": "p_poor"}
Status = RiskCase.Status

# Case status filter values beyond the model's statuses.
NO_CASE, OPEN, OVERDUE = "none", "open", "overdue"


def _code_range(prefix: str) -> tuple[str, str]:
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
        .select_related("return_model")
        .only(
            "as_of",
            "region_code",
            "finished_at",
            "households_scored",
            "poor_model_id",
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


def scores_for(user: Any, run: ScoringRun | None) -> QuerySet[RiskScore]:
    if run is None:
        return RiskScore.objects.none()
    queryset = scope_for_user(RiskScore.objects.filter(run=run), user)
    prefix = None if sees_everything(user) else region_prefix_of(user)
    if prefix:
        first, last = _code_range(prefix)
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
        first, last = _code_range(township[:TOWNSHIP_DIGITS])
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


def _parse_float_key(key: str | None) -> tuple[float, int] | None:
    if not key or ":" not in key:
        return None
    value, _, pk = key.rpartition(":")
    try:
        return float(value), int(pk)
    except ValueError:
        return None


def _parse_date_key(key: str | None) -> tuple[str, int] | None:
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
    """One page of the risk list, highest probability first, found by key (probability, id)."""
    size = size or PAGE_SIZE
    column = SORTS.get(sort, "p_return")
    queryset = queryset.select_related("household__village")
    page = keyset_page(
        queryset,
        columns=(column, "id"),
        descending=True,
        parse=_parse_float_key,
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
    capacity: int
    open_cases: int = 0
    overdue: int = 0
    verifying: int = 0


def township_summary(
    user: Any, *, today: dt.date | None = None, townships: list[Region] | None = None
) -> list[TownshipSummary]:
    """Per township of the user's region: review capacity, open cases, overdue cases (counted here from
    the open cases' rows, which are few, rather than by COUNT over any table)."""
    today = today or timezone.localdate()
    townships = list(townships_for(user)) if townships is None else townships
    capacities = dict(
        ReviewCapacity.objects.filter(region__in=[t.code for t in townships]).values_list("region_id", "households")
    )
    rows = {t.code: TownshipSummary(township=t, capacity=capacities.get(t.code, DEFAULT_CAPACITY)) for t in townships}
    open_cases = scope_for_user(RiskCase.objects.filter(status__in=OPEN_STATUSES), user)
    for region_code, status, due_on in open_cases.values_list("region_code", "status", "due_on"):
        row = rows.get(township_code(region_code))
        if row is None:
            continue
        row.open_cases += 1
        row.verifying += status == Status.VERIFYING
        row.overdue += today > due_on
    return list(rows.values())


# --- Case lists --------------------------------------------------------------------------------------


def cases_for(user: Any) -> QuerySet[RiskCase]:
    queryset = scope_for_user(RiskCase.objects.all(), user)
    prefix = None if sees_everything(user) else region_prefix_of(user)
    if prefix:
        first, last = _code_range(prefix)
        queryset = queryset.filter(region_code__gte=first, region_code__lte=last)
    return queryset


def filter_cases(
    queryset: QuerySet[RiskCase], filters: Mapping[str, Any], *, user: Any, today: dt.date | None = None
) -> QuerySet[RiskCase]:
    today = today or timezone.localdate()
    status = filters.get("status") or OPEN
    if status == OPEN:
        queryset = queryset.filter(status__in=OPEN_STATUSES)
    elif status == OVERDUE:
        queryset = queryset.filter(status__in=OPEN_STATUSES, due_on__lt=today)
    elif status in Status.values:
        queryset = queryset.filter(status=status)
    township = filters.get("township")
    if township:
        first, last = _code_range(township[:TOWNSHIP_DIGITS])
        queryset = queryset.filter(region_code__gte=first, region_code__lte=last)
    if filters.get("mine"):
        # A township official's own cases: assigned to them or in their township (their scope already);
        # anyone else's: the cases they assigned, visited or decided.
        if getattr(user, "role", None) == Role.TOWNSHIP_OFFICIAL:
            queryset = queryset.filter(Q(assigned_to=user) | Q(region_code__startswith=region_prefix_of(user) or ""))
        else:
            acted = CaseEvent.objects.filter(case=OuterRef("pk"), by=user)
            queryset = queryset.filter(Q(assigned_to=user) | Q(decided_by=user) | Exists(acted))
    return queryset


@dataclass
class CaseRow:
    case: RiskCase
    head_name: str
    village_name: str
    state: CaseState
    p_return: str
    rules: list[str]


def case_page(
    queryset: QuerySet[RiskCase],
    *,
    after: str | None = None,
    before: str | None = None,
    size: int | None = None,
    today: dt.date | None = None,
) -> Page:
    """Cases by deadline (due_on, id), nearest first."""
    size = size or PAGE_SIZE
    queryset = queryset.select_related("household__village", "assigned_to", "score")
    page = keyset_page(
        queryset,
        columns=("due_on", "id"),
        descending=False,
        parse=_parse_date_key,
        key_of=lambda case: f"{case.due_on.isoformat()}:{case.pk}",
        after=after,
        before=before,
        size=size,
    )
    today = today or timezone.localdate()
    cases: list[RiskCase] = page.rows
    heads = head_names([case.household_id for case in cases]) if cases else {}
    names = rule_names() if any(case.warning_rules for case in cases) else {}
    page.rows = [
        CaseRow(
            case=case,
            head_name=heads.get(case.household_id, ""),
            village_name=case.household.village.name,
            state=case_state(case, today),
            p_return=percent(case.score.p_return if case.score else None),
            rules=[names.get(code, code) for code in case.warning_rules],
        )
        for case in cases
    ]
    return page


# --- The case page -----------------------------------------------------------------------------------


@dataclass
class HouseholdSummary:
    household: Household
    head_name: str
    village_full_name: str
    household_type: str
    poverty_attribute: str
    monitoring_type: str
    risk_types: str
    phone: str
    members: int
    unable_to_work: bool


def household_summary(household: Household, user: Any) -> HouseholdSummary:
    book = codebook()
    members = list(scope_for_user(Person.objects.filter(household=household), user).values_list("relation", "name"))
    head = next((name for relation, name in members if relation == RELATION_HEAD), "")
    return HouseholdSummary(
        household=household,
        head_name=head,
        village_full_name=full_name(household.village),
        household_type=book.label("household_type", household.household_type),
        poverty_attribute=labels_of("poverty_attribute", household.poverty_attribute),
        monitoring_type=labels_of("monitoring_type", household.monitoring_type),
        risk_types=labels_of("risk_type", household.risk_types),
        phone=shown(user, "phone", household.phone) or "",
        members=len(members),
        unable_to_work=household.whole_household_unable_to_work,
    )


@dataclass
class ScoreView:
    score: RiskScore
    level_label: str
    factors: list[dict[str, Any]]
    in_case: bool

    @property
    def p_return(self) -> str:
        return percent(self.score.p_return)

    @property
    def p_poor(self) -> str:
        return percent(self.score.p_poor)


def scores_of(case: RiskCase, user: Any, limit: int = 6) -> list[ScoreView]:
    scores = scope_for_user(RiskScore.objects.filter(household_id=case.household_id), user)
    scores = scores.select_related("run").order_by("-run__as_of", "-run_id")[:limit]
    views = []
    for score in scores:
        factors = [
            {"phrase": f.get("phrase", ""), "contribution": f.get("contribution")}
            for f in (score.factors if isinstance(score.factors, list) else [])
            if isinstance(f, dict)
        ]
        views.append(
            ScoreView(
                score=score,
                level_label=score.get_level_display(),
                factors=factors,
                in_case=score.pk == case.score_id,
            )
        )
    return views


@dataclass
class WarningView:
    warning: Warning
    rule_name: str
    phrase: str
    person_name: str
    value: str
    department: str
    source: str
    source_fields: list[tuple[str, Any]]
    batch_label: str
    in_case: bool


DEPARTMENT_BY_NAME = {department.name: slug for slug, department in REGISTRY.items()}
HEALTH_DEPARTMENTS = {"health"}


def _department(slug_or_name: str):
    return REGISTRY.get(slug_or_name) or REGISTRY.get(DEPARTMENT_BY_NAME.get(slug_or_name, ""))


def _source_records(warnings: list[Warning], user: Any) -> dict[tuple[str, int], Any]:
    wanted: dict[str, set[int]] = defaultdict(set)
    for warning in warnings:
        wanted[warning.department].add(warning.source_record_id)
    found: dict[tuple[str, int], Any] = {}
    for name, ids in wanted.items():
        department = _department(name)
        if department is None:
            continue
        records = scope_for_user(department.model.objects.filter(pk__in=ids), user)
        for record in records:
            found[(name, record.pk)] = record
    return found


def _batch_label(batch: Any) -> str:
    if batch is None:
        return ""
    return f"#{batch.pk} {batch.file_name}（{timezone.localtime(batch.uploaded_at):%Y-%m-%d}）"


def warnings_of(case: RiskCase, user: Any, limit: int = 50) -> list[WarningView]:
    warnings = list(
        scope_for_user(Warning.objects.filter(household_id=case.household_id), user)
        .select_related("rule", "batch", "person")
        .order_by("-as_of", "-id")[:limit]
    )
    records = _source_records(warnings, user)
    sees_health = can_see_health(user)
    views = []
    for warning in warnings:
        department = _department(warning.department)
        slug = next((s for s, d in REGISTRY.items() if d is department), warning.department)
        hidden = slug in HEALTH_DEPARTMENTS and not sees_health
        record = records.get((warning.department, warning.source_record_id))
        fields: list[tuple[str, Any]] = []
        if record is not None:
            fields.append((str(record._meta.get_field("valid_from").verbose_name), record.valid_from))
            if hasattr(record, "period"):
                fields.append((str(record._meta.get_field("period").verbose_name), record.period))
            try:
                rule_field = record._meta.get_field(warning.rule.field)
            except FieldDoesNotExist:
                rule_field = None
            if rule_field is not None:
                value = getattr(record, rule_field.attname)
                fields.append((str(rule_field.verbose_name), HIDDEN if hidden else value))
        views.append(
            WarningView(
                warning=warning,
                rule_name=warning.rule.name,
                phrase=warning.rule.phrase,
                person_name=warning.person.name if warning.person else "",
                value=HIDDEN if hidden else warning.value,
                department=department.name if department else warning.department,
                source=f"{record._meta.verbose_name} #{record.pk}"
                if record is not None
                else f"#{warning.source_record_id}",
                source_fields=fields,
                batch_label=_batch_label(warning.batch),
                in_case=warning.rule.code in case.warning_rules,
            )
        )
    return views


def events_of(case: RiskCase, user: Any) -> list[CaseEvent]:
    """The case's history, oldest first, each event with its statuses' labels (from_label, to_label)."""
    events = CaseEvent.objects.filter(case__in=scope_for_user(RiskCase.objects.filter(pk=case.pk), user))
    events = list(events.select_related("by").order_by("at", "id"))
    labels = dict(Status.choices)
    for event in events:
        event.from_label = labels.get(event.from_status, event.from_status)
        event.to_label = labels.get(event.to_status, event.to_status)
    return events


def officials_for(case: RiskCase) -> QuerySet:
    """Township officials who may verify the case: active officials of the household's township."""
    prefix = case.region_code[:TOWNSHIP_DIGITS]
    officials = User.objects.filter(role=Role.TOWNSHIP_OFFICIAL, is_active=True, region__pk__startswith=prefix)
    return officials.select_related("region").order_by("region_id", "username")


# --- Model evaluation --------------------------------------------------------------------------------

# The figures of a stored model, by the names that risk.evaluation may use for them.
METRICS = (
    ("roc_auc", "ROC-AUC", ("roc_auc", "auc", "rocauc")),
    ("pr_auc", "PR-AUC", ("pr_auc", "average_precision", "ap", "prauc")),
    ("brier", "Brier", ("brier", "brier_score")),
    ("ee", "EE", ("ee", "exclusion_error", "ee_at_capacity")),
    ("ie", "IE", ("ie", "inclusion_error", "ie_at_capacity")),
)
FLAGGED_KEYS = ("flagged", "k", "top_n")
# Labels of the other figures risk.evaluation stores, overall and per township.
FIGURE_LABELS = {
    "n": "检验户数",
    "positives": "实际发生户数",
    "base_rate": "发生率",
    "flagged": "进入名单户数",
    "capacity": "名单长度依据",
    "roc_auc": "ROC-AUC",
    "pr_auc": "PR-AUC",
    "brier": "Brier",
    "ee": "EE",
    "ie": "IE",
}
LOWER_IS_BETTER = {"brier", "ee", "ie"}
TOWNSHIP_KEYS = ("townships", "by_township", "per_township", "township")
CODE_KEYS = ("region_code", "township_code", "code", "township")
NAME_KEYS = ("name", "township_name", "region_name")


def _first(mapping: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    for key in keys:
        if isinstance(mapping, Mapping) and mapping.get(key) is not None:
            return mapping[key]
    return None


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def model_metrics(model: Any) -> dict[str, float | None]:
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    values = {key: _number(_first(metrics, names)) for key, _label, names in METRICS}
    values["flagged"] = _number(_first(metrics, FLAGGED_KEYS))
    return values


def extra_metrics(model: Any) -> list[tuple[str, Any]]:
    """Figures in model.metrics beyond the standard ones (with their Chinese names where known)."""
    metrics = model.metrics if isinstance(model.metrics, Mapping) else {}
    known = {name for _key, _label, names in METRICS for name in names} | set(FLAGGED_KEYS)
    return [
        (FIGURE_LABELS.get(key, key), value)
        for key, value in metrics.items()
        if key not in known and not isinstance(value, dict | list)
    ]


@dataclass
class CalibrationPoint:
    predicted: float
    observed: float
    count: int | None
    x: float
    y: float


@dataclass
class CalibrationChart:
    size: int
    left: int
    top: int
    plot: int
    points: list[CalibrationPoint]
    polyline: str
    ticks: list[tuple[float, float, float]]  # (value, y of the value on the y axis, x on the x axis)


def _calibration_pairs(evaluation: Mapping[str, Any]) -> list[tuple[float, float, int | None]]:
    data = _first(evaluation, ("calibration", "calibration_curve", "reliability"))
    pairs: list[tuple[float, float, int | None]] = []
    if isinstance(data, Mapping):
        predicted = _first(data, ("predicted", "mean_predicted", "prob_pred", "x"))
        observed = _first(data, ("observed", "fraction_positive", "prob_true", "y"))
        counts = _first(data, ("count", "counts", "n")) or []
        if isinstance(predicted, list) and isinstance(observed, list):
            for index, (p, o) in enumerate(zip(predicted, observed, strict=False)):
                count = counts[index] if isinstance(counts, list) and index < len(counts) else None
                pairs.append((_number(p), _number(o), count))
        data = _first(data, ("bins", "points"))
    if isinstance(data, list):
        for item in data:
            if isinstance(item, Mapping):
                pairs.append(
                    (
                        _number(_first(item, ("predicted", "mean_predicted", "prob_pred", "x"))),
                        _number(_first(item, ("observed", "fraction_positive", "prob_true", "y"))),
                        _first(item, ("count", "n")),
                    )
                )
            elif isinstance(item, list | tuple) and len(item) >= 2:
                pairs.append((_number(item[0]), _number(item[1]), item[2] if len(item) > 2 else None))
    return [(p, o, c) for p, o, c in pairs if p is not None and o is not None and 0 <= p <= 1 and 0 <= o <= 1]


def calibration_chart(model: Any, *, size: int = 260) -> CalibrationChart | None:
    """Predicted against observed frequency per probability bin, as coordinates for an inline SVG."""
    pairs = _calibration_pairs(model.evaluation if isinstance(model.evaluation, Mapping) else {})
    if not pairs:
        return None
    left, top = 40, 10
    plot = size - left - 30

    def at(px: float, py: float) -> tuple[float, float]:
        return round(left + px * plot, 1), round(top + plot - py * plot, 1)

    points = []
    for predicted, observed, count in sorted(pairs):
        x, y = at(predicted, observed)
        points.append(CalibrationPoint(predicted, observed, count, x, y))
    ticks = [(tick, at(0, tick)[1], at(tick, 0)[0]) for tick in (0, 0.25, 0.5, 0.75, 1)]
    return CalibrationChart(
        size=size,
        left=left,
        top=top,
        plot=plot,
        points=points,
        polyline=" ".join(f"{p.x},{p.y}" for p in points),
        ticks=ticks,
    )


@dataclass
class TownshipTable:
    columns: list[str]
    rows: list[dict[str, Any]]


def township_table(model: Any, user: Any) -> TownshipTable | None:
    """The model's figures per township (from its evaluation), only for townships the user may see."""
    evaluation = model.evaluation if isinstance(model.evaluation, Mapping) else {}
    data = _first(evaluation, TOWNSHIP_KEYS)
    if isinstance(data, Mapping):
        data = [
            {"region_code": code, **(values if isinstance(values, Mapping) else {})} for code, values in data.items()
        ]
    if not isinstance(data, list):
        return None
    names = dict(Region.objects.filter(level=Region.Level.TOWNSHIP).values_list("code", "name"))
    rows, columns = [], []
    for item in data:
        if not isinstance(item, Mapping):
            continue
        code = str(_first(item, CODE_KEYS) or "")
        full_code = code.ljust(12, "0") if code.isdigit() else code
        if code and not user_may_see_code(user, full_code):
            continue
        name = _first(item, NAME_KEYS) or names.get(full_code, code)
        values = {k: v for k, v in item.items() if k not in CODE_KEYS and k not in NAME_KEYS}
        for key in values:
            if key not in columns:
                columns.append(key)
        rows.append({"name": name, "code": code, "values": values})
    for row in rows:
        row["cells"] = [(FIGURE_LABELS.get(column, column), row["values"].get(column)) for column in columns]
    columns = [FIGURE_LABELS.get(column, column) for column in columns]
    return TownshipTable(columns=columns, rows=rows)


@dataclass
class ModelCard:
    model: Any
    metrics: dict[str, float | None]
    extra: list[tuple[str, Any]]
    calibration: CalibrationChart | None
    townships: TownshipTable | None


@dataclass
class Comparison:
    target_label: str
    test_year: int | None
    models: list[Any]
    rows: list[dict[str, Any]]


def model_cards(models: list[Any], user: Any) -> list[ModelCard]:
    return [
        ModelCard(
            model=model,
            metrics=model_metrics(model),
            extra=extra_metrics(model),
            calibration=calibration_chart(model),
            townships=township_table(model, user),
        )
        for model in models
    ]


def comparisons(cards: list[ModelCard]) -> list[Comparison]:
    """XGBoost beside its baselines, per target and test year: one column per model, best figure marked."""
    groups: dict[tuple[str, int | None], list[ModelCard]] = defaultdict(list)
    for card in cards:
        groups[(card.model.target, card.model.test_year)].append(card)
    order = {"xgboost": 0, "logistic": 1, "rules": 2}
    result = []
    for (_target, year), members in sorted(groups.items(), key=lambda item: (item[0][0], -(item[0][1] or 0))):
        members.sort(key=lambda card: (order.get(card.model.kind, 9), -card.model.pk))
        rows = []
        for key, label, _names in (*METRICS, ("flagged", "进入名单户数", ())):
            values = [card.metrics.get(key) for card in members]
            present = [v for v in values if v is not None]
            best = None
            if key != "flagged" and len(set(present)) > 1:
                best = min(present) if key in LOWER_IS_BETTER else max(present)
            rows.append(
                {
                    "key": key,
                    "label": label,
                    "cells": [{"value": v, "best": v is not None and v == best} for v in values],
                }
            )
        result.append(
            Comparison(
                target_label=members[0].model.get_target_display(),
                test_year=year,
                models=[card.model for card in members],
                rows=rows,
            )
        )
    return result


JOB_TASKS = {
    "risk.tasks.train_risk_task": gettext_lazy("训练模型"),
    "risk.tasks.refresh_risk_list_task": gettext_lazy("更新风险名单"),
    "risk.tasks.score_risk_task": gettext_lazy("评分"),
    "risk.tasks.run_warning_rules_task": gettext_lazy("部门预警规则"),
}
JOB_STATUSES = {
    "READY": gettext_lazy("排队中"),
    "RUNNING": gettext_lazy("运行中"),
    "SUCCEEDED": gettext_lazy("已完成"),
    "FAILED": gettext_lazy("失败"),
}


@dataclass
class JobRow:
    name: str
    status: str
    status_label: str
    enqueued_at: Any
    finished_at: Any
    summary: str


def recent_jobs(limit: int = 10) -> list[JobRow]:
    """The newest modelling jobs kept by the database task backend (none when jobs run immediately)."""
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.filter(task_path__in=list(JOB_TASKS)).order_by("-enqueued_at")[:limit]
    return [
        JobRow(
            name=str(JOB_TASKS[row.task_path]),
            status=row.status,
            status_label=str(JOB_STATUSES.get(row.status, row.status)),
            enqueued_at=row.enqueued_at,
            finished_at=row.finished_at,
            summary=_job_summary(row.return_value) if row.status == "SUCCEEDED" else row.exception_class_path,
        )
        for row in rows
    ]


def _job_summary(value: Any) -> str:
    if not isinstance(value, dict):
        return ""
    if "models" in value:
        return _("检验年度 %(year)s，新模型 %(n)s 个") % {"year": value.get("test_year"), "n": len(value["models"])}
    parts = []
    if "households" in value:
        parts.append(_("评分 %(n)s 户") % {"n": value["households"]})
    if "cases_opened" in value:
        parts.append(_("新开核实 %(n)s 户") % {"n": value["cases_opened"]})
    if "warnings" in value:
        parts.append(_("新增预警 %(n)s 条") % {"n": value["warnings"]})
    return "，".join(parts)


def missing_active_models() -> str:
    """The targets without an active model, as words for a message ("" when both have one)."""
    active = set(RiskModel.objects.filter(active=True).values_list("target", flat=True))
    labels = {RiskModel.Target.POOR_NOW: _("当前致贫"), RiskModel.Target.RETURN: _("返贫")}
    return "、".join(str(label) for target, label in labels.items() if target not in active)
