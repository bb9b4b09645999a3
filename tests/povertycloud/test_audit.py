"""The audit trail: every write leaves a row, and rows are never changed or removed."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from types import SimpleNamespace

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DatabaseError, connection, transaction
from django.test import Client

from households import services
from households.models import Household, IncomeRecord
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import diff, record_event, snapshot
from tests.factories import VILLAGE_A, household_values, person_values

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(official_a) -> Household:
    household = services.create_household(by=official_a, data=household_values())
    services.add_person(by=official_a, household=household, data=person_values(name="户主"))
    return household


def _create_household(user, household):
    return services.create_household(by=user, data=household_values())


def _update_household(user, household):
    return services.update_household(
        by=user, household=household, data={"phone": "13812345678"}, expected_version=household.version
    )


def _change_status(user, household):
    services.change_household_status(
        by=user,
        household=household,
        event="03",
        effective_date=dt.date(2025, 1, 1),
        reason="因病",
        changes={"monitoring_type": "2", "risk_types": "01"},
    )
    return household


def _add_person(user, household):
    return services.add_person(
        by=user,
        household=household,
        data=person_values(name="之子", relation="03", birth_date=dt.date(2000, 1, 1)),
    )


def _update_person(user, household):
    person = household.members.get()
    return services.update_person(by=user, person=person, data={"labour_skill": "2"}, expected_version=1)


def _remove_person(user, household):
    person = _add_person(user, household)
    removed = SimpleNamespace(pk=person.pk, household_id=household.pk)
    services.remove_person(by=user, person=person, reason="迁出")
    return removed


def _create_income(user, household):
    return services.record_income(by=user, household=household, data={"year": 2024, "household_size": 1})


def _update_income(user, household):
    record = _create_income(user, household)
    return services.record_income(
        by=user,
        household=household,
        data={"year": 2024, "wage_income": "500"},
        expected_version=record.version,
    )


def _remove_income(user, household):
    record = _create_income(user, household)
    removed = SimpleNamespace(pk=record.pk, household_id=household.pk)
    services.remove_income(by=user, record=record, reason="年度录错")
    return removed


WRITES: dict[str, tuple[Callable, str, str]] = {
    "create household": (_create_household, "households.household", "create"),
    "update household": (_update_household, "households.household", "update"),
    "change household status": (_change_status, "households.household", "update"),
    "add person": (_add_person, "households.person", "create"),
    "update person": (_update_person, "households.person", "update"),
    "remove person": (_remove_person, "households.person", "update"),
    "record income": (_create_income, "households.incomerecord", "create"),
    "update income": (_update_income, "households.incomerecord", "update"),
    "remove income": (_remove_income, "households.incomerecord", "delete"),
}


@pytest.mark.parametrize(("write", "entity", "action"), WRITES.values(), ids=WRITES.keys())
def test_every_kind_of_write_leaves_an_audit_row(official_a, household, write, entity, action):
    before = AuditEvent.objects.count()
    instance = write(official_a, household)
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() > before
    assert (event.entity, event.action) == (entity, action)
    assert event.object_pk == str(instance.pk)
    assert event.actor == official_a
    assert event.actor_username == "official_a"
    assert event.region_code == VILLAGE_A
    assert event.household_id == getattr(instance, "household_id", instance.pk)
    assert event.changes, "the row says what changed"
    for change in event.changes.values():
        assert set(change) == {"before", "after"}


def test_a_deleted_record_can_be_rebuilt_from_the_trail(official_a, household):
    record = _create_income(official_a, household)
    values = snapshot(IncomeRecord.objects.get(pk=record.pk))
    services.remove_income(by=official_a, record=record, reason="年度录错")
    event = AuditEvent.objects.get(entity="households.incomerecord", action="delete")
    assert {name: change["before"] for name, change in event.changes.items()} == {
        name: value for name, value in values.items() if value is not None
    }
    assert event.note == "年度录错"


def test_removing_income_needs_an_editor_and_a_reason(official_a, official_b, household):
    record = _create_income(official_a, household)
    with pytest.raises(PermissionDenied):
        services.remove_income(by=official_b, record=record, reason="x")
    with pytest.raises(ValidationError):
        services.remove_income(by=official_a, record=record, reason="")
    assert IncomeRecord.objects.filter(pk=record.pk).exists()


def test_households_are_never_deleted(admin_user, household):
    """No service deletes a household and the admin refuses: its trail and history stay whole."""
    assert not [
        name for name in dir(services) if "household" in name and name.startswith(("delete", "remove"))
    ]
    client = Client()
    client.force_login(admin_user)
    assert (
        client.post(f"/admin/households/household/{household.pk}/delete/", {"post": "yes"}).status_code == 403
    )
    assert Household.objects.filter(pk=household.pk).exists()


def test_a_write_that_fails_leaves_no_audit_row(official_a, household):
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError):
        services.update_household(
            by=official_a, household=household, data={"phone": "bad"}, expected_version=household.version
        )
    assert AuditEvent.objects.count() == before


def test_an_event_without_a_logged_in_actor_is_recorded_as_system(db):
    event = record_event(actor=None, action="import", entity="households.household", note="批量导入")
    assert (event.actor, event.actor_username) == (None, "system")


# --- Append-only -------------------------------------------------------------------------------------


@pytest.fixture
def event(official_a, household) -> AuditEvent:
    return AuditEvent.objects.filter(entity="households.household").first()


def test_saving_an_existing_audit_row_is_refused(event):
    event.note = "篡改"
    with pytest.raises(RuntimeError, match="只能追加"):
        event.save()
    event.refresh_from_db()
    assert event.note == ""


def test_deleting_an_audit_row_is_refused(event):
    with pytest.raises(RuntimeError, match="只能追加"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_bulk_update_and_delete_of_audit_rows_are_refused(event):
    with pytest.raises(RuntimeError, match="只能追加"):
        AuditEvent.objects.filter(pk=event.pk).update(note="篡改")
    with pytest.raises(RuntimeError, match="只能追加"):
        AuditEvent.objects.filter(pk=event.pk).delete()
    with pytest.raises(RuntimeError, match="只能追加"):
        AuditEvent.objects.bulk_update([event], ["note"])
    event.refresh_from_db()
    assert event.note == ""


def test_the_admin_cannot_change_or_delete_audit_rows(admin_user, event):
    client = Client()
    client.force_login(admin_user)
    assert client.get(f"/admin/audit/auditevent/{event.pk}/change/").status_code == 200
    assert client.post(f"/admin/audit/auditevent/{event.pk}/change/", {"note": "x"}).status_code == 403
    assert client.post(f"/admin/audit/auditevent/{event.pk}/delete/", {"post": "yes"}).status_code == 403
    assert client.get("/admin/audit/auditevent/add/").status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk, note="").exists()


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET note = 'tampered' WHERE id = %s",
        "DELETE FROM audit_auditevent WHERE id = %s",
    ],
    ids=["update", "delete"],
)
def test_postgresql_trigger_refuses_raw_update_and_delete(event, statement):
    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement, [event.pk])
    # The test database is still usable and the row is as it was.
    event.refresh_from_db()
    assert event.note == ""


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the append-only trigger exists on PostgreSQL only"
)
def test_postgresql_trigger_still_allows_inserts(event):
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_trigger WHERE tgname = 'audit_event_append_only'")
        assert cursor.fetchone()[0] == 1
    record_event(actor=None, action="export", entity="reports.report")
    assert AuditEvent.objects.filter(action="export").exists()


# --- What a row holds --------------------------------------------------------------------------------


def test_snapshot_and_diff_give_json_values(official_a, household):
    record = services.record_income(
        by=official_a,
        household=household,
        data={
            "year": 2024,
            "household_size": 1,
            "wage_income": Decimal("15000"),
            "farming_income": "800.50",
            "survey_date": dt.date(2024, 12, 1),
        },
    )
    values = snapshot(record)
    assert values["wage_income"] == "15000"
    assert values["farming_income"] == "800.50"
    assert values["survey_date"] == "2024-12-01"
    assert values["household"] == household.pk
    assert "net_income" not in values and "id" not in values
    assert diff({"a": 1, "b": 2}, {"a": 1, "b": 3, "c": 4}) == {
        "b": {"before": 2, "after": 3},
        "c": {"before": None, "after": 4},
    }
