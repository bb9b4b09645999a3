"""Writing the checked registry tables into the household file, in the caller's transaction.

Households are keyed by 户编号, members by ID number, incomes by (household, year). A row that is new is
inserted in bulk (COPY on PostgreSQL); a row whose values differ from the household file's is updated and
its version raised, so that an official's form opened before the import is refused as stale, not saved over
it; a row whose values are the same is left alone, so the same export twice changes nothing.

Status history: the export's status table (状态变更) is added where the household file does not hold the
same (date, event) yet. A household whose type, monitoring type or risk types differ from the file's, with no
dated change in the export to say when, gets one change dated the export's date (数据截至日期), naming the
batch. A new household without any status row gets 建档 at that date.

Every row the import inserts or changes names its batch (source_batch); a row it changes keeps the values it
had before (RegistryRowChange, with the version after), so that the import can be undone. Members are
matched by ID number among everyone, members who left included: one who is in the export again is reopened
(and moved to the export's household). A member present in the file, in a household of the export, whose ID
number is nowhere in the export's member table (accepted or rejected) has left: closed (left_on the export's
date), never deleted; unless an official added or edited them since the previous import, which makes a
conflict on left_on instead.

Memory: the household file is read a slice at a time and held compactly (floats, datetime64, each text once
per slice); new rows are written a slice at a time.
"""

import datetime as dt
import json
import time
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from typing import Any

import numpy as np
import pandas as pd
from django.db import models
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange.registry.checks import TableRows
from exchange.registry.models import RegistryRowChange
from exchange.registry.tables import HOUSEHOLDS, INCOMES, MEMBERS, STATUS
from exchange.registry.writers import TableWriter
from households.models import Household, IncomeRecord, Person, StatusChange
from households.services import fill_person_regions, refresh_name_grams

EVENT_CREATED, EVENT_MONITORED, EVENT_CHANGED, EVENT_ELIMINATED = "01", "03", "04", "05"
UPDATE_BATCH = 2000
WRITE_SLICE = 100_000
FRAME_SLICE = 50_000

HOUSEHOLD_VALUES = [
    "village_id",
    "group_name",
    "phone",
    "bank_account",
    "household_type",
    "poverty_attribute",
    "lifted_year",
    "monitoring_type",
    "whole_household_unable_to_work",
    "risk_types",
    "disaster_subtype",
    "main_poverty_cause",
    "other_poverty_causes",
    "housing_grade",
    "safe_drinking_water",
    "sanitary_toilet",
    "road_to_door",
    "fuel",
    "cultivated_land_mu",
    "forest_land_mu",
]
PERSON_VALUES = [
    "household_id",
    "name",
    "sex",
    "birth_date",
    "ethnicity",
    "relation",
    "health",
    "disability_category",
    "disability_grade",
    "disability_certificate",
    "labour_skill",
    "education",
    "school_status",
    "months_worked_away",
    "work_place",
    "employer",
    "public_welfare_job",
    "public_welfare_months",
    "resident_medical_insurance",
    "employee_medical_insurance",
    "critical_illness_insurance",
    "pension_insurance",
    "dibao",
    "tekun",
]
INCOME_VALUES = [
    "household_size",
    *IncomeRecord.INCOME_FIELDS,
    "production_cost",
    *IncomeRecord.NON_INCOME_FIELDS,
    "compliant_medical_spending",
    "compliant_education_spending",
    "survey_date",
]
STATUS_KEYS = ("household_type", "monitoring_type", "risk_types")
# Compared on members already in the file, besides PERSON_VALUES: a member who left and is in the export
# again is reopened.
PERSON_PRESENCE = ["left_on", "left_reason"]
# A column held with another: where an official's value of the leader stands, so does this one's, silently.
FOLLOWS = {"left_reason": "left_on"}


@dataclass
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0
    closed: int = 0  # members: present in the file, in a household of the export, but not in its member table

    def as_dict(self) -> dict[str, int]:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged, "closed": self.closed}


@dataclass
class Conflict:
    """A value the export would change that an official edited in the system after the previous import."""

    entity: str  # households.household, households.person or households.incomerecord
    object_id: int
    household_id: int
    field: str
    system_value: str
    export_value: str


@dataclass
class LoadCounts:
    tables: dict[str, Counts] = field(default_factory=dict)
    status_added: int = 0
    conflicts: list[Conflict] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)  # seconds per table, for the benchmark


# (entity, object id) → the field names an official changed since the previous registry import.
Edited = dict[tuple[str, int], set[str]]


def _hold_edited(
    incoming: pd.DataFrame,
    current: pd.DataFrame,
    names: list[str],
    *,
    entity: str,
    edited: Edited,
    household_of: str,
    conflicts: list[Conflict],
) -> pd.DataFrame:
    """Where the export contradicts a field an official edited after the previous import, keep the system's
    value (neither side is overwritten silently) and list the conflict for the township to settle."""
    if incoming.empty or not edited:
        return incoming
    ids = incoming["id"].to_numpy()
    touched = [i for i, pk in enumerate(ids.tolist()) if (entity, pk) in edited]
    if not touched:
        return incoming
    incoming = incoming.copy()
    a = _comparable(incoming.iloc[touched].reset_index(drop=True), names)
    b = _comparable(current.iloc[touched].reset_index(drop=True), names)
    for row, position in enumerate(touched):
        pk = int(ids[position])
        fields = edited[(entity, pk)]
        for name in names:
            leader = FOLLOWS.get(name, name)
            if leader.removesuffix("_id") not in fields and leader not in fields:
                continue
            if a.at[row, name] == b.at[row, name]:
                continue
            if name == leader:
                conflicts.append(
                    Conflict(
                        entity=entity,
                        object_id=pk,
                        household_id=int(incoming.iloc[position][household_of]),
                        field=name,
                        system_value=b.at[row, name],
                        export_value=a.at[row, name],
                    )
                )
            incoming.iat[position, incoming.columns.get_loc(name)] = current.iloc[position][name]
    return incoming


def _comparable(frame: pd.DataFrame, names: list[str]) -> pd.DataFrame:
    """Values as text, so that 1200.0 and Decimal('1200.00'), a date and its ISO form compare equal."""
    out = pd.DataFrame(index=frame.index)
    for name in names:
        column = frame[name]
        if pd.api.types.is_bool_dtype(column) or column.map(type).isin([bool, np.bool_]).all():
            out[name] = column.astype(bool).astype(str)
        elif pd.api.types.is_datetime64_any_dtype(column) or column.map(lambda v: isinstance(v, dt.date)).any():
            out[name] = pd.to_datetime(column).dt.strftime("%Y-%m-%d").fillna("")
        elif pd.api.types.is_numeric_dtype(column) or column.map(lambda v: hasattr(v, "as_integer_ratio")).all():
            numbers = pd.to_numeric(column, errors="coerce")
            out[name] = numbers.round(2).map(lambda v: "" if pd.isna(v) else f"{v:.2f}")
        else:
            out[name] = column.fillna("").astype(str)
    return out


def _kind(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name.removesuffix("_id") if name.endswith("_id") else name)
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.ForeignKey | models.IntegerField | models.DecimalField | models.FloatField):
        return "number"
    if isinstance(field, models.DateField):
        return "date"
    return "text"


def _typed(column: pd.Series, kind: str) -> np.ndarray:
    if kind == "bool":
        return column.fillna(False).astype(bool).to_numpy()
    if kind == "number":
        return np.round(pd.to_numeric(column, errors="coerce").to_numpy(dtype=float), 2)
    if kind == "date":
        return pd.to_datetime(column, errors="coerce").to_numpy(dtype="datetime64[D]")
    return column.fillna("").astype(str).to_numpy(dtype=object)


def _differences(incoming: pd.DataFrame, current: pd.DataFrame, names: list[str], model: type) -> np.ndarray:
    """Per incoming row (aligned with current by position) and column: whether the value differs, compared in
    the field's own type (1200.0 and Decimal('1200.00'), a date and its timestamp are equal)."""
    differ = np.zeros((len(incoming), len(names)), dtype=bool)
    if incoming.empty:
        return differ
    for j, name in enumerate(names):
        kind = _kind(model, name)
        a, b = _typed(incoming[name].reset_index(drop=True), kind), _typed(current[name].reset_index(drop=True), kind)
        if kind == "number":
            differ[:, j] = ~((a == b) | (np.isnan(a) & np.isnan(b)))
        elif kind == "date":
            differ[:, j] = ~((a == b) | (np.isnat(a) & np.isnat(b)))
        else:
            differ[:, j] = a != b
    return differ


def _json(value: Any, places: int | None = None) -> Any:
    """A household file value as JSON: dates as ISO text, decimals as text (to the field's places), NaN and NaT
    as null."""
    value = _plain(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    if places is not None and isinstance(value, float):
        return f"{value:.{places}f}"
    return value


@dataclass
class RowChanges:
    """RegistryRowChange rows to write: the values a registry import replaced, per row, and its version after."""

    batch_id: int
    entity: list[str] = field(default_factory=list)
    object_id: list[int] = field(default_factory=list)
    before: list[str] = field(default_factory=list)
    version_after: list[int] = field(default_factory=list)

    def add(self, entity: str, object_id: int, before: dict[str, Any], version_after: int) -> None:
        self.entity.append(entity)
        self.object_id.append(int(object_id))
        self.before.append(json.dumps(before, ensure_ascii=False))
        self.version_after.append(int(version_after))

    def write(self, writer: TableWriter) -> None:
        if self.object_id:
            columns = {
                "batch_id": [self.batch_id] * len(self.object_id),
                "entity": self.entity,
                "object_id": self.object_id,
                "before": self.before,
                "version_after": self.version_after,
            }
            writer.write(RegistryRowChange, columns, len(self.object_id))


def _apply_changes(
    model: type,
    entity: str,
    old: pd.DataFrame,
    current_old: pd.DataFrame,
    names: list[str],
    batch_id: int,
    row_changes: RowChanges,
) -> np.ndarray:
    """Compare the export's rows with the file's (aligned by position); update the rows that differ and keep
    what they held before. Returns which rows changed."""
    differ = _differences(old[names], current_old, names, model)
    changed = differ.any(axis=1)
    if not changed.any():
        return changed
    rows = np.flatnonzero(changed)
    versions = old["version"].to_numpy()[rows].astype(np.int64) + 1
    ids = old["id"].to_numpy()[rows]
    before_columns = {name: current_old[name].to_numpy()[rows] for name in names}
    places = {
        name: field.decimal_places
        for name in names
        if isinstance(field := model._meta.get_field(name.removesuffix("_id")), models.DecimalField)
    }
    for k, position in enumerate(rows.tolist()):
        before = {
            name: _json(before_columns[name][k], places.get(name))
            for j, name in enumerate(names)
            if differ[position, j]
        }
        row_changes.add(entity, ids[k], before, versions[k])
    _update(model, old.iloc[rows], names, batch_id)
    return changed


def _update(model: type, frame: pd.DataFrame, names: list[str], batch_id: int) -> None:
    """Write the given columns of the rows (by id), raise their version, name the batch, mark them updated now.
    Through the base manager: members who left are updated (reopened) too."""
    if frame.empty:
        return
    manager = model._base_manager
    objects = []
    for record in frame.to_dict("records"):
        obj = model(pk=int(record["id"]))
        for name in names:
            value = _plain(record[name])
            if value is None and name == "left_reason":
                value = ""
            setattr(obj, name, value)
        obj.version = int(record["version"]) + 1
        obj.source_batch = batch_id
        objects.append(obj)
    manager.bulk_update(objects, [*names, "version", "source_batch"], batch_size=UPDATE_BATCH)
    ids = frame["id"].astype(int).tolist()
    now = timezone.now()
    for start in range(0, len(ids), UPDATE_BATCH):
        manager.filter(pk__in=ids[start : start + UPDATE_BATCH]).update(updated_at=now)


def _frame(queryset, names: list[str]) -> pd.DataFrame:
    """The rows' values, read a slice at a time and held compactly: decimals as floats, dates as datetime64,
    each distinct text once per slice (a county's file is read whole to be compared with its export)."""
    model = queryset.model
    kinds = {name: _stored_kind(model, name) for name in names}
    parts: list[dict[str, np.ndarray]] = []
    rows = queryset.values_list(*names).iterator(chunk_size=FRAME_SLICE)
    while block := list(islice(rows, FRAME_SLICE)):
        parts.append(
            {name: _compact(values, kinds[name]) for name, values in zip(names, zip(*block, strict=True), strict=True)}
        )
        del block
    if not parts:
        return pd.DataFrame(columns=names)
    return pd.DataFrame(
        {name: np.concatenate([part.pop(name) for part in parts]) for name in names}, columns=names, copy=False
    )


def _stored_kind(model: type[models.Model], name: str) -> str:
    field = model._meta.get_field(name.removesuffix("_id") if name.endswith("_id") else name)
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, models.DateField) and not isinstance(field, models.DateTimeField):
        return "date"
    if isinstance(field, models.CharField | models.TextField):
        return "text"
    return "other"


def _compact(values: tuple, kind: str) -> np.ndarray:
    if kind == "decimal":
        return np.array([np.nan if v is None else float(v) for v in values], dtype=float)
    if kind == "date":
        return np.array(values, dtype="datetime64[D]")
    if kind == "text":
        codes, uniques = pd.factorize(np.array(values, dtype=object), use_na_sentinel=False)
        return np.asarray(uniques, dtype=object)[codes]
    return np.array(values)


def _columns(frame: pd.DataFrame, names: list[str]) -> dict[str, list[Any]]:
    """Columns as lists of plain Python values for the table writers: NaN and NaT become None, dates ISO
    text (what COPY reads; the SQLite writer stores the same)."""
    columns = {}
    for name in names:
        values = frame[name]
        missing = values.isna().to_numpy()
        if pd.api.types.is_datetime64_any_dtype(values):
            text = np.datetime_as_string(values.to_numpy(dtype="datetime64[D]"), unit="D").astype(object)
            text[missing] = None
            columns[name] = text.tolist()
        elif pd.api.types.is_float_dtype(values):
            if name == "lifted_year":
                plain = values.astype("Int64").to_numpy(dtype=object, copy=True)
                plain[missing] = None
                columns[name] = plain.tolist()
                continue
            plain = values.tolist()
            if missing.any():
                plain = [None if v != v else v for v in plain]  # NaN is the only value not equal to itself
            columns[name] = plain
        elif values.dtype == object and pd.api.types.infer_dtype(values, skipna=False) != "string":
            columns[name] = [_plain(v) for v in values]
        elif missing.any():
            plain = values.to_numpy(dtype=object, copy=True)
            plain[missing] = None
            columns[name] = plain.tolist()
        else:
            columns[name] = values.tolist()
    return columns


def _write(
    writer: TableWriter,
    model: type,
    frame: pd.DataFrame,
    names: list[str],
    extra: dict[str, Any],
    *,
    with_id: bool = False,
) -> None:
    """Write a frame's rows in slices, so that only one slice at a time is held as Python values."""
    for start in range(0, len(frame), WRITE_SLICE):
        part = frame.iloc[start : start + WRITE_SLICE]
        columns = _columns(part, names)
        for name, value in extra.items():
            columns[name] = value[start : start + WRITE_SLICE] if isinstance(value, list) else [value] * len(part)
        writer.write(model, columns, len(part), with_id=with_id)
        del columns


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.datetime64):
        return None if np.isnat(value) else pd.Timestamp(value).date()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def load(
    *,
    tables: dict[str, TableRows],
    prefix: str,
    as_of: dt.date,
    writer: TableWriter,
    batch_id: int,
    edited: Edited | None = None,
) -> LoadCounts:
    counts = LoadCounts()
    edited = edited or {}
    row_changes = RowChanges(batch_id)
    clock = time.perf_counter()

    def lap(name: str) -> None:
        nonlocal clock
        now = time.perf_counter()
        counts.timings[name] = now - clock
        clock = now

    household_ids, status_before = _households(
        tables[HOUSEHOLDS], prefix, writer, counts, edited, batch_id, row_changes
    )
    lap(HOUSEHOLDS)
    in_export = [household_ids[n] for n in tables[HOUSEHOLDS].accepted["number"]]
    _members(
        tables[MEMBERS],
        prefix,
        household_ids,
        writer,
        counts,
        edited,
        batch_id,
        row_changes,
        in_export=in_export,
        as_of=as_of,
        villages=tables[HOUSEHOLDS].accepted.set_index("number")["village_code"],
    )
    lap(MEMBERS)
    if INCOMES in tables:
        _incomes(tables[INCOMES], tables[MEMBERS], prefix, household_ids, writer, counts, edited, batch_id, row_changes)
        lap(INCOMES)
    _status(tables, prefix, household_ids, status_before, as_of, writer, counts, batch_id)
    row_changes.write(writer)
    lap(STATUS)
    # Members whose household the export does not list, or whose household it moved to another village, take
    # the household's village now (before the statistics are refreshed).
    fill_person_regions(prefix=prefix)
    lap("regions")
    refresh_name_grams(prefix=prefix)  # the name search's pieces of the members written, renamed or closed
    lap("name pieces")
    writer.finish()
    lap("analyze")
    return counts


def _known(incoming: pd.DataFrame, current: pd.DataFrame, key: pd.Series, current_key: pd.Series):
    """The incoming rows already in the file: (positions of the new rows, the old rows with the file's id and
    version, the file's rows aligned with them)."""
    if current.empty:
        return np.arange(len(incoming)), None, None
    position = pd.Series(np.arange(len(current)), index=current_key.to_numpy())
    found = key.map(position).to_numpy()
    known = ~np.isnan(found)
    new = np.flatnonzero(~known)
    where = found[known].astype(np.int64)
    old = incoming if known.all() else incoming.iloc[np.flatnonzero(known)].reset_index(drop=True)
    matched = current.iloc[where].reset_index(drop=True)
    old["id"] = matched["id"].to_numpy(dtype=np.int64)
    old["version"] = matched["version"].to_numpy(dtype=np.int64)
    return new, old, matched


def _rows_of(frame: pd.DataFrame, positions: np.ndarray) -> pd.DataFrame:
    return frame if len(positions) == len(frame) else frame.iloc[positions]


def _households(
    rows: TableRows,
    prefix: str,
    writer: TableWriter,
    counts: LoadCounts,
    edited: Edited,
    batch_id: int,
    row_changes: RowChanges,
):
    incoming = rows.accepted.rename(columns={"village_code": "village_id"})
    incoming["lifted_year"] = incoming["lifted_year"].astype(float)
    current = _frame(
        Household.objects.filter(village__code__startswith=prefix), ["id", "number", "version", *HOUSEHOLD_VALUES]
    )
    status_before = current.set_index("number")[list(STATUS_KEYS)] if len(current) else pd.DataFrame()
    new_at, old, current_old = _known(
        incoming, current, incoming["number"], current["number"] if len(current) else None
    )
    changed = np.zeros(0, dtype=bool)
    if old is not None and len(old):
        old["household_id"] = old["id"]
        current_old = current_old[HOUSEHOLD_VALUES]
        old = _hold_edited(
            old,
            current_old,
            HOUSEHOLD_VALUES,
            entity="households.household",
            edited=edited,
            household_of="household_id",
            conflicts=counts.conflicts,
        )
        changed = _apply_changes(
            Household, "households.household", old, current_old, HOUSEHOLD_VALUES, batch_id, row_changes
        )
    new = _rows_of(incoming, new_at)
    ids = np.asarray(writer.household_ids(len(new)), dtype=np.int64) if len(new) else np.zeros(0, np.int64)
    if len(new):
        new = new[["number", *HOUSEHOLD_VALUES]].copy()
        for name in ("cultivated_land_mu", "forest_land_mu"):
            new[name] = new[name].astype(float).round(2)
        _write(
            writer,
            Household,
            new,
            ["number", *HOUSEHOLD_VALUES],
            {"id": ids.tolist(), "source_batch": batch_id},
            with_id=True,
        )
    counts.tables[HOUSEHOLDS] = Counts(new=len(new), changed=int(changed.sum()), unchanged=int((~changed).sum()))
    household_ids = dict(zip(current["number"], current["id"].astype(np.int64), strict=True))
    household_ids.update(zip(new["number"], ids.tolist(), strict=True))
    return household_ids, status_before


def _members(
    rows: TableRows,
    prefix: str,
    household_ids: dict[str, int],
    writer: TableWriter,
    counts,
    edited,
    batch_id: int,
    row_changes: RowChanges,
    *,
    in_export: list[int],
    as_of: dt.date,
    villages: pd.Series,
):
    incoming = rows.accepted
    incoming["household_id"] = incoming["household_number"].map(household_ids).astype(np.int64)
    # Everyone, members who left included: one who is in the export again is found by ID number and reopened.
    current = _frame(
        Person.everyone.filter(household__village__code__startswith=prefix),
        ["id", "id_number", "version", *PERSON_VALUES, *PERSON_PRESENCE],
    )
    new_at, old, current_old = _known(
        incoming, current, incoming["id_number"], current["id_number"] if len(current) else None
    )
    current = current[["id", "id_number", "household_id", "version", "left_on"]]  # what closing reads
    changed = np.zeros(0, dtype=bool)
    if old is not None and len(old):
        old["left_on"] = None
        old["left_reason"] = ""
        names = [*PERSON_VALUES, *PERSON_PRESENCE]
        current_old = current_old[names]
        old = _hold_edited(
            old,
            current_old,
            names,
            entity="households.person",
            edited=edited,
            household_of="household_id",
            conflicts=counts.conflicts,
        )
        changed = _apply_changes(Person, "households.person", old, current_old, names, batch_id, row_changes)
        del old, current_old
    new = _rows_of(incoming, new_at)
    if len(new):
        # Each new member carries their household's village (Person.region_code, which the list's name search
        # reads by region); members of households the export does not list are filled after the load.
        regions = new["household_number"].map(villages).fillna("").tolist()
        _write(writer, Person, new, ["id_number", *PERSON_VALUES], {"source_batch": batch_id, "region_code": regions})
    closed = _close_absent(
        rows,
        current,
        in_export,
        edited=edited,
        as_of=as_of,
        batch_id=batch_id,
        counts=counts,
        row_changes=row_changes,
    )
    counts.tables[MEMBERS] = Counts(
        new=len(new), changed=int(changed.sum()), unchanged=int((~changed).sum()), closed=closed
    )


def _close_absent(
    rows: TableRows,
    current: pd.DataFrame,
    in_export: list[int],
    *,
    edited: Edited,
    as_of: dt.date,
    batch_id: int,
    counts: LoadCounts,
    row_changes: RowChanges,
) -> int:
    """Members present in the file, in a household of the export, whose ID number is nowhere in the export's
    member table (accepted or rejected) have left: closed (left_on the export's date), not deleted. One an
    official created or edited since the previous import is left open and listed as a conflict instead."""
    if current.empty:
        return 0
    listed = set(rows.accepted["id_number"].astype(str).tolist())
    listed.update(str(r.values.get("证件号码", "")).strip().upper() for r in rows.rejected)
    absent = current[
        current["left_on"].isna().to_numpy()
        & current["household_id"].isin(in_export).to_numpy()
        & ~current["id_number"].isin(listed).to_numpy()
    ]
    if absent.empty:
        return 0
    held = np.array([("households.person", int(pk)) in edited for pk in absent["id"].tolist()], dtype=bool)
    for pk, household_id in zip(absent["id"][held].tolist(), absent["household_id"][held].tolist(), strict=True):
        counts.conflicts.append(
            Conflict(
                entity="households.person",
                object_id=int(pk),
                household_id=int(household_id),
                field="left_on",
                system_value="",
                export_value=as_of.isoformat(),
            )
        )
    closing = absent[~held]
    ids = closing["id"].astype(int).tolist()
    for pk, version in zip(ids, closing["version"].astype(int).tolist(), strict=True):
        row_changes.add("households.person", pk, {"left_on": None, "left_reason": ""}, version + 1)
    now = timezone.now()
    reason = _("户档案导入（批次 #%(pk)s）：导出数据中已无此成员") % {"pk": batch_id}
    for start in range(0, len(ids), UPDATE_BATCH):
        Person.everyone.filter(pk__in=ids[start : start + UPDATE_BATCH]).update(
            left_on=as_of, left_reason=reason, version=F("version") + 1, source_batch=batch_id, updated_at=now
        )
    return len(ids)


def _incomes(
    rows: TableRows,
    members: TableRows,
    prefix: str,
    household_ids: dict[str, int],
    writer,
    counts,
    edited,
    batch_id: int,
    row_changes: RowChanges,
):
    incoming = rows.accepted
    incoming["household_id"] = incoming["household_number"].map(household_ids).astype(np.int64)
    incoming["year"] = incoming["year"].astype(np.int64)
    missing = incoming["household_size"].isna()
    if missing.any():
        sizes = members.accepted.groupby("household_number").size()
        counted = incoming.loc[missing, "household_number"].map(sizes).fillna(1).astype(float)
        incoming.loc[missing, "household_size"] = counted
    incoming["household_size"] = incoming["household_size"].astype(np.int64)
    for name in INCOME_VALUES:
        if name not in {"household_size", "survey_date"}:
            incoming[name] = incoming[name].astype(float).fillna(0.0).round(2)
    current = _frame(
        IncomeRecord.objects.filter(household__village__code__startswith=prefix),
        ["id", "household_id", "year", "version", *INCOME_VALUES],
    )

    def key(frame: pd.DataFrame) -> pd.Series:
        return frame["household_id"].astype(np.int64) * 10_000 + frame["year"].astype(np.int64)

    new_at, old, current_old = _known(incoming, current, key(incoming), key(current) if len(current) else None)
    del current  # matched rows are in current_old: the whole file's incomes need not be held twice
    changed = np.zeros(0, dtype=bool)
    if old is not None and len(old):
        current_old = current_old[INCOME_VALUES]
        old = _hold_edited(
            old,
            current_old,
            INCOME_VALUES,
            entity="households.incomerecord",
            edited=edited,
            household_of="household_id",
            conflicts=counts.conflicts,
        )
        changed = _apply_changes(
            IncomeRecord, "households.incomerecord", old, current_old, INCOME_VALUES, batch_id, row_changes
        )
        del old, current_old
    new = _rows_of(incoming, new_at)
    if len(new):
        _write(writer, IncomeRecord, new, ["household_id", "year", *INCOME_VALUES], {"source_batch": batch_id})
    counts.tables[INCOMES] = Counts(new=len(new), changed=int(changed.sum()), unchanged=int((~changed).sum()))


def _status(
    tables, prefix: str, household_ids, status_before: pd.DataFrame, as_of: dt.date, writer, counts, batch_id: int
):
    """The status history to add (see the module's docstring), worked out on whole columns."""
    households = tables[HOUSEHOLDS].accepted
    numbers = households["number"].astype(str)
    ids = numbers.map(household_ids).astype(np.int64).to_numpy()
    existing = _frame(
        StatusChange.objects.filter(household__village__code__startswith=prefix),
        ["household_id", "effective_date", "event"],
    )
    existing = existing[existing["household_id"].isin(ids)]
    have = _status_keys(existing["household_id"], existing["effective_date"], existing["event"])
    parts: list[pd.DataFrame] = []
    dated = np.zeros(0, dtype=np.int64)
    if STATUS in tables and len(tables[STATUS].accepted):
        given = tables[STATUS].accepted
        household_id = given["household_number"].astype(str).map(household_ids)
        given, household_id = given[household_id.notna().to_numpy()], household_id.dropna().astype(np.int64)
        dates = pd.to_datetime(given["effective_date"]).dt.normalize()
        keys = pd.Series(_status_keys(household_id, dates, given["event"]), index=given.index)
        fresh = (~keys.isin(have) & ~keys.duplicated(keep="first")).to_numpy()
        given, household_id, dates = given[fresh], household_id[fresh], dates[fresh]
        reason = given["reason"].fillna("").astype(str)
        parts.append(
            pd.DataFrame(
                {
                    "household_id": household_id.to_numpy(),
                    "effective_date": dates.to_numpy(),
                    "event": given["event"].to_numpy(),
                    "household_type": given["household_type"].to_numpy(),
                    "poverty_attribute": given["poverty_attribute"].to_numpy(),
                    "monitoring_type": given["monitoring_type"].to_numpy(),
                    "risk_types": given["risk_types"].to_numpy(),
                    "reason": np.where(
                        reason == "", _("户档案导入（批次 #%(pk)s）") % {"pk": batch_id}, reason.to_numpy(dtype=object)
                    ),
                }
            )
        )
        dated = household_id.to_numpy()
    with_history = np.isin(ids, existing["household_id"].to_numpy()) | np.isin(ids, dated)
    event = np.full(len(ids), "", dtype=object)
    reason = np.full(len(ids), "", dtype=object)
    event[~with_history] = EVENT_CREATED
    reason[~with_history] = _("户档案导入建档（批次 #%(pk)s）") % {"pk": batch_id}
    if len(status_before):
        before = status_before.reindex(numbers.to_numpy())
        known = before["household_type"].notna().to_numpy()
        now = {key: households[key].fillna("").astype(str).to_numpy(dtype=object) for key in STATUS_KEYS}
        was = {key: before[key].fillna("").astype(str).to_numpy(dtype=object) for key in STATUS_KEYS}
        differs = np.zeros(len(ids), dtype=bool)
        for key in STATUS_KEYS:
            differs |= now[key] != was[key]
        moved = with_history & known & ~np.isin(ids, dated) & differs
        monitored_now, monitored_before = now["monitoring_type"] != "", was["monitoring_type"] != ""
        event[moved] = np.where(
            (monitored_now & ~monitored_before)[moved],
            EVENT_MONITORED,
            np.where((monitored_before & ~monitored_now)[moved], EVENT_ELIMINATED, EVENT_CHANGED),
        )
        reason[moved] = _("户档案导入（批次 #%(pk)s）：导出数据与原档案的户类型、监测对象类别或风险类型不同") % {
            "pk": batch_id
        }
    adding = event != ""
    if adding.any():
        parts.append(
            pd.DataFrame(
                {
                    "household_id": ids[adding],
                    "effective_date": np.datetime64(as_of, "D"),
                    "event": event[adding],
                    "household_type": households["household_type"].to_numpy()[adding],
                    "poverty_attribute": households["poverty_attribute"].to_numpy()[adding],
                    "monitoring_type": households["monitoring_type"].to_numpy()[adding],
                    "risk_types": households["risk_types"].to_numpy()[adding],
                    "reason": reason[adding],
                }
            )
        )
    added = sum(len(p) for p in parts)
    if added:
        frame = pd.concat(parts, ignore_index=True)
        frame["effective_date"] = pd.to_datetime(frame["effective_date"])
        _write(writer, StatusChange, frame, list(frame.columns), {"source_batch": batch_id})
    counts.status_added = added


def _status_keys(household_ids, dates, events) -> np.ndarray:
    """(household, date, event) as one integer per row, to compare the export's history with the file's: the
    household id, the day and the event's two-digit code (text, so each character) packed side by side."""
    ids = np.asarray(household_ids, dtype=np.int64)
    days = pd.to_datetime(pd.Series(np.asarray(dates))).to_numpy(dtype="datetime64[D]").astype(np.int64)
    text = pd.Series(np.asarray(events, dtype=object)).fillna("").astype(str).str.pad(2, fillchar=" ")
    if len(text) and (text.str.len() > 2).any():
        raise ValueError("status event codes are two characters")
    first = np.fromiter((ord(t[0]) if t else 0 for t in text), dtype=np.int64, count=len(text))
    second = np.fromiter((ord(t[1]) if len(t) > 1 else 0 for t in text), dtype=np.int64, count=len(text))
    return (ids << 34) | ((days + (1 << 17)) << 16) | ((first & 0xFF) << 8) | (second & 0xFF)
