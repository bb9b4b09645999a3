"""Reads for the review workflow: case lists, and the case page (the household, its scores, the warnings
with their source records, the case's events).

Every queryset that reaches a user is narrowed by povertycloud.regions.scoping; case lists are keyset
paginated like the risk list.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import FieldDoesNotExist
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext

from exchange.declarations import REGISTRY, Kind, get_department
from exchange.feeds.declare import field_label
from households.codes import codebook, labels_of
from households.models import Household, Person
from households.selectors import head_names
from households.sensitive import HIDDEN, can_see_health, shown
from households.validation import RELATION_HEAD
from povertycloud.accounts.models import Role, User
from povertycloud.paging import Page, keyset_page
from povertycloud.regions.scoping import code_range, scope_for_user
from povertycloud.regions.selectors import full_name
from risk.list_selectors import (
    NO_RETURN_MODEL,
    OPEN,
    OVERDUE,
    PAGE_SIZE,
    CaseState,
    case_state,
    parse_date_key,
    percent,
    rule_names,
)
from risk.models import CaseEvent, RiskCase, RiskScore, Warning
from risk.services import OPEN_STATUSES, TOWNSHIP_DIGITS

Status = RiskCase.Status

# --- Case lists --------------------------------------------------------------------------------------


def cases_for(user: Any) -> QuerySet[RiskCase]:
    return scope_for_user(RiskCase.objects.all(), user)


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
        first, last = code_range(township[:TOWNSHIP_DIGITS])
        queryset = queryset.filter(region_code__gte=first, region_code__lte=last)
    if filters.get("mine"):
        # 我的核实任务: only the cases assigned to the user for verification; not the unassigned cases of
        # their township, nor the cases they assigned or decided.
        queryset = queryset.filter(assigned_to=user) if getattr(user, "pk", None) else queryset.none()
    return queryset


@dataclass
class CaseRow:
    case: RiskCase
    head_name: str
    village_name: str
    state: CaseState
    p_return: str
    rules: list[str]
    p_poor: str = "—"
    no_return_model: str = ""  # why p_return is missing: the score's run had no return model


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
        parse=parse_date_key,
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
            p_poor=percent(case.score.p_poor if case.score else None),
            no_return_model=str(NO_RETURN_MODEL) if case.score and case.score.p_return is None else "",
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

    @property
    def no_return_model(self) -> str:
        return str(NO_RETURN_MODEL) if self.score.p_return is None else ""


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


def _department(slug_or_name: str, known: dict | None = None):
    """A typed department by slug or name, else one declared as data (read once per page through `known`)."""
    found = REGISTRY.get(slug_or_name) or REGISTRY.get(DEPARTMENT_BY_NAME.get(slug_or_name, ""))
    if found is not None or known is None:
        return found
    if slug_or_name not in known:
        try:
            known[slug_or_name] = get_department(slug_or_name)
        except LookupError:
            known[slug_or_name] = None
    return known[slug_or_name]


def _declared_field(department, record, name: str, hidden: bool) -> tuple[str, Any] | None:
    """A declared record's field for the warning's source: the declared column header and its value (a code
    with its label), hidden when the caller says so (a sensitive column, a user who may not see health data)."""
    spec = next((spec for spec in department.data_fields if spec.name == name), None)
    if spec is None:
        return None
    value = department.value(record, name)
    if hidden:
        value = HIDDEN
    elif spec.kind == Kind.CODE and value not in (None, ""):
        value = f"{value}（{labels_of(spec.codeset, str(value))}）"
    elif spec.kind == Kind.FLAG and value is not None:
        value = gettext("是") if value else gettext("否")
    return field_label(department, name), value


def _source_records(warnings: list[Warning], user: Any, known: dict | None = None) -> dict[tuple[str, int], Any]:
    wanted: dict[str, set[int]] = defaultdict(set)
    for warning in warnings:
        wanted[warning.department].add(warning.source_record_id)
    found: dict[tuple[str, int], Any] = {}
    for name, ids in wanted.items():
        department = _department(name, known)
        if department is None:
            continue
        records = scope_for_user(department.records().filter(pk__in=ids), user)
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
    known: dict = {}
    records = _source_records(warnings, user, known)
    sees_health = can_see_health(user)
    views = []
    for warning in warnings:
        department = _department(warning.department, known)
        slug = next((s for s, d in REGISTRY.items() if d is department), warning.department)
        hidden = slug in HEALTH_DEPARTMENTS and not sees_health
        record = records.get((warning.department, warning.source_record_id))
        fields: list[tuple[str, Any]] = []
        declared = department is not None and department.declared_as_data
        if declared and warning.rule.field in department.extra.get("sensitive", ()) and not sees_health:
            hidden = True
        if record is not None:
            fields.append((str(record._meta.get_field("valid_from").verbose_name), record.valid_from))
            if hasattr(record, "period"):
                fields.append((str(record._meta.get_field("period").verbose_name), record.period))
            try:
                rule_field = None if declared else record._meta.get_field(warning.rule.field)
            except FieldDoesNotExist:
                rule_field = None
            if declared:
                shown_field = _declared_field(department, record, warning.rule.field, hidden)
                if shown_field is not None:
                    fields.append(shown_field)
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
