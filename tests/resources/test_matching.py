"""Matching a monitored household's risk types to the measures they call for: in place and missing."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from households.models import StatusChange
from resources.matching import identification_dates, match_household, match_households
from risk.models import RiskCase
from tests.factories import make_household, make_person
from tests.resources.builders import measure, monitored, months_ago

pytestmark = pytest.mark.django_db


def states(matched):
    return {
        e.expectation.name: ("missing" if e.missing else "in place" if e.in_place else "n/a")
        for e in matched.expectations
    }


def only(household):
    return household.__class__.objects.filter(pk=household.pk)


def test_expected_measures_are_split_into_in_place_and_missing(regions):
    household = monitored(risk_types=",06,09,")
    measure(household, category="01", subtype="0101")
    matched = match_household(household)
    assert states(matched) == {"产业帮扶": "in place", "金融帮扶": "missing", "住房安全保障": "missing"}
    assert [e.expectation.name for e in matched.mandatory_missing] == ["住房安全保障"]


def test_a_measure_ended_before_the_household_entered_monitoring_does_not_count(regions):
    household = monitored(risk_types=",10,", entered=months_ago(3))
    measure(household, category="10", subtype=None, start_date=months_ago(30), end_date=months_ago(20))
    assert match_household(household).mandatory_missing
    measure(household, category="10", subtype=None, start_date=months_ago(2), status="planned")
    matched = match_household(household)
    assert not matched.mandatory_missing
    assert matched.expectations[0].in_place and not matched.expectations[0].implemented


def test_disability_allowances_are_mandatory_only_with_a_grade_one_or_two_disability(regions):
    household = monitored(risk_types=",02,")
    assert not match_household(household).mandatory_missing
    make_person(household, name="重残", relation="03", birth_date=dt.date(1999, 1, 1), health=",4,",
                disability_category="4", disability_grade="2")
    assert [e.expectation.name for e in match_household(household).mandatory_missing] == ["残疾人两项补贴"]


def test_education_is_satisfied_by_either_education_category(regions):
    household = monitored(risk_types=",03,")
    child = make_person(household, name="学生", relation="03", birth_date=dt.date(2016, 1, 1), education="",
                        school_status="14", labour_skill="5")
    measure(household, category="07", subtype="0702", person=child)
    assert states(match_household(household)) == {"教育帮扶": "in place"}


def test_a_household_not_monitored_has_no_expectations(regions):
    household = make_household(risk_types=",09,")
    assert match_household(household).expectations == []


def test_identification_date_is_the_latest_entry_into_monitoring(regions):
    household = monitored(entered=dt.date(2022, 5, 1))
    StatusChange.objects.create(household=household, effective_date=dt.date(2024, 7, 1), event="06",
                                household_type="2", monitoring_type="2", risk_types=",07,", reason="返贫")
    assert identification_dates(only(household)) == {household.pk: dt.date(2024, 7, 1)}


def test_identification_falls_back_to_the_risk_case_decision(regions):
    household = make_household(monitoring_type="", risk_types="")
    RiskCase.objects.create(household=household, region_code=household.village_id, status="monitored",
                            opened_on=dt.date(2025, 1, 1), due_on=dt.date(2025, 1, 16),
                            decided_at=timezone.make_aware(dt.datetime(2025, 1, 10, 9)))
    assert identification_dates(only(household)) == {household.pk: dt.date(2025, 1, 10)}


def test_matching_takes_as_many_queries_for_many_households_as_for_one(regions):
    households = [monitored(risk_types=",07,09,") for _ in range(4)]
    for household in households:
        measure(household)
    match_households(only(households[0]))  # fills the catalogue and code caches
    with CaptureQueriesContext(connection) as one:
        match_households(only(households[0]))
    with CaptureQueriesContext(connection) as many:
        matched = match_households(households[0].__class__.objects.filter(pk__in=[h.pk for h in households]))
    assert len(matched) == 4
    assert len(many.captured_queries) == len(one.captured_queries)
