"""Labels from history, on hand-made households: poor in a year, and return to poverty in the year after."""

import datetime as dt

import numpy as np
import pytest
from django.utils import timezone

from risk.labels import Target, labels_for, poor_in_year, returned
from risk.sources import Sources
from tests.exchange.records import make_batch, make_record
from tests.factories import VILLAGE_A, VILLAGE_B, make_household, make_income, make_person
from tests.risk.modelling import load_reference_data, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("regions")]
# Monitoring thresholds of the demo table: 2024 7,600 and 2025 8,000 yuan per person.


@pytest.fixture
def reference():
    load_reference_data()


def income(household, year: int, per_person: int, size: int = 1):
    return make_income(household, year=year, household_size=size, wage_income=per_person * size, production_cost=0)


def test_income_below_the_years_threshold_is_poor_and_above_is_not(reference):
    household = make_household()
    income(household, 2024, 7599)
    income(household, 2025, 7999)
    other = make_household()
    income(other, 2024, 7600)
    sources = Sources.load()
    assert poor_in_year(sources, 2024)[household.pk] == 1
    assert poor_in_year(sources, 2025)[household.pk] == 1
    assert poor_in_year(sources, 2024)[other.pk] == 0
    assert np.isnan(poor_in_year(sources, 2025)[other.pk])  # no survey of 2025


def test_a_basic_needs_failure_is_poor_in_the_years_the_file_speaks_for(reference):
    this_year = timezone.localdate().year
    housing = make_household(housing_grade="D")
    income(housing, this_year - 1, 20000)
    water = make_household(safe_drinking_water=False)
    uninsured = make_household(with_head=False)
    make_person(uninsured, resident_medical_insurance=False, employee_medical_insurance=False)
    dropout = make_household()
    make_person(dropout, relation="03", birth_date=dt.date(this_year - 12, 3, 1), labour_skill="5", education="2")
    finished = make_household()
    make_person(finished, relation="03", birth_date=dt.date(this_year - 15, 3, 1), labour_skill="5", education="3")
    sources = Sources.load()
    now = poor_in_year(sources, this_year)
    assert now[housing.pk] == now[water.pk] == now[uninsured.pk] == now[dropout.pk] == 1
    assert np.isnan(now[finished.pk])  # finished junior school: no failure, and no survey this year
    # The file was written this year: it says nothing about last year, when the income was well above.
    assert poor_in_year(sources, this_year - 1)[housing.pk] == 0


def test_department_records_show_failures_in_the_years_they_were_valid(reference):
    household = make_household()
    child = make_person(
        household,
        relation="03",
        birth_date=dt.date(2012, 5, 1),
        labour_skill="5",
        education="",
        school_status="21",
    )
    income(household, 2024, 20000)
    income(household, 2025, 20000)
    batch = make_batch("education", period="2025-03", period_start=dt.date(2025, 3, 1))
    make_record(
        "education",
        batch=batch,
        id_number=child.id_number,
        name=child.name,
        person=child,
        dropout=True,
        valid_to=dt.date(2025, 9, 1),
    )
    sources = Sources.load()
    assert poor_in_year(sources, 2025)[household.pk] == 1
    assert poor_in_year(sources, 2024)[household.pk] == 0


def test_return_is_below_the_threshold_or_identified_next_year_among_the_unmonitored(reference):
    fell = make_household()  # not monitored, falls below in 2025
    income(fell, 2024, 12000)
    income(fell, 2025, 7000)
    identified = make_household()  # not monitored, identified in 2025 though above the threshold
    income(identified, 2024, 12000)
    income(identified, 2025, 9000)
    status(identified, dt.date(2025, 5, 10), "03", monitoring_type="3", risk_types=",01,")
    eliminated = make_household()  # monitored until its risk was eliminated in 2024, back in 2025
    income(eliminated, 2024, 9000)
    income(eliminated, 2025, 7500)
    status(eliminated, dt.date(2022, 6, 1), "03", monitoring_type="2", risk_types=",07,")
    status(eliminated, dt.date(2024, 11, 20), "05")
    monitored = make_household()  # monitored at the end of 2024: not at risk of *returning*
    income(monitored, 2024, 7000)
    income(monitored, 2025, 6000)
    status(monitored, dt.date(2024, 4, 1), "03", monitoring_type="2", risk_types=",08,")
    stable = make_household(village_id=VILLAGE_B)
    income(stable, 2024, 15000)
    income(stable, 2025, 16000)
    unknown = make_household(village_id=VILLAGE_A)
    income(unknown, 2024, 15000)

    label = returned(Sources.load(), 2024)
    assert label[fell.pk] == label[identified.pk] == label[eliminated.pk] == 1
    assert label[stable.pk] == 0
    assert np.isnan(label[monitored.pk])
    assert np.isnan(label[unknown.pk])


def test_poor_now_examples_pair_the_cutoff_year_with_the_next_years_outcome(reference):
    household = make_household()
    income(household, 2024, 20000)
    income(household, 2025, 5000)
    sources = Sources.load()
    assert labels_for(sources, target=Target.POOR_NOW, cutoff_year=2024)[household.pk] == 1
    assert labels_for(sources, target=Target.RETURN, cutoff_year=2024)[household.pk] == 1
