"""Querysets into pandas frames, one query each.

Values come back typed by the model field they were read from: booleans as bool, dates and datetimes as
datetime64 (datetimes in the project's time zone, without it), numbers as float (integers as int64 when none
is null), text as str with "" for NULL. Row order is not guaranteed: callers sort what they need sorted.

On PostgreSQL the server joins the rows into sixteen text values (fields separated by the ASCII
unit separator, rows by the record separator; dates as days and timestamps as seconds since 1970), so a
million rows cross the wire as a few large values and pandas' C parser reads them. Row by row — a cursor, or
COPY, whose every row is a message that psycopg handles in Python — took 30–60 s per million rows here.
SQLite, the small embedded case, is read with a plain cursor.
"""

import csv
import io
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from django.conf import settings
from django.db import connection, models
from django.db.models import QuerySet

FIELD_SEPARATOR, ROW_SEPARATOR = "\x1f", "\x1e"
BLOCKS = 16
TEXT = {"CharField", "TextField", "SlugField"}
INTEGER = {
    "AutoField", "BigAutoField", "IntegerField", "BigIntegerField", "PositiveIntegerField",
    "PositiveSmallIntegerField", "SmallIntegerField",
}  # fmt: skip


def _resolve(model: type[models.Model], path: str) -> models.Field:
    """The field behind a values_list() path such as "person__household_id" or "household__village_id"."""
    parts = path.split("__")
    for part in parts[:-1]:
        model = model._meta.get_field(part).related_model
    last = parts[-1]
    try:
        field = model._meta.get_field(last)
    except Exception:
        field = model._meta.get_field(last.removesuffix("_id"))
    if field.is_relation:
        field = field.target_field
    if field.get_internal_type() == "GeneratedField":
        field = field.output_field
    return field


def _kind(field: models.Field) -> str:
    kind = field.get_internal_type()
    if kind in TEXT:
        return "text"
    if kind in {"BooleanField", "DateField", "DateTimeField"}:
        return kind
    return "integer" if kind in INTEGER else "number"


def _convert(series: pd.Series, kind: str, *, epoch: bool = False) -> pd.Series:
    if kind == "BooleanField":
        return series.astype(str).str.lower().isin(["t", "true", "1"])
    if kind == "DateField":
        if epoch:
            return pd.to_datetime(series, unit="D").astype("datetime64[ns]")
        return pd.to_datetime(series.replace({"": None}), format="ISO8601").astype("datetime64[ns]")
    if kind == "DateTimeField":
        if epoch:
            stamps = pd.to_datetime(series, unit="s", utc=True)
        else:
            stamps = pd.to_datetime(series.replace({"": None}), format="ISO8601", utc=True)
        local = stamps.dt.tz_convert(ZoneInfo(settings.TIME_ZONE)).dt.tz_localize(None)
        return local.astype("datetime64[ns]")
    if kind == "text":
        return series.fillna("").astype(str)
    numbers = pd.to_numeric(series, errors="coerce")
    if kind == "integer" and not numbers.isna().any():
        return numbers.astype(np.int64)
    return numbers.astype(float)


def _postgres_expression(column: str, kind: str) -> str:
    if kind == "text":
        return f"coalesce(translate({column}, E'\\x1f\\x1e', '  '), '')"
    if kind == "BooleanField":
        return f"CASE WHEN {column} THEN '1' WHEN NOT {column} THEN '0' ELSE '' END"
    if kind == "DateField":
        return f"coalesce(({column} - DATE '1970-01-01')::text, '')"
    if kind == "DateTimeField":
        return f"coalesce(extract(epoch FROM {column})::text, '')"
    return f"coalesce({column}::text, '')"


def _read_postgres(sql: str, params, names: list[str], kinds: list[str]) -> pd.DataFrame:
    columns = [f"c{i}" for i in range(len(names))]
    line = f"concat_ws(E'\\x1f', {', '.join(_postgres_expression(c, k) for c, k in zip(columns, kinds, strict=True))})"
    # Blocks by the first column (an integer key) modulo BLOCKS: a hash aggregate, no sort or window.
    block = f"c0 %% {BLOCKS}" if kinds[0] == "integer" else f"(row_number() OVER ()) %% {BLOCKS}"
    wrapped = (
        f"SELECT string_agg(line, E'\\x1e') FROM ("
        f"SELECT {line} AS line, {block} AS block "
        f"FROM ({sql}) AS q({', '.join(columns)})) AS lines GROUP BY block"
    )
    with connection.cursor() as cursor:
        cursor.execute(wrapped, params)
        blocks = [row[0] for row in cursor.fetchall()]
    if not blocks:
        return pd.DataFrame({name: pd.Series(dtype=object) for name in names})
    dtypes = {
        name: (str if kind in {"text", "BooleanField"} else float) for name, kind in zip(names, kinds, strict=True)
    }
    return pd.read_csv(
        io.StringIO(ROW_SEPARATOR.join(blocks)),
        sep=FIELD_SEPARATOR,
        lineterminator=ROW_SEPARATOR,
        header=None,
        names=names,
        dtype=dtypes,
        quoting=csv.QUOTE_NONE,
        keep_default_na=False,
        na_values={name: [""] for name, kind in zip(names, kinds, strict=True) if kind not in {"text", "BooleanField"}},
        engine="c",
    )


def read_frame(
    queryset: QuerySet, fields: list[str], names: list[str] | None = None, *, sort: list[str] | None = None
) -> pd.DataFrame:
    """One query: the queryset's values_list(*fields) as a frame with columns names (default: fields),
    sorted by the columns in `sort` (the database is not asked to order)."""
    names = names or [f.replace("__", "_") for f in fields]
    kinds = [_kind(_resolve(queryset.model, path)) for path in fields]
    sql, params = queryset.order_by().values_list(*fields).query.sql_with_params()
    postgres = connection.vendor == "postgresql"
    if postgres:
        frame = _read_postgres(sql, params, names, kinds)
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=names)
        frame = frame.astype(object).where(frame.notna(), None)
    for name, kind in zip(names, kinds, strict=True):
        frame[name] = _convert(frame[name], kind, epoch=postgres)
    if sort:
        frame = frame.sort_values(sort, kind="mergesort", ignore_index=True)
    return frame
