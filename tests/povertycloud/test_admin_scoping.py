"""The Django admin obeys the same scoping and the same services as every other way in."""

import datetime as dt
from dataclasses import dataclass
from typing import Any

import pytest
from django import forms
from django.contrib.auth.models import Permission
from django.test import Client

from households import services
from households.models import Household, IncomeRecord, Person, StatusChange
from povertycloud.audit.models import AuditEvent
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_B, household_values, person_values

HOUSEHOLDS = "/admin/households/household/"
PERSONS = "/admin/households/person/"
INCOMES = "/admin/households/incomerecord/"


@dataclass
class World:
    a: Household
    b: Household
    a_head: Person
    a_child: Person
    b_head: Person


@pytest.fixture
def world(admin_user) -> World:
    a = services.create_household(by=admin_user, data=household_values(village_id=VILLAGE_A))
    b = services.create_household(by=admin_user, data=household_values(village_id=VILLAGE_B))
    a_head = services.add_person(by=admin_user, household=a, data=person_values(name="西江张三"))
    a_child = services.add_person(
        by=admin_user,
        household=a,
        data=person_values(name="西江张小", relation="03", birth_date=dt.date(2001, 4, 5), education="4"),
    )
    b_head = services.add_person(by=admin_user, household=b, data=person_values(name="郎德李四"))
    for household in (a, b):
        services.record_income(
            by=admin_user, household=household, data={"year": 2024, "household_size": 2, "wage_income": 9000}
        )
    return World(a=a, b=b, a_head=a_head, a_child=a_child, b_head=b_head)


@pytest.fixture
def official_client(staff_official_a) -> Client:
    client = Client()
    client.force_login(staff_official_a)
    return client


@pytest.fixture
def auditor_client(auditor) -> Client:
    auditor.is_staff = True
    auditor.save()
    auditor.user_permissions.set(
        Permission.objects.filter(content_type__app_label__in=["households", "audit"])
    )
    client = Client()
    client.force_login(auditor)
    return client


def form_data(response, **changes: Any) -> dict[str, Any]:
    """The values an admin change form shows, as the browser would post them back, with some changed."""
    form = response.context["adminform"].form
    data: dict[str, Any] = {}
    for name, field in form.fields.items():
        value = form[name].value()
        if isinstance(field, forms.MultipleChoiceField):
            data[name] = [v for v in (value or []) if v]  # unticked boxes send nothing
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif value is None:
            data[name] = ""
        elif isinstance(value, dt.date):
            data[name] = value.isoformat()
        else:
            data[name] = value
    for name, value in changes.items():
        if value is False:
            data.pop(name, None)
        else:
            data[name] = value
    return data


def listed(response) -> list:
    return list(response.context["cl"].result_list)


# --- Lists -------------------------------------------------------------------------------------------


def test_staff_official_sees_only_township_a_households_in_the_admin_list(world, official_client):
    response = official_client.get(HOUSEHOLDS)
    assert response.status_code == 200
    assert listed(response) == [world.a]
    content = response.content.decode()
    assert world.a.number in content
    assert world.b.number not in content


def test_staff_official_sees_only_township_a_members_incomes_and_history(world, official_client):
    assert {p.pk for p in listed(official_client.get(PERSONS))} == {world.a_head.pk, world.a_child.pk}
    assert [r.household_id for r in listed(official_client.get(INCOMES))] == [world.a.pk]
    history = listed(official_client.get("/admin/households/statuschange/"))
    assert {entry.household_id for entry in history} == {world.a.pk}


def test_staff_official_sees_only_township_a_audit_events(world, staff_official_a, official_client):
    staff_official_a.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    response = official_client.get("/admin/audit/auditevent/")
    assert response.status_code == 200
    events = listed(response)
    assert events
    # Household events of township A only; the other rows are users of township A (their creation is audited).
    assert {event.household_id for event in events if event.entity.startswith("households.")} == {world.a.pk}
    assert all(event.region_code.startswith(TOWNSHIP_A[:9]) for event in events)


# --- Objects of another township ---------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["change/", "history/"])
def test_household_of_another_township_does_not_exist_for_the_official(world, official_client, suffix):
    response = official_client.get(f"{HOUSEHOLDS}{world.b.pk}/{suffix}")
    # Django 5.2 answers a missing object in the admin with a redirect to the index and a warning.
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    page = official_client.get(response["Location"])
    content = page.content.decode()
    assert "不存在" in content
    assert world.b.number not in content


def test_household_of_another_township_is_indistinguishable_from_a_missing_one(world, official_client):
    other = official_client.get(f"{HOUSEHOLDS}{world.b.pk}/change/")
    missing = official_client.get(f"{HOUSEHOLDS}{10**9}/change/")
    assert (other.status_code, other["Location"]) == (missing.status_code, missing["Location"])


@pytest.mark.parametrize("kind", ["person", "income"])
def test_members_and_incomes_of_another_township_do_not_exist_for_the_official(world, official_client, kind):
    if kind == "person":
        url = f"{PERSONS}{world.b_head.pk}/change/"
    else:
        url = f"{INCOMES}{IncomeRecord.objects.get(household=world.b).pk}/change/"
    response = official_client.get(url)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert "郎德李四" not in official_client.get("/admin/").content.decode()


def test_posting_to_another_townships_household_changes_nothing(world, official_client):
    response = official_client.post(f"{HOUSEHOLDS}{world.b.pk}/change/", {"phone": "13812345678"})
    assert response.status_code == 302
    world.b.refresh_from_db()
    assert world.b.phone == ""
    assert world.b.version == 1


def test_deleting_another_townships_member_is_not_possible(world, official_client):
    response = official_client.post(f"{PERSONS}{world.b_head.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert Person.objects.filter(pk=world.b_head.pk).exists()


# --- Search ------------------------------------------------------------------------------------------


def test_admin_search_does_not_find_another_townships_household_by_number(world, official_client):
    response = official_client.get(HOUSEHOLDS, {"q": world.b.number})
    assert response.status_code == 200
    assert listed(response) == []


def test_admin_search_does_not_find_another_townships_household_by_member_name(world, official_client):
    assert listed(official_client.get(HOUSEHOLDS, {"q": "郎德李四"})) == []
    assert listed(official_client.get(PERSONS, {"q": "郎德李四"})) == []
    assert listed(official_client.get(PERSONS, {"q": world.b_head.id_number})) == []


def test_admin_search_finds_own_household_by_member_name(world, official_client):
    assert listed(official_client.get(HOUSEHOLDS, {"q": "西江张三"})) == [world.a]


# --- Edits go through the services -------------------------------------------------------------------


def test_admin_household_edit_goes_through_the_service_and_is_audited(
    world, staff_official_a, official_client
):
    url = f"{HOUSEHOLDS}{world.a.pk}/change/"
    response = official_client.post(url, form_data(official_client.get(url), phone="13812345678"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    world.a.refresh_from_db()
    assert world.a.phone == "13812345678"
    assert world.a.version == 2
    event = AuditEvent.objects.filter(entity="households.household", object_pk=str(world.a.pk)).order_by(
        "-id"
    )[0]
    assert event.action == "update"
    assert event.actor == staff_official_a
    assert event.changes["phone"] == {"before": "", "after": "13812345678"}


def test_admin_status_change_appends_to_the_history(world, official_client):
    url = f"{HOUSEHOLDS}{world.a.pk}/change/"
    data = form_data(official_client.get(url), monitoring_type="2", risk_types=["07"])
    response = official_client.post(url, data)
    assert response.status_code == 302
    latest = StatusChange.objects.filter(household=world.a).order_by("-id")[0]
    assert (latest.event, latest.monitoring_type, latest.risk_types) == ("04", "2", ",07,")


def test_admin_household_edit_with_invalid_values_is_refused_in_chinese(world, official_client):
    url = f"{HOUSEHOLDS}{world.a.pk}/change/"
    response = official_client.post(url, form_data(official_client.get(url), phone="12345"))
    assert response.status_code == 200
    assert "手机号" in str(response.context["adminform"].form.errors)
    world.a.refresh_from_db()
    assert world.a.phone == ""


def test_admin_stale_form_is_refused(world, admin_user, official_client):
    url = f"{HOUSEHOLDS}{world.a.pk}/change/"
    opened = form_data(official_client.get(url), phone="13800000002")
    services.update_household(
        by=admin_user, household=world.a, data={"phone": "13800000001"}, expected_version=1
    )
    response = official_client.post(url, opened)
    assert response.status_code == 200
    assert "已被他人修改" in str(response.context["adminform"].form.errors)
    world.a.refresh_from_db()
    assert world.a.phone == "13800000001"


def test_admin_can_add_a_household_in_own_township_through_the_service(
    regions, staff_official_a, official_client
):
    data = form_data(
        official_client.get(f"{HOUSEHOLDS}add/"),
        number="522634101200009999",
        village=VILLAGE_A,
        household_type="2",
        housing_grade="A",
    )
    response = official_client.post(f"{HOUSEHOLDS}add/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    household = Household.objects.get(number="522634101200009999")
    event = AuditEvent.objects.get(entity="households.household", object_pk=str(household.pk))
    assert (event.action, event.actor) == ("create", staff_official_a)
    assert household.status_history.get().event == "01"


def test_admin_cannot_add_a_household_in_another_township(regions, official_client):
    data = form_data(
        official_client.get(f"{HOUSEHOLDS}add/"),
        number="522634103200009999",
        village=VILLAGE_B,
        household_type="2",
        housing_grade="A",
    )
    response = official_client.post(f"{HOUSEHOLDS}add/", data)
    assert response.status_code == 403
    assert not Household.objects.filter(number="522634103200009999").exists()
    assert not AuditEvent.objects.exclude(entity="accounts.user").exists()  # users' creation is audited


def test_admin_member_edit_goes_through_the_service_and_is_audited(world, staff_official_a, official_client):
    url = f"{PERSONS}{world.a_child.pk}/change/"
    response = official_client.post(url, form_data(official_client.get(url), labour_skill="2"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = AuditEvent.objects.filter(entity="households.person", object_pk=str(world.a_child.pk)).order_by(
        "-id"
    )[0]
    assert (event.action, event.actor) == ("update", staff_official_a)
    assert event.changes["labour_skill"] == {"before": "1", "after": "2"}


def test_admin_member_delete_goes_through_the_service_and_is_audited(
    world, staff_official_a, official_client
):
    response = official_client.post(f"{PERSONS}{world.a_child.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Person.objects.filter(pk=world.a_child.pk).exists()
    assert Person.everyone.get(pk=world.a_child.pk).left_on is not None, "closed, not deleted"
    event = AuditEvent.objects.get(
        entity="households.person", object_pk=str(world.a_child.pk), action="update"
    )
    assert event.actor == staff_official_a


def test_admin_bulk_delete_of_members_goes_through_the_service_and_is_audited(
    world, staff_official_a, official_client
):
    response = official_client.post(
        PERSONS, {"action": "delete_selected", "_selected_action": [world.a_child.pk], "post": "yes"}
    )
    assert response.status_code == 302
    assert not Person.objects.filter(pk=world.a_child.pk).exists()
    assert Person.everyone.get(pk=world.a_child.pk).left_on is not None, "closed, not deleted"
    event = AuditEvent.objects.get(
        entity="households.person", object_pk=str(world.a_child.pk), action="update"
    )
    assert event.actor == staff_official_a


def test_admin_bulk_delete_refuses_to_remove_the_head_and_keeps_everyone(world, official_client):
    response = official_client.post(
        PERSONS,
        {"action": "delete_selected", "_selected_action": [world.a_head.pk], "post": "yes"},
        follow=True,
    )
    assert response.status_code == 200
    assert Person.objects.filter(pk=world.a_head.pk).exists()
    assert not AuditEvent.objects.filter(entity="households.person", action__in=["delete", "update"]).exists()


def test_admin_income_edit_goes_through_the_service_and_is_audited(world, staff_official_a, official_client):
    record = IncomeRecord.objects.get(household=world.a)
    url = f"{INCOMES}{record.pk}/change/"
    response = official_client.post(url, form_data(official_client.get(url), wage_income="12000"))
    assert response.status_code == 302, response.context["adminform"].form.errors
    record.refresh_from_db()
    assert record.wage_income == 12000
    assert IncomeRecord.objects.filter(household=world.a).count() == 1
    event = AuditEvent.objects.filter(entity="households.incomerecord", object_pk=str(record.pk)).order_by(
        "-id"
    )[0]
    assert (event.action, event.actor) == ("update", staff_official_a)
    assert event.changes["wage_income"] == {"before": "9000", "after": "12000"}


def test_admin_income_edit_with_a_negative_amount_is_refused_in_chinese(world, official_client):
    record = IncomeRecord.objects.get(household=world.a)
    url = f"{INCOMES}{record.pk}/change/"
    response = official_client.post(url, form_data(official_client.get(url), farming_income="-5"))
    assert response.status_code == 200
    assert "金额不能为负数" in str(response.context["adminform"].form.errors)
    record.refresh_from_db()
    assert (record.farming_income, record.version) == (0, 1)


def test_admin_income_edit_cannot_move_the_record_to_another_year(world, official_client):
    record = IncomeRecord.objects.get(household=world.a)
    url = f"{INCOMES}{record.pk}/change/"
    response = official_client.post(
        url, {**form_data(official_client.get(url)), "year": "2023", "wage_income": "9500"}
    )
    assert response.status_code == 302
    assert list(IncomeRecord.objects.filter(household=world.a).values_list("year", "wage_income")) == [
        (2024, 9500)
    ]


def test_households_cannot_be_deleted_in_the_admin(world, admin_user):
    client = Client()
    client.force_login(admin_user)
    response = client.post(f"{HOUSEHOLDS}{world.a.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert Household.objects.filter(pk=world.a.pk).exists()


# --- Auditors read, never write ----------------------------------------------------------------------


def test_auditor_with_staff_access_can_read_the_admin(world, auditor_client):
    response = auditor_client.get(HOUSEHOLDS)
    assert response.status_code == 200
    assert set(listed(response)) == {world.a, world.b}
    response = auditor_client.get(f"{HOUSEHOLDS}{world.a.pk}/change/")
    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()


@pytest.mark.parametrize(
    ("url", "data"),
    [
        ("households/household/{a}/change/", {"phone": "13812345678"}),
        ("households/household/add/", {"number": "X1"}),
        ("households/person/{child}/change/", {"name": "改名"}),
        ("households/person/{child}/delete/", {"post": "yes"}),
        ("households/incomerecord/{income}/change/", {"wage_income": "1"}),
        ("households/codeset/sex/change/", {"name": "改名"}),
        ("audit/auditevent/{event}/change/", {"note": "x"}),
        ("audit/auditevent/{event}/delete/", {"post": "yes"}),
    ],
)
def test_auditor_with_staff_access_cannot_change_anything(world, auditor_client, url, data):
    url = "/admin/" + url.format(
        a=world.a.pk,
        child=world.a_child.pk,
        income=IncomeRecord.objects.get(household=world.a).pk,
        event=AuditEvent.objects.order_by("id").first().pk,
    )
    before = {model: list(model.objects.values()) for model in (Household, Person, IncomeRecord, AuditEvent)}
    response = auditor_client.post(url, data)
    assert response.status_code == 403
    assert {model: list(model.objects.values()) for model in before} == before


def test_auditor_bulk_delete_is_refused(world, auditor_client):
    response = auditor_client.post(
        PERSONS, {"action": "delete_selected", "_selected_action": [world.a_child.pk], "post": "yes"}
    )
    assert response.status_code in {200, 302, 403}
    assert Person.objects.filter(pk=world.a_child.pk).exists()
