"""Data-quality issues: departments contradicting the household file, each rule good and bad."""

import datetime as dt

import pytest

from exchange import quality
from povertycloud.regions.models import Region
from tests.exchange.records import make_batch, make_record
from tests.factories import COUNTY, TOWNSHIP_A, VILLAGE_A, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db

ON = dt.date(2025, 3, 1)


@pytest.fixture
def household(regions):
    return make_household(with_head=False, village_id=VILLAGE_A)


def person(household, **overrides):
    birth = overrides.pop("birth_date", dt.date(1970, 6, 1))
    overrides.setdefault("relation", "01")
    return make_person(household, birth_date=birth, id_number=resident_id(birth), **overrides)


def issues(user, *, township=TOWNSHIP_A, on=ON) -> dict[str, list[int]]:
    """Person ids per rule in one township, as the county sees it."""
    ctx = quality.build_context(user=user, region=Region.objects.get(code=COUNTY), on=on)
    found = quality.issues_in(ctx, Region.objects.get(code=township))
    return {code: [item.person.pk for item in items] for code, items in found.items()}


def civil(p, batch=None, **fields):
    batch = batch or make_batch("civil_affairs")
    return make_record("civil_affairs", batch=batch, id_number=p.id_number, name=p.name, person=p, **fields)


def health(p, batch=None, **fields):
    batch = batch or make_batch("health")
    return make_record("health", batch=batch, id_number=p.id_number, name=p.name, person=p, **fields)


def education(p, batch=None, **fields):
    batch = batch or make_batch("education")
    return make_record("education", batch=batch, id_number=p.id_number, name=p.name, person=p, **fields)


# --- 低保 and 特困 ----------------------------------------------------------------------------------------


def test_dibao_in_civil_affairs_but_not_in_the_file_is_an_issue(household, county_staff):
    bad = person(household, dibao="")
    good = person(household, dibao="2", relation="02")
    record = civil(bad, dibao_type="2", dibao_start=dt.date(2024, 1, 1))
    civil(good, dibao_type="2", dibao_start=dt.date(2024, 1, 1))
    found = issues(county_staff)
    assert found["dibao_department_only"] == [bad.pk]
    ctx = quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON)
    (item,) = quality.issues_in(ctx, Region.objects.get(code=TOWNSHIP_A))["dibao_department_only"]
    assert item.record.pk == record.pk and item.batch.pk == record.batch_id
    assert item.person.household.number == household.number


def test_stopped_dibao_is_no_longer_dibao(household, county_staff):
    stopped = person(household, dibao="")
    civil(stopped, dibao_type="2", dibao_start=dt.date(2020, 1, 1), dibao_stop=dt.date(2024, 12, 1))
    assert issues(county_staff)["dibao_department_only"] == []


def test_dibao_in_the_file_but_not_in_civil_affairs_is_an_issue(household, county_staff):
    batch = make_batch("civil_affairs")
    stopped = person(household, dibao="2")
    missing = person(household, dibao="1", relation="02")
    listed = person(household, dibao="2", relation="03")
    civil(stopped, batch, dibao_type="2", dibao_stop=dt.date(2025, 1, 1))
    civil(listed, batch, dibao_type="2")
    found = quality.issues_in(
        quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON),
        Region.objects.get(code=TOWNSHIP_A),
    )["dibao_file_only"]
    by_person = {item.person.pk: item for item in found}
    assert set(by_person) == {stopped.pk, missing.pk}
    assert by_person[stopped.pk].record is not None
    # Nobody in civil affairs' list: the item cites the batch that does not list the person.
    assert by_person[missing.pk].record is None and by_person[missing.pk].batch == batch


def test_file_only_rules_wait_for_a_department_file(household, county_staff):
    person(household, dibao="2", tekun=True)
    ctx = quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON)
    codes = {rule.code for rule in quality.applicable_rules(ctx)}
    assert "dibao_file_only" not in codes and "tekun_file_only" not in codes
    assert "dibao_department_only" in codes


def test_tekun_contradictions_both_ways(household, county_staff):
    batch = make_batch("civil_affairs")
    department_only = person(household, tekun=False)
    file_only = person(household, tekun=True, relation="02")
    agreed = person(household, tekun=True, relation="03")
    civil(department_only, batch, tekun=True)
    civil(file_only, batch, tekun=False)
    civil(agreed, batch, tekun=True)
    found = issues(county_staff)
    assert found["tekun_department_only"] == [department_only.pk]
    assert found["tekun_file_only"] == [file_only.pk]


# --- Basic medical insurance ------------------------------------------------------------------------------


def test_two_basic_insurances_in_the_file(household, county_staff):
    two = person(household, resident_medical_insurance=True, employee_medical_insurance=True)
    person(household, resident_medical_insurance=True, employee_medical_insurance=False, relation="02")
    assert issues(county_staff)["insurance_two_in_file"] == [two.pk]


def test_no_basic_insurance_in_the_file(household, county_staff):
    none = person(household, resident_medical_insurance=False, employee_medical_insurance=False)
    record = health(none, insured=True, insurance_type="1")
    person(household, relation="02")
    ctx = quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON)
    (item,) = quality.issues_in(ctx, Region.objects.get(code=TOWNSHIP_A))["insurance_none_in_file"]
    assert item.person == none and item.record.pk == record.pk  # cites the health record that exists


def test_health_department_type_other_than_the_file_makes_two(household, county_staff):
    batch = make_batch("health")
    differs = person(household, resident_medical_insurance=True, employee_medical_insurance=False)
    agrees = person(household, resident_medical_insurance=True, relation="02")
    employee = person(
        household, resident_medical_insurance=False, employee_medical_insurance=True, relation="03"
    )
    health(differs, batch, insured=True, insurance_type="2")
    health(agrees, batch, insured=True, insurance_type="1")
    health(employee, batch, insured=True, insurance_type="2")
    assert issues(county_staff)["insurance_type_differs"] == [differs.pk]


def test_not_insured_per_the_health_department(household, county_staff):
    batch = make_batch("health")
    uninsured = person(household)
    insured = person(household, relation="02")
    health(uninsured, batch, insured=False)
    health(insured, batch, insured=True, insurance_type="1")
    assert issues(county_staff)["insurance_not_insured"] == [uninsured.pk]


# --- Compulsory education ---------------------------------------------------------------------------------


def child(household, age_on_march_first: int, **overrides):
    birth = dt.date(ON.year - age_on_march_first, 1, 15)
    return person(household, birth_date=birth, relation="03", education="", school_status="13", **overrides)


def test_compulsory_age_child_without_a_school_record(household, county_staff):
    batch = make_batch("education")
    missing = child(household, 10)
    enrolled = child(household, 12)
    too_old = child(household, 16)
    too_young = child(household, 5)
    education(enrolled, batch)
    found = issues(county_staff)["education_missing"]
    assert found == [missing.pk]
    assert too_old.pk not in found and too_young.pk not in found
    ctx = quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON)
    (item,) = quality.issues_in(ctx, Region.objects.get(code=TOWNSHIP_A))["education_missing"]
    assert item.batch == batch  # the education file that does not list the child


def test_ages_six_and_fifteen_are_compulsory():
    assert quality.years_before(dt.date(2024, 2, 29), 6) == dt.date(2018, 2, 28)
    on = dt.date(2025, 3, 1)
    assert set(quality._compulsory_age(on).children) == {
        ("birth_date__lte", dt.date(2019, 3, 1)), ("birth_date__gt", dt.date(2009, 3, 1))
    }


def test_compulsory_age_child_dropped_out(household, county_staff):
    batch = make_batch("education")
    dropout = child(household, 13)
    in_school = child(household, 11)
    education(dropout, batch, stage="3", dropout=True)
    education(in_school, batch, dropout=False)
    found = issues(county_staff)
    assert found["education_dropout"] == [dropout.pk]
    assert found["education_missing"] == []


# --- Per township, in scope -------------------------------------------------------------------------------


def test_counts_are_per_township(regions, county_staff):
    in_a = make_household(with_head=False, village_id=VILLAGE_A)
    in_b = make_household(with_head=False, village_id=VILLAGE_B)
    person(in_a, resident_medical_insurance=False)
    person(in_a, resident_medical_insurance=False, relation="02")
    person(in_b, resident_medical_insurance=False)
    ctx = quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON)
    counts = quality.counts_by_township(ctx)
    assert counts[TOWNSHIP_A]["insurance_none_in_file"] == 2
    assert counts["522634103000"]["insurance_none_in_file"] == 1


def test_an_official_counts_only_their_township(regions, official_a):
    in_a = make_household(with_head=False, village_id=VILLAGE_A)
    in_b = make_household(with_head=False, village_id=VILLAGE_B)
    person(in_a, resident_medical_insurance=False)
    person(in_b, resident_medical_insurance=False)
    # Even asked for the whole county, the people come through the official's scope.
    ctx = quality.build_context(user=official_a, region=Region.objects.get(code=COUNTY), on=ON)
    assert set(quality.counts_by_township(ctx)) == {TOWNSHIP_A}


def test_the_rules_run_a_fixed_number_of_queries(household, county_staff, django_assert_max_num_queries):
    for i in range(5):
        p = person(household, relation="01" if i == 0 else "20", resident_medical_insurance=False)
        civil(p, dibao_type="2")
    ctx = quality.build_context(user=county_staff, region=Region.objects.get(code=COUNTY), on=ON)
    township = Region.objects.get(code=TOWNSHIP_A)
    with django_assert_max_num_queries(2 * len(quality.RULES) + 5):
        quality.counts_by_township(ctx)
        quality.issues_in(ctx, township)
