"""Loading a batch: accepted rows into a staging table, then merged into the record table by set-based SQL.

The merge keeps history. For each staged row, by ID number:
- the current version has the same content (row_hash): nothing changes;
- it differs: the current version is closed (valid_to = the batch's period start) and a new one opened;
- there is none: a new version is opened.
For a department that sends its whole list (full_snapshot), current versions of people in the batch's region
that the file no longer lists are closed, unless the file has no accepted row at all (a header-only file never
closes anything). Each closed version records the batch that closed it (closed_by), so that a rollback can
reopen it.

A batch writes only its own region's records. Before the merge, staged rows of people whom the household
file registers outside the batch's region are taken out of the stage (one join) and kept as rejected rows;
changes, closures and links look only at versions whose region_code lies in the batch's region. At most one
version per ID number is current in each county (departments.one_current_per_person_and_county).

New versions are linked to a Person by ID number as they are inserted (person_id, and region_code from the
person's village; the batch's region when nobody matches); unchanged current versions of the region that
nobody matched before are linked by one UPDATE.

- PostgreSQL: the staging table is TEMP (no WAL), filled with COPY in text blocks built column-wise by a
  second thread on the same connection (one transaction) while the main thread validates the next chunk.
  The new versions are inserted in ID order, so that the two indexes on id_number fill page by page
  instead of at random places (a bare COPY of 300,000 rows here: 16 s in ID order, 22 s in file order).
- SQLite: the same tables and SQL, the staging table filled with executemany in the calling thread
  (correct, slower).
"""

import datetime as dt
import json
import queue
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial

import numpy as np
import pandas as pd
from django.db import connection, models, transaction
from django.db.models import Field
from django.utils.translation import gettext as _

from exchange.declarations import COLUMN_FIELDS, Department, FieldSpec, Kind
from exchange.models import ImportBatch, RejectedRow
from exchange.validate import ChunkOutcome, Rejected
from households.models import Household, Person
from povertycloud.db import analyze

STAGE = "feed_stage"
BASE_COLUMNS = ("row_number", "row_hash")
SQLITE_ROWS_PER_CALL = 5_000
QUEUED_CHUNKS = 1
MERGE_WORK_MEM = "256MB"
# How COPY is fed: "text" builds one tab-separated block per chunk column-wise (values rendered once per
# distinct value), "rows" calls psycopg's write_row per row. Text is the default: it needs no Python call
# per cell; the two were not timed against each other on a quiet machine.
COPY_MODE = "text"


def quote(name: str) -> str:
    return connection.ops.quote_name(name)


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


@dataclass
class MergeCounts:
    new: int = 0  # people with no current version before
    changed: int = 0  # current version closed and replaced
    unchanged: int = 0
    closed: int = 0  # no longer listed (full snapshot)
    linked: int = 0
    unlinked: int = 0
    relinked: int = 0  # unchanged current versions linked to a person only now
    foreign: int = 0  # rows of people registered outside the batch's region: rejected
    closing_skipped: bool = False  # a full snapshot with no accepted row: nothing closed
    # Current versions in the batch's region before it (changed + unchanged + closed): the base of the
    # closure threshold, found from the merge's own counts (no extra COUNT over the table).
    region_current: int = 0
    seconds: dict[str, float] = field(default_factory=dict)  # database time by step

    @property
    def new_versions(self) -> int:
        return self.new + self.changed

    def time(self, step: str, since: float) -> float:
        now = time.perf_counter()
        self.seconds[step] = self.seconds.get(step, 0.0) + now - since
        return now


class Loader:
    """Loads one batch inside the caller's transaction.

    ``start()``, then ``add(outcome)`` per validated chunk (staged; its rejected rows written), then
    ``finish()`` merges and returns MergeCounts; ``abort()`` if anything fails (the caller rolls back).
    """

    def __init__(self, *, department: Department, batch: ImportBatch, region_prefix: str):
        self.department = department
        self.batch = batch
        self.region_prefix = region_prefix
        self.region_like = region_prefix + "%"
        # A batch of changes only (an API push in "changes" mode) closes nobody it does not list.
        self.full_snapshot = department.full_snapshot if batch.full_snapshot is None else batch.full_snapshot
        self.model = department.model
        self.fields: list[Field] = (
            [stage_field(spec) for spec in department.fields]
            if department.declared_as_data
            else [self.model._meta.get_field(spec.name) for spec in department.fields]
        )
        self.kinds = {spec.name: spec.kind for spec in department.fields}
        self.columns = [*BASE_COLUMNS, *(f.column for f in self.fields)]
        self.counts = MergeCounts()
        self.staged = 0
        self.postgres = is_postgres()
        self.sql = _Sql(self)
        self._queue: queue.Queue | None = None
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None
        self._aborted = False

    # --- The caller's side ---------------------------------------------------------------------------

    def start(self) -> None:
        types = ["integer", "varchar(32)", *(f.db_type(connection) for f in self.fields)]
        columns = ", ".join(f"{quote(c)} {t}" for c, t in zip(self.columns, types, strict=True))
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
            cursor.execute(f"CREATE TEMP TABLE {STAGE} ({columns}){' ON COMMIT DROP' if self.postgres else ''}")
            if self.postgres:
                # The ID-ordered insert sorts in memory rather than on disk. Hash and merge joins only: a
                # nested loop planned from stale statistics would scan a large table once per staged row.
                cursor.execute("SET LOCAL work_mem = '256MB'")
                cursor.execute("SET LOCAL enable_nestloop = off")
        if self.postgres:
            self._queue = queue.Queue(maxsize=QUEUED_CHUNKS)
            raw = connection.connection
            self._thread = threading.Thread(target=self._work, args=(raw,), name="feed-loader", daemon=True)
            self._thread.start()

    def add(self, outcome: ChunkOutcome) -> None:
        self._raise_worker_error()
        self.staged += outcome.accepted_count
        if self._queue is not None:
            # Built here, not in the worker: large blocks allocated by a second thread stay in that thread's
            # malloc arena and made the process grow with the file (1.5 GB for 1,000,000 rows).
            text = self.copy_text(outcome.accepted) if outcome.accepted_count and COPY_MODE == "text" else None
            self._queue.put((outcome, text))
        else:
            with connection.cursor() as cursor:
                self._stage(cursor, outcome)

    def finish(self) -> MergeCounts:
        self._stop()
        self._raise_worker_error()
        with connection.cursor() as cursor:
            self._merge(cursor)
            if not self.postgres:
                cursor.execute(f"DROP TABLE IF EXISTS {STAGE}")
            else:
                # The planner settings of the load end with it, not with the caller's transaction (which may go
                # on to small queries that a nested loop serves best).
                cursor.execute("RESET enable_nestloop")
                cursor.execute("RESET work_mem")
        return self.counts

    def abort(self) -> None:
        """Stop the worker (after the statement it is running); the caller rolls the transaction back."""
        self._aborted = True
        if self._queue is not None:
            while True:
                try:
                    self._queue.get_nowait()
                except queue.Empty:
                    break
        self._stop()

    # --- Staging a chunk (this thread on SQLite, the worker thread on PostgreSQL) --------------------

    def _stage(self, cursor, outcome: ChunkOutcome, text: str | None = None) -> None:
        clock = time.perf_counter()
        rows = outcome.accepted_count
        if rows and self.postgres:
            with cursor.copy(self.sql.copy_stage) as copy:
                if text is not None:
                    copy.write(text)
                else:
                    for row in zip(*self.python_columns(outcome.accepted), strict=True):
                        copy.write_row(row)
        elif rows:
            values = list(zip(*self.python_columns(outcome.accepted), strict=True))
            for first in range(0, rows, SQLITE_ROWS_PER_CALL):
                cursor.executemany(self.sql.insert_stage, values[first : first + SQLITE_ROWS_PER_CALL])
        clock = self.counts.time("stage", clock)
        if outcome.rejected:
            self._write_rejected(cursor, outcome.rejected)
            self.counts.time("rejected", clock)

    def _write_rejected(self, cursor, rows: Iterable[Rejected]) -> None:
        records = [(self.batch.pk, r.row_number, _json(r.values), _json(r.reasons)) for r in rows]
        if self.postgres:
            with cursor.copy(self.sql.copy_rejected) as copy:
                for record in records:
                    copy.write_row(record)
        else:
            cursor.executemany(self.sql.insert_rejected, records)

    def _work(self, raw) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._error is not None or self._aborted:
                continue
            try:
                with raw.cursor() as cursor:
                    self._stage(cursor, *item)
            except BaseException as exc:  # handed to the caller's thread, which rolls back
                self._error = exc

    def _stop(self) -> None:
        if self._thread is not None and self._queue is not None:
            self._queue.put(None)
            self._thread.join()
            self._thread = None

    def _raise_worker_error(self) -> None:
        if self._error is not None:
            raise self._error

    # --- The merge -----------------------------------------------------------------------------------

    def _merge(self, cursor) -> None:
        clock = time.perf_counter()
        start, counts = self.batch.period_start, self.counts
        # Statistics for the planner (PostgreSQL), or an index for the joins (SQLite has no hash join).
        if self.postgres:
            # The merge sorts and hash-joins the whole batch once; with the default 4 MB both spill to disk.
            cursor.execute(f"SET LOCAL work_mem = '{MERGE_WORK_MEM}'")
        cursor.execute(f"ANALYZE {STAGE}" if self.postgres else f"CREATE INDEX {STAGE}_id ON {STAGE} (id_number)")
        clock = counts.time("analyze", clock)
        self._reject_foreign(cursor)
        clock = counts.time("foreign", clock)
        batch_id, like = self.batch.pk, self.region_like
        cursor.execute(self.sql.close_changed, [start, batch_id, like])
        counts.changed = cursor.rowcount
        clock = counts.time("close_changed", clock)
        if self.full_snapshot:
            if self.staged:
                cursor.execute(self.sql.close_unlisted, [start, batch_id, like])
                counts.closed = cursor.rowcount
            else:
                counts.closing_skipped = True
            clock = counts.time("close_unlisted", clock)
        region_code = self.batch.region_code
        cursor.execute(self.sql.insert_versions, [batch_id, start, region_code, region_code])
        inserted = cursor.rowcount
        clock = counts.time("insert", clock)
        counts.new, counts.unchanged = inserted - counts.changed, self.staged - inserted
        counts.region_current = counts.changed + counts.unchanged + counts.closed
        cursor.execute(self.sql.relink, [like])  # joins the analysed stage to the indexed id_number
        counts.relinked = cursor.rowcount
        # After every bulk change of the merge (closed, inserted, relinked versions), so the statistics
        # describe the table the next queries read; once the load commits, because ANALYZE holds a lock that
        # another ANALYZE waits for until this transaction ends (counties' loads of the department run side by
        # side). Robust: statistics that could not be refreshed do not undo a committed load.
        transaction.on_commit(partial(analyze, self.model, RejectedRow), robust=True)
        cursor.execute(self.sql.count_linked)
        counts.linked = cursor.fetchone()[0]
        counts.unlinked = self.staged - counts.linked
        counts.time("link", clock)

    def _reject_foreign(self, cursor) -> None:
        """Staged rows of people registered (household village) outside the batch's region become rejected
        rows: one join of the stage with the household file, then a delete of the few rows it finds."""
        cursor.execute(self.sql.foreign, [self.region_like])
        rows = cursor.fetchall()
        if not rows:
            return
        numbers = sorted({row[0] for row in rows})
        for first in range(0, len(numbers), 500):
            part = numbers[first : first + 500]
            cursor.execute(f"DELETE FROM {STAGE} WHERE row_number IN ({', '.join(['%s'] * len(part))})", part)
        reason = _("此人已在其他地区登记，不属于本批次的地区。")
        seen: set[int] = set()
        rejected = []
        for number, *values in rows:
            if number in seen:
                continue
            seen.add(number)
            shown = {spec.column: _as_text(value) for spec, value in zip(self.department.fields, values, strict=True)}
            rejected.append(Rejected(number, shown, [reason]))
        self._write_rejected(cursor, rejected)
        self.counts.foreign = len(rejected)
        self.staged -= len(rejected)

    def closure_sample(self, limit: int) -> list[int]:
        """Ids of (up to limit) versions this batch closed because the file no longer lists them, by ID number.

        Called before the transaction is rolled back for a closure review: the ids are those of versions
        that are current again once it has been."""
        with connection.cursor() as cursor:
            cursor.execute(self.sql.closure_sample, [self.batch.pk, self.batch.pk, limit])
            return [row[0] for row in cursor.fetchall()]

    # --- Values as the database takes them -----------------------------------------------------------

    def copy_text(self, accepted: dict[str, np.ndarray]) -> str:
        """The rows as one block of COPY text: tab-separated, \\N for NULL, t/f, ISO dates, escaped text."""
        out = [list(map(str, accepted["row_number"].tolist())), accepted["row_hash"].tolist()]
        for f in self.fields:
            values = accepted[f.name]
            kind = self.kinds[f.name]
            if kind == Kind.FLAG:
                out.append(np.where(values, "t", "f").tolist())
            elif kind == Kind.DATE:
                out.append(format_distinct(values.view(np.int64), date_renderer(r"\N")))
            elif kind in (Kind.AMOUNT, Kind.INTEGER):
                out.append(format_distinct(values, number_renderer(f, kind, text=True)))
            else:
                out.append(escape_text(values))
        return "\n".join(map("\t".join, zip(*out, strict=True))) + "\n"

    def python_columns(self, accepted: dict[str, np.ndarray]) -> list[list]:
        out = [accepted["row_number"].tolist(), accepted["row_hash"].tolist()]
        for f in self.fields:
            values = accepted[f.name]
            kind = self.kinds[f.name]
            if kind == Kind.DATE:
                out.append(format_distinct(values.view(np.int64), date_renderer(None)))
            elif kind in (Kind.AMOUNT, Kind.INTEGER):
                out.append(format_distinct(values, number_renderer(f, kind, text=False)))
            else:
                out.append(values.tolist())
        return out


class _Sql:
    """The statements of one load, written once."""

    def __init__(self, loader: Loader):
        table = quote(loader.model._meta.db_table)
        person, household = quote(Person._meta.db_table), quote(Household._meta.db_table)
        declared = [quote(f.column) for f in loader.fields]
        columns = ", ".join(quote(c) for c in loader.columns)
        fixed = ("batch_id", "row_number", "row_hash", "valid_from", "valid_to", "person_id", "region_code")
        # The record table's own columns and what fills them from the stage: the declared fields one to one for
        # a typed department; for a department declared as data, its slug, ID number, name, period and the
        # rest as one JSON object. ``mine`` keeps every statement to this department's records.
        targets, sources, mine, mine_r = declared, [f"s.{c}" for c in declared], "", ""
        department = loader.department
        if department.declared_as_data:
            names = {f.name for f in loader.fields}
            slug = department.slug.replace("'", "")  # a declared slug is [a-z0-9_] (checked on declaration)
            targets = [quote(c) for c in ("department", "id_number", "name", "period", "data")]
            sources = [
                f"'{slug}'",
                "s.id_number",
                "s.name" if "name" in names else "''",
                "s.period" if "period" in names else "''",
                json_object_sql([f for f in loader.fields if f.name not in COLUMN_FIELDS], loader.kinds),
            ]
            mine, mine_r = f" AND {table}.department = '{slug}'", f" AND r.department = '{slug}'"
        self.copy_stage = f"COPY {STAGE} ({columns}) FROM STDIN"
        marks = ", ".join(["%s"] * len(loader.columns))
        self.insert_stage = f"INSERT INTO {STAGE} ({columns}) VALUES ({marks})"
        # Only versions in the batch's region (region_code LIKE the region's prefix) are changed or closed.
        self.close_changed = (
            f"UPDATE {table} SET valid_to = %s, closed_by_id = %s FROM {STAGE} s "
            f"WHERE {table}.id_number = s.id_number AND {table}.valid_to IS NULL AND {table}.row_hash <> s.row_hash "
            f"AND {table}.region_code LIKE %s{mine}"
        )
        self.foreign = (
            f"SELECT s.row_number, {', '.join('s.' + c for c in declared)} FROM {STAGE} s "
            f"JOIN {person} p ON p.id_number = s.id_number JOIN {household} h ON h.id = p.household_id "
            f"WHERE h.village_id NOT LIKE %s ORDER BY s.row_number"
        )
        self.insert_versions = (
            f"INSERT INTO {table} ({', '.join(quote(c) for c in fixed)}, {', '.join(targets)}) "
            f"SELECT %s, s.row_number, s.row_hash, %s, NULL, p.id, COALESCE(h.village_id, %s), "
            f"{', '.join(sources)} "
            f"FROM {STAGE} s LEFT JOIN {person} p ON p.id_number = s.id_number "
            f"LEFT JOIN {household} h ON h.id = p.household_id "
            # The county's current version (the one the unique constraint counts), wherever in the county.
            f"WHERE NOT EXISTS "
            f"(SELECT 1 FROM {table} r WHERE r.id_number = s.id_number AND r.valid_to IS NULL{mine_r} "
            f"AND SUBSTR(r.region_code, 1, 6) = SUBSTR(COALESCE(h.village_id, %s), 1, 6)) "
            # In ID order the two indexes on id_number are filled page by page, not at random places.
            f"ORDER BY s.id_number"
        )
        # Unchanged current versions that no person matched before but one matches now.
        self.relink = (
            f"UPDATE {table} SET person_id = p.id, region_code = h.village_id "
            f"FROM {STAGE} s JOIN {person} p ON p.id_number = s.id_number "
            f"JOIN {household} h ON h.id = p.household_id "
            f"WHERE {table}.id_number = s.id_number AND {table}.valid_to IS NULL "
            f"AND {table}.person_id IS NULL AND {table}.region_code LIKE %s{mine}"
        )
        self.count_linked = f"SELECT count(*) FROM {STAGE} s JOIN {person} p ON p.id_number = s.id_number"
        self.close_unlisted = (
            f"UPDATE {table} SET valid_to = %s, closed_by_id = %s WHERE valid_to IS NULL AND region_code LIKE %s{mine} "
            f"AND NOT EXISTS (SELECT 1 FROM {STAGE} s WHERE s.id_number = {table}.id_number)"
        )
        self.closure_sample = (
            f"SELECT t.id FROM {table} t WHERE t.closed_by_id = %s AND NOT EXISTS "
            f"(SELECT 1 FROM {table} r WHERE r.batch_id = %s AND r.id_number = t.id_number) "
            f"ORDER BY t.id_number LIMIT %s"
        )
        rejected = quote(RejectedRow._meta.db_table)
        self.copy_rejected = f'COPY {rejected} (batch_id, row_number, "values", reasons) FROM STDIN'
        self.insert_rejected = (
            f'INSERT INTO {rejected} (batch_id, row_number, "values", reasons) VALUES (%s, %s, %s, %s)'
        )


# --- A department declared as data ----------------------------------------------------------------------

JSON_PAIRS_PER_CALL = 40  # PostgreSQL functions take at most 100 arguments


def stage_field(spec: FieldSpec) -> Field:
    """The staging column of a declared field (a Django field not bound to a model: its type and nullability)."""
    if spec.kind == Kind.DATE:
        made: Field = models.DateField(null=True)
    elif spec.kind == Kind.AMOUNT:
        made = models.DecimalField(max_digits=16, decimal_places=2, null=True)
    elif spec.kind == Kind.INTEGER:
        made = models.BigIntegerField(null=True)
    elif spec.kind == Kind.FLAG:
        made = models.BooleanField(default=False)
    else:
        made = models.CharField(max_length=max(spec.max_length, 20))
    made.set_attributes_from_name(spec.name)
    return made


def json_object_sql(fields: list[Field], kinds: dict[str, Kind]) -> str:
    """SQL building the JSON object of the staged fields (keys are the declared field codes, [a-z0-9_])."""
    if not fields:
        return "'{}'"
    postgres = is_postgres()
    parts = []
    for first in range(0, len(fields), JSON_PAIRS_PER_CALL):
        pairs = []
        for f in fields[first : first + JSON_PAIRS_PER_CALL]:
            value = f"s.{quote(f.column)}"
            if not postgres and kinds[f.name] == Kind.FLAG:  # SQLite keeps booleans as 0/1
                value = f"CASE WHEN {value} THEN json('true') ELSE json('false') END"
            pairs.append(f"'{f.name}', {value}")
        parts.append(f"{'jsonb_build_object' if postgres else 'json_object'}({', '.join(pairs)})")
    if postgres:
        return " || ".join(parts)
    combined = parts[0]
    for part in parts[1:]:
        combined = f"json_patch({combined}, {part})"
    return combined


# --- Rendering values ----------------------------------------------------------------------------------


def escape_text(values: np.ndarray) -> list[str]:
    """Text for COPY's text format: backslash, tab, newline and carriage return escaped (rarely present)."""
    joined = "".join(values)
    if not any(char in joined for char in "\\\t\n\r"):
        return values.tolist()
    return [
        v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")
        for v in values.tolist()
    ]


def number_renderer(f: Field, kind: Kind, *, text: bool) -> Callable[[float], object]:
    """A number as COPY text or a Python value; blank (NaN) as NULL, or as the default if not nullable."""
    missing = None if f.null else f.get_default()
    if text:
        missing = r"\N" if missing is None else str(missing)

    def render(value: float):
        if value != value:
            return missing
        number = int(value) if kind == Kind.INTEGER else value
        return str(number) if text else number

    return render


def date_renderer(missing: str | None) -> Callable[[int], str | None]:
    """A date (days since 1970 as int64, NaT the smallest int64) as ISO text, or missing."""
    nat = np.datetime64("NaT").view(np.int64)

    def render(days: int):
        return missing if days == nat else str(np.datetime64(int(days), "D"))

    return render


def format_distinct(values: np.ndarray, render: Callable) -> list:
    """render() of every value, called once per distinct value (amounts and dates repeat a lot)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    rendered = np.empty(len(uniques), dtype=object)
    rendered[:] = [render(u) for u in np.asarray(uniques).tolist()]
    return rendered[codes].tolist()


def _as_text(value) -> str:
    """A staged value as a rejected row shows it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _json(value) -> str:
    return json.dumps(value, ensure_ascii=False)
