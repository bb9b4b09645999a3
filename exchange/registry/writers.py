"""Writing many rows of the household file's tables at once: COPY on PostgreSQL, executemany in batches on
SQLite.

Rows are given per model as columns (one list per field attname); fields not given take their model default.
Generated columns (IncomeRecord.net_income, per_capita_net_income) are never written: the database computes
them. Household ids are reserved first so that members, incomes and status changes can point at them. The
registry import writes through these, and so does the demo county's generator.
"""

import datetime as dt
from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection, models

from households.models import Household, IncomeRecord, Person, StatusChange
from povertycloud.db import analyze

SQLITE_BATCH = 5000
REGISTRY_MODELS = (Household, Person, IncomeRecord, StatusChange)


def insert_fields(model: type[models.Model], *, with_id: bool = False) -> list[models.Field]:
    return [
        f
        for f in model._meta.concrete_fields
        if not getattr(f, "generated", False) and (with_id or not f.primary_key)
    ]


class TableWriter:
    """Writes a model's rows given as columns; household ids are reserved first so members can point at
    them."""

    def __init__(self, *, now: dt.datetime):
        self.now = now

    def household_ids(self, count: int) -> list[int]:
        raise NotImplementedError

    def _rows(self, fields: Sequence[models.Field], columns: dict[str, list], count: int) -> Iterable[tuple]:
        lists = []
        for f in fields:
            if f.attname in columns:
                lists.append(columns[f.attname])
            elif isinstance(f, models.DateTimeField) and (f.auto_now or f.auto_now_add):
                lists.append([self._timestamp()] * count)
            else:
                lists.append([self._adapt(f, f.get_default())] * count)
        return zip(*lists, strict=True)

    def _timestamp(self) -> Any:
        return self.now

    def _adapt(self, f: models.Field, value: Any) -> Any:
        return value

    def write(
        self, model: type[models.Model], columns: dict[str, list], count: int, *, with_id: bool = False
    ) -> None:
        raise NotImplementedError

    def finish(self) -> None:
        """Called once after the last chunk."""


class PostgresWriter(TableWriter):
    def __init__(self, *, now: dt.datetime):
        super().__init__(now=now)
        # Django's foreign keys are DEFERRABLE INITIALLY DEFERRED: checked one by one at commit, after all
        # the copying. Checked per statement instead, the server does them while the next chunk is being
        # generated.
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")

    def finish(self) -> None:
        with connection.cursor() as cursor:
            # Back to Django's default for whatever else the surrounding transaction does.
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        analyze(*REGISTRY_MODELS)

    def _timestamp(self) -> Any:
        return self.now.isoformat()  # dumping a datetime object per row costs more than the rest of the row

    def household_ids(self, count: int) -> list[int]:
        table = Household._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT nextval(pg_get_serial_sequence(%s, 'id')) FROM generate_series(1, %s)", [table, count]
            )
            return [row[0] for row in cursor.fetchall()]

    def write(
        self, model: type[models.Model], columns: dict[str, list], count: int, *, with_id: bool = False
    ) -> None:
        fields = insert_fields(model, with_id=with_id)
        names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        sql = f"COPY {connection.ops.quote_name(model._meta.db_table)} ({names}) FROM STDIN"
        connection.ensure_connection()
        with connection.connection.cursor() as cursor, cursor.copy(sql) as copy:
            for row in self._rows(fields, columns, count):
                copy.write_row(row)


class SqliteWriter(TableWriter):
    def __init__(self, *, now: dt.datetime):
        super().__init__(now=now)
        self.next_household_id: int | None = None

    def household_ids(self, count: int) -> list[int]:
        if self.next_household_id is None:
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT COALESCE(MAX(id), 0) FROM {Household._meta.db_table}")
                highest = cursor.fetchone()[0]
                cursor.execute("SELECT seq FROM sqlite_sequence WHERE name = %s", [Household._meta.db_table])
                row = cursor.fetchone()
            self.next_household_id = max(highest, row[0] if row else 0) + 1
        first = self.next_household_id
        self.next_household_id += count
        return list(range(first, first + count))

    def _timestamp(self) -> Any:
        return connection.ops.adapt_datetimefield_value(self.now)

    def _adapt(self, f: models.Field, value: Any) -> Any:
        return f.get_db_prep_save(value, connection)

    def write(
        self, model: type[models.Model], columns: dict[str, list], count: int, *, with_id: bool = False
    ) -> None:
        fields = insert_fields(model, with_id=with_id)
        columns = dict(columns)
        for f in fields:
            if (
                isinstance(f, models.DateField)
                and not isinstance(f, models.DateTimeField)
                and f.attname in columns
            ):
                columns[f.attname] = [
                    v.isoformat() if isinstance(v, dt.date) else v for v in columns[f.attname]
                ]  # ISO text given as it is
        names = ", ".join(connection.ops.quote_name(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {connection.ops.quote_name(model._meta.db_table)} ({names}) VALUES ({marks})"
        rows = self._rows(fields, columns, count)
        with connection.cursor() as cursor:
            while batch := [row for _, row in zip(range(SQLITE_BATCH), rows, strict=False)]:
                cursor.executemany(sql, batch)


def writer_for_connection(*, now: dt.datetime) -> TableWriter:
    if connection.vendor == "postgresql":
        return PostgresWriter(now=now)
    return SqliteWriter(now=now)
