"""Which measures a monitored household's risk types call for, which are in place and which are missing.

Everything is read for a whole set of households in a fixed number of queries (households, identification
dates, measures, severely disabled members), then matched in memory: the plan checks run this over a
county, the household page over one household.
"""

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Max, Min, QuerySet

from households.codes import codebook
from households.models import Household, Person, StatusChange
from resources.catalogue import Catalogue, Expectation, catalogue
from resources.models import AssistanceMeasure, ExpectedMeasure
from risk.models import RiskCase

# Status events (data dictionary, codeset status_event) that put a household into monitoring.
EVENT_ENTERED, EVENT_RETURNED = "03", "06"
SEVERE_DISABILITY_GRADES = ("1", "2")


@dataclass(frozen=True)
class MeasureFact:
    pk: int
    category: str
    subtype: str
    status: str
    start_date: dt.date
    end_date: dt.date | None
    person_id: int | None

    @property
    def implemented(self) -> bool:
        return self.status == AssistanceMeasure.Status.IMPLEMENTED


@dataclass
class ExpectationMatch:
    expectation: Expectation
    risk_label: str
    applies: bool
    measures: list[MeasureFact]

    @property
    def in_place(self) -> bool:
        return bool(self.measures)

    @property
    def implemented(self) -> bool:
        return any(m.implemented for m in self.measures)

    @property
    def missing(self) -> bool:
        return self.applies and not self.measures

    @property
    def mandatory_missing(self) -> bool:
        return self.expectation.mandatory and self.missing


@dataclass
class HouseholdMatch:
    household_id: int
    monitored: bool
    identified_on: dt.date | None
    measures: list[MeasureFact] = field(default_factory=list)
    expectations: list[ExpectationMatch] = field(default_factory=list)

    @property
    def in_place(self) -> list[ExpectationMatch]:
        return [e for e in self.expectations if e.applies and e.in_place]

    @property
    def missing(self) -> list[ExpectationMatch]:
        return [e for e in self.expectations if e.missing]

    @property
    def mandatory_missing(self) -> list[ExpectationMatch]:
        return [e for e in self.expectations if e.mandatory_missing]


def identification_dates(households: QuerySet[Household]) -> dict[int, dt.date]:
    """The date each household entered its current monitoring: its latest 纳入监测 or 返贫致贫 status change;
    else the county's 纳入监测 decision on its risk case; else the first status change that shows it
    monitored (a file edited by hand)."""
    dates: dict[int, dt.date] = dict(
        StatusChange.objects.filter(household__in=households, event__in=(EVENT_ENTERED, EVENT_RETURNED))
        .values("household_id")
        .annotate(last=Max("effective_date"))
        .values_list("household_id", "last")
    )
    for household_id, decided_at in (
        RiskCase.objects.filter(household__in=households, status=RiskCase.Status.MONITORED)
        .values("household_id")
        .annotate(last=Max("decided_at"))
        .values_list("household_id", "last")
    ):
        if household_id not in dates and decided_at is not None:
            dates[household_id] = decided_at.date()
    for household_id, first in (
        StatusChange.objects.filter(household__in=households)
        .exclude(monitoring_type="")
        .values("household_id")
        .annotate(first=Min("effective_date"))
        .values_list("household_id", "first")
    ):
        dates.setdefault(household_id, first)
    return dates


def measures_of(households: QuerySet[Household]) -> dict[int, list[MeasureFact]]:
    found: dict[int, list[MeasureFact]] = defaultdict(list)
    rows = AssistanceMeasure.objects.filter(household__in=households).values_list(
        "pk", "household_id", "category_id", "subtype_id", "status", "start_date", "end_date", "person_id"
    )
    for pk, household_id, category, subtype, status, start, end, person_id in rows.order_by("start_date", "pk"):
        found[household_id].append(MeasureFact(pk, category, subtype or "", status, start, end, person_id))
    return found


def households_with_severe_disability(households: QuerySet[Household]) -> set[int]:
    return set(
        Person.objects.filter(household__in=households, disability_grade__in=SEVERE_DISABILITY_GRADES)
        .values_list("household_id", flat=True)
        .distinct()
    )


def current_measures(measures: list[MeasureFact], identified_on: dt.date | None) -> list[MeasureFact]:
    """Measures of the current monitoring period: not ended before the household entered it."""
    if identified_on is None:
        return list(measures)
    return [m for m in measures if m.end_date is None or m.end_date >= identified_on]


def _applies(expectation: Expectation, severely_disabled: bool) -> bool:
    if expectation.condition == ExpectedMeasure.Condition.SEVERE_DISABILITY:
        return severely_disabled
    return True


def match(
    *,
    household_id: int,
    risk_types: list[str],
    monitored: bool,
    identified_on: dt.date | None,
    measures: list[MeasureFact],
    severely_disabled: bool,
    book: Catalogue,
    risk_labels: dict[str, str],
) -> HouseholdMatch:
    current = current_measures(measures, identified_on)
    result = HouseholdMatch(
        household_id=household_id, monitored=monitored, identified_on=identified_on, measures=current
    )
    if not monitored:
        return result
    for expectation in book.expectations_for(risk_types):
        result.expectations.append(
            ExpectationMatch(
                expectation=expectation,
                risk_label=risk_labels.get(expectation.risk_type, expectation.risk_type),
                applies=_applies(expectation, severely_disabled),
                measures=[m for m in current if expectation.satisfied_by(m.category, m.subtype)],
            )
        )
    return result


def match_households(households: QuerySet[Household]) -> dict[int, HouseholdMatch]:
    """Matches of every household in the queryset (monitored ones get expectations), in five queries."""
    book = catalogue()
    codes = codebook()
    risk_labels = {code: codes.label("risk_type", code) for code in codes.labels.get("risk_type", {})}
    rows = list(households.values_list("pk", "monitoring_type", "risk_types"))
    dates = identification_dates(households)
    measures = measures_of(households)
    severe = households_with_severe_disability(households)
    return {
        pk: match(
            household_id=pk,
            risk_types=[code for code in (risk_types or "").split(",") if code],
            monitored=bool(monitoring_type),
            identified_on=dates.get(pk),
            measures=measures.get(pk, []),
            severely_disabled=pk in severe,
            book=book,
            risk_labels=risk_labels,
        )
        for pk, monitoring_type, risk_types in rows
    }


def match_household(household: Household) -> HouseholdMatch:
    return match_households(Household.objects.filter(pk=household.pk))[household.pk]
