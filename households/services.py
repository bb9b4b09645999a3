"""Writes to the household file. Views, the admin, imports and commands all call these functions.

Each write checks the actor's role and region, validates with households.validation, refuses a stale
edit (optimistic locking on `version`), and records an audit event in the same transaction.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Model
from django.utils import timezone

from households.codes import codebook
from households.models import Household, IncomeRecord, Person, StatusChange
from households.validation import (
    RELATION_HEAD,
    Issue,
    household_issues,
    household_member_issues,
    income_issues,
    join_codes,
    person_issues,
    raise_for_errors,
    split_codes,
)
from povertycloud.accounts.permissions import can_review_risks, require_household_editor
from povertycloud.audit.services import diff, record_model_event, snapshot
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import user_may_see_code

EVENT_CREATED, EVENT_TYPE_CHANGED = "01", "04"
MULTI_VALUED = {"risk_types", "other_poverty_causes", "health"}
# Never taken from the caller's data: keys, bookkeeping, values the database computes, and the owner of a
# record (moving a household to another village, or a member or income to another household, is not an edit).
NOT_EDITABLE = {
    "id", "pk", "version", "created_at", "updated_at", "net_income", "per_capita_net_income",
    "household", "household_id",
}


class StaleEdit(ValidationError):
    """Someone saved the record after this form was opened; nothing was written."""

    def __init__(self, label: str):
        super().__init__(
            f"{label}已被他人修改（保存时版本已变化），本次修改未保存。请重新打开后再修改。", code="stale"
        )


def check_household(values: Mapping[str, Any]) -> list[Issue]:
    return household_issues(_normalise(values), codes=codebook())


def _require_editor_of(actor: Any, region_code: str) -> None:
    require_household_editor(actor)
    if not user_may_see_code(actor, region_code):
        raise PermissionDenied("不能修改本辖区以外的户档案。")


def _normalise(data: Mapping[str, Any]) -> dict[str, Any]:
    values = {name: value for name, value in data.items() if name not in NOT_EDITABLE}
    for name in MULTI_VALUED & values.keys():
        values[name] = join_codes(split_codes(values[name]))
    if values.get("id_number"):
        values["id_number"] = str(values["id_number"]).strip().upper()
    return values


def _values_of(instance: Model) -> dict[str, Any]:
    """The stored values by field name, as Python values (dates stay dates) for the validators.

    (snapshot() is for the audit trail: it turns values into JSON, e.g. a birth date into a string.)
    """
    return {
        field.name: getattr(instance, field.attname)
        for field in instance._meta.concrete_fields
        if not getattr(field, "generated", False) and not field.primary_key
    }


def _conditional_update(instance: Model, values: dict[str, Any], expected_version: int, label: str) -> None:
    """UPDATE ... WHERE version = expected: a second save of a stale form changes nothing."""
    updated = type(instance).objects.filter(pk=instance.pk, version=expected_version).update(
        **values, version=F("version") + 1, updated_at=timezone.now()
    )
    if updated != 1:
        raise StaleEdit(label)
    instance.refresh_from_db()


# --- Households --------------------------------------------------------------------------------------


@transaction.atomic
def create_household(*, by: Any, data: Mapping[str, Any], reason: str = "新建户档案") -> Household:
    values = _normalise(data)
    village = values.pop("village_id", None) or values.get("village")
    if not isinstance(village, Region):
        village = Region.objects.filter(code=village or "").first()
        if village is None:
            raise ValidationError({"village": "村代码不存在。"})
    values["village"] = village
    if not village.is_village:
        raise ValidationError({"village": "户档案须登记到村一级。"})
    _require_editor_of(by, village.code)
    raise_for_errors(household_issues(values, codes=codebook()))
    household = Household.objects.create(**values)
    household.refresh_from_db()
    StatusChange.objects.create(
        household=household,
        effective_date=timezone.localdate(),
        event=EVENT_CREATED,
        household_type=household.household_type,
        poverty_attribute=household.poverty_attribute,
        monitoring_type=household.monitoring_type,
        risk_types=household.risk_types,
        reason=reason,
        recorded_by=by if getattr(by, "is_authenticated", False) else None,
    )
    record_model_event(actor=by, action="create", instance=household, changes=diff({}, snapshot(household)))
    return household


STATUS_FIELDS = ("household_type", "poverty_attribute", "monitoring_type", "risk_types")


@transaction.atomic
def update_household(
    *, by: Any, household: Household, data: Mapping[str, Any], expected_version: int, reason: str = ""
) -> Household:
    _require_editor_of(by, household.village_id)
    values = _normalise(data)
    values.pop("village", None)  # moving a household between villages is not an edit of its file
    values.pop("village_id", None)
    before = snapshot(household)
    merged = {**_values_of(household), **values}
    raise_for_errors(household_issues(merged, codes=codebook()))
    status_changed = any(getattr(household, name) != merged.get(name) for name in STATUS_FIELDS)
    if status_changed and not reason.strip():
        raise ValidationError({"reason": "修改户类型、监测类别或风险类型时须填写原因。"})
    _conditional_update(household, values, expected_version, f"户 {household.number} 的档案")
    if status_changed:
        StatusChange.objects.create(
            household=household,
            effective_date=timezone.localdate(),
            event=EVENT_TYPE_CHANGED,
            reason=reason,
            recorded_by=by,
            **{name: getattr(household, name) for name in STATUS_FIELDS},
        )
    record_model_event(
        actor=by, action="update", instance=household, changes=diff(before, snapshot(household)), note=reason
    )
    return household


@transaction.atomic
def change_household_status(
    *,
    by: Any,
    household: Household,
    event: str,
    effective_date: dt.date,
    reason: str,
    changes: Mapping[str, Any],
    decided_in_review: bool = False,
) -> StatusChange:
    """A dated status change (纳入监测, 风险消除, ...): updates the household and appends to its history.

    decided_in_review: the change records a decision that county staff took through risk review (the risk
    app's case workflow calls it so); then a reviewer (county staff, administrator) of the household's
    region records it instead of a household editor.
    """
    if decided_in_review:
        if not can_review_risks(by):
            raise PermissionDenied("只有县级工作人员和系统管理员可以记录核实决定。")
        if not user_may_see_code(by, household.village_id):
            raise PermissionDenied("不能修改本辖区以外的户档案。")
    else:
        _require_editor_of(by, household.village_id)
    if not reason.strip():
        raise ValidationError({"reason": "状态变更须填写原因。"})
    book = codebook()
    if not book.has("status_event", event):
        raise ValidationError({"event": f"状态事件代码“{event}”不在数据字典中。"})
    values = _normalise({name: value for name, value in changes.items() if name in STATUS_FIELDS})
    before = snapshot(household)
    raise_for_errors(household_issues({**_values_of(household), **values}, codes=book))
    Household.objects.filter(pk=household.pk).update(
        **values, version=F("version") + 1, updated_at=timezone.now()
    )
    household.refresh_from_db()
    entry = StatusChange.objects.create(
        household=household,
        effective_date=effective_date,
        event=event,
        reason=reason,
        recorded_by=by,
        **{name: getattr(household, name) for name in STATUS_FIELDS},
    )
    record_model_event(
        actor=by, action="update", instance=household, changes=diff(before, snapshot(household)),
        note=f"{book.label('status_event', event)}：{reason}",
    )
    return entry


# --- Members -----------------------------------------------------------------------------------------


def _member_values(person: Person) -> dict[str, Any]:
    return _values_of(person)


def check_person(
    household: Household, values: dict[str, Any], *, replacing: Person | None = None
) -> list[Issue]:
    """All issues of a member's values in the context of their household (forms show these before saving)."""
    book = codebook()
    issues = person_issues(values, codes=book)
    others = household.members.all()
    if replacing is not None:
        others = others.exclude(pk=replacing.pk)
    members = [*(_member_values(p) for p in others), values]
    issues += household_member_issues(members, codes=book)
    number = values.get("id_number")
    if number:
        clash = Person.objects.filter(id_number=number).exclude(pk=getattr(replacing, "pk", None))
        holder = clash.select_related("household").first()
        if holder is not None:
            issues.append(
                Issue(
                    "id_number",
                    f"证件号码 {number} 已登记在户 {holder.household.number}，同一人不能在两户登记。",
                )
            )
    return issues


@transaction.atomic
def add_person(*, by: Any, household: Household, data: Mapping[str, Any]) -> Person:
    _require_editor_of(by, household.village_id)
    values = _normalise(data)
    raise_for_errors(check_person(household, values))
    person = Person.objects.create(household=household, **values)
    person.refresh_from_db()
    record_model_event(actor=by, action="create", instance=person, changes=diff({}, snapshot(person)))
    return person


@transaction.atomic
def update_person(*, by: Any, person: Person, data: Mapping[str, Any], expected_version: int) -> Person:
    household = person.household
    _require_editor_of(by, household.village_id)
    values = _normalise(data)
    before = snapshot(person)
    merged = {**_values_of(person), **values}
    raise_for_errors(check_person(household, merged, replacing=person))
    _conditional_update(person, values, expected_version, f"成员 {person.name} 的信息")
    record_model_event(actor=by, action="update", instance=person, changes=diff(before, snapshot(person)))
    return person


def check_person_removal(person: Person) -> list[Issue]:
    """Why a member cannot be taken off the household file now (empty if they can)."""
    if person.relation != RELATION_HEAD:
        return []
    others = person.household.members.exclude(pk=person.pk)
    if others.exists() and not others.filter(relation=RELATION_HEAD).exists():
        return [Issue("relation", f"{person.name}是户主：户内还有其他成员时不能移除户主，请先变更户主。")]
    return []


@transaction.atomic
def remove_person(*, by: Any, person: Person, reason: str) -> None:
    """Take a member off the household file (death, marriage out, move). The audit trail keeps every value."""
    household = person.household
    _require_editor_of(by, household.village_id)
    if not reason.strip():
        raise ValidationError({"reason": "移除家庭成员须填写原因（如死亡、迁出）。"})
    raise_for_errors(check_person_removal(person))
    before = snapshot(person)
    record_model_event(actor=by, action="delete", instance=person, changes=diff(before, {}), note=reason)
    person.delete()


# --- Income ------------------------------------------------------------------------------------------

AMOUNT_FIELDS = (*IncomeRecord.INCOME_FIELDS, "production_cost", *IncomeRecord.NON_INCOME_FIELDS,
                 "compliant_medical_spending", "compliant_education_spending")


@transaction.atomic
def record_income(
    *, by: Any, household: Household, data: Mapping[str, Any], expected_version: int | None = None
) -> IncomeRecord:
    """Create the year's income record, or update it (then expected_version is required)."""
    _require_editor_of(by, household.village_id)
    values = {name: value for name, value in data.items() if name not in NOT_EDITABLE}
    if not values.get("household_size"):
        values["household_size"] = household.members.count()
    raise_for_errors(income_issues(values, amount_fields=AMOUNT_FIELDS))
    existing = IncomeRecord.objects.filter(household=household, year=values["year"]).first()
    if existing is None:
        record = IncomeRecord.objects.create(household=household, **values)
        record.refresh_from_db()  # the stored amounts and the computed net and per-capita income
        record_model_event(actor=by, action="create", instance=record, changes=diff({}, snapshot(record)))
        return record
    if expected_version is None:
        raise ValidationError({"year": f"{values['year']} 年的收支已录入，请打开该年度记录修改。"})
    before = snapshot(existing)
    _conditional_update(existing, values, expected_version, f"{values['year']} 年收支")
    record_model_event(actor=by, action="update", instance=existing, changes=diff(before, snapshot(existing)))
    return existing


@transaction.atomic
def remove_income(*, by: Any, record: IncomeRecord, reason: str) -> None:
    """Delete a year's income record entered in error (e.g. under the wrong year); the trail keeps it."""
    _require_editor_of(by, record.household.village_id)
    if not reason.strip():
        raise ValidationError({"reason": "删除收支记录须填写原因。"})
    before = snapshot(record)
    record_model_event(actor=by, action="delete", instance=record, changes=diff(before, {}), note=reason)
    record.delete()
