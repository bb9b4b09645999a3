"""Stored data-quality items: the job keeps each township's first items per rule, the page reads them."""

import datetime as dt
import importlib

import pytest
from django.apps import apps
from django.urls import reverse

from exchange import quality
from exchange.declarations import get_department
from exchange.models import QualityItem, QualityRun
from households.models import Household, Person
from povertycloud.regions.models import Region
from tests.exchange.records import make_batch, make_record
from tests.factories import (
    COUNTY,
    TOWNSHIP_A,
    TOWNSHIP_B,
    VILLAGE_A,
    VILLAGE_A2,
    VILLAGE_B,
    make_household,
    make_person,
    resident_id,
)

pytestmark = pytest.mark.django_db

URL = reverse("exchange:quality")
ON = dt.date(2025, 3, 1)
PAGE = f"{URL}?period=2025-03"


def person(household, sequence, **overrides):
    birth = overrides.pop("birth_date", dt.date(1970, 6, 1))
    overrides.setdefault("relation", "01" if sequence % 10 == 1 else "20")
    return make_person(household, birth_date=birth, id_number=resident_id(birth, sequence=sequence), **overrides)


@pytest.fixture
def county(regions):
    """Several people per rule and township, in two villages of A and households numbered out of order, so
    that the order and the cut at the limit matter; records of three departments, one person in two rules."""
    civil = make_batch("civil_affairs", region_code=COUNTY)
    health = make_batch("health", region_code=COUNTY)
    make_batch("education", region_code=TOWNSHIP_A)  # education covers township A only
    made = {}
    sequence = 10
    for village, numbers in ((VILLAGE_A2, ("0003", "0001")), (VILLAGE_A, ("0002", "0001")), (VILLAGE_B, ("0001",))):
        for number in numbers:
            household = make_household(with_head=False, village_id=village, number=f"{village}{number}")
            for _ in range(2):
                sequence += 1
                p = person(household, sequence, dibao="", resident_medical_insurance=False)
                made[p.pk] = p
                make_record("civil_affairs", batch=civil, id_number=p.id_number, name=p.name, person=p, dibao_type="2")
                make_record("health", batch=health, id_number=p.id_number, name=p.name, person=p, insured=True)
            child = person(household, sequence + 100, birth_date=dt.date(2015, 5, 5))  # no school record
            made[child.pk] = child
    return made


def triples(found: dict[str, list[quality.Item]]) -> dict[str, list[tuple]]:
    return {
        code: [(i.person.pk, i.record.pk if i.record else None, i.batch.pk if i.batch else None) for i in items]
        for code, items in found.items()
    }


def stored(user, township: str) -> dict[str, list[tuple]] | None:
    area = Region.objects.get(code=COUNTY)
    ctx = quality.build_context(user=user, region=area, on=ON)
    shown = quality.stored_counts(area, ON, user=user, queue=False)
    found = quality.stored_items(ctx, Region.objects.get(code=township), shown)
    return None if found is None else triples(found)


def fresh(user, township: str, limit: int) -> dict[str, list[tuple]]:
    ctx = quality.build_context(user=user, region=Region.objects.get(code=COUNTY), on=ON)
    return triples(quality.issues_in(ctx, Region.objects.get(code=township), limit=limit))


# --- The rule: stored items are what a fresh computation gives --------------------------------------------


@pytest.mark.parametrize("limit", [1, 3, quality.ITEM_LIMIT])
def test_stored_items_equal_a_fresh_computation(county, county_staff, auditor, official_a, official_b,
                                                 monkeypatch, limit):
    monkeypatch.setattr(quality, "ITEM_LIMIT", limit)
    quality.refresh_counts(COUNTY, ON)
    for user, townships in (
        (county_staff, (TOWNSHIP_A, TOWNSHIP_B)),
        (auditor, (TOWNSHIP_A, TOWNSHIP_B)),
        (official_a, (TOWNSHIP_A,)),
        (official_b, (TOWNSHIP_B,)),
    ):
        for township in townships:
            assert stored(user, township) == fresh(user, township, limit), (user.username, township)
    found = stored(county_staff, TOWNSHIP_A)
    assert len(found["dibao_department_only"]) == min(limit, 8)
    assert found["education_missing"] and stored(county_staff, TOWNSHIP_B)["education_missing"] == []  # not covered


def test_items_follow_the_pages_order_and_cite_the_persons_record(county, county_staff):
    quality.refresh_counts(COUNTY, ON)
    found = stored(county_staff, TOWNSHIP_A)["insurance_none_in_file"]
    people = Person.objects.in_bulk([pk for pk, _record, _batch in found])
    keys = [(people[pk].household.village_id, people[pk].household.number, pk) for pk, _r, _b in found]
    assert keys == sorted(keys) and keys[0][0] == VILLAGE_A  # 西江村 …200 before 麻料村 …201
    records = get_department("health").model.objects.filter(person_id__in=people)
    assert {(pk, record) for pk, record, _batch in found} == set(records.values_list("person_id", "pk"))


def test_the_job_keeps_the_limit_and_counts_every_person(county, monkeypatch):
    monkeypatch.setattr(quality, "ITEM_LIMIT", 3)
    run = quality.refresh_counts(COUNTY, ON)
    kept = QualityItem.objects.filter(run=run, township_code=TOWNSHIP_A, rule="dibao_department_only")
    assert list(kept.order_by("position").values_list("position", flat=True)) == [1, 2, 3]
    assert run.counts.get(township_code=TOWNSHIP_A, rule="dibao_department_only").people == 8
    second = quality.refresh_counts(COUNTY, ON)  # a new run replaces the items, not adds to them
    assert QualityItem.objects.filter(run=second).count() == QualityItem.objects.count()
    assert QualityItem.objects.filter(run=second, township_code=TOWNSHIP_A, rule="dibao_department_only").count() == 3


def test_the_job_reads_each_rule_in_two_queries(county, django_assert_max_num_queries):
    ctx = quality.county_context(Region.objects.get(code=COUNTY), ON)
    rules = quality.applicable_rules(ctx)
    with django_assert_max_num_queries(2 * len(rules) + 1):  # and SET LOCAL jit = off on PostgreSQL
        counts, _items = quality.compute_counts_and_items(ctx)
    assert counts == quality.compute_counts(quality.county_context(Region.objects.get(code=COUNTY), ON))


# --- The page reads them -----------------------------------------------------------------------------------


def test_the_township_page_reads_stored_items_and_computes_no_rule(county, county_staff, official_a, client,
                                                                   monkeypatch, django_assert_max_num_queries):
    quality.refresh_counts(COUNTY, ON)

    def never(ctx):
        raise AssertionError("the page computed a rule")

    monkeypatch.setattr(quality, "_rule_parts", never)
    some = next(iter(county.values()))
    for user, url in ((county_staff, f"{PAGE}&township={TOWNSHIP_A}"), (official_a, PAGE)):
        client.force_login(user)
        client.get(url)
        with django_assert_max_num_queries(30):
            html = client.get(url).content.decode()
        assert 'data-rule="dibao_department_only"' in html and 'data-testid="quality-freshness"' in html
        assert f'data-person-id="{some.pk}"' in html and some.id_number not in html  # masked


def test_the_page_lists_a_few_items_per_rule_and_one_rule_up_to_the_stored_limit(county, county_staff, client,
                                                                                 monkeypatch):
    monkeypatch.setattr(quality, "PAGE_ITEMS", 2)
    monkeypatch.setattr(quality, "ITEM_LIMIT", 5)
    quality.refresh_counts(COUNTY, ON)
    client.force_login(county_staff)
    html = client.get(f"{PAGE}&township={TOWNSHIP_A}").content.decode()
    assert html.count('data-rule="dibao_department_only"') == 2 and html.count('data-rule="education_missing"') == 2
    assert "列出前 2 人，共 8 人。" in html and "rule=dibao_department_only&amp;period=2025-03" in html
    html = client.get(f"{PAGE}&township={TOWNSHIP_A}&rule=dibao_department_only").content.decode()
    assert html.count('data-rule="dibao_department_only"') == 5 and 'data-rule="education_missing"' not in html
    assert "列出前 5 人，共 8 人。" in html and 'data-testid="all-rules"' in html
    # An unknown rule is the page of every rule, not an error.
    html = client.get(f"{PAGE}&township={TOWNSHIP_A}&rule=nonsense").content.decode()
    assert html.count('data-rule="education_missing"') == 2


def test_the_page_says_when_a_townships_items_are_not_computed_yet(county, county_staff, client, monkeypatch):
    monkeypatch.setattr(quality, "enqueue_job", lambda *args: None)
    monkeypatch.setattr(quality, "_rule_parts", lambda ctx: pytest.fail("the page computed a rule"))
    client.force_login(county_staff)
    html = client.get(f"{PAGE}&township={TOWNSHIP_A}").content.decode()
    assert 'data-testid="items-queued"' in html and 'data-testid="issue"' not in html


def test_outdated_items_stay_shown_with_the_note(county, county_staff, client, monkeypatch):
    quality.refresh_counts(COUNTY, ON)
    monkeypatch.setattr(quality, "enqueue_job", lambda *args: None)
    make_batch("health", region_code=COUNTY, finished_at=quality.timezone.now() + dt.timedelta(seconds=1))
    client.force_login(county_staff)
    html = client.get(f"{PAGE}&township={TOWNSHIP_A}").content.decode()
    assert "此后数据有变化" in html and 'data-rule="dibao_department_only"' in html


# --- Permission: the stored ids never show anyone outside the user's region ----------------------------------


def test_an_official_never_gets_another_townships_stored_items(county, official_a, client):
    quality.refresh_counts(COUNTY, ON)
    in_b = {p.pk for p in county.values() if p.household.village_id == VILLAGE_B}
    client.force_login(official_a)
    assert client.get(f"{PAGE}&township={TOWNSHIP_B}").status_code == 404
    html = client.get(PAGE).content.decode()
    assert not any(f'data-person-id="{pk}"' in html for pk in in_b)
    # Asked for township B directly, the stored rows themselves are out of the official's scope.
    area = Region.objects.get(code=TOWNSHIP_A)
    ctx = quality.build_context(user=official_a, region=area, on=ON)
    shown = quality.stored_counts(area, ON, user=official_a, queue=False)
    assert not any(quality.stored_items(ctx, Region.objects.get(code=TOWNSHIP_B), shown).values())


def test_a_person_who_moved_or_left_since_the_run_is_not_shown(county, official_a, official_b, county_staff):
    quality.refresh_counts(COUNTY, ON)
    households = sorted({p.household_id for p in county.values() if p.household.village_id == VILLAGE_A})
    moved = Person.objects.filter(household_id=households[0])
    moved_ids = set(moved.values_list("pk", flat=True))
    Household.objects.filter(pk=households[0]).update(village_id=VILLAGE_B)
    Person.objects.filter(household_id=households[0]).update(region_code=VILLAGE_B)
    gone = Person.objects.filter(household_id=households[1]).first()
    Person.objects.filter(pk=gone.pk).update(left_on=dt.date(2025, 3, 2), left_reason="迁出")

    def shown(user, township):
        return {pk for found in stored(user, township).values() for pk, _r, _b in found}

    assert not shown(official_a, TOWNSHIP_A) & (moved_ids | {gone.pk})
    assert not shown(county_staff, TOWNSHIP_A) & (moved_ids | {gone.pk})  # listed under A no longer
    assert not shown(official_b, TOWNSHIP_B) & moved_ids  # the run found them in A: not B's items
    assert shown(official_a, TOWNSHIP_A)  # the others stay


def test_an_item_whose_record_the_user_may_not_see_is_left_out(county, official_a, county_staff):
    """A person of A cited by a record kept under B: the county's run found it, A's official would not."""
    household = make_household(with_head=False, village_id=VILLAGE_A, number=f"{VILLAGE_A}0000")
    odd = person(household, 91, dibao="")
    make_record("civil_affairs", batch=make_batch("civil_affairs", region_code=COUNTY), id_number=odd.id_number,
                name=odd.name, person=odd, dibao_type="2", region_code=VILLAGE_B)
    quality.refresh_counts(COUNTY, ON)
    assert odd.pk in {pk for pk, _r, _b in stored(county_staff, TOWNSHIP_A)["dibao_department_only"]}
    assert stored(official_a, TOWNSHIP_A) == fresh(official_a, TOWNSHIP_A, quality.ITEM_LIMIT)
    assert odd.pk not in {pk for pk, _r, _b in stored(official_a, TOWNSHIP_A)["dibao_department_only"]}


# --- Runs from before the items were stored ---------------------------------------------------------------


def test_runs_computed_before_the_items_are_asked_again(county):
    run = quality.refresh_counts(COUNTY, ON)
    migration = importlib.import_module("exchange.migrations.0007_quality_items")
    migration.forget_runs_without_items(apps, None)
    run = QualityRun.objects.get(pk=run.pk)
    assert run.computed_at is None and run.started_at is None
    assert stored(None, TOWNSHIP_A) is None  # not computed: the page asks the job and says so
