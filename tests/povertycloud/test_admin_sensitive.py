"""The admin masks sensitive values exactly as the pages do, and a reveal there is audited."""

import pytest
from django.contrib.auth.models import Permission
from django.test import Client

from households import services
from households.models import Person
from households.sensitive import mask_id_number
from povertycloud.audit.models import AuditEvent
from tests.factories import person_values
from tests.povertycloud import test_admin_scoping as scoping

pytestmark = pytest.mark.django_db

# The admin scoping tests' fixtures: a household and its members in each township, a staff official of
# township A and an auditor with admin access.
world = scoping.world
official_client = scoping.official_client
auditor_client = scoping.auditor_client
form_data = scoping.form_data

PERSONS = "/admin/households/person/"
HOUSEHOLDS = "/admin/households/household/"


@pytest.fixture
def sensitive_world(world, admin_user):
    services.update_household(
        by=admin_user, household=world.a, data={"phone": "13812345678", "bank_account": "6222020200112233"},
        expected_version=world.a.version,
    )
    world.a.refresh_from_db()
    spouse = services.add_person(
        by=admin_user, household=world.a,
        data=person_values(name="西江配偶", sex="2", relation="02", health=",4,", disability_category="4",
                           disability_grade="2", birth_date=world.a_head.birth_date.replace(year=1982)),
    )
    world.spouse = spouse
    return world


def test_admin_change_form_for_staff_shows_masked_id_number_not_the_value(sensitive_world, official_client):
    head = sensitive_world.a_head
    html = official_client.get(f"{PERSONS}{head.pk}/change/").content.decode()
    assert head.id_number not in html
    assert mask_id_number(head.id_number) in html  # as the placeholder
    assert head.id_number[14:] not in html.replace(head.id_number[:10], "")  # no sequence or check digit


def test_admin_household_form_masks_phone_and_bank_account(sensitive_world, official_client):
    html = official_client.get(f"{HOUSEHOLDS}{sensitive_world.a.pk}/change/").content.decode()
    assert "13812345678" not in html and "138****5678" in html
    assert "6222020200112233" not in html and "****2233" in html


def test_admin_form_left_blank_keeps_the_stored_value(sensitive_world, official_client):
    head = sensitive_world.a_head
    response = official_client.get(f"{PERSONS}{head.pk}/change/")
    data = form_data(response, id_number="", labour_skill="2")
    saved = official_client.post(f"{PERSONS}{head.pk}/change/", data)
    assert saved.status_code == 302, saved.content.decode()[:2000]
    head.refresh_from_db()
    assert head.id_number == sensitive_world.a_head.id_number and head.labour_skill == "2"


def test_auditor_in_the_admin_sees_masked_ids_and_no_health_details(sensitive_world, auditor_client):
    spouse = sensitive_world.spouse
    response = auditor_client.get(f"{PERSONS}{spouse.pk}/change/")
    assert response.status_code == 200
    html = response.content.decode()
    assert spouse.id_number not in html and mask_id_number(spouse.id_number) in html
    assert "（已隐藏）" in html
    assert "肢体" not in html
    assert 'data-testid="admin-reveal-' not in html  # an auditor without access may not reveal


def test_auditor_household_view_masks_phone(sensitive_world, auditor_client):
    html = auditor_client.get(f"{HOUSEHOLDS}{sensitive_world.a.pk}/change/").content.decode()
    assert "13812345678" not in html and "138****5678" in html


def test_admin_reveal_shows_one_value_and_is_audited(sensitive_world, official_client, staff_official_a):
    head = sensitive_world.a_head
    html = official_client.get(f"{PERSONS}{head.pk}/change/").content.decode()
    assert 'data-testid="admin-reveal-id_number"' in html
    response = official_client.post(f"{PERSONS}{head.pk}/reveal/id_number/")
    assert response.status_code == 200
    assert head.id_number in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(action="reveal")
    assert event.actor == staff_official_a and event.object_pk == str(head.pk)
    assert event.changes == {"field": "id_number"}


def test_admin_reveal_needs_post(sensitive_world, official_client):
    head = sensitive_world.a_head
    assert official_client.get(f"{PERSONS}{head.pk}/reveal/id_number/").status_code == 405
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_admin_reveal_refused_for_an_auditor_without_access(sensitive_world, auditor_client):
    head = sensitive_world.a_head
    assert auditor_client.post(f"{PERSONS}{head.pk}/reveal/id_number/").status_code == 403
    assert not AuditEvent.objects.filter(action="reveal").exists()


def test_admin_reveal_of_another_township_is_not_found(sensitive_world, official_client):
    assert official_client.post(f"{PERSONS}{sensitive_world.b_head.pk}/reveal/id_number/").status_code == 404
    assert official_client.post(f"{HOUSEHOLDS}{sensitive_world.b.pk}/reveal/phone/").status_code == 404


def test_auditor_with_access_may_reveal_in_the_admin(sensitive_world, auditor, auditor_client):
    auditor.sensitive_data_access = True
    auditor.save()
    household = sensitive_world.a
    html = auditor_client.get(f"{HOUSEHOLDS}{household.pk}/change/").content.decode()
    assert 'data-testid="admin-reveal-phone"' in html and "13812345678" not in html
    response = auditor_client.post(f"{HOUSEHOLDS}{household.pk}/reveal/phone/")
    assert "13812345678" in response.content.decode()
    assert AuditEvent.objects.filter(action="reveal", actor=auditor, household_id=household.pk).count() == 1


def test_admin_person_search_by_id_prefix_finds_nothing(sensitive_world, official_client):
    head = sensitive_world.a_head
    response = official_client.get(PERSONS, {"q": head.id_number[:14]})
    assert list(response.context["cl"].result_list) == []
    response = official_client.get(PERSONS, {"q": head.id_number})
    assert list(response.context["cl"].result_list) == [head]


def test_admin_person_search_by_id_is_not_offered_without_sensitive_access(sensitive_world, auditor_client):
    head = sensitive_world.a_head
    response = auditor_client.get(PERSONS, {"q": head.id_number})
    assert list(response.context["cl"].result_list) == []


def test_audit_admin_masks_sensitive_values_in_changes(sensitive_world, staff_official_a, official_client):
    staff_official_a.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    event = AuditEvent.objects.filter(entity="households.person", object_pk=str(sensitive_world.a_head.pk)).first()
    html = official_client.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
    assert sensitive_world.a_head.id_number not in html
    assert mask_id_number(sensitive_world.a_head.id_number) in html


def test_audit_admin_hides_health_details_from_an_auditor(sensitive_world, auditor_client):
    event = AuditEvent.objects.filter(entity="households.person", object_pk=str(sensitive_world.spouse.pk)).first()
    html = auditor_client.get(f"/admin/audit/auditevent/{event.pk}/change/").content.decode()
    assert sensitive_world.spouse.id_number not in html
    assert "（已隐藏）" in html and ",4," not in html  # the health code of the spouse


def test_person_str_in_admin_lists_shows_no_id(sensitive_world, official_client):
    html = official_client.get(PERSONS).content.decode()
    for person in Person.objects.filter(household=sensitive_world.a):
        assert person.id_number not in html


def test_a_plain_client_cannot_reach_the_reveal(sensitive_world):
    head = sensitive_world.a_head
    response = Client().post(f"{PERSONS}{head.pk}/reveal/id_number/")
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
