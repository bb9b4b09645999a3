"""Writes to the household file: permissions, validation, optimistic locking, audit trail, income sums."""

import datetime as dt
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from households import services
from households.models import Household, IncomeRecord, Person, StatusChange
from households.services import StaleEdit
from povertycloud.audit.models import AuditEvent
from tests.factories import VILLAGE_A, VILLAGE_A2, VILLAGE_B, household_values, person_values

pytestmark = pytest.mark.django_db


def create_file(by: Any, *, village: str = VILLAGE_A, **overrides: Any) -> Household:
    """A household with its head, written through the services."""
    household = services.create_household(by=by, data=household_values(village_id=village, **overrides))
    services.add_person(by=by, household=household, data=person_values(name="户主甲"))
    return household


def last_event(instance: Any) -> AuditEvent:
    return (
        AuditEvent.objects.filter(entity=instance._meta.label_lower, object_pk=str(instance.pk))
        .order_by("-id")
        .first()
    )


def counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (Household, Person, IncomeRecord, StatusChange, AuditEvent)
    }


@pytest.fixture
def household(official_a) -> Household:
    return create_file(official_a)


@pytest.fixture
def spouse(official_a, household) -> Person:
    return services.add_person(
        by=official_a,
        household=household,
        data=person_values(name="配偶乙", sex="2", relation="02", birth_date=dt.date(1982, 2, 3)),
    )


# --- Households --------------------------------------------------------------------------------------


def test_create_household_writes_an_audit_event_with_the_new_values(official_a):
    household = services.create_household(by=official_a, data=household_values(phone="13812345678"))
    event = last_event(household)
    assert event.action == "create"
    assert event.actor == official_a
    assert event.actor_username == "official_a"
    assert event.region_code == VILLAGE_A
    assert event.household_id == household.pk
    assert event.changes["number"] == {"before": None, "after": household.number}
    assert event.changes["phone"] == {"before": None, "after": "13812345678"}
    assert event.changes["village"] == {"before": None, "after": VILLAGE_A}


def test_create_household_records_its_first_status(official_a):
    household = services.create_household(by=official_a, data=household_values())
    [entry] = household.status_history.all()
    assert entry.event == "01"
    assert entry.household_type == "2"
    assert entry.recorded_by == official_a


def test_create_household_accepts_a_region_object_or_code(official_a):
    from povertycloud.regions.models import Region

    household = services.create_household(
        by=official_a,
        data={**household_values(), "village_id": None, "village": Region.objects.get(pk=VILLAGE_A2)},
    )
    assert household.village_id == VILLAGE_A2


@pytest.mark.parametrize("village", ["522634101000", "999999999999", ""])
def test_create_household_must_be_in_an_existing_village(official_a, village):
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        services.create_household(by=official_a, data=household_values(village_id=village))
    assert "village" in exc_info.value.message_dict
    assert counts() == before


def test_create_household_with_invalid_values_writes_nothing(official_a):
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        services.create_household(by=official_a, data=household_values(household_type="1"))
    assert "poverty_attribute" in exc_info.value.message_dict
    assert counts() == before


def test_update_household_writes_before_and_after_values(official_a, household):
    services.update_household(
        by=official_a,
        household=household,
        data={"phone": "13812345678", "group_name": "三组"},
        expected_version=household.version,
    )
    household.refresh_from_db()
    assert household.phone == "13812345678"
    assert household.version == 2
    event = last_event(household)
    assert event.action == "update"
    assert event.actor == official_a
    assert event.changes["phone"] == {"before": "", "after": "13812345678"}
    assert event.changes["group_name"] == {"before": "", "after": "三组"}
    assert event.changes["version"] == {"before": 1, "after": 2}
    assert "household_type" not in event.changes


def test_stale_household_edit_is_refused_and_changes_nothing(official_a, official_a_again, household):
    opened_version = household.version
    mine = Household.objects.get(pk=household.pk)
    theirs = Household.objects.get(pk=household.pk)
    services.update_household(
        by=official_a_again, household=theirs, data={"phone": "13800000001"}, expected_version=opened_version
    )
    before = counts()
    with pytest.raises(StaleEdit) as exc_info:
        services.update_household(
            by=official_a, household=mine, data={"phone": "13800000002"}, expected_version=opened_version
        )
    assert "已被他人修改" in exc_info.value.messages[0]
    assert counts() == before
    household.refresh_from_db()
    assert household.phone == "13800000001"
    assert household.version == opened_version + 1


def test_update_household_cannot_move_it_to_another_village(official_a, household):
    services.update_household(
        by=official_a,
        household=household,
        data={"village_id": VILLAGE_B, "village": VILLAGE_B, "phone": "13812345678"},
        expected_version=household.version,
    )
    household.refresh_from_db()
    assert household.village_id == VILLAGE_A
    assert household.phone == "13812345678"


def test_update_household_ignores_a_version_in_the_data(official_a, household):
    services.update_household(
        by=official_a, household=household, data={"phone": "13812345678", "version": 99}, expected_version=1
    )
    household.refresh_from_db()
    assert household.version == 2


def test_changing_status_fields_needs_a_reason(official_a, household):
    with pytest.raises(ValidationError) as exc_info:
        services.update_household(
            by=official_a,
            household=household,
            data={"monitoring_type": "2", "risk_types": ["07"]},
            expected_version=household.version,
        )
    assert "reason" in exc_info.value.message_dict
    assert household.status_history.count() == 1


def test_a_status_change_appends_a_status_history_row(official_a, household):
    services.update_household(
        by=official_a,
        household=household,
        data={"monitoring_type": "2", "risk_types": ["07", "01"]},
        expected_version=household.version,
        reason="务工收入骤减",
    )
    entries = list(household.status_history.all())
    assert [e.event for e in entries] == ["01", "04"]
    assert entries[-1].monitoring_type == "2"
    assert entries[-1].risk_types == ",01,07,"
    assert entries[-1].reason == "务工收入骤减"
    assert entries[-1].recorded_by == official_a
    assert last_event(household).changes["monitoring_type"] == {"before": "", "after": "2"}


def test_change_household_status_keeps_every_step(official_a, household):
    services.change_household_status(
        by=official_a,
        household=household,
        event="03",
        effective_date=dt.date(2025, 3, 1),
        reason="因病住院，自付费用高",
        changes={"monitoring_type": "3", "risk_types": "01"},
    )
    services.change_household_status(
        by=official_a,
        household=household,
        event="05",
        effective_date=dt.date(2025, 11, 1),
        reason="收入稳定超过监测范围",
        changes={"monitoring_type": "", "risk_types": ""},
    )
    household.refresh_from_db()
    assert household.monitoring_type == ""
    history = list(
        household.status_history.order_by("id").values_list("event", "effective_date", "monitoring_type")
    )
    assert history[1:] == [("03", dt.date(2025, 3, 1), "3"), ("05", dt.date(2025, 11, 1), "")]
    event = last_event(household)
    assert event.changes["monitoring_type"] == {"before": "3", "after": ""}
    assert "风险消除" in event.note


def test_change_household_status_refuses_an_unknown_event(official_a, household):
    before = counts()
    with pytest.raises(ValidationError):
        services.change_household_status(
            by=official_a,
            household=household,
            event="77",
            effective_date=dt.date(2025, 3, 1),
            reason="?",
            changes={"monitoring_type": "3", "risk_types": "01"},
        )
    assert counts() == before


# --- Members -----------------------------------------------------------------------------------------


def test_add_person_writes_an_audit_event(official_a, household):
    values = person_values(name="之子丙", relation="03", birth_date=dt.date(2005, 6, 1))
    person = services.add_person(by=official_a, household=household, data=values)
    event = last_event(person)
    assert event.action == "create"
    assert event.actor == official_a
    assert event.household_id == household.pk
    assert event.region_code == VILLAGE_A
    assert event.changes["id_number"] == {"before": None, "after": values["id_number"]}
    assert event.changes["name"] == {"before": None, "after": "之子丙"}


def test_add_person_stores_the_id_number_in_capitals(official_a, household):
    person = services.add_person(
        by=official_a,
        household=household,
        data=person_values(
            id_number="11010519491231002x",
            sex="2",
            relation="12",
            birth_date=dt.date(1949, 12, 31),
            labour_skill="5",
        ),
    )
    assert Person.objects.get(pk=person.pk).id_number == "11010519491231002X"


def test_add_person_with_invalid_values_writes_nothing(official_a, household):
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        services.add_person(
            by=official_a,
            household=household,
            data=person_values(relation="03", sex="2", id_number=person_values()["id_number"]),
        )
    assert "sex" in exc_info.value.message_dict
    assert counts() == before


def test_update_person_writes_before_and_after_values(official_a, spouse):
    services.update_person(
        by=official_a,
        person=spouse,
        data={"labour_skill": "3", "months_worked_away": 4},
        expected_version=spouse.version,
    )
    spouse.refresh_from_db()
    assert (spouse.labour_skill, spouse.version) == ("3", 2)
    event = last_event(spouse)
    assert event.action == "update"
    assert event.actor == official_a
    assert event.changes["labour_skill"] == {"before": "1", "after": "3"}
    assert event.changes["months_worked_away"] == {"before": 0, "after": 4}


def test_stale_person_edit_is_refused_and_changes_nothing(official_a, spouse):
    services.update_person(by=official_a, person=spouse, data={"labour_skill": "3"}, expected_version=1)
    before = counts()
    with pytest.raises(StaleEdit):
        services.update_person(by=official_a, person=spouse, data={"labour_skill": "2"}, expected_version=1)
    assert counts() == before
    spouse.refresh_from_db()
    assert spouse.labour_skill == "3"


def test_remove_person_closes_the_member_and_keeps_the_row(official_a, household, spouse):
    pk = spouse.pk
    services.remove_person(by=official_a, person=spouse, reason="死亡", left_on=dt.date(2026, 3, 1))
    assert not Person.objects.filter(pk=pk).exists()
    assert household.members.count() == 1
    kept = Person.everyone.get(pk=pk)
    assert (kept.left_on, kept.left_reason, kept.name) == (dt.date(2026, 3, 1), "死亡", "配偶乙")
    assert kept.version == 2
    event = AuditEvent.objects.get(entity="households.person", object_pk=str(pk), action="update")
    assert event.actor == official_a
    assert event.note == "死亡"
    assert event.changes["left_on"] == {"before": None, "after": "2026-03-01"}


def test_a_member_who_left_is_not_closed_twice_and_keeps_their_id_number(official_a, household, spouse):
    services.remove_person(by=official_a, person=spouse, reason="迁出")
    with pytest.raises(ValidationError) as exc_info:
        services.remove_person(by=official_a, person=spouse, reason="迁出")
    assert "已于" in " ".join(exc_info.value.messages)
    issues = services.duplicate_id_issues(spouse.id_number, household=household, by=official_a)
    assert issues, "a member who left still holds their ID number"


def test_a_leaving_date_in_the_future_is_refused(official_a, spouse):
    with pytest.raises(ValidationError):
        services.remove_person(by=official_a, person=spouse, reason="迁出", left_on=dt.date(2099, 1, 1))
    assert Person.objects.filter(pk=spouse.pk).exists()


def test_remove_person_needs_a_reason(official_a, spouse):
    with pytest.raises(ValidationError):
        services.remove_person(by=official_a, person=spouse, reason=" ")
    assert Person.objects.filter(pk=spouse.pk).exists()


def test_the_head_cannot_be_removed_while_others_remain(official_a, household, spouse):
    head = household.members.get(relation="01")
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        services.remove_person(by=official_a, person=head, reason="迁出")
    assert "户主" in " ".join(exc_info.value.messages)
    assert counts() == before


def test_duplicate_id_across_households_is_refused_naming_the_other_household(official_a, household):
    existing = household.members.get()
    other = create_file(official_a, village=VILLAGE_A2)
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        services.add_person(
            by=official_a,
            household=other,
            data=person_values(
                id_number=existing.id_number.lower(), relation="17", birth_date=existing.birth_date
            ),
        )
    messages = exc_info.value.message_dict["id_number"]
    assert any(household.number in message for message in messages)
    assert counts() == before


# --- Income ------------------------------------------------------------------------------------------


def test_record_income_writes_an_audit_event(official_a, household):
    record = services.record_income(
        by=official_a,
        household=household,
        data={"year": 2024, "household_size": 2, "wage_income": Decimal("15000")},
    )
    event = last_event(record)
    assert event.action == "create"
    assert event.actor == official_a
    assert event.household_id == household.pk
    assert event.changes["wage_income"] == {"before": None, "after": "15000"}
    assert event.changes["year"] == {"before": None, "after": 2024}


def test_record_income_again_updates_with_before_and_after_values(official_a, household):
    record = services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": 2, "wage_income": "15000"}
    )
    services.record_income(
        by=official_a,
        household=household,
        data={"year": 2024, "wage_income": "18000.50", "household_size": 2},
        expected_version=record.version,
    )
    record.refresh_from_db()
    assert record.wage_income == Decimal("18000.50")
    assert record.version == 2
    assert IncomeRecord.objects.filter(household=household).count() == 1
    event = last_event(record)
    assert event.action == "update"
    assert event.changes["wage_income"] == {"before": "15000", "after": "18000.50"}


def test_second_income_of_a_year_without_version_is_refused(official_a, household):
    services.record_income(by=official_a, household=household, data={"year": 2024, "household_size": 2})
    with pytest.raises(ValidationError) as exc_info:
        services.record_income(by=official_a, household=household, data={"year": 2024, "household_size": 3})
    assert "year" in exc_info.value.message_dict


def test_stale_income_edit_is_refused_and_changes_nothing(official_a, household):
    record = services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": 2, "wage_income": "15000"}
    )
    services.record_income(
        by=official_a, household=household, data={"year": 2024, "wage_income": "16000"}, expected_version=1
    )
    before = counts()
    with pytest.raises(StaleEdit):
        services.record_income(
            by=official_a, household=household, data={"year": 2024, "wage_income": "1"}, expected_version=1
        )
    assert counts() == before
    record.refresh_from_db()
    assert record.wage_income == Decimal("16000")


def test_household_size_defaults_to_the_number_of_members(official_a, household, spouse):
    record = services.record_income(by=official_a, household=household, data={"year": 2024})
    assert record.household_size == 2


def test_invalid_income_writes_nothing(official_a, household):
    before = counts()
    with pytest.raises(ValidationError) as exc_info:
        services.record_income(
            by=official_a,
            household=household,
            data={"year": 2024, "household_size": 2, "farming_income": "-5"},
        )
    assert "farming_income" in exc_info.value.message_dict
    assert counts() == before


@pytest.mark.parametrize(
    ("amounts", "size", "net", "per_capita"),
    [
        ({"wage_income": "10000"}, 3, "10000.00", "3333.33"),  # integer division would give 3333
        ({"wage_income": "7"}, 3, "7.00", "2.33"),
        ({"wage_income": "20000"}, 3, "20000.00", "6666.67"),
        ({"wage_income": "12000", "production_cost": "2000"}, 4, "10000.00", "2500.00"),
        ({"wage_income": "8000.40", "farming_income": "1999.60"}, 1, "10000.00", "10000.00"),
        ({"farming_income": "1000", "production_cost": "4000"}, 2, "-3000.00", "-1500.00"),
    ],
)
def test_net_and_per_capita_net_income_are_computed_exactly(
    official_a, household, amounts, size, net, per_capita
):
    services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": size, **amounts}
    )
    record = IncomeRecord.objects.get(household=household, year=2024)
    assert record.net_income == Decimal(net)
    assert record.per_capita_net_income == Decimal(per_capita)


def test_every_income_source_counts_in_net_income(official_a, household):
    amounts = {name: "100" for name in IncomeRecord.INCOME_FIELDS}
    services.record_income(
        by=official_a,
        household=household,
        data={"year": 2024, "household_size": 2, "production_cost": "200", **amounts},
    )
    record = IncomeRecord.objects.get(household=household)
    assert record.net_income == Decimal(100 * len(IncomeRecord.INCOME_FIELDS) - 200)
    assert record.per_capita_net_income == record.net_income / 2


def test_payments_that_are_not_stable_income_are_kept_but_not_counted(official_a, household):
    extra = {name: "5000" for name in IncomeRecord.NON_INCOME_FIELDS}
    services.record_income(
        by=official_a,
        household=household,
        data={
            "year": 2024,
            "household_size": 3,
            "wage_income": "10000",
            "compliant_medical_spending": "800",
            **extra,
        },
    )
    record = IncomeRecord.objects.get(household=household)
    assert record.net_income == Decimal("10000.00")
    assert record.per_capita_net_income == Decimal("3333.33")
    for name in IncomeRecord.NON_INCOME_FIELDS:
        assert getattr(record, name) == Decimal("5000")
    assert record.compliant_medical_spending == Decimal("800")


def test_per_capita_income_follows_an_update(official_a, household):
    record = services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": 2, "wage_income": "10000"}
    )
    services.record_income(
        by=official_a,
        household=household,
        data={"year": 2024, "household_size": 3},
        expected_version=record.version,
    )
    record.refresh_from_db()
    assert record.per_capita_net_income == Decimal("3333.33")


def test_record_income_returns_the_computed_values(official_a, household):
    record = services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": 3, "wage_income": "10000"}
    )
    assert record.per_capita_net_income == Decimal("3333.33")


def test_per_capita_income_can_be_filtered_and_sorted_in_the_database(official_a, household):
    other = create_file(official_a, village=VILLAGE_A2)
    services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": 3, "wage_income": "10000"}
    )
    services.record_income(
        by=official_a, household=other, data={"year": 2024, "household_size": 3, "wage_income": "10002"}
    )
    below = IncomeRecord.objects.filter(per_capita_net_income__lt=Decimal("3333.50"))
    assert list(below.values_list("household_id", flat=True)) == [household.pk]
    ordered = IncomeRecord.objects.order_by("-per_capita_net_income").values_list("household_id", flat=True)
    assert list(ordered) == [other.pk, household.pk]


# --- Who may write -----------------------------------------------------------------------------------


def _create(actor, household, person):
    services.create_household(by=actor, data=household_values())


def _update(actor, household, person):
    services.update_household(
        by=actor, household=household, data={"phone": "13812345678"}, expected_version=household.version
    )


def _status(actor, household, person):
    services.change_household_status(
        by=actor,
        household=household,
        event="03",
        effective_date=dt.date(2025, 1, 1),
        reason="因病",
        changes={"monitoring_type": "2", "risk_types": "01"},
    )


def _add(actor, household, person):
    services.add_person(
        by=actor, household=household, data=person_values(relation="03", birth_date=dt.date(2004, 1, 1))
    )


def _update_person(actor, household, person):
    services.update_person(
        by=actor, person=person, data={"labour_skill": "3"}, expected_version=person.version
    )


def _remove(actor, household, person):
    services.remove_person(by=actor, person=person, reason="迁出")


def _income(actor, household, person):
    services.record_income(by=actor, household=household, data={"year": 2024, "household_size": 2})


WRITES: dict[str, Callable] = {
    "create_household": _create,
    "update_household": _update,
    "change_household_status": _status,
    "add_person": _add,
    "update_person": _update_person,
    "remove_person": _remove,
    "record_income": _income,
}


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
@pytest.mark.parametrize("who", ["auditor", "county_staff", "official_b", "inactive_official_a"])
def test_only_editors_of_the_region_may_write(request, household, spouse, who, write):
    actor = request.getfixturevalue(who)
    before = counts()
    snapshot = Household.objects.filter(pk=household.pk).values().get()
    with pytest.raises(PermissionDenied) as exc_info:
        write(actor, household, spouse)
    assert "户档案" in str(exc_info.value) or "辖区" in str(exc_info.value)
    assert counts() == before
    assert Household.objects.filter(pk=household.pk).values().get() == snapshot
    assert Person.objects.get(pk=spouse.pk).labour_skill == spouse.labour_skill


@pytest.mark.parametrize("write", WRITES.values(), ids=WRITES.keys())
def test_an_administrator_may_write_anywhere(admin_user, household, spouse, write):
    before = AuditEvent.objects.count()
    write(admin_user, household, spouse)
    event = AuditEvent.objects.order_by("-id").first()
    assert AuditEvent.objects.count() > before
    assert event.actor == admin_user


def test_official_of_township_b_may_write_in_township_b(official_b):
    household = create_file(official_b, village=VILLAGE_B)
    assert last_event(household).actor == official_b


@pytest.fixture
def official_a_again(regions):
    from povertycloud.accounts.models import Role, User

    return User.objects.create_user(
        "official_a2", password="x" * 12, role=Role.TOWNSHIP_OFFICIAL, region_id="522634101000"
    )


@pytest.fixture
def inactive_official_a(regions):
    from povertycloud.accounts.models import Role, User

    return User.objects.create_user(
        "retired_a", password="x" * 12, role=Role.TOWNSHIP_OFFICIAL, region_id="522634101000", is_active=False
    )


def test_a_member_who_left_can_be_reopened_once_and_only_by_an_editor(official_a, auditor, spouse):
    services.remove_person(by=official_a, person=spouse, reason="迁出")
    with pytest.raises(PermissionDenied):
        services.reopen_person(by=auditor, person=spouse, reason="误删")
    back = services.reopen_person(by=official_a, person=spouse, reason="误删")
    assert Person.objects.filter(pk=spouse.pk).exists() and back.left_on is None and back.version == 3
    with pytest.raises(ValidationError):
        services.reopen_person(by=official_a, person=spouse, reason="误删")
