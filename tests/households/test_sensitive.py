"""Masking of ID numbers, phones, bank accounts and health details; revealing one value, audited."""

import pytest
from django.urls import reverse

from households.sensitive import mask_bank_account, mask_id_number, mask_phone
from povertycloud.audit.models import AuditEvent
from tests.factories import VILLAGE_B
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db
JSON = "application/json"


@pytest.mark.parametrize(
    ("value", "masked"),
    [("52263419800517123X", "5226**********123X"), ("", ""), (None, ""), ("1234", "****")],
)
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"), [("13812345678", "138****5678"), ("0855-1234567", "085*****4567"), ("", "")]
)
def test_mask_phone(value, masked):
    assert mask_phone(value) == masked


@pytest.mark.parametrize(
    ("value", "masked"), [("6222020200112231234", "****1234"), ("6222 0202 0011 2234", "****2234"), ("", "")]
)
def test_mask_bank_account(value, masked):
    assert mask_bank_account(value) == masked


@pytest.fixture
def household(official_a):
    household = make_file(official_a, head="王大山", phone="13812345678", bank_account="6222020200112233")
    add_spouse(official_a, household, health=",4,", disability_category="4", disability_grade="2")
    return household


def detail(household) -> str:
    return reverse("households:detail", args=[household.pk])


def reveal(household) -> str:
    return reverse("households:reveal", args=[household.pk])


def head_of(household):
    return household.members.get(relation="01")


def test_page_masks_id_numbers_phone_and_bank_account_by_default(client, official_a, household):
    client.force_login(official_a)
    html = client.get(detail(household)).content.decode()
    head = head_of(household)
    assert head.id_number not in html
    assert mask_id_number(head.id_number) in html
    assert "13812345678" not in html and "138****5678" in html
    assert "6222020200112233" not in html and "****2233" in html
    assert "肢体" in html  # health details are visible to officials


def test_auditor_without_sensitive_access_sees_no_health_details_and_no_reveal(client, auditor, household):
    client.force_login(auditor)
    html = client.get(detail(household)).content.decode()
    assert "肢体" not in html and "二级" not in html  # disability category and grade, also in the audit trail
    assert "（已隐藏）" in html
    assert 'data-testid="reveal-' not in html


def test_auditor_with_sensitive_access_sees_health_and_may_reveal(client, auditor, household):
    auditor.sensitive_data_access = True
    auditor.save()
    client.force_login(auditor)
    html = client.get(detail(household)).content.decode()
    assert "肢体" in html and 'data-testid="reveal-phone"' in html
    head = head_of(household)
    response = client.post(reveal(household), {"field": "id_number", "person": head.pk}, HTTP_ACCEPT=JSON)
    assert response.status_code == 200 and response.json()["value"] == head.id_number


def test_reveal_returns_the_value_and_writes_an_audit_event(client, official_a, household):
    head = head_of(household)
    client.force_login(official_a)
    response = client.post(reveal(household), {"field": "id_number", "person": head.pk}, HTTP_ACCEPT=JSON)
    assert response.status_code == 200
    assert response.json() == {"field": "id_number", "value": head.id_number}
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="reveal")
    assert event.actor == official_a
    assert event.household_id == household.pk
    assert event.entity == "households.person" and event.object_pk == str(head.pk)
    assert event.changes == {"field": "id_number"}
    assert head.id_number not in str(event.changes) + event.note


def test_reveal_of_household_phone_and_bank_account(client, county_staff, household):
    client.force_login(county_staff)
    for field, value in (("phone", "13812345678"), ("bank_account", "6222020200112233")):
        response = client.post(reveal(household), {"field": field}, HTTP_ACCEPT="application/json")
        assert response.json()["value"] == value
    events = AuditEvent.objects.filter(action="reveal", household_id=household.pk)
    assert sorted(e.changes["field"] for e in events) == ["bank_account", "phone"]


def test_reveal_without_javascript_shows_the_value_once_after_a_reload(client, official_a, household):
    client.force_login(official_a)
    response = client.post(reveal(household), {"field": "phone"})
    assert response.status_code == 302
    html = client.get(response["Location"]).content.decode()
    assert "13812345678" in html
    assert "13812345678" not in client.get(detail(household)).content.decode()


def test_revealed_value_shows_in_the_audit_trail_as_a_view_not_the_value(client, official_a, household):
    client.force_login(official_a)
    client.post(reveal(household), {"field": "bank_account"}, HTTP_ACCEPT="application/json")
    html = client.get(detail(household)).content.decode()
    trail = html.split('<section class="card" id="audit-trail"')[1]
    assert "查看了银行账号" in trail and "6222020200112233" not in trail


def test_auditor_without_access_may_not_reveal(client, auditor, household):
    client.force_login(auditor)
    response = client.post(reveal(household), {"field": "phone"}, HTTP_ACCEPT="application/json")
    assert response.status_code == 403
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_official_of_another_township_gets_not_found(client, official_b, household):
    client.force_login(official_b)
    head = head_of(household)
    assert client.post(reveal(household), {"field": "id_number", "person": head.pk}).status_code == 404
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_person_of_another_household_is_not_found(client, official_a, official_b, household):
    other = make_file(official_b, village=VILLAGE_B)
    client.force_login(official_a)
    stranger = other.members.get()
    response = client.post(reveal(household), {"field": "id_number", "person": stranger.pk})
    assert response.status_code == 404


def test_reveal_needs_post_and_a_known_field(client, official_a, household):
    client.force_login(official_a)
    assert client.get(reveal(household), {"field": "phone"}).status_code == 405
    assert client.post(reveal(household), {"field": "name"}).status_code == 400
    assert client.post(reveal(household), {"field": "id_number"}).status_code == 400
    assert not AuditEvent.objects.filter(action="reveal").exists()
