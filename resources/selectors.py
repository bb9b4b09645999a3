"""Reads of the assistance pages. Every queryset that reaches a user is narrowed to the user's region."""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from households.codes import labels_of
from households.models import Household, Person
from households.sensitive import mask
from povertycloud.paging import Page, keyset_page
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import scope_for_user, sees_everything
from resources.catalogue import catalogue
from resources.elimination import detect_returns
from resources.models import AssistanceMeasure, EliminationCase, EliminationEvent, OutcomeObservation


@dataclass
class MeasureRow:
    measure: AssistanceMeasure
    category: str
    subtype: str
    development: bool
    person: str
    risk_labels: str
    helper_phone: str

    @property
    def label(self) -> str:
        return self.subtype or self.category


def measures_of(household: Household, user: Any) -> list[AssistanceMeasure]:
    queryset = AssistanceMeasure.objects.filter(household=household).select_related("created_by")
    return list(scope_for_user(queryset, user).order_by("start_date", "pk"))


def measure_rows(measures: list[AssistanceMeasure]) -> list[MeasureRow]:
    book = catalogue()
    rows = []
    for m in measures:
        category = book.categories.get(m.category_id)
        rows.append(
            MeasureRow(
                measure=m,
                category=category.name if category else m.category_id,
                subtype=book.label(m.category_id, m.subtype_id) if m.subtype_id else "",
                development=bool(category and category.development),
                person=m.person_name,
                risk_labels=labels_of("risk_type", m.risk_types),
                helper_phone=mask("phone", m.helper_phone) or "",
            )
        )
    return rows


def measure_labels(rows: list[MeasureRow]) -> dict[int, str]:
    return {row.measure.pk: row.label for row in rows}


def observations_of(household: Household, user: Any) -> list[OutcomeObservation]:
    queryset = OutcomeObservation.objects.filter(household=household).select_related("batch")
    return list(scope_for_user(queryset, user).order_by("indicator", "observed_on"))


@dataclass
class ObservationRow:
    observation: OutcomeObservation
    value: str
    met: bool | None


def latest_observations(observations: list[OutcomeObservation]) -> list[ObservationRow]:
    latest: dict[str, OutcomeObservation] = {}
    for o in observations:
        latest[o.indicator] = o
    rows = []
    for indicator in OutcomeObservation.Indicator.values:
        o = latest.get(indicator)
        if o is None:
            continue
        if indicator == OutcomeObservation.Indicator.PER_CAPITA_INCOME:
            value = _("%(amount)s 元") % {"amount": f"{o.value:,.0f}"}
        elif o.base is not None:
            value = f"{o.value:,.0f} / {o.base:,.0f}"
        else:
            value = _("是") if o.value else _("否")
        rows.append(ObservationRow(o, value, o.target_met))
    return rows


def elimination_cases_of(household: Household, user: Any) -> list[EliminationCase]:
    queryset = EliminationCase.objects.filter(household=household).select_related(
        "applied_by", "township_by", "decided_by"
    )
    return list(scope_for_user(queryset, user))


def case_rows(cases: list[EliminationCase]) -> list[tuple[EliminationCase, list[EliminationEvent]]]:
    """Each elimination case with its steps; each step carries to_label (the state it led to)."""
    found: dict[int, list[EliminationEvent]] = defaultdict(list)
    for event in EliminationEvent.objects.filter(case__in=[c.pk for c in cases]).select_related("by"):
        event.to_label = EliminationCase.Status(event.to_status).label
        found[event.case_id].append(event)
    return [(case, found.get(case.pk, [])) for case in cases]


def returns_of(household: Household, user: Any):
    households = scope_for_user(Household.objects.filter(pk=household.pk), user)
    return detect_returns(households)


def members_for_form(household: Household) -> QuerySet[Person]:
    return Person.objects.filter(household=household).order_by("relation", "birth_date")


# --- Lists -------------------------------------------------------------------------------------------


def townships_for(user: Any) -> list[Region]:
    """The townships a user may pick: all of them for the county and administrators, their own for an
    official."""
    townships = Region.objects.filter(level=Region.Level.TOWNSHIP)
    if not sees_everything(user):
        region = getattr(user, "region", None)
        if region is None:
            return []
        if region.level >= Region.Level.TOWNSHIP:
            return [region if region.level == Region.Level.TOWNSHIP else region.parent]
        townships = townships.filter(code__startswith=region.prefix)
    return list(townships.order_by("code"))


def households_in(user: Any, township: Region | None) -> QuerySet[Household]:
    households = scope_for_user(Household.objects.all(), user)
    if township is not None:
        households = households.filter(village__pk__startswith=township.prefix)
    return households


def elimination_cases_for(user: Any, *, status: str = "", township: Region | None = None) -> QuerySet[EliminationCase]:
    queryset = scope_for_user(EliminationCase.objects.all(), user).select_related(
        "household", "applied_by", "township_by", "decided_by"
    )
    if township is not None:
        queryset = queryset.filter(region_code__startswith=township.prefix)
    if status == "open":
        queryset = queryset.filter(
            status__in=(EliminationCase.Status.APPLIED, EliminationCase.Status.TOWNSHIP_APPROVED)
        )
    elif status:
        queryset = queryset.filter(status=status)
    return queryset.order_by("-applied_at", "-pk")


ELIMINATION_PAGE_SIZE = 50


def _parse_applied_key(key: str | None) -> tuple[dt.datetime, int] | None:
    if not key or "~" not in key:
        return None
    stamp, _sep, pk = key.rpartition("~")
    try:
        return dt.datetime.fromisoformat(stamp), int(pk)
    except ValueError:
        return None


def elimination_page(
    queryset: QuerySet[EliminationCase], *, after: str | None, before: str | None, size: int | None = None
) -> Page:
    """Newest applications first, a page at a time by key (applied_at, id)."""
    size = size or ELIMINATION_PAGE_SIZE
    return keyset_page(
        queryset,
        columns=("applied_at", "id"),
        descending=True,
        parse=_parse_applied_key,
        key_of=lambda case: f"{case.applied_at.isoformat()}~{case.pk}",
        after=after,
        before=before,
        size=size,
    )
