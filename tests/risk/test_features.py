"""Household features as of a cut-off: vectorised, one query per table, and blind to anything after it."""

import datetime as dt
from decimal import Decimal
from unittest.mock import patch

import numpy as np
import pandas as pd
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from exchange.models import HealthRecord
from households.models import Household, IncomeRecord, Person
from risk.features import FEATURES, META, PLACE, build_features
from risk.frames import read_frame
from risk.models import Warning, WarningRule
from risk.sources import Sources
from tests.exchange.records import make_batch, make_record
from tests.factories import VILLAGE_A, make_household, make_income, make_person
from tests.risk.modelling import build_small_county, load_reference_data, module_data, status

pytestmark = pytest.mark.django_db
CUTOFF = dt.date(2023, 12, 31)


@pytest.fixture(scope="module")
def county(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        build_small_county(tmp_path_factory.mktemp("county"), departments=False)
        yield


def test_features_are_read_with_one_query_per_table(county):
    with (
        patch("risk.sources.read_frame", wraps=read_frame) as reads,
        CaptureQueriesContext(connection) as queries,
    ):
        sources = Sources.load(region_code="522634000000")
    # 8 tables: households, persons, incomes, status history, three departments, warnings. Besides them the
    # region lookup, one threshold lookup per village (thresholds_for) and the declarations of departments
    # declared as data (none here; one more query per declared department with records).
    assert reads.call_count == 8
    assert len(queries) == 1 + 8 + sources.households["village_id"].nunique() + 1
    with CaptureQueriesContext(connection) as queries:
        frame = sources.at(CUTOFF)
    assert len(queries) == 0
    assert list(frame.columns) == [*META, *FEATURES, *PLACE]
    assert len(frame) == Household.objects.count()


def test_nothing_recorded_after_the_cutoff_changes_the_features_at_it(county):
    before = build_features(region_code="522634000000", as_of=CUTOFF)

    reported = HealthRecord.objects.filter(valid_to__isnull=True).values("id_number")
    person = Person.objects.exclude(id_number__in=reported).order_by("id").first()
    household = person.household
    other = Household.objects.exclude(pk=household.pk).order_by("id").first()
    later = dt.date(2024, 3, 1)
    # A later year's income, and a change to the cut-off year's survey made after it.
    IncomeRecord.objects.create(household=household, year=2026, household_size=1, wage_income=1, production_cost=0)
    # Status history after the cut-off: entering monitoring, with risk types.
    status(household, later, "03", monitoring_type="2", risk_types=",01,")
    # Department records valid only from after the cut-off, and a warning raised after it.
    batch = make_batch("health", period="2024-03", period_start=later)
    make_record(
        "health",
        batch=batch,
        id_number=person.id_number,
        name=person.name,
        person=person,
        insured=False,
        out_of_pocket_ytd=Decimal("90000"),
        serious_diagnosis="肺癌",
        serious_diagnosis_date=later,
    )
    Warning.objects.create(
        rule=WarningRule.objects.get(code="health-not-insured"),
        household=household,
        person=person,
        value="否",
        department="health",
        source_record_id=1,
        batch=batch,
        as_of=later,
        region_code=household.village_id,
    )
    # A child born after the cut-off; edits to the household file (written now, after the cut-off).
    make_person(
        household,
        birth_date=dt.date(2024, 5, 1),
        relation="07",
        labour_skill="5",
        education="",
        school_status="01",
        name="新生儿",
    )
    Person.objects.filter(household=other).update(health=",3,", labour_skill="4")
    Household.objects.filter(pk=other.pk).update(housing_grade="D", safe_drinking_water=False)
    # A household registered after the cut-off (its 2023 survey came in after it too).
    late = make_household(village_id=VILLAGE_A)
    make_income(late, year=2023, survey_date=dt.date(2024, 1, 15))

    after = build_features(region_code="522634000000", as_of=CUTOFF)
    pd.testing.assert_frame_equal(before, after)
    assert late.pk not in after.index


def test_later_data_does_show_at_a_later_cutoff(county):
    household = Household.objects.order_by("id").first()
    status(household, dt.date(2024, 3, 1), "03", monitoring_type="2", risk_types=",01,")
    features = build_features(region_code="522634000000", as_of=dt.date(2024, 12, 31))
    assert features.loc[household.pk, "monitored_now"] == 1
    assert features.loc[household.pk, "risk_illness"] == 1


@pytest.mark.usefixtures("regions")
def test_fields_that_events_change_are_missing_before_the_record_was_written():
    load_reference_data()
    household = make_household(village_id=VILLAGE_A, housing_grade="D")
    make_income(household, year=2023, wage_income=50000)
    old = build_features(region_code=VILLAGE_A, as_of=CUTOFF).loc[household.pk]
    assert np.isnan(old["housing_unsafe"]) and np.isnan(old["ill_serious"]) and np.isnan(old["labour_able"])
    assert old["size"] == 1 and old["working_age_labour"] == 1
    today = build_features(region_code=VILLAGE_A, as_of=dt.date.today() + dt.timedelta(days=1)).loc[household.pk]
    assert today["housing_unsafe"] == 1 and today["labour_able"] == 1


@pytest.mark.usefixtures("regions")
def test_income_features_use_the_threshold_of_the_survey_year():
    load_reference_data()
    household = make_household(village_id=VILLAGE_A)
    make_person(household, relation="02", sex="2", birth_date=dt.date(1982, 1, 1))
    make_income(household, year=2022, household_size=2, wage_income=20000, production_cost=0)
    make_income(
        household,
        year=2023,
        household_size=2,
        wage_income=14000,
        production_cost=0,
        compliant_medical_spending=7300,
    )
    row = build_features(region_code=VILLAGE_A, as_of=CUTOFF).loc[household.pk]
    assert row["income_ratio"] == pytest.approx(7000 / 7300)
    assert row["below_threshold"] == 1
    assert row["income_ratio_prev"] == pytest.approx(10000 / 6500)
    assert row["medical_spending"] == pytest.approx(1.0)  # in thresholds of its year
    assert row["years_below"] == 1


@pytest.mark.usefixtures("regions")
def test_a_department_record_counts_only_while_it_is_valid():
    load_reference_data()
    household = make_household(village_id=VILLAGE_A)
    status(household, dt.date(2020, 1, 1), "01")
    child = make_person(household, relation="03", birth_date=dt.date(2010, 9, 1), labour_skill="5", education="2")
    sister = make_person(
        household,
        relation="04",
        sex="2",
        birth_date=dt.date(2012, 9, 1),
        labour_skill="5",
        education="",
        school_status="16",
    )
    march = make_batch("education", period="2023-03", period_start=dt.date(2023, 3, 1))
    make_record(
        "education",
        batch=march,
        id_number=child.id_number,
        name=child.name,
        person=child,
        dropout=True,
        valid_to=dt.date(2024, 3, 1),
    )
    later = make_batch("education", period="2024-03", period_start=dt.date(2024, 3, 1))
    make_record("education", batch=later, id_number=sister.id_number, name=sister.name, person=sister)

    assert np.isnan(
        build_features(region_code=VILLAGE_A, as_of=dt.date(2022, 12, 31)).loc[household.pk, "dept_dropout"]
    )
    assert build_features(region_code=VILLAGE_A, as_of=CUTOFF).loc[household.pk, "dept_dropout"] == 1
    at_mid_2024 = build_features(region_code=VILLAGE_A, as_of=dt.date(2024, 6, 30)).loc[household.pk]
    assert at_mid_2024["dept_dropout"] == 0
    assert at_mid_2024["dept_students"] == 1
