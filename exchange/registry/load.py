"""Writing the checked registry tables into the household file, in the caller's transaction.

Households are keyed by 户编号, members by ID number, incomes by (household, year). A row that is new is
inserted in bulk (COPY on PostgreSQL); a row whose values differ from the household file's is updated and
its version raised, so that an official's form opened before the import is refused as stale, not saved over
it; a row whose values are the same is left alone, so the same export twice changes nothing.

Status history: the export's status table (状态变更) is added where the household file does not hold the
same (date, event) yet. A household whose type, monitoring type or risk types differ from the file's, with no
dated change in the export to say when, gets one change dated the export's date (数据截至日期), naming the
batch. A new household without any status row gets 建档 at that date.
"""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from django.db import models
from django.utils import timezone

from exchange.registry.checks import TableRows
from exchange.registry.tables import HOUSEHOLDS, INCOMES, MEMBERS, STATUS
from exchange.registry.writers import TableWriter
from households.models import Household, IncomeRecord, Person, StatusChange

EVENT_CREATED, EVENT_MONITORED, EVENT_CHANGED, EVENT_ELIMINATED = "01", "03", "04", "05"
UPDATE_BATCH = 2000

HOUSEHOLD_VALUES = [
    "village_id", "group_name", "phone", "bank_account", "household_type", "poverty_attribute", "lifted_year",
    "monitoring_type", "whole_household_unable_to_work", "risk_types", "disaster_subtype", "main_poverty_cause",
    "other_poverty_causes", "housing_grade", "safe_drinking_water", "sanitary_toilet", "road_to_door", "fuel",
    "cultivated_land_mu", "forest_land_mu",
]
PERSON_VALUES = [
    "household_id", "name", "sex", "birth_date", "ethnicity", "relation", "health", "disability_category",
    "disability_grade", "disability_certificate", "labour_skill", "education", "school_status",
    "months_worked_away", "work_place", "employer", "public_welfare_job", "public_welfare_months",
    "resident_medical_insurance", "employee_medical_insurance", "critical_illness_insurance",
    "pension_insurance", "dibao", "tekun",
]
INCOME_VALUES = [
    "household_size", *IncomeRecord.INCOME_FIELDS, "production_cost", *IncomeRecord.NON_INCOME_FIELDS,
    "compliant_medical_spending", "compliant_education_spending", "survey_date",
]
STATUS_KEYS = ("household_type", "monitoring_type", "risk_types")


@dataclass
class Counts:
    new: int = 0
    changed: int = 0
    unchanged: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"new": self.new, "changed": self.changed, "unchanged": self.unchanged}


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


# (entity, object id) → the field names an official changed since the previous registry import.
Edited = dict[tuple[str, int], set[str]]


def _hold_edited(
    incoming: pd.DataFrame, current: pd.DataFrame, names: list[str], *, entity: str, edited: Edited,
    household_of: str, conflicts: list[Conflict],
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
            if name.removesuffix("_id") not in fields and name not in fields:
                continue
            if a.at[row, name] == b.at[row, name]:
                continue
            conflicts.append(
                Conflict(
                    entity=entity, object_id=pk, household_id=int(incoming.iloc[position][household_of]),
                    field=name, system_value=b.at[row, name], export_value=a.at[row, name],
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
        elif pd.api.types.is_datetime64_any_dtype(column) or column.map(
            lambda v: isinstance(v, dt.date)
        ).any():
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


def _changed(incoming: pd.DataFrame, current: pd.DataFrame, names: list[str], model: type) -> np.ndarray:
    """Per incoming row (aligned with current by position): whether any value differs, compared column by
    column in the field's own type (1200.0 and Decimal('1200.00'), a date and its timestamp are equal)."""
    differ = np.zeros(len(incoming), dtype=bool)
    if incoming.empty:
        return differ
    for name in names:
        kind = _kind(model, name)
        a, b = _typed(incoming[name].reset_index(drop=True), kind), _typed(current[name].reset_index(drop=True), kind)
        if kind == "number":
            differ |= ~((a == b) | (np.isnan(a) & np.isnan(b)))
        elif kind == "date":
            differ |= ~((a == b) | (np.isnat(a) & np.isnat(b)))
        else:
            differ |= a != b
    return differ


def _update(model: type, frame: pd.DataFrame, names: list[str]) -> None:
    """Write the given columns of the rows (by id), raise their version and mark them updated now."""
    if frame.empty:
        return
    objects = []
    for record in frame.to_dict("records"):
        obj = model(pk=int(record["id"]))
        for name in names:
            setattr(obj, name, _plain(record[name]))
        obj.version = int(record["version"]) + 1
        objects.append(obj)
    model.objects.bulk_update(objects, [*names, "version"], batch_size=UPDATE_BATCH)
    ids = frame["id"].astype(int).tolist()
    now = timezone.now()
    for start in range(0, len(ids), UPDATE_BATCH):
        model.objects.filter(pk__in=ids[start : start + UPDATE_BATCH]).update(updated_at=now)


def _frame(queryset, names: list[str]) -> pd.DataFrame:
    rows = list(queryset.values_list(*names))
    return pd.DataFrame(rows, columns=names)


def _columns(frame: pd.DataFrame, names: list[str]) -> dict[str, list[Any]]:
    """Columns as lists of plain Python values for the table writers: NaN and NaT become None."""
    columns = {}
    for name in names:
        values = frame[name]
        if pd.api.types.is_datetime64_any_dtype(values):
            dates = values.dt.date.tolist()
            columns[name] = [None if pd.isna(v) else v for v in dates] if values.isna().any() else dates
        elif pd.api.types.is_float_dtype(values):
            plain = values.tolist()
            if values.isna().any():
                plain = [None if v != v else v for v in plain]  # NaN is the only value not equal to itself
            if name == "lifted_year":
                plain = [None if v is None else int(v) for v in plain]
            columns[name] = plain
        elif values.dtype == object:
            columns[name] = [_plain(v) for v in values] if values.map(type).ne(str).any() else values.tolist()
        else:
            columns[name] = values.tolist()
    return columns


def _plain(value: Any) -> Any:
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, pd.Timestamp):
        return value.date()
    return value


def load(
    *, tables: dict[str, TableRows], prefix: str, as_of: dt.date, writer: TableWriter, batch_id: int,
    edited: Edited | None = None,
) -> LoadCounts:
    counts = LoadCounts()
    edited = edited or {}
    household_ids, status_before = _households(tables[HOUSEHOLDS], prefix, writer, counts, edited)
    _members(tables[MEMBERS], prefix, household_ids, writer, counts, edited)
    if INCOMES in tables:
        _incomes(tables[INCOMES], tables[MEMBERS], prefix, household_ids, writer, counts, edited)
    _status(tables, prefix, household_ids, status_before, as_of, writer, counts, batch_id)
    writer.finish()
    return counts


def _households(rows: TableRows, prefix: str, writer: TableWriter, counts: LoadCounts, edited: Edited):
    incoming = rows.accepted.rename(columns={"village_code": "village_id"}).copy()
    incoming["lifted_year"] = incoming["lifted_year"].astype(float)
    current = _frame(
        Household.objects.filter(village__code__startswith=prefix), ["id", "number", "version", *HOUSEHOLD_VALUES]
    )
    status_before = current.set_index("number")[list(STATUS_KEYS)] if len(current) else pd.DataFrame()
    merged = incoming.merge(current[["id", "number", "version"]], on="number", how="left")
    known = merged["id"].notna().to_numpy()
    new = merged[~known]
    old = merged[known].copy()
    old["id"] = old["id"].astype(np.int64)
    current_old = current.set_index("id").loc[old["id"], HOUSEHOLD_VALUES]
    old["household_id"] = old["id"]
    old = _hold_edited(
        old, current_old, HOUSEHOLD_VALUES, entity="households.household", edited=edited,
        household_of="household_id", conflicts=counts.conflicts,
    )
    changed = _changed(old[HOUSEHOLD_VALUES], current_old, HOUSEHOLD_VALUES, Household)
    _update(Household, old[changed], HOUSEHOLD_VALUES)

    ids = np.asarray(writer.household_ids(len(new)), dtype=np.int64) if len(new) else np.zeros(0, np.int64)
    if len(new):
        columns = _columns(new, ["number", *HOUSEHOLD_VALUES])
        columns["id"] = ids.tolist()
        columns["cultivated_land_mu"] = [round(v, 2) for v in columns["cultivated_land_mu"]]
        columns["forest_land_mu"] = [round(v, 2) for v in columns["forest_land_mu"]]
        writer.write(Household, columns, len(new), with_id=True)
    counts.tables[HOUSEHOLDS] = Counts(new=len(new), changed=int(changed.sum()), unchanged=int((~changed).sum()))
    household_ids = dict(zip(current["number"], current["id"].astype(np.int64), strict=True))
    household_ids.update(zip(new["number"], ids.tolist(), strict=True))
    return household_ids, status_before


def _members(rows: TableRows, prefix: str, household_ids: dict[str, int], writer: TableWriter, counts, edited):
    incoming = rows.accepted.copy()
    incoming["household_id"] = incoming["household_number"].map(household_ids).astype(np.int64)
    current = _frame(
        Person.objects.filter(household__village__code__startswith=prefix),
        ["id", "id_number", "version", *PERSON_VALUES],
    )
    merged = incoming.merge(current[["id", "id_number", "version"]], on="id_number", how="left")
    known = merged["id"].notna().to_numpy()
    new, old = merged[~known], merged[known].copy()
    old["id"] = old["id"].astype(np.int64)
    current_old = current.set_index("id").loc[old["id"], PERSON_VALUES]
    old = _hold_edited(
        old, current_old, PERSON_VALUES, entity="households.person", edited=edited, household_of="household_id",
        conflicts=counts.conflicts,
    )
    changed = _changed(old[PERSON_VALUES], current_old, PERSON_VALUES, Person)
    _update(Person, old[changed], PERSON_VALUES)
    if len(new):
        writer.write(Person, _columns(new, ["id_number", *PERSON_VALUES]), len(new))
    counts.tables[MEMBERS] = Counts(new=len(new), changed=int(changed.sum()), unchanged=int((~changed).sum()))


def _incomes(
    rows: TableRows, members: TableRows, prefix: str, household_ids: dict[str, int], writer, counts, edited
):
    incoming = rows.accepted.copy()
    incoming["household_id"] = incoming["household_number"].map(household_ids).astype(np.int64)
    incoming["year"] = incoming["year"].astype(np.int64)
    sizes = members.accepted.groupby("household_number").size()
    missing = incoming["household_size"].isna()
    if missing.any():
        counted = incoming.loc[missing, "household_number"].map(sizes).fillna(1).astype(float)
        incoming.loc[missing, "household_size"] = counted
    incoming["household_size"] = incoming["household_size"].astype(np.int64)
    current = _frame(
        IncomeRecord.objects.filter(household__village__code__startswith=prefix),
        ["id", "household_id", "year", "version", *INCOME_VALUES],
    )
    merged = incoming.merge(
        current[["id", "household_id", "year", "version"]], on=["household_id", "year"], how="left"
    )
    known = merged["id"].notna().to_numpy()
    new, old = merged[~known], merged[known].copy()
    old["id"] = old["id"].astype(np.int64)
    current_old = current.set_index("id").loc[old["id"], INCOME_VALUES]
    old = _hold_edited(
        old, current_old, INCOME_VALUES, entity="households.incomerecord", edited=edited,
        household_of="household_id", conflicts=counts.conflicts,
    )
    changed = _changed(old[INCOME_VALUES], current_old, INCOME_VALUES, IncomeRecord)
    _update(IncomeRecord, old[changed], INCOME_VALUES)
    if len(new):
        columns = _columns(new, ["household_id", "year", *INCOME_VALUES])
        for name in INCOME_VALUES:
            if name not in {"household_size", "survey_date"}:
                columns[name] = [round(v or 0.0, 2) for v in columns[name]]
        writer.write(IncomeRecord, columns, len(new))
    counts.tables[INCOMES] = Counts(new=len(new), changed=int(changed.sum()), unchanged=int((~changed).sum()))


def _status(
    tables, prefix: str, household_ids, status_before: pd.DataFrame, as_of: dt.date, writer, counts, batch_id: int
):
    households = tables[HOUSEHOLDS].accepted
    ids = [household_ids[n] for n in households["number"]]
    existing = _frame(
        StatusChange.objects.filter(household__village__code__startswith=prefix),
        ["household_id", "effective_date", "event"],
    )
    existing = existing[existing["household_id"].isin(ids)]
    have = set(zip(existing["household_id"], existing["effective_date"].astype(str), existing["event"], strict=True))
    rows: list[dict] = []
    dated: set[int] = set()
    if STATUS in tables:
        for record in tables[STATUS].accepted.to_dict("records"):
            household_id = household_ids.get(record["household_number"])
            if household_id is None:
                continue
            date = pd.Timestamp(record["effective_date"]).date()
            key = (household_id, date.isoformat(), record["event"])
            if key in have:
                continue
            have.add(key)
            dated.add(household_id)
            rows.append(
                {
                    "household_id": household_id, "effective_date": date, "event": record["event"],
                    "household_type": record["household_type"], "poverty_attribute": record["poverty_attribute"],
                    "monitoring_type": record["monitoring_type"], "risk_types": record["risk_types"],
                    "reason": record["reason"] or f"户档案导入（批次 #{batch_id}）",
                }
            )
    with_history = set(existing["household_id"].tolist()) | {r["household_id"] for r in rows}
    for record in households.to_dict("records"):
        household_id = household_ids[record["number"]]
        before = status_before.loc[record["number"]] if record["number"] in status_before.index else None
        now = {key: record[key] for key in STATUS_KEYS}
        if household_id not in with_history:
            event, reason = EVENT_CREATED, f"户档案导入建档（批次 #{batch_id}）"
        elif before is not None and household_id not in dated and any(before[k] != now[k] for k in STATUS_KEYS):
            if now["monitoring_type"] and not before["monitoring_type"]:
                event = EVENT_MONITORED
            elif before["monitoring_type"] and not now["monitoring_type"]:
                event = EVENT_ELIMINATED
            else:
                event = EVENT_CHANGED
            reason = f"户档案导入（批次 #{batch_id}）：导出数据与原档案的户类型、监测对象类别或风险类型不同"
        else:
            continue
        rows.append(
            {
                "household_id": household_id, "effective_date": as_of, "event": event,
                "household_type": record["household_type"], "poverty_attribute": record["poverty_attribute"],
                "monitoring_type": record["monitoring_type"], "risk_types": record["risk_types"], "reason": reason,
            }
        )
    if rows:
        frame = pd.DataFrame(rows)
        writer.write(StatusChange, _columns(frame, list(frame.columns)), len(frame))
    counts.status_added = len(rows)

