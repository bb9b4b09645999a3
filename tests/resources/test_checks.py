"""Plan checks: mandatory measures, development-type measures for households with labour, and 低保/特困
against 综合保障 measures in both directions; set-based over a region."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from households.models import Household
from resources.checks import MANDATORY_MISSING, NO_DEVELOPMENT, PROTECTION_MISMATCH, plan_checks
from tests.factories import make_household, make_person
from tests.resources.builders import civil_affairs, measure, monitored, months_ago, today

pytestmark = pytest.mark.django_db


def kinds(household) -> list[str]:
    return sorted(i.kind for i in plan_checks(Household.objects.filter(pk=household.pk), as_of=today()))


def test_missing_mandatory_housing_measure_is_flagged(regions):
    household = monitored(risk_types=",09,")
    measure(household)  # 就业 (development), so only the housing measure is missing
    issues = plan_checks(Household.objects.all(), as_of=today())
    assert [(i.kind, i.household_id) for i in issues] == [(MANDATORY_MISSING, household.pk)]
    assert "住房安全保障" in issues[0].message
    measure(household, category="09", subtype="0901", status="planned", start_date=today())
    assert kinds(household) == []


def test_missing_water_measure_is_flagged(regions):
    household = monitored(risk_types=",10,")
    measure(household)
    assert kinds(household) == [MANDATORY_MISSING]


def test_labour_without_development_measure_a_month_after_identification_is_flagged(regions):
    household = monitored(risk_types=",08,", entered=months_ago(2))
    measure(household, category="08", subtype="0804")
    issues = plan_checks(Household.objects.all(), as_of=today())
    assert [i.kind for i in issues] == [NO_DEVELOPMENT]
    assert "仅有综合保障" in issues[0].message
    measure(household, category="04", subtype="0401", person=household.members.get())
    assert kinds(household) == []


def test_within_the_first_month_no_development_measure_is_not_yet_flagged(regions):
    household = monitored(risk_types=",08,", entered=today() - dt.timedelta(days=10))
    measure(household, category="08", subtype="0804")
    assert kinds(household) == []


def test_a_household_without_working_age_labour_needs_no_development_measure(regions):
    household = make_household(with_head=False, monitoring_type="2", risk_types=",08,")
    make_person(household, name="老人", birth_date=dt.date(1940, 1, 1), labour_skill="4")
    household.status_history.create(effective_date=months_ago(5), event="03", household_type="2",
                                    monitoring_type="2", risk_types=",08,", reason="纳入监测")
    measure(household, category="08", subtype="0804")
    assert kinds(household) == []


def test_dibao_in_the_household_file_without_a_dibao_measure_is_flagged(regions):
    household = monitored(risk_types=",08,")
    measure(household)
    head = household.members.get()
    head.dibao = "2"
    head.save()
    issues = plan_checks(Household.objects.all(), as_of=today())
    assert [i.kind for i in issues] == [PROTECTION_MISMATCH]
    assert "户档案显示享受低保" in issues[0].message
    measure(household, category="08", subtype="0801")
    assert kinds(household) == []


def test_tekun_in_the_civil_affairs_record_without_a_measure_is_flagged(regions):
    household = monitored(risk_types=",08,")
    measure(household)
    civil_affairs(household.members.get(), tekun=True)
    issues = plan_checks(Household.objects.all(), as_of=today())
    assert [i.kind for i in issues] == [PROTECTION_MISMATCH]
    assert "民政数据" in issues[0].message and "特困供养" in issues[0].message


def test_a_dibao_measure_without_dibao_anywhere_is_flagged_even_if_not_monitored(regions):
    household = make_household()
    measure(household, category="08", subtype="0801")
    issues = plan_checks(Household.objects.all(), as_of=today())
    assert [i.kind for i in issues] == [PROTECTION_MISMATCH]
    assert "均未显示享受低保" in issues[0].message


def test_stopped_dibao_in_civil_affairs_does_not_count(regions):
    household = make_household()
    measure(household, category="08", subtype="0801")
    civil_affairs(household.members.get(), dibao_type="2", dibao_stop=today() - dt.timedelta(days=1))
    assert kinds(household) == [PROTECTION_MISMATCH]


def test_checks_take_as_many_queries_for_many_households_as_for_one(regions):
    households = [monitored(risk_types=",09,") for _ in range(4)]
    plan_checks(Household.objects.filter(pk=households[0].pk), as_of=today())
    with CaptureQueriesContext(connection) as one:
        plan_checks(Household.objects.filter(pk=households[0].pk), as_of=today())
    with CaptureQueriesContext(connection) as many:
        issues = plan_checks(Household.objects.all(), as_of=today())
    assert len(issues) == 8  # each: housing measure missing, no development measure
    assert len(many.captured_queries) == len(one.captured_queries)
