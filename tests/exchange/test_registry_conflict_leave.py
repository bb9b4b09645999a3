"""A member the export no longer lists, whom an official added or edited since the previous import: the
township settles it, and taking the export's side closes the member as an official's removal would."""

import datetime as dt

import pytest

from exchange.registry.conflicts import settle_conflict
from exchange.registry.models import RegistryConflict
from exchange.registry.service import import_registry
from households.models import Person
from povertycloud.audit.models import AuditEvent
from tests.exchange.registry_files import MEMBER_COLUMNS, small_export, write_table
from tests.exchange.test_registry_import import base_members
from tests.factories import COUNTY

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2025, 12, 31)


@pytest.fixture
def leave_conflict(tmp_path):
    batch = import_registry(region_code=COUNTY, paths=small_export(tmp_path), by=None, as_of=AS_OF)
    person = Person.objects.get(name="吴明")
    return RegistryConflict.objects.create(
        batch=batch, entity="households.person", object_id=person.pk, household=person.household,
        field="left_on", system_value="", export_value=AS_OF.isoformat(), region_code=person.household.village_id,
    )


def test_taking_the_export_closes_the_member_with_the_exports_date(official_a, leave_conflict):
    settle_conflict(by=official_a, conflict=leave_conflict, take_export=True)
    person = Person.everyone.get(pk=leave_conflict.object_id)
    assert person.left_on == AS_OF
    assert f"批次 #{leave_conflict.batch_id}" in person.left_reason
    assert not Person.objects.filter(pk=person.pk).exists()
    assert AuditEvent.objects.filter(
        entity="households.person", object_pk=str(person.pk), action="update", actor=official_a
    ).exists()


def test_keeping_the_system_side_keeps_the_member(official_a, leave_conflict):
    settle_conflict(by=official_a, conflict=leave_conflict, take_export=False)
    assert Person.objects.filter(pk=leave_conflict.object_id).exists()
    leave_conflict.refresh_from_db()
    assert leave_conflict.status == RegistryConflict.Status.KEPT


def test_a_member_closed_meanwhile_ends_in_a_message_and_the_conflict_stays_open(official_a, leave_conflict):
    from django.core.exceptions import ValidationError

    from households.services import remove_person

    remove_person(by=official_a, person=Person.objects.get(pk=leave_conflict.object_id), reason="死亡")
    with pytest.raises(ValidationError):
        settle_conflict(by=official_a, conflict=leave_conflict, take_export=True)
    leave_conflict.refresh_from_db()
    assert leave_conflict.status == RegistryConflict.Status.OPEN


def test_an_auditor_cannot_settle(auditor, leave_conflict):
    from django.core.exceptions import PermissionDenied

    with pytest.raises(PermissionDenied):
        settle_conflict(by=auditor, conflict=leave_conflict, take_export=True)
    assert Person.objects.filter(pk=leave_conflict.object_id).exists()


def test_a_member_an_official_closed_is_not_reopened_silently_by_the_next_export(official_a, tmp_path):
    from households.services import remove_person

    (tmp_path / "a").mkdir(), (tmp_path / "b").mkdir()
    import_registry(region_code=COUNTY, paths=small_export(tmp_path / "a"), by=None, as_of=AS_OF)
    person = Person.objects.get(name="吴明")
    remove_person(by=official_a, person=person, reason="死亡", left_on=dt.date(2025, 12, 1))
    members = base_members()
    members[5]["劳动技能"] = "技能劳动力"  # another member's change: a new export, not the same files again
    paths = small_export(tmp_path / "b")
    write_table(paths[1], MEMBER_COLUMNS, members)
    batch = import_registry(region_code=COUNTY, paths=paths, by=None, as_of=AS_OF)
    assert Person.everyone.get(pk=person.pk).left_on == dt.date(2025, 12, 1), "the official's closing stands"
    conflict = batch.conflicts.get(object_id=person.pk)
    assert conflict.field == "left_on" and conflict.system_value == "2025-12-01" and conflict.export_value == ""

    settle_conflict(by=official_a, conflict=conflict, take_export=True)
    reopened = Person.objects.get(pk=person.pk)
    assert reopened.left_on is None and reopened.left_reason == ""
