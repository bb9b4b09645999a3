"""Outcome observations: derived from the household file, income surveys and department records, dated and
traced to their source; observing again replaces the day's values; only dated sources for past dates."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from povertycloud.audit.models import AuditEvent
from povertycloud.regions.models import Region
from resources.models import OutcomeObservation
from resources.outcomes import observe_outcomes
from tests.factories import TOWNSHIP_A, make_household, make_person
from tests.resources.builders import (
    education_record,
    health_record,
    income,
    measure,
    monitored,
    set_thresholds,
    today,
)

pytestmark = pytest.mark.django_db
Indicator = OutcomeObservation.Indicator


@pytest.fixture
def household(regions):
    set_thresholds(7000)
    household = monitored(risk_types=",03,", housing_grade="C", safe_drinking_water=False)
    head = household.members.get()
    head.months_worked_away = 6
    head.save()
    make_person(household, name="学生", relation="03", birth_date=today().replace(year=today().year - 10),
                education="", school_status="14", labour_skill="5")
    income(household, today().year - 2, 6000, household_size=2, wage_income=12000)
    income(household, today().year - 1, 9000, household_size=2, wage_income=18000)
    return household


def observations(household, indicator):
    return list(OutcomeObservation.objects.filter(household=household, indicator=indicator).order_by("observed_on"))


def test_income_is_observed_once_per_survey_against_its_threshold(official_a, household):
    observe_outcomes(household=household, as_of=today(), by=official_a)
    rows = observations(household, Indicator.PER_CAPITA_INCOME)
    assert [(r.observed_on.year, r.value, r.target_met) for r in rows] == [
        (today().year - 2, Decimal("6000.00"), False),
        (today().year - 1, Decimal("9000.00"), True),
    ]
    assert rows[0].source == "income_survey" and rows[0].source_model == "households.incomerecord"
    assert rows[0].base == Decimal("7000")


def test_household_file_indicators_are_observed_today_from_the_file(official_a, household):
    observe_outcomes(household=household, as_of=today(), by=official_a)
    housing = observations(household, Indicator.HOUSING_SAFE)[0]
    assert housing.observed_on == today() and housing.target_met is False and housing.source == "household_file"
    assert observations(household, Indicator.WATER_SAFE)[0].target_met is False
    working = observations(household, Indicator.MEMBERS_WORKING)[0]
    assert (working.value, working.base, working.target_met) == (1, 1, True)
    school = observations(household, Indicator.CHILDREN_ENROLLED)[0]
    assert (school.value, school.base, school.source) == (1, 1, "household_file")


def test_department_records_outrank_the_file_and_name_their_batch(official_a, household):
    child = household.members.get(name="学生")
    record = education_record(child, dropout=True)
    health_record(household.members.get(name="户主"), insured=False)
    observe_outcomes(household=household, as_of=today(), by=official_a)
    school = observations(household, Indicator.CHILDREN_ENROLLED)[0]
    assert (school.value, school.target_met, school.source) == (0, False, "department")
    assert school.batch_id == record.batch_id
    assert school.source_record_id == record.pk
    insurance = observations(household, Indicator.MEDICAL_INSURANCE)[0]
    assert (insurance.value, insurance.base, insurance.target_met, insurance.source) == (1, 2, False, "department")


def test_observing_again_the_same_day_replaces_the_values(official_a, household):
    observe_outcomes(household=household, as_of=today(), by=official_a)
    count = OutcomeObservation.objects.count()
    household.housing_grade = "A"
    household.save()
    observe_outcomes(household=household, as_of=today(), by=official_a)
    assert OutcomeObservation.objects.count() == count
    assert observations(household, Indicator.HOUSING_SAFE)[0].target_met is True


def test_a_past_date_observes_only_dated_sources(official_a, household):
    past = dt.date(today().year - 1, 12, 31)
    observe_outcomes(household=household, as_of=past, by=official_a)
    kinds = set(OutcomeObservation.objects.filter(household=household).values_list("indicator", flat=True))
    assert kinds == {Indicator.PER_CAPITA_INCOME}


def test_a_future_date_is_refused(official_a, household):
    with pytest.raises(ValidationError):
        observe_outcomes(household=household, as_of=today() + dt.timedelta(days=1), by=official_a)
    assert not OutcomeObservation.objects.exists()


def test_auditors_and_other_townships_cannot_observe(auditor, official_b, household):
    for user in (auditor, official_b):
        with pytest.raises(PermissionDenied):
            observe_outcomes(household=household, as_of=today(), by=user)
    assert not OutcomeObservation.objects.exists()


def test_a_region_observes_monitored_and_assisted_households_and_is_audited(county_staff, household):
    assisted = make_household()
    measure(assisted, category="08", subtype="0804")
    ignored = make_household()
    counts = observe_outcomes(region=Region.objects.get(code=TOWNSHIP_A), as_of=today(), by=county_staff)
    observed = set(OutcomeObservation.objects.values_list("household_id", flat=True))
    assert observed == {household.pk, assisted.pk} and ignored.pk not in observed
    assert counts.households == 2
    event = AuditEvent.objects.get(entity="resources.outcomeobservation")
    assert event.changes["observations"] == counts.observations
