"""Masking of ID numbers, phones, bank accounts and health details; revealing one value, audited."""

import datetime as dt

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
    [
        ("52263419800517123X", "5226341980********"),
        ("522634198005171234", "5226341980********"),
        ("52263419800517123X42", "5226341980**********"),  # a disability certificate: ID + category + grade
        ("522634800517123", "52263480*******"),  # a first-generation 15-digit ID
        ("G12345678", "*********"),  # anything else: masked whole
        ("", ""),
        (None, ""),
        ("1234", "****"),
    ],
)
def test_mask_id_number(value, masked):
    assert mask_id_number(value) == masked


@pytest.mark.parametrize("number", ["52263419800517123X", "522634198005171234", "522634200012310011"])
def test_a_masked_id_number_never_shows_the_sequence_or_the_check_character(number):
    """The sequence (digits 15-17) and the check character are what birth date, sex and region cannot give
    back: the mask shows neither, nor the month and day of birth."""
    masked = mask_id_number(number)
    assert masked[:10] == number[:10]
    assert set(masked[10:]) == {"*"} and len(masked) == 18


def test_masked_id_with_everything_else_a_page_shows_leaves_hundreds_of_numbers(household):
    """Region and year from the mask, birth date and sex from an export: still 500 candidates with a valid
    check character, so the mask cannot be undone."""
    from households.validation import id_check_character

    head = head_of(household)
    masked = mask_id_number(head.id_number)
    known = masked[:10] + head.birth_date.strftime("%m%d")
    odd = head.sex == "1"
    candidates = [
        known + f"{sequence:03d}" + id_check_character(known + f"{sequence:03d}")
        for sequence in range(1000)
        if (sequence % 2 == 1) == odd
    ]
    assert head.id_number in candidates and len(candidates) == 500
    assert all(mask_id_number(candidate) == masked for candidate in candidates)


def test_one_list_of_sensitive_fields_includes_helpers_phones_and_certificates():
    from povertycloud.masking import SENSITIVE_FIELDS, mask

    assert {"id_number", "disability_certificate", "certificate", "phone", "helper_phone", "bank_account"} <= (
        SENSITIVE_FIELDS
    )
    assert mask("helper_phone", "13987654321") == "139****4321"


def test_free_text_masks_id_numbers_and_mobile_numbers_but_not_household_numbers():
    from povertycloud.masking import mask_text

    text = "王大山 522634198005171234 电话 13812345678 户 522634101200000011"
    assert mask_text(text) == "王大山 5226341980******** 电话 138****5678 户 522634101200000011"


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


def test_household_audit_trail_masks_the_helpers_phone(client, official_a, household):
    """A measure's 帮扶责任人电话 is written to the audit trail with the measure: the page masks it there too."""
    from resources import services as measures

    measures.record_measure(
        by=official_a, household=household,
        data={"category": "02", "subtype": "0204", "amount": "3000", "funding_source": "财政衔接资金",
              "start_date": dt.date.today() - dt.timedelta(days=60), "end_date": None,
              "responsible_unit": "西江镇人民政府", "helper_name": "杨帮扶", "helper_unit": "西江镇",
              "helper_phone": "13987654321", "risk_types": "", "status": "implemented"},
    )
    assert AuditEvent.objects.filter(entity="resources.assistancemeasure").exists()
    client.force_login(official_a)
    html = client.get(detail(household) + "?audit=all").content.decode()
    assert "13987654321" not in html and "139****4321" in html


def test_reveal_of_a_disability_certificate_needs_health_access(auditor, household):
    from django.core.exceptions import PermissionDenied

    from households.sensitive import reveal_value

    spouse = household.members.get(relation="02")
    auditor.sensitive_data_access = False
    with pytest.raises(PermissionDenied):
        reveal_value(by=auditor, household=household, field="disability_certificate", person=spouse)
