"""Writes to the household file. Views, the admin, imports and commands all call these functions.

Each write checks the actor's role and region, validates with households.validation, refuses a stale
edit (optimistic locking on `version`), and records an audit event in the same transaction.
"""

import datetime as dt
from collections.abc import Mapping
from typing import Any

from django.core.exceptions import FieldDoesNotExist, PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import CharField, F, Model, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from households.codes import codebook
from households.models import Household, IncomeRecord, Person, PersonNameGram, StatusChange
from households.validation import (
    RELATION_HEAD,
    Issue,
    duplicate_id_issue,
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
from povertycloud.db import analyze
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import code_range, user_may_see_code

EVENT_CREATED, EVENT_TYPE_CHANGED = "01", "04"
MULTI_VALUED = {"risk_types", "other_poverty_causes", "health"}
# Never taken from the caller's data: keys, bookkeeping, values the database computes, and the owner of a
# record (moving a household to another village, or a member or income to another household, is not an edit).
NOT_EDITABLE = {
    "id",
    "pk",
    "version",
    "created_at",
    "updated_at",
    "net_income",
    "per_capita_net_income",
    "household",
    "household_id",
    "region_code",  # the household's village, copied on the member (see Person.region_code)
}


class StaleEdit(ValidationError):
    """Someone saved the record after this form was opened; nothing was written."""

    def __init__(self, label: str):
        super().__init__(
            _("%(label)s已被他人修改（保存时版本已变化），本次修改未保存。请重新打开后再修改。") % {"label": label},
            code="stale",
        )


def check_household(values: Mapping[str, Any]) -> list[Issue]:
    return household_issues(_normalise(values), codes=codebook())


def _require_editor_of(actor: Any, region_code: str) -> None:
    require_household_editor(actor)
    if not user_may_see_code(actor, region_code):
        raise PermissionDenied(_("不能修改本辖区以外的户档案。"))


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


def _check_lengths(model: type[Model], values: Mapping[str, Any]) -> None:
    """A text longer than its column is a message on its field, never a database error (a 500)."""
    errors = {}
    for name, value in values.items():
        try:
            field = model._meta.get_field(name)
        except FieldDoesNotExist:  # not a field of the model: the save will say so
            continue
        limit = field.max_length if isinstance(field, CharField) else None
        too_long = limit is not None and isinstance(value, str) and len(value) > limit
        if too_long:
            errors[name] = _("%(label)s最长 %(max)s 个字符，这里有 %(length)s 个。") % {
                "label": field.verbose_name,
                "max": field.max_length,
                "length": len(value),
            }
    if errors:
        raise ValidationError(errors)


def _create(model: type[Model], **values: Any) -> Model:
    """INSERT in a savepoint, so that a unique constraint that another transaction won first raises an
    IntegrityError the caller can turn into a message while its own transaction stays usable."""
    with transaction.atomic():
        return model.objects.create(**values)


def _conditional_update(instance: Model, values: dict[str, Any], expected_version: int, label: str) -> None:
    """UPDATE ... WHERE version = expected: a second save of a stale form changes nothing."""
    updated = (
        type(instance)
        .objects.filter(pk=instance.pk, version=expected_version)
        .update(**values, version=F("version") + 1, updated_at=timezone.now())
    )
    if updated != 1:
        raise StaleEdit(label)
    instance.refresh_from_db()


# --- Households --------------------------------------------------------------------------------------


@transaction.atomic
def create_household(*, by: Any, data: Mapping[str, Any], reason: str = "") -> Household:
    reason = reason or _("新建户档案")
    values = _normalise(data)
    village = values.pop("village_id", None) or values.get("village")
    if not isinstance(village, Region):
        village = Region.objects.filter(code=village or "").first()
        if village is None:
            raise ValidationError({"village": _("村代码不存在。")})
    values["village"] = village
    if not village.is_village:
        raise ValidationError({"village": _("户档案须登记到村一级。")})
    _require_editor_of(by, village.code)
    raise_for_errors(household_issues(values, codes=codebook()))
    _check_lengths(Household, values)
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
    _check_lengths(Household, values)
    status_changed = any(getattr(household, name) != merged.get(name) for name in STATUS_FIELDS)
    if status_changed and not reason.strip():
        raise ValidationError({"reason": _("修改户类型、监测类别或风险类型时须填写原因。")})
    _conditional_update(household, values, expected_version, _("户 %(number)s 的档案") % {"number": household.number})
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
            raise PermissionDenied(_("只有县级工作人员和系统管理员可以记录核实决定。"))
        if not user_may_see_code(by, household.village_id):
            raise PermissionDenied(_("不能修改本辖区以外的户档案。"))
    else:
        _require_editor_of(by, household.village_id)
    if not reason.strip():
        raise ValidationError({"reason": _("状态变更须填写原因。")})
    book = codebook()
    if not book.has("status_event", event):
        raise ValidationError({"event": _("状态事件代码“%(code)s”不在数据字典中。") % {"code": event}})
    values = _normalise({name: value for name, value in changes.items() if name in STATUS_FIELDS})
    before = snapshot(household)
    raise_for_errors(household_issues({**_values_of(household), **values}, codes=book))
    Household.objects.filter(pk=household.pk).update(**values, version=F("version") + 1, updated_at=timezone.now())
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
        actor=by,
        action="update",
        instance=household,
        changes=diff(before, snapshot(household)),
        note=f"{book.label('status_event', event)}：{reason}",
    )
    return entry


# --- Members -----------------------------------------------------------------------------------------


def _member_values(person: Person) -> dict[str, Any]:
    return _values_of(person)


def _same_county(code: str, other: str) -> bool:
    return bool(code) and bool(other) and code[:6] == other[:6]


def duplicate_id_issues(
    number: str, *, household: Household, by: Any = None, replacing: Person | None = None
) -> list[Issue]:
    """The ID number registered to someone else, said so that it never names a household outside `by`'s
    region (without `by`, never any other household)."""
    if not number:
        return []
    # Person.everyone: an ID number stays taken by a member who left (the row is kept, closed).
    clash = Person.everyone.filter(id_number=number).exclude(pk=getattr(replacing, "pk", None))
    holder = clash.select_related("household").first()
    if holder is None:
        return []
    village = holder.household.village_id
    user_region = getattr(getattr(by, "region", None), "code", "") or household.village_id
    return [
        duplicate_id_issue(
            number,
            holder_household=holder.household.number,
            holder_visible=by is not None and user_may_see_code(by, village),
            holder_in_same_county=_same_county(village, user_region),
        )
    ]


def check_person(
    household: Household, values: dict[str, Any], *, replacing: Person | None = None, by: Any = None
) -> list[Issue]:
    """All issues of a member's values in the context of their household (forms show these before saving).

    by: the user who enters the values; an ID number registered in a household outside their region is
    reported without naming that household (see duplicate_id_issues)."""
    book = codebook()
    issues = person_issues(values, codes=book)
    others = household.members.all()
    if replacing is not None:
        others = others.exclude(pk=replacing.pk)
    members = [*(_member_values(p) for p in others), values]
    issues += household_member_issues(members, codes=book)
    issues += duplicate_id_issues(values.get("id_number") or "", household=household, by=by, replacing=replacing)
    return issues


def _person_race_lost(
    error: IntegrityError, *, household: Household, values: Mapping[str, Any], by: Any, replacing: Person | None
) -> ValidationError:
    """Two saves of the same ID number at once: both passed the check, the database's unique constraint
    refused the second. Its user gets the message the form shows for a duplicate ID number."""
    issues = duplicate_id_issues(values.get("id_number") or "", household=household, by=by, replacing=replacing)
    if not issues:
        raise error
    return ValidationError({"id_number": [issue.message for issue in issues]})


@transaction.atomic
def add_person(*, by: Any, household: Household, data: Mapping[str, Any]) -> Person:
    _require_editor_of(by, household.village_id)
    values = _normalise(data)
    raise_for_errors(check_person(household, values, by=by))
    _check_lengths(Person, values)
    try:
        person = _create(Person, household=household, region_code=household.village_id, **values)
    except IntegrityError as error:
        raise _person_race_lost(error, household=household, values=values, by=by, replacing=None) from error
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
    raise_for_errors(check_person(household, merged, replacing=person, by=by))
    _check_lengths(Person, values)
    try:
        with transaction.atomic():
            _conditional_update(person, values, expected_version, _("成员 %(name)s 的信息") % {"name": person.name})
    except IntegrityError as error:
        raise _person_race_lost(error, household=household, values=merged, by=by, replacing=person) from error
    refresh_person_name_grams(person)  # the conditional UPDATE sends no post_save
    record_model_event(actor=by, action="update", instance=person, changes=diff(before, snapshot(person)))
    return person


def check_person_removal(person: Person) -> list[Issue]:
    """Why a member cannot be taken off the household file now (empty if they can)."""
    if person.relation != RELATION_HEAD:
        return []
    others = person.household.members.exclude(pk=person.pk)
    if others.exists() and not others.filter(relation=RELATION_HEAD).exists():
        return [
            Issue(
                "relation",
                _("%(name)s是户主：户内还有其他成员时不能移除户主，请先变更户主。") % {"name": person.name},
            )
        ]
    return []


@transaction.atomic
def remove_person(*, by: Any, person: Person, reason: str, left_on: dt.date | None = None) -> Person:
    """Take a member off the household (death, marriage out, move): the member is closed, not deleted. The
    row keeps every value with the date and reason they left; Person.objects (every list, count, feature
    and report) no longer returns them, the household page lists them under the members who left."""
    household = person.household
    _require_editor_of(by, household.village_id)
    if not reason.strip():
        raise ValidationError({"reason": _("移除家庭成员须填写原因（如死亡、迁出）。")})
    left_on = left_on or timezone.localdate()
    if left_on > timezone.localdate():
        raise ValidationError({"left_on": _("离开日期不能晚于今天。")})
    raise_for_errors(check_person_removal(person))
    locked = Person.everyone.select_for_update().get(pk=person.pk)
    if locked.left_on is not None:
        raise ValidationError(
            _("%(name)s 已于 %(date)s 离开本户，无需再次移除。") % {"name": locked.name, "date": locked.left_on}
        )
    before = snapshot(locked)
    locked.left_on, locked.left_reason = left_on, reason.strip()[:200]
    locked.version = F("version") + 1
    locked.save(update_fields=["left_on", "left_reason", "version", "updated_at"])
    locked.refresh_from_db()
    record_model_event(actor=by, action="update", instance=locked, changes=diff(before, snapshot(locked)), note=reason)
    return locked


@transaction.atomic
def reopen_person(*, by: Any, person: Person, reason: str) -> Person:
    """A member who left is in the household again (a removal made in error, or the township takes the side of
    an export that still lists them): checked with the household's rules as an added member would be."""
    household = person.household
    _require_editor_of(by, household.village_id)
    locked = Person.everyone.select_for_update().get(pk=person.pk)
    if locked.left_on is None:
        raise ValidationError(_("%(name)s 仍在本户中，无需恢复。") % {"name": locked.name})
    raise_for_errors(check_person(household, _member_values(locked), replacing=locked, by=by))
    before = snapshot(locked)
    locked.left_on, locked.left_reason = None, ""
    locked.version = F("version") + 1
    locked.save(update_fields=["left_on", "left_reason", "version", "updated_at"])
    locked.refresh_from_db()
    record_model_event(actor=by, action="update", instance=locked, changes=diff(before, snapshot(locked)), note=reason)
    return locked


def fill_person_regions(*, prefix: str = "") -> int:
    """Set each member's region_code to their household's village where it differs (blank after a bulk write
    that did not give it, or a household moved to another village); only members of households under
    ``prefix`` when given. Returns how many members changed. Idempotent: a second run changes nothing."""
    village = Household.objects.filter(pk=OuterRef("household_id")).values("village_id")[:1]
    members = Person.everyone.exclude(region_code=F("household__village_id"))
    if prefix:
        first, last = prefix.ljust(12, "0"), prefix.ljust(12, "9")
        members = members.filter(household__village_id__gte=first, household__village_id__lte=last)
    return members.update(region_code=Subquery(village))


# --- The name search's pieces (PersonNameGram) -------------------------------------------------------


def name_grams(name: str) -> set[str]:
    """Every one- and two-character piece of a name, once each (what refresh_name_grams stores in SQL)."""
    return {name[i : i + size] for size in (1, 2) for i in range(len(name) - size + 1)}


def _village_of(household_id: int) -> str | None:
    return Household.objects.filter(pk=household_id).values_list("village_id", flat=True).first()


def refresh_person_name_grams(person: Person) -> None:
    """One member's name pieces as their stored row says now (none once they left): the signal after a save,
    and update_person after its conditional UPDATE. Rows are keyed by the household's village, so a change of
    village (only a registry import makes one, and it refreshes the region) is left to refresh_name_grams."""
    village = _village_of(person.household_id)
    row = Person.everyone.filter(pk=person.pk).values_list("name", "household_id", "left_on").first()
    stored = PersonNameGram.objects.filter(person_id=person.pk)
    if village is not None:
        stored = stored.filter(region_code=village)  # the primary key's first two columns: one index range
    if row is None or village is None:
        stored.delete()
        return
    name, household_id, left_on = row
    wanted = name_grams(name) if left_on is None else set()
    have = {gram: household for gram, household in stored.values_list("gram", "household_id")}
    stale = [gram for gram, household in have.items() if gram not in wanted or household != household_id]
    if stale:
        stored.filter(gram__in=stale).delete()
    missing = sorted(wanted - (have.keys() - set(stale)))
    PersonNameGram.objects.bulk_create(
        PersonNameGram(region_code=village, person_id=person.pk, gram=gram, household_id=household_id)
        for gram in missing
    )


def forget_person_name_grams(person: Person) -> None:
    """A deleted member's name pieces (the signal after a delete)."""
    stored = PersonNameGram.objects.filter(person_id=person.pk)
    village = _village_of(person.household_id)
    if village is not None:
        stored = stored.filter(region_code=village)
    stored.delete()


def _name_pieces_sql(*, where: str) -> str:
    """SELECT (region_code, person_id, gram, household_id) of every piece of every present member matching
    ``where`` (on p: the member, h: the household), each piece once per member: a piece is taken at its first
    place in the name only. PostgreSQL generates the places per name; SQLite, which has no generate_series,
    joins a recursive count to the name's length (fine at the sizes SQLite serves)."""
    person, household = Person._meta.db_table, Household._meta.db_table
    if connection.vendor == "postgresql":
        places = "CROSS JOIN LATERAL generate_series(1, length(p.name)) AS pos(i)"
        find, prefix = "strpos", ""
    else:
        places = "JOIN pos ON pos.i <= length(p.name)"
        longest = Person._meta.get_field("name").max_length
        prefix = f"WITH RECURSIVE pos(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM pos WHERE i < {longest}) "
        find = "instr"
    return (
        f"{prefix}SELECT h.village_id, p.id, substr(p.name, pos.i, w.n), p.household_id "
        f"FROM {person} p JOIN {household} h ON h.id = p.household_id {places} "
        f"CROSS JOIN (SELECT 1 AS n UNION ALL SELECT 2) w "
        f"WHERE p.left_on IS NULL AND pos.i + w.n - 1 <= length(p.name) "
        f"AND {find}(p.name, substr(p.name, pos.i, w.n)) = pos.i AND {where}"
    )


GRAMS_ANALYZED_AFTER = 100_000


def refresh_name_grams(*, prefix: str = "") -> tuple[int, int]:
    """Bring the name search's pieces of the members of households under ``prefix`` (every member when empty)
    in line with Person: pieces of members who left, were deleted, were renamed, moved household or village
    are deleted; missing ones are added. Returns (deleted, added); a second run changes nothing.

    Called after every bulk write of members (the registry import's COPY, its undo), for the region written.
    Two set statements, whatever the number of members: a re-import that renamed nobody writes nothing."""
    table = connection.ops.quote_name(PersonNameGram._meta.db_table)
    person, household = Person._meta.db_table, Household._meta.db_table
    find = "strpos" if connection.vendor == "postgresql" else "instr"
    params: list[str] = []
    in_region, of_region = "1 = 1", "1 = 1"
    if prefix:
        params = list(code_range(prefix))
        in_region = f"{table}.region_code >= %s AND {table}.region_code <= %s"
        of_region = "h.village_id >= %s AND h.village_id <= %s"
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # Both statements join a county's members to its pieces (millions of rows): in memory rather than
            # in batches on disk. Local to the transaction (the caller's, or the one opened here).
            cursor.execute("SET LOCAL work_mem = '256MB'")
        # A piece still stands if its member is present, in that household and village, and the name holds it.
        cursor.execute(
            f"DELETE FROM {table} WHERE {in_region} AND NOT EXISTS (SELECT 1 FROM {person} p "
            f"JOIN {household} h ON h.id = p.household_id WHERE p.id = {table}.person_id "
            f"AND p.left_on IS NULL AND p.household_id = {table}.household_id "
            f"AND h.village_id = {table}.region_code AND {find}(p.name, {table}.gram) > 0)",
            params,
        )
        deleted = cursor.rowcount
        # What is left is right: only pieces without a row under the same key are added.
        pieces = _name_pieces_sql(where=of_region)
        cursor.execute(f"SELECT 1 FROM {table} WHERE {in_region} LIMIT 1", params)
        if cursor.fetchone() is None:
            # A region's first import: nothing to compare with. The anti-join would be planned against a table
            # the statement itself is filling (its statistics say empty) and rescan it for every piece: a
            # 50,000-person county's first import ran it for 13 CPU-minutes.
            missing = pieces
        else:
            missing = (
                f"{pieces} AND NOT EXISTS (SELECT 1 FROM {table} g WHERE g.region_code = h.village_id "
                f"AND g.person_id = p.id AND g.gram = substr(p.name, pos.i, w.n))"
            )
        cursor.execute(f"INSERT INTO {table} (region_code, person_id, gram, household_id) {missing}", params)
        added = cursor.rowcount
    if deleted + added > GRAMS_ANALYZED_AFTER:
        analyze(PersonNameGram)  # a county's first import: the planner learns the pieces
    return deleted, added


# --- Income ------------------------------------------------------------------------------------------

AMOUNT_FIELDS = (
    *IncomeRecord.INCOME_FIELDS,
    "production_cost",
    *IncomeRecord.NON_INCOME_FIELDS,
    "compliant_medical_spending",
    "compliant_education_spending",
)


def _income_of(household: Household, year: Any) -> IncomeRecord | None:
    return IncomeRecord.objects.filter(household=household, year=year).first()


def _year_taken(year: Any) -> ValidationError:
    return ValidationError({"year": _("%(year)s 年的收支已录入，请打开该年度记录修改。") % {"year": year}})


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
    existing = _income_of(household, values["year"])
    if existing is None:
        try:
            record = _create(IncomeRecord, household=household, **values)
        except IntegrityError as error:
            # Two surveys of the same year saved at once: the unique (household, year) constraint refused
            # the second; it gets the message a duplicate year always gets.
            if not IncomeRecord.objects.filter(household=household, year=values["year"]).exists():
                raise
            raise _year_taken(values["year"]) from error
        record.refresh_from_db()  # the stored amounts and the computed net and per-capita income
        record_model_event(actor=by, action="create", instance=record, changes=diff({}, snapshot(record)))
        return record
    if expected_version is None:
        raise _year_taken(values["year"])
    before = snapshot(existing)
    _conditional_update(existing, values, expected_version, _("%(year)s 年收支") % {"year": values["year"]})
    record_model_event(actor=by, action="update", instance=existing, changes=diff(before, snapshot(existing)))
    return existing


@transaction.atomic
def remove_income(*, by: Any, record: IncomeRecord, reason: str) -> None:
    """Delete a year's income record entered in error (e.g. under the wrong year); the trail keeps it."""
    _require_editor_of(by, record.household.village_id)
    if not reason.strip():
        raise ValidationError({"reason": _("删除收支记录须填写原因。")})
    before = snapshot(record)
    record_model_event(actor=by, action="delete", instance=record, changes=diff(before, {}), note=reason)
    record.delete()
