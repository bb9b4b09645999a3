"""Pull: a department reads what it is entitled to and only that, page by page, and every read is recorded."""

import datetime as dt
import itertools
from unittest import mock
from urllib.parse import parse_qs, urlsplit

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from exchange.api.models import Share, SharedPerson
from exchange.api.pull import make_cursor, years_before
from exchange.api.services import update_client
from exchange.api.share_selectors import client_shares, person_shares
from households.models import Household, Person, StatusChange
from tests.exchange.conftest import OTHER_VILLAGE
from tests.factories import VILLAGE_A, VILLAGE_B, make_household, make_person

pytestmark = pytest.mark.django_db

DATASETS = "/api/v1/datasets/"
EDUCATION = "/api/v1/pull/education_pupils/"
HEALTH = "/api/v1/pull/health_premium/"
MONITORING = "/api/v1/pull/new_monitoring/"


def born(age: int, *, days: int = 0) -> dt.date:
    """A birth date that makes the person ``age`` today (``days`` later: still that age, ``days`` younger)."""
    return years_before(timezone.localdate(), age) + dt.timedelta(days=days)


def pupil(household: Household, age: int, school_status: str, **overrides) -> Person:
    values = {"relation": "03", "education": "", "school_status": school_status, "labour_skill": "5"}
    return make_person(household, birth_date=born(age), **{**values, **overrides})


_adults = itertools.count()


def adult(household: Household, **overrides) -> Person:
    """An adult of about 40, each born on another day (the factory's ID numbers repeat within one birth date)."""
    values = {"relation": "02", "birth_date": born(40, days=-next(_adults))}
    return make_person(household, **{**values, **overrides})


def ids_of(answer) -> list[str]:
    return [row["id_number"] for row in answer.json()["results"]]


def walk(caller, url: str) -> list[dict]:
    rows, pages = [], 0
    while url:
        answer = caller.get(url)
        assert answer.status_code == 200, answer.json()
        rows.extend(answer.json()["results"])
        url, pages = answer.json()["next"], pages + 1
        assert pages < 100
    return rows


# --- Who each dataset gives --------------------------------------------------------------------------------


def test_education_gives_the_pupils_of_lifted_and_monitored_households_only(make_caller):
    caller = make_caller(department="education", name="县教育局")
    lifted = make_household(household_type="1", with_head=False)
    head = adult(lifted, relation="01")
    primary = pupil(lifted, 10, "14")
    senior = pupil(lifted, 17, "32")
    vocational = pupil(lifted, 18, "41")
    young_out_of_school = make_person(lifted, birth_date=born(17), relation="04", labour_skill="5")
    undergraduate = pupil(lifted, 19, "61")
    just_six = make_person(lifted, birth_date=born(6), relation="07", education="", labour_skill="5")
    sixteen_today = make_person(lifted, birth_date=born(16), relation="08", labour_skill="5")
    fifteen_to_the_end = make_person(lifted, birth_date=born(16, days=1), relation="09", labour_skill="5")
    left = pupil(lifted, 12, "16", left_on=dt.date(2025, 9, 1), left_reason="迁出")
    ordinary = make_household(household_type="2")
    ordinary_pupil = pupil(ordinary, 10, "14")
    monitored = make_household(household_type="2", monitoring_type="2", risk_types=",01,")
    monitored_pupil = pupil(monitored, 8, "12")

    answer = caller.get(EDUCATION)

    assert answer.status_code == 200, answer.json()
    given = set(ids_of(answer))
    assert given == {
        p.id_number for p in (primary, senior, vocational, just_six, fifteen_to_the_end, monitored_pupil)
    }
    for outside in (head, young_out_of_school, undergraduate, sixteen_today, left, ordinary_pupil):
        assert outside.id_number not in given
    row = next(r for r in answer.json()["results"] if r["id_number"] == primary.id_number)
    assert row == {"id_number": primary.id_number, "name": "张三", "school_status": "小学四年级",
                   "household_type": "脱贫户"}


def test_health_gives_each_entitled_person_one_premium_category_by_priority(make_caller):
    caller = make_caller()
    lifted = make_household(household_type="1", with_head=False)
    lifted_member = adult(lifted)
    left = adult(lifted, left_on=dt.date(2025, 3, 1), left_reason="死亡")
    monitored = make_household(household_type="1", monitoring_type="1", risk_types=",01,", with_head=False)
    monitored_member = adult(monitored)
    ordinary = make_household(household_type="2", with_head=False)
    dibao = adult(ordinary, dibao="2")
    tekun = adult(ordinary, tekun=True, dibao="2")
    neighbour = adult(ordinary)

    answer = caller.get(HEALTH)

    assert answer.status_code == 200, answer.json()
    categories = {row["id_number"]: row["premium_category"] for row in answer.json()["results"]}
    assert categories == {
        lifted_member.id_number: "脱贫人口",
        monitored_member.id_number: "监测对象",
        dibao.id_number: "低保对象",
        tekun.id_number: "特困供养人员",
    }
    assert left.id_number not in categories and neighbour.id_number not in categories


def test_labels_follow_the_callers_language(make_caller):
    caller = make_caller(department="education", name="县教育局")
    child = pupil(make_household(household_type="1", with_head=False), 10, "14")
    answer = caller.get(EDUCATION, HTTP_ACCEPT_LANGUAGE="en")
    assert answer.json()["results"] == [{"id_number": child.id_number, "name": "张三",
                                         "school_status": "Primary grade 4",
                                         "household_type": "Household lifted out of poverty"}]


def status(household: Household, event: str, on: dt.date, *, monitoring_type: str = "", risk_types: str = ""):
    return StatusChange.objects.create(
        household=household, effective_date=on, event=event, household_type=household.household_type,
        monitoring_type=monitoring_type, risk_types=risk_types, reason="测试",
    )


def test_new_monitoring_gives_members_of_monitored_households_with_their_identification(make_caller):
    caller = make_caller(department="civil_affairs", name="县民政局")
    monitored = make_household(household_type="2", monitoring_type="2", risk_types=",01,03,", with_head=False)
    status(monitored, "01", dt.date(2024, 1, 1))
    status(monitored, "03", dt.date(2026, 3, 10), monitoring_type="2", risk_types=",01,")
    status(monitored, "04", dt.date(2026, 5, 1), monitoring_type="2", risk_types=",01,03,")
    members = [adult(monitored, relation="01"), pupil(monitored, 9, "13")]
    gone = adult(monitored, left_on=dt.date(2026, 4, 1), left_reason="迁出")
    returned = make_household(household_type="1", monitoring_type="1", risk_types=",02,", with_head=False)
    status(returned, "03", dt.date(2023, 2, 1), monitoring_type="1", risk_types=",02,")
    status(returned, "05", dt.date(2024, 2, 1))
    status(returned, "06", dt.date(2026, 6, 30), monitoring_type="1", risk_types=",02,")
    returned_member = adult(returned)
    opened_monitored = make_household(household_type="2", monitoring_type="3", risk_types=",04,", with_head=False)
    status(opened_monitored, "01", dt.date(2026, 7, 1), monitoring_type="3", risk_types=",04,")
    opened_member = adult(opened_monitored)
    eliminated = make_household(household_type="1", with_head=False)
    status(eliminated, "03", dt.date(2023, 2, 1), monitoring_type="1", risk_types=",02,")
    status(eliminated, "05", dt.date(2024, 2, 1))
    eliminated_member = adult(eliminated)

    answer = caller.get(MONITORING)

    assert answer.status_code == 200, answer.json()
    rows = {row["id_number"]: row for row in answer.json()["results"]}
    assert set(rows) == {*(m.id_number for m in members), returned_member.id_number, opened_member.id_number}
    assert gone.id_number not in rows and eliminated_member.id_number not in rows
    assert rows[members[0].id_number] == {
        "id_number": members[0].id_number, "name": "张三", "household_number": monitored.number,
        "monitoring_type": "边缘易致贫户", "risk_types": "因病、因学", "identified_on": "2026-03-10",
    }
    assert rows[returned_member.id_number]["identified_on"] == "2026-06-30"
    assert rows[opened_member.id_number]["identified_on"] == "2026-07-01"


# --- What a client reads -----------------------------------------------------------------------------------


def test_only_the_readable_fields_appear_and_an_administrator_changes_them(make_caller, admin_user):
    caller = make_caller()
    household = make_household(household_type="1", with_head=False, number="522634101200990001")
    person = adult(household)

    first = caller.get(HEALTH).json()
    assert first["fields"] == ["id_number", "name", "premium_category"]
    assert first["results"] == [{"id_number": person.id_number, "name": "张三", "premium_category": "脱贫人口"}]

    update_client(client=caller.client, by=admin_user, fields={"health_premium": ["village_name", "household_number"]})
    second = caller.get(HEALTH).json()

    assert second["fields"] == ["id_number", "household_number", "village_name"]  # id_number always
    assert second["results"] == [
        {"id_number": person.id_number, "household_number": "522634101200990001", "village_name": "西江村"}
    ]
    assert "name" not in second["results"][0]


def test_every_declared_field_can_be_given(make_caller):
    fields = ["id_number", "name", "sex", "birth_date", "household_number", "household_type", "monitoring_type",
              "village_code", "village_name", "school_status", "age"]
    caller = make_caller(department="education", fields={"education_pupils": fields})
    household = make_household(household_type="1", with_head=False)
    child = pupil(household, 10, "14", sex="2")
    row = caller.get(EDUCATION).json()["results"][0]
    assert row == {
        "id_number": child.id_number, "name": "张三", "sex": "女", "birth_date": child.birth_date.isoformat(),
        "household_number": household.number, "household_type": "脱贫户", "monitoring_type": None,
        "village_code": VILLAGE_A, "village_name": "西江村", "school_status": "小学四年级", "age": 10,
    }


def test_the_datasets_a_client_may_read_are_listed_with_their_fields(make_caller):
    caller = make_caller(scopes=["pull:health_premium"])
    answer = caller.get(DATASETS)
    assert answer.status_code == 200
    (health,) = answer.json()["results"]
    assert health["slug"] == "health_premium"
    assert [f["name"] for f in health["fields"]] == ["id_number", "name", "premium_category"]
    assert health["fields"][0]["label"] == "证件号码"
    assert health["url"] == "http://testserver/api/v1/pull/health_premium/"


def test_a_client_without_the_scope_is_refused(make_caller):
    caller = make_caller(scopes=["pull:health_premium"])
    answer = caller.get(EDUCATION)
    assert answer.status_code == 403
    assert answer.json()["code"] == "scope_missing"
    assert not Share.objects.exists()


def test_an_unknown_dataset_is_not_found(health_caller):
    answer = health_caller.get("/api/v1/pull/everyone/")
    assert answer.status_code == 404
    assert answer.json()["code"] == "not_found"


def test_no_token_is_a_401(client):
    assert client.get(HEALTH).status_code == 401


def test_another_countys_persons_are_never_given(make_caller, other_county):
    here = adult(make_household(household_type="1", with_head=False))
    there_household = make_household(household_type="1", with_head=False, village_id=OTHER_VILLAGE,
                                      number="522601001200000001")
    there = adult(there_household)

    ours = make_caller()
    theirs = make_caller(region=other_county, name="他县医保局")

    assert ids_of(ours.get(HEALTH)) == [here.id_number]
    assert ids_of(theirs.get(HEALTH)) == [there.id_number]


def test_a_township_client_reads_only_its_township(make_caller):
    in_a = adult(make_household(household_type="1", with_head=False))
    adult(make_household(household_type="1", with_head=False, village_id=VILLAGE_B))
    township = make_caller(region="522634101000", name="西江镇卫生院")
    assert ids_of(township.get(HEALTH)) == [in_a.id_number]


# --- Incremental and paged ---------------------------------------------------------------------------------


@pytest.fixture(params=["few changes", "many changes"])
def changes(request, monkeypatch):
    """Both ways an incremental pull reads: few changes through their indexes, many by the walk in id order."""
    if request.param == "many changes":
        monkeypatch.setattr("exchange.api.pull.FEW_CHANGES", 0)
    return request.param


def test_changed_since_gives_persons_or_households_changed_at_or_after_it(health_caller, changes):
    old_time = timezone.make_aware(dt.datetime(2020, 1, 1, 12, 0))
    unchanged = adult(make_household(household_type="1", with_head=False))
    household_changed = adult(make_household(household_type="1", with_head=False))
    person_changed = adult(make_household(household_type="1", with_head=False))
    Person.objects.filter(pk__in=[unchanged.pk, household_changed.pk]).update(updated_at=old_time)
    Household.objects.filter(pk__in=[unchanged.household_id, person_changed.household_id]).update(
        updated_at=old_time
    )

    for since in ("2025-01-01", "2025-01-01T00:00:00+08:00", "2025-01-01T00:00:00Z", "2025-01-01 08:30"):
        answer = health_caller.get(HEALTH, data={"changed_since": since})
        assert answer.status_code == 200, (since, answer.json())
        assert set(ids_of(answer)) == {household_changed.id_number, person_changed.id_number}, since
    # At the very moment counts: "at or after".
    assert set(ids_of(health_caller.get(HEALTH, data={"changed_since": "2020-01-01T12:00:00+08:00"}))) == {
        unchanged.id_number, household_changed.id_number, person_changed.id_number
    }
    share = Share.objects.latest("id")
    assert share.parameters["changed_since"] == "2020-01-01T04:00:00+00:00"


def test_new_monitoring_changed_since_follows_the_identifying_change(make_caller, changes):
    caller = make_caller(department="civil_affairs", name="县民政局")
    earlier = make_household(household_type="2", monitoring_type="2", risk_types=",01,", with_head=False)
    status(earlier, "03", dt.date(2025, 3, 1), monitoring_type="2", risk_types=",01,").__class__.objects.filter(
        household=earlier).update(recorded_at=timezone.make_aware(dt.datetime(2025, 3, 2)))
    earlier_member = adult(earlier)
    recent = make_household(household_type="2", monitoring_type="2", risk_types=",03,", with_head=False)
    status(recent, "03", dt.date(2026, 3, 1), monitoring_type="2", risk_types=",03,")
    recent_member = adult(recent)
    never_identified = adult(
        make_household(household_type="2", monitoring_type="2", risk_types=",01,", with_head=False)
    )

    assert set(ids_of(caller.get(MONITORING))) == {
        earlier_member.id_number, recent_member.id_number, never_identified.id_number
    }
    assert ids_of(caller.get(MONITORING, data={"changed_since": "2026-01-01"})) == [recent_member.id_number]


def test_a_cursor_walk_gives_every_row_once_in_order_and_records_each_page(health_caller):
    household = make_household(household_type="1", with_head=False)
    persons = [adult(household, relation=f"{n:02d}") for n in range(1, 8)]

    first = health_caller.get(HEALTH, data={"page_size": 3, "purpose": "2026 年参保资助"})
    assert first.status_code == 200
    next_url = first.json()["next"]
    assert next_url.startswith("http://testserver/api/v1/pull/health_premium/?")
    kept = parse_qs(urlsplit(next_url).query)
    assert kept["page_size"] == ["3"] and kept["purpose"] == ["2026 年参保资助"] and kept["cursor"]

    rows = first.json()["results"] + walk(health_caller, next_url)

    assert [row["id_number"] for row in rows] == [p.id_number for p in sorted(persons, key=lambda p: p.pk)]
    shares = list(Share.objects.order_by("id"))
    assert [s.person_count for s in shares] == [3, 3, 1]
    assert {s.purpose for s in shares} == {"2026 年参保资助"}
    shared = [pk for s in shares for pk in s.persons.order_by("person_id").values_list("person_id", flat=True)]
    assert shared == sorted(p.pk for p in persons)


def test_rows_added_during_a_walk_after_its_position_are_still_given(health_caller):
    household = make_household(household_type="1", with_head=False)
    first_ones = [adult(household) for _ in range(3)]
    answer = health_caller.get(HEALTH, data={"page_size": 2}).json()
    assert ids_of_rows(answer) == [p.id_number for p in first_ones[:2]]
    late = adult(household)
    assert ids_of_rows(health_caller.get(answer["next"]).json()) == [first_ones[2].id_number, late.id_number]


def ids_of_rows(body: dict) -> list[str]:
    return [row["id_number"] for row in body["results"]]


def test_a_full_page_with_nothing_after_it_ends_the_walk(health_caller):
    household = make_household(household_type="1", with_head=False)
    adult(household)
    assert health_caller.get(HEALTH, data={"page_size": 2}).json()["next"] is None


# --- Shares ------------------------------------------------------------------------------------------------


def test_every_answer_is_recorded_as_a_share_with_its_exact_persons(health_caller):
    lifted = make_household(household_type="1", with_head=False)
    given = [adult(lifted), adult(lifted)]
    adult(make_household(household_type="2", with_head=False))  # not entitled: not shared

    body = health_caller.get(HEALTH, data={"purpose": "核对参保资助名单"}).json()

    share = Share.objects.get(pk=body["share"])
    assert share.client == health_caller.client
    assert share.token.client == health_caller.client
    assert share.endpoint == HEALTH
    assert share.dataset == "health_premium"
    assert share.purpose == "核对参保资助名单"
    assert share.fields == ["id_number", "name", "premium_category"]
    assert share.person_count == 2
    assert share.region_code == "522634000000"
    assert share.parameters["page_size"] == 500 and share.parameters["changed_since"] is None
    assert sorted(share.persons.values_list("person_id", "household_id", "region_code")) == sorted(
        (p.pk, lifted.pk, VILLAGE_A) for p in given
    )


def test_the_purpose_falls_back_to_the_clients_then_the_datasets(health_caller, admin_user):
    health_caller.get(HEALTH)
    assert Share.objects.latest("id").purpose == "落实城乡居民医保参保资助"
    update_client(client=health_caller.client, by=admin_user, purpose="医保参保资助年度核对")
    health_caller.get(HEALTH, data={"purpose": "  "})
    assert Share.objects.latest("id").purpose == "医保参保资助年度核对"


def test_an_empty_page_is_recorded_too(health_caller):
    body = health_caller.get(HEALTH).json()
    assert body["results"] == [] and body["next"] is None
    share = Share.objects.get(pk=body["share"])
    assert share.person_count == 0 and not SharedPerson.objects.filter(share=share).exists()


def test_shares_are_read_by_the_region_of_the_person_and_of_the_client(
    health_caller, official_a, official_b, county_staff, other_county_staff
):
    person = adult(make_household(household_type="1", with_head=False))
    share_id = health_caller.get(HEALTH).json()["share"]

    assert [s.pk for s in person_shares(official_a, person.pk)] == [share_id]
    assert list(person_shares(official_b, person.pk)) == []
    assert list(person_shares(other_county_staff, person.pk)) == []
    assert [s.pk for s in client_shares(county_staff, health_caller.client)] == [share_id]
    assert list(client_shares(official_a, health_caller.client)) == []  # a county client's shares
    assert list(client_shares(other_county_staff, health_caller.client)) == []


# --- Bad input ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"changed_since": "yesterday"}, "changed_since"),
        ({"changed_since": "2026-13-01"}, "changed_since"),
        ({"changed_since": "0001-01-01T00:00:00+14:00"}, "changed_since"),
        ({"changed_since": ""}, "changed_since"),
        ({"changed_since": "2026-01-01\x00"}, "changed_since"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "99999"}, "page_size"),
        ({"page_size": "x"}, "page_size"),
        ({"page_size": ""}, "page_size"),
        ({"cursor": ""}, "cursor"),
        ({"page_size": "9" * 400}, "page_size"),
        ({"cursor": "nonsense"}, "cursor"),
        ({"cursor": "eyJhIjoxfQ:1abc:def"}, "cursor"),
        ({"purpose": "用" * 201}, "purpose"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(health_caller, params, field):
    answer = health_caller.get(HEALTH, data=params)
    assert answer.status_code == 400, answer.content
    assert answer.json()["field"] == field
    assert answer.json()["code"] == "invalid"
    assert not Share.objects.exists()


def test_a_cursor_of_another_dataset_or_an_old_one_is_refused(make_caller):
    caller = make_caller()
    other = make_cursor("education_pupils", after=1, on=timezone.localdate())
    assert caller.get(HEALTH, data={"cursor": other}).json()["field"] == "cursor"
    two_days_ago = (timezone.now() - dt.timedelta(days=2)).timestamp()
    with mock.patch("django.core.signing.time.time", return_value=two_days_ago):
        stale = make_cursor("health_premium", after=1, on=timezone.localdate())
    answer = caller.get(HEALTH, data={"cursor": stale})
    assert answer.status_code == 400 and answer.json()["field"] == "cursor"


# --- Cost ---------------------------------------------------------------------------------------------------


def test_a_page_costs_the_same_number_of_queries_whatever_its_size(make_caller):
    caller = make_caller(fields={"new_monitoring": ["name", "risk_types", "identified_on", "village_name"]})
    for _ in range(30):
        household = make_household(household_type="2", monitoring_type="2", risk_types=",01,", with_head=False)
        status(household, "03", dt.date(2026, 1, 1), monitoring_type="2", risk_types=",01,")
        adult(household)
    caller.get(MONITORING, data={"page_size": 1})  # the codebook is cached, the token's use noted

    with CaptureQueriesContext(connection) as small:
        assert len(caller.get(MONITORING, data={"page_size": 2}).json()["results"]) == 2
    with CaptureQueriesContext(connection) as large:
        assert len(caller.get(MONITORING, data={"page_size": 30}).json()["results"]) == 30
    assert len(large.captured_queries) == len(small.captured_queries) <= 8
