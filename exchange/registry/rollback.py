"""Undoing a registry import (户档案导入) that should not have been loaded: as if it had never arrived.

``rollback_registry_batch(*, batch, by, reason, dry_run=False)`` → RegistryRollbackResult. The registry batch
page's button and ``manage.py rollback_batch`` call it; only county staff of the batch's region and
administrators may (the rule of department batches, exchange.pipeline.may_decide_batch). One transaction:
either all of it happens or nothing does.

What the import left, and what undoing it does (the contract of exchange.registry.load):
- rows it inserted carry its id in ``source_batch`` and have no RegistryRowChange: they are deleted, status
  changes it added first, then incomes, members and households (the order their foreign keys need);
- rows it changed have a RegistryRowChange with the changed fields' values before it: those values are put
  back through the model's fields, and the version is raised once more, so that a form opened on the imported
  values is refused as stale. ``source_batch`` goes back to the value it had before the import when that can
  be known: from ``before`` when the import kept it there; otherwise from the latest earlier standing registry
  batch that changed the same row; otherwise from the earlier standing batch that inserted it (the row was
  created while that batch ran, and no official typed it in). When none of these says, it is set to null
  (录入或来源不明), and undoing an earlier import later will not find the row as one it inserted;
- members it closed (left_on set) are reopened: their RegistryRowChange has ``left_on`` empty before;
- its conflicts still open are closed as 保留系统值 (the system's value stands, since the export is withdrawn),
  by the person who undid it; conflicts already settled stay as they were;
- department records that the linkage had tied to a member it inserted are untied (person emptied): the tie
  is found again from the ID number by the linkage (关联刷新) once the person is back. Pending linkage
  candidates naming such a member are superseded;
- the batch keeps its row, its rejected rows, its RegistryRowChanges and its audit trail, with status 已撤销,
  who, when and why; the same files can be imported again afterwards.

Refused with a message, changing nothing:
- not a succeeded registry batch (already undone, failed, …), or no reason given;
- a later standing registry batch of the same or an overlapping region exists (undo the later ones first,
  newest first), or one is being imported right now;
- a row it wrote was changed after it: a changed row whose version is no longer the one the import left
  (``version_after``) or that no longer exists; an inserted row whose version is no longer 1 (every write to
  a household file row raises its version, a registry import's and its undo's too, so a later import that
  was undone accounts for two); members, incomes or status changes added by hand to a household it
  inserted; a conflict of the batch settled by taking the export's value (an official's decision that rests
  on it). The message says how many households and names those in the user's region;
- something else refers to a household, member or status change it inserted: risk scores, warnings and
  cases, assistance measures, outcome observations, elimination or return records, conflicts of other
  batches, linkage decisions (confirmed or dismissed candidates). Never deleted from under them: the message
  names what refers and how many households.

The dry run (``dry_run=True``) makes the same checks and returns what would be deleted, restored, reopened,
closed and untied, changing nothing; it needs no reason.
"""

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, OperationalError, models, transaction
from django.db.models import Count, F
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange import quality
from exchange.models import ImportBatch, LinkCandidate, SourceRecord
from exchange.pipeline import may_decide_batch
from exchange.registry.models import RegistryConflict, RegistryRowChange
from exchange.registry.tables import REGISTRY
from exchange.rollback import code_prefix, refuse_unless_latest_standing
from households.models import Household, IncomeRecord, Person, StatusChange
from households.services import fill_person_regions, refresh_name_grams
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import record_event
from povertycloud.regions.scoping import scope_for_user

Status = ImportBatch.Status
HOUSEHOLD, PERSON, INCOME = "households.household", "households.person", "households.incomerecord"
ENTITIES: dict[str, type[models.Model]] = {HOUSEHOLD: Household, PERSON: Person, INCOME: IncomeRecord}
# Which of the import's tables each entity is, for the counts.
KEYS = {HOUSEHOLD: "households", PERSON: "members", INCOME: "incomes"}
NAMED = 20  # households named in a refusal at most
UPDATE_BATCH = 1000


@dataclass
class RegistryRollbackResult:
    batch: ImportBatch
    dry_run: bool = True
    # Rows the batch inserted, deleted: households, members, incomes, status_changes.
    deleted: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("households", "members", "incomes", "status_changes"), 0))
    # Rows the batch changed, given their values before it back: households, members, incomes.
    restored: dict[str, int] = field(default_factory=lambda: dict.fromkeys(("households", "members", "incomes"), 0))
    reopened: int = 0  # members the batch closed, present again
    conflicts_closed: int = 0
    unlinked_records: int = 0  # department records tied to a member the batch inserted
    superseded_candidates: int = 0

    @property
    def deleted_total(self) -> int:
        return sum(self.deleted.values())

    @property
    def restored_total(self) -> int:
        return sum(self.restored.values())

    def as_dict(self) -> dict[str, Any]:
        return {
            "deleted": dict(self.deleted), "restored": dict(self.restored), "reopened": self.reopened,
            "conflicts_closed": self.conflicts_closed, "unlinked_records": self.unlinked_records,
            "superseded_candidates": self.superseded_candidates,
        }


@dataclass
class _Change:
    entity: str
    object_id: int
    before: dict[str, Any]
    version_after: int


def may_roll_back_registry_batch(user: Any, batch: ImportBatch) -> bool:
    """County staff whose region holds the batch's region, and administrators (as for department batches)."""
    return batch.department == REGISTRY and may_decide_batch(user, batch)


def rollback_registry_batch(
    *, batch: ImportBatch, by: Any, reason: str, dry_run: bool = False
) -> RegistryRollbackResult:
    if batch.department != REGISTRY:
        raise ValidationError(_("批次 #%(pk)s 不是户档案导入批次。") % {"pk": batch.pk}, code="department")
    if not may_roll_back_registry_batch(by, batch):
        raise PermissionDenied(_("只有本地区的县级工作人员和系统管理员可以撤销户档案导入批次。"))
    reason = (reason or "").strip()
    if not reason and not dry_run:
        raise ValidationError({"reason": _("撤销批次须填写原因。")}, code="reason")
    if dry_run:
        # Reads only, and no transaction: on SQLite a transaction takes the write lock, which a running import
        # may hold for minutes; the page's preview must not wait for it.
        return _rollback(batch=batch, by=by, reason=reason, dry_run=True)
    try:
        with transaction.atomic():
            result = _rollback(batch=batch, by=by, reason=reason, dry_run=False)
            # Members of households it moved back to their old village take that village again.
            fill_person_regions(prefix=code_prefix(batch.region_code))
            # The name search's pieces of members deleted, renamed back or reopened.
            refresh_name_grams(prefix=code_prefix(batch.region_code))
            # The county's data-quality counts are recomputed once the undo commits.
            quality.request_refresh_for(batch.region_code)
            return result
    except IntegrityError as exc:
        # Something came to refer to a row being deleted between the checks and the delete (on PostgreSQL
        # the other transaction committed first). The transaction is rolled back: nothing changed.
        raise ValidationError(
            _("撤销时有其他操作刚刚引用或修改了本批次写入的记录，未做任何修改，请稍后重试。"), code="race"
        ) from exc
    except OperationalError as exc:
        # PostgreSQL ended a deadlock with a job writing the same rows (scoring), or the database stayed
        # locked by another write (SQLite). Rolled back: nothing changed.
        raise ValidationError(
            _("撤销时其他操作正在写入相同的记录，未做任何修改，请稍后重试。"), code="busy"
        ) from exc


def _rollback(*, batch: ImportBatch, by: Any, reason: str, dry_run: bool) -> RegistryRollbackResult:
    batch = (ImportBatch.objects if dry_run else ImportBatch.objects.select_for_update()).get(pk=batch.pk)
    refuse_unless_latest_standing(
        batch, later_message=_("同一地区还有更晚导入的户档案批次（%(later)s），请先从最新的批次起依次撤销。")
    )
    running = _running_overlapping(batch)
    if running:
        raise ValidationError(
            _("同一地区的户档案批次 %(running)s 正在导入，请等它完成后再撤销。")
            % {"running": "、".join(f"#{pk}" for pk in running)},
            code="running",
        )

    changes = _changes(batch)
    inserted = {entity: _inserted(model, entity, batch) for entity, model in ENTITIES.items()}
    added_status = StatusChange.objects.filter(source_batch=batch.pk)
    current = _current_rows(changes, lock=not dry_run)
    if not dry_run:
        # Lock what will be deleted too (PostgreSQL): an official's save of one of these rows, or a new score
        # naming one, waits for the undo and then fails as stale, instead of being deleted after the checks.
        for queryset in (*inserted.values(), added_status):
            list(queryset.select_for_update().values_list("pk", flat=True))

    _refuse_if_edited(batch, by, changes, current, inserted)
    _refuse_if_referred(batch, by, inserted, added_status)

    result = RegistryRollbackResult(batch=batch, dry_run=dry_run)
    person_links = _department_links(inserted[PERSON])
    candidates = LinkCandidate.objects.filter(person__in=inserted[PERSON])
    pending = candidates.filter(status=LinkCandidate.Status.PENDING)
    open_conflicts = RegistryConflict.objects.filter(batch=batch, status=RegistryConflict.Status.OPEN)
    if dry_run:
        for entity in ENTITIES:
            result.deleted[KEYS[entity]] = inserted[entity].count()
            result.restored[KEYS[entity]] = sum(1 for c in changes if c.entity == entity)
        result.deleted["status_changes"] = added_status.count()
        result.reopened = _reopened(changes, current)
        result.conflicts_closed = open_conflicts.count()
        result.unlinked_records = sum(queryset.count() for queryset in person_links)
        result.superseded_candidates = pending.count()
        return result

    now = timezone.now()
    if not ImportBatch.objects.filter(pk=batch.pk, status=Status.SUCCEEDED).update(
        status=Status.ROLLED_BACK, rolled_back_by=by, rolled_back_at=now, rollback_reason=reason[:2000],
    ):
        raise ValidationError(_("这个批次已由他人撤销，本次操作未生效。"), code="decided")

    # Put the changed rows back first: a member it moved into a household it inserted returns to the old one
    # before that household is deleted.
    result.reopened = _reopened(changes, current)
    previous = _previous_source_batches(batch, changes)
    for entity, model in ENTITIES.items():
        result.restored[KEYS[entity]] = _restore(model, [c for c in changes if c.entity == entity], previous, now)

    result.unlinked_records = sum(queryset.update(person=None) for queryset in person_links)
    result.superseded_candidates = pending.update(status=LinkCandidate.Status.SUPERSEDED, person=None)
    candidates.update(person=None)  # superseded earlier: they would name a member who no longer exists
    result.conflicts_closed = open_conflicts.update(
        status=RegistryConflict.Status.KEPT, settled_by=by, settled_at=now
    )
    # Deleted in the order of the foreign keys; each queryset was checked above for anything else that
    # refers to its rows, so the rows go without loading them (no collector).
    result.deleted["status_changes"] = _delete(added_status)
    result.deleted["incomes"] = _delete(inserted[INCOME])
    result.deleted["members"] = _delete(inserted[PERSON])
    result.deleted["households"] = _delete(inserted[HOUSEHOLD])

    batch.refresh_from_db()
    record_event(
        actor=by,
        action="update",
        entity=ImportBatch._meta.label_lower,
        object_pk=batch.pk,
        object_repr=_("户档案 %(name)s") % {"name": batch.file_name},
        region_code=batch.region_code,
        changes={"status": {"before": Status.SUCCEEDED, "after": Status.ROLLED_BACK}, **result.as_dict()},
        note=_("撤销户档案导入批次：%(reason)s") % {"reason": reason},
    )
    return result


# --- What the batch wrote ------------------------------------------------------------------------------


def _running_overlapping(batch: ImportBatch) -> list[int]:
    mine = code_prefix(batch.region_code)
    running = ImportBatch.objects.filter(department=REGISTRY, status=Status.RUNNING).exclude(pk=batch.pk)
    return [
        other.pk for other in running.only("pk", "region_code")
        if other.region_code.startswith(mine) or batch.region_code.startswith(code_prefix(other.region_code))
    ]


def _changes(batch: ImportBatch) -> list[_Change]:
    rows = RegistryRowChange.objects.filter(batch=batch, entity__in=ENTITIES).order_by("id")
    return [
        _Change(entity, int(object_id), dict(before or {}), int(version_after))
        for entity, object_id, before, version_after in rows.values_list(
            "entity", "object_id", "before", "version_after"
        ).iterator(chunk_size=5000)
    ]


def _inserted(model: type[models.Model], entity: str, batch: ImportBatch) -> models.QuerySet:
    """The rows the batch inserted: its id in source_batch and nothing it changed."""
    changed = RegistryRowChange.objects.filter(batch=batch, entity=entity).values("object_id")
    return model._base_manager.filter(source_batch=batch.pk).exclude(pk__in=changed)


def _current_rows(changes: list[_Change], *, lock: bool) -> dict[tuple[str, int], dict[str, Any]]:
    """(entity, id) → the row's version, household and left_on now, for the rows the batch changed. Locked
    (PostgreSQL) when undoing, so that an official's save waits and is then refused as stale."""
    found: dict[tuple[str, int], dict[str, Any]] = {}
    for entity, model in ENTITIES.items():
        ids = [c.object_id for c in changes if c.entity == entity]
        household = "pk" if model is Household else "household_id"
        names = ["pk", "version", household, *(["left_on"] if model is Person else [])]
        for start in range(0, len(ids), UPDATE_BATCH):
            queryset = model._base_manager.filter(pk__in=ids[start : start + UPDATE_BATCH])
            if lock:
                queryset = queryset.select_for_update()
            for row in queryset.values(*names):
                found[(entity, row["pk"])] = {
                    "version": row["version"], "household": row[household], "left_on": row.get("left_on"),
                }
    return found


def _reopened(changes: list[_Change], current: dict[tuple[str, int], dict[str, Any]]) -> int:
    return sum(
        1 for c in changes
        if c.entity == PERSON and "left_on" in c.before and c.before["left_on"] in (None, "")
        and current.get((PERSON, c.object_id), {}).get("left_on") is not None
    )


# --- Refusals ------------------------------------------------------------------------------------------


def _undone_later(batch: ImportBatch, entity: str, ids) -> dict[int, int]:
    """Row id → how many later registry batches, since undone, changed it. Each raised its version once and
    its undo once more, so that an untouched row's version is the one this batch left plus twice that."""
    later = RegistryRowChange.objects.filter(
        entity=entity, object_id__in=ids, batch__department=REGISTRY, batch__status=Status.ROLLED_BACK
    ).exclude(batch=batch)
    if batch.finished_at is not None:
        later = later.filter(batch__finished_at__gt=batch.finished_at)
    return dict(later.values("object_id").annotate(n=Count("id")).order_by().values_list("object_id", "n"))


def _refuse_if_edited(batch, by, changes, current, inserted) -> None:
    """A row the batch wrote that someone changed after it: undoing would lose that change. Every change to a
    household file row raises its version (officials' forms and services, registry imports and their undo), so
    a row is untouched when its version is the one this batch left (version_after; 1 for a row it inserted),
    plus two for each later registry batch that changed it and was undone."""
    households: set[int] = set()
    missing = 0
    for entity in ENTITIES:
        ids = [c.object_id for c in changes if c.entity == entity]
        undone: dict[int, int] = {}
        for start in range(0, len(ids), UPDATE_BATCH):
            undone.update(_undone_later(batch, entity, ids[start : start + UPDATE_BATCH]))
        for change in (c for c in changes if c.entity == entity):
            row = current.get((entity, change.object_id))
            if row is None:
                missing += 1
            elif row["version"] != change.version_after + 2 * undone.get(change.object_id, 0):
                households.add(row["household"])
    for entity, queryset in inserted.items():
        column = "pk" if entity == HOUSEHOLD else "household_id"
        raised = list(queryset.filter(version__gt=1).values_list("pk", "version", column))
        undone = _undone_later(batch, entity, queryset.filter(version__gt=1).values("pk")) if raised else {}
        households.update(
            household for pk, version, household in raised if version != 1 + 2 * undone.get(pk, 0)
        )
    # Members, incomes or status changes that someone else added to a household the batch inserted.
    for model in (Person, IncomeRecord, StatusChange):
        foreign = model._base_manager.filter(household__in=inserted[HOUSEHOLD]).exclude(source_batch=batch.pk)
        households.update(foreign.values_list("household_id", flat=True).distinct())
    households.update(
        RegistryConflict.objects.filter(batch=batch, status=RegistryConflict.Status.TAKEN)
        .values_list("household_id", flat=True)
        .distinct()
    )
    if not households and not missing:
        return
    message = ""
    if households:
        message = _("本批次写入的 %(n)s 户档案在导入后已被修改，撤销会丢失这些修改，不能撤销。") % {
            "n": len(households)
        } + _named(by, households)
    if missing:
        message += _("本批次修改过的 %(n)s 条记录已不存在，不能撤销。") % {"n": missing}
    raise ValidationError(message, code="edited")


def _referrers(model: type[models.Model]) -> list[models.ForeignObjectRel]:
    """Every relation that points at the model, including those declared with related_name="+"."""
    return [
        f for f in model._meta.get_fields(include_hidden=True)
        if f.auto_created and not f.concrete and (f.one_to_many or f.one_to_one)
    ]


def _department_links(persons: models.QuerySet) -> list[models.QuerySet]:
    """Department records (all versions) tied by the linkage to the given members."""
    return [
        relation.related_model._base_manager.filter(**{f"{relation.field.name}__in": persons})
        for relation in _referrers(Person)
        if issubclass(relation.related_model, SourceRecord)
    ]


def _refuse_if_referred(batch, by, inserted, added_status) -> None:
    """Anything but the batch's own rows that refers to a household, member or status change it inserted."""
    what: dict[str, set[int]] = defaultdict(set)
    own = {Person, IncomeRecord, StatusChange}

    def collect(relation, targets, household_of):
        related = relation.related_model
        queryset = related._base_manager.filter(**{f"{relation.field.name}__in": targets})
        if related is RegistryConflict:
            queryset = queryset.exclude(batch=batch)
        if related is LinkCandidate:
            queryset = queryset.exclude(status__in=[LinkCandidate.Status.PENDING, LinkCandidate.Status.SUPERSEDED])
        ids = set(queryset.values_list(relation.field.attname, flat=True).distinct()[:10_000])
        if ids:
            what[str(related._meta.verbose_name)].update(household_of(ids))

    for relation in _referrers(Household):
        if relation.related_model not in own:
            collect(relation, inserted[HOUSEHOLD], lambda ids: ids)
    for relation in _referrers(Person):
        if not issubclass(relation.related_model, SourceRecord):  # untied instead: see the module docstring
            collect(relation, inserted[PERSON], lambda ids: _households_of(Person, ids))
    for relation in _referrers(StatusChange):
        collect(relation, added_status, lambda ids: _households_of(StatusChange, ids))
    for relation in _referrers(IncomeRecord):
        collect(relation, inserted[INCOME], lambda ids: _households_of(IncomeRecord, ids))
    if not what:
        return
    households = set().union(*what.values())
    raise ValidationError(
        _("已有 %(n)s 户被%(what)s引用，不能撤销。") % {"n": len(households), "what": "、".join(sorted(what))}
        + _named(by, households),
        code="referred",
    )


def _households_of(model: type[models.Model], ids: set[int]) -> set[int]:
    return set(model._base_manager.filter(pk__in=list(ids)).values_list("household_id", flat=True))


def _named(by: Any, households: set[int]) -> str:
    """The households' numbers that the user may see (a few), for the message."""
    ids = sorted(households)[:2000]
    numbers = list(
        scope_for_user(Household.objects.filter(pk__in=ids), by).order_by("number").values_list("number", flat=True)
    )
    if not numbers:
        return ""
    shown = "、".join(numbers[:NAMED]) + (_("等") if len(numbers) > NAMED or len(households) > len(ids) else "")
    return _("（户编号：%(numbers)s）") % {"numbers": shown}


# --- Writing -------------------------------------------------------------------------------------------


def _previous_source_batches(batch: ImportBatch, changes: list[_Change]) -> dict[tuple[str, int], int | None]:
    """(entity, id) → the source_batch a changed row had before the batch, where it can be known: kept in
    ``before``; else the latest earlier standing registry batch that changed the row; else the earlier standing
    registry batch of an overlapping region that inserted it, known by the row's creation time falling inside
    that batch's run (started_at … finished_at, the time its writer gives every row) and no official having
    typed the row in (an audited 'create'). Otherwise unknown (None)."""
    previous: dict[tuple[str, int], int | None] = {}
    unknown = defaultdict(list)
    for change in changes:
        if "source_batch" in change.before:
            previous[(change.entity, change.object_id)] = change.before["source_batch"]
        else:
            unknown[change.entity].append(change.object_id)
    if not unknown:
        return previous
    earlier = ImportBatch.objects.filter(department=REGISTRY, status=Status.SUCCEEDED).exclude(pk=batch.pk)
    if batch.finished_at is not None:
        earlier = earlier.filter(finished_at__lt=batch.finished_at)
    mine = code_prefix(batch.region_code)
    windows = [
        (other.pk, other.started_at, other.finished_at)
        for other in earlier.filter(started_at__isnull=False, finished_at__isnull=False).only(
            "pk", "region_code", "started_at", "finished_at"
        )
        if other.region_code.startswith(mine) or batch.region_code.startswith(code_prefix(other.region_code))
    ]
    for entity, ids in unknown.items():
        for start in range(0, len(ids), UPDATE_BATCH):
            chunk = ids[start : start + UPDATE_BATCH]
            rows = (
                RegistryRowChange.objects.filter(entity=entity, object_id__in=chunk, batch__in=earlier)
                .order_by("object_id", "batch__finished_at", "batch_id")
                .values_list("object_id", "batch_id")
            )
            for object_id, batch_id in rows:  # the latest earlier one wins
                previous[(entity, object_id)] = batch_id
            rest = [pk for pk in chunk if (entity, pk) not in previous]
            if not rest or not windows:
                continue
            typed = {
                int(pk) for pk in AuditEvent.objects.filter(
                    action="create", entity=entity, object_pk__in=[str(pk) for pk in rest], actor__isnull=False
                ).values_list("object_pk", flat=True)
                if pk.isdigit()
            }
            created = ENTITIES[entity]._base_manager.filter(pk__in=rest).values_list("pk", "created_at")
            for pk, at in created:
                inserted_by = [b for b, started, finished in windows if started <= at <= finished]
                if pk not in typed and len(inserted_by) == 1:
                    previous[(entity, pk)] = inserted_by[0]
    return previous


def _restore(model: type[models.Model], changes: list[_Change], previous: dict, now) -> int:
    """Give the rows their values before the batch, through the model's fields, and raise their version once.

    One UPDATE per field and value (… SET health = ',1,' WHERE id IN …), not one per row: the rows an import
    changed mostly share their previous values (a code, an empty date). The versions were checked, under lock,
    to be those the undo expects, so version + 1 is the next one."""
    if not changes:
        return 0
    entity = model._meta.label_lower
    manager = model._base_manager
    by_value: dict[tuple[str, Any], list[int]] = defaultdict(list)
    by_source: dict[int | None, list[int]] = defaultdict(list)
    for change in changes:
        for key, value in change.before.items():
            model_field = model._meta.get_field(key)
            by_value[(model_field.attname, _value(model_field, value))].append(change.object_id)
        source = change.before.get("source_batch", previous.get((entity, change.object_id)))
        by_source[source].append(change.object_id)
    for (attname, value), ids in by_value.items():
        for start in range(0, len(ids), UPDATE_BATCH):
            manager.filter(pk__in=ids[start : start + UPDATE_BATCH]).update(**{attname: value})
    for source, ids in by_source.items():
        for start in range(0, len(ids), UPDATE_BATCH):
            manager.filter(pk__in=ids[start : start + UPDATE_BATCH]).update(
                version=F("version") + 1, updated_at=now, source_batch=source
            )
    return len(changes)


def _value(model_field: models.Field, value: Any) -> Any:
    """A value kept as JSON (ISO dates, decimals as text or number, bools) as the field holds it."""
    if value is None or (value == "" and model_field.null):
        return None
    return model_field.to_python(value)


def _delete(queryset: models.QuerySet) -> int:
    """Delete the rows in one statement: nothing else refers to them (checked), so no collector is needed."""
    return queryset._raw_delete(queryset.db)
