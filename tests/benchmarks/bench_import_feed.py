"""Benchmark of the department import on PostgreSQL (run on purpose, not by the default test run).

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_bench \\
        .venv/bin/python -m tests.benchmarks.bench_import_feed --rows 1000000

On a generated health-like (医保) CSV of --rows rows (UTF-8 with BOM, ~1% faulty rows), in one run:

(a) the import end to end (import_department_file: read, validate, COPY, merge with history, link), into
    an empty record table, in a child process whose peak memory (VmHWM) is reported;
(a2) a second period of the same people (10% changed, 1% no longer listed): the history merge;
(b) a bare COPY of the same accepted rows, already typed, into the same (emptied) record table with the
    same indexes and constraints, committed: in file order and in ID order;
(b0) a bare COPY of the same rows into an unindexed table of the same columns (no index, constraint or foreign
    key), committed: what the table alone costs;
(b1) the floor of a layout that loads each batch bare and indexes it once (a partition per batch, the
    one-current-version rule kept by a small table of current versions): the same COPY into a new bare table, its
    five indexes built after it, and a current-versions table (ID number, county, version, hash) filled from it
    with its unique index, committed. Nothing of the import's own work (reading, validating, linking, the merge)
    is in it;
(r) the import's own Python work on the same file, without the database: reading the chunks, validating them,
    rendering the COPY text (in the import these run in one thread, beside the staging COPY);
(c) django-import-export's bulk mode (a ModelResource over HealthRecord, use_bulk=True, batch_size=1000) on
    the first --slice rows.

Prints rows/s, peak memory, the ratios (the import against (b0) among them, the most that ratio could be if
the merge and the commit cost nothing, and the most it could be on the (b1) layout with (r) wholly beside its
COPY) and the machine. Timings never decide anything in the test suite.
"""

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

COLUMNS = (
    "batch_id",
    "row_number",
    "id_number",
    "name",
    "person_id",
    "region_code",
    "row_hash",
    "valid_from",
    "valid_to",
    "period",
    "insured",
    "insurance_type",
    "critical_illness_insurance",
    "chronic_diagnosis",
    "serious_diagnosis",
    "serious_diagnosis_date",
    "out_of_pocket_ytd",
    "max_stay_self_pay",
    "monthly_outpatient_cost",
)
REGION = "522634000000"


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "povertycloud.settings")
    import django

    django.setup()


def machine() -> str:
    from django.db import connection

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
        kib = next(
            int(x.split()[1]) for x in Path("/proc/meminfo").read_text().splitlines() if x.startswith("MemTotal")
        )
        ram = f"{kib / 1024 / 1024:.1f} GiB"
    except (OSError, StopIteration):
        ram = "?"
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
        settings = []
        for name in ("shared_buffers", "work_mem", "max_wal_size", "synchronous_commit", "jit", "autovacuum"):
            cursor.execute(f"SHOW {name}")
            settings.append(f"{name}={cursor.fetchone()[0]}")
    load = os.getloadavg()
    return (
        f"CPU {cpu}, {os.cpu_count()} cores, RAM {ram}, Python {platform.python_version()}, {version} "
        f"({', '.join(settings)}); load average at start {load[0]:.1f}"
    )


def prepare_database(*, migrate: bool = True) -> None:
    from django.core.management import call_command

    from povertycloud.regions.models import Region
    from povertycloud.regions.services import load_regions_csv

    if migrate:
        call_command("migrate", verbosity=0)
    if not Region.objects.filter(code=REGION).exists():
        from django.conf import settings

        load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")


def empty_health_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE households_healthrecord")
        cursor.execute(
            "DELETE FROM households_rejectedrow WHERE batch_id IN "
            "(SELECT id FROM households_importbatch WHERE department = 'health')"
        )
        cursor.execute("DELETE FROM households_importbatch WHERE department = 'health'")
        cursor.execute("VACUUM ANALYZE households_healthrecord")


def generate(path: Path, rows: int, *, seed: int, period: str = "2025-03", base=None):
    from tests.exchange.files import health_frame

    frame = health_frame(rows, seed=seed, period=period, ids=base)
    frame.to_csv(path, index=False, encoding="utf-8-sig")
    return frame


def second_period(first, path: Path, *, seed: int) -> None:
    """The same people a month later: 10% with a new year-to-date cost, 1% no longer listed."""
    import numpy as np

    rng = np.random.default_rng(seed)
    frame = first.copy()
    frame["统计期"] = "2025-04"
    changed = rng.random(len(frame)) < 0.10
    frame.loc[changed, "年度累计自付费用（元）"] = rng.integers(1, 9000, int(changed.sum())).astype(str)
    frame = frame[rng.random(len(frame)) >= 0.01]
    frame.to_csv(path, index=False, encoding="utf-8-sig")


# --- (a) the import, in a child process so that its peak memory is its own ---------------------------


def import_child_command(path: Path, region_code: str = REGION) -> list[str]:
    """The command that imports one file in a process of its own (whose peak memory is then its own)."""
    module = "tests.benchmarks.bench_import_feed"
    return [sys.executable, "-m", module, "--phase", "import", "--file", str(path), "--region", region_code]


def run_import_child(path: Path) -> dict:
    output = subprocess.run(
        import_child_command(path), check=True, capture_output=True, text=True, env=os.environ.copy()
    )
    return json.loads(output.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """This process's peak resident memory. Not ru_maxrss: Linux carries that across exec, so a child
    started by the benchmark would report the parent's peak (the generated file held in memory)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def import_phase(path: Path, region_code: str) -> None:
    from exchange.pipeline import import_department_file

    started, started_at = time.perf_counter(), time.time()
    batch = import_department_file(department="health", path=path, by=None, region_code=region_code)
    seconds = time.perf_counter() - started
    print(
        json.dumps(
            {
                "batch": batch.pk,
                "seconds": seconds,
                "started_at": started_at,  # wall clock, for imports run side by side in several processes
                "finished_at": started_at + seconds,
                "total": batch.total_rows,
                "accepted": batch.accepted_rows,
                "rejected": batch.rejected_rows,
                "new_versions": batch.new_versions,
                "closed": batch.closed_versions,
                "note": batch.note,
                "peak_rss_mb": peak_rss_mb(),
                "timings": getattr(batch, "timings", {}),
            }
        )
    )


# --- (b) bare COPY -------------------------------------------------------------------------------------


def export_typed_rows(batch_id: int, out: Path, *, order: str) -> int:
    from django.db import connection

    with connection.cursor() as cursor, out.open("wb") as handle:
        sql = (
            f"COPY (SELECT {', '.join(COLUMNS)} FROM households_healthrecord WHERE batch_id = {int(batch_id)} "
            f"ORDER BY {order}) TO STDOUT"
        )
        with cursor.cursor.copy(sql) as copy:
            for block in copy:
                handle.write(block)
    return sum(1 for _ in out.open("rb"))


UNINDEXED = "bench_health_unindexed"


def unindexed_copy(path: Path) -> float:
    """COPY into a new table with the record table's columns and defaults only."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"DROP TABLE IF EXISTS {UNINDEXED}")
        cursor.execute(f"CREATE TABLE {UNINDEXED} (LIKE households_healthrecord INCLUDING DEFAULTS INCLUDING IDENTITY)")
    try:
        return bare_copy(path, table=UNINDEXED)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {UNINDEXED}")


def bare_copy(path: Path, *, table: str = "households_healthrecord") -> float:
    from django.db import connection, transaction

    started = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        copy_file(cursor, path, table)
    return time.perf_counter() - started


def copy_file(cursor, path: Path, table: str) -> None:
    sql = f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN"
    with cursor.cursor.copy(sql) as copy, path.open("rb") as f:
        while block := f.read(1 << 20):
            copy.write(block)


def restore_batch(info: dict) -> None:
    """Bare COPY rows reference the import's batch row: keep it (and nothing else) between the runs."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("TRUNCATE households_healthrecord")
        cursor.execute(
            "DELETE FROM households_rejectedrow WHERE batch_id IN "
            "(SELECT id FROM households_importbatch WHERE department = 'health')"
        )
        cursor.execute("DELETE FROM households_importbatch WHERE department = 'health' AND id <> %s", [info["batch"]])
        cursor.execute("VACUUM ANALYZE households_healthrecord")


LAYOUT_FLOOR = "bench_health_bare_partition"
CURRENT_FLOOR = "bench_health_current_versions"
FLOOR_INDEXES = (
    "ALTER TABLE {t} ADD PRIMARY KEY (id)",
    "CREATE INDEX ON {t} (id_number, valid_from)",
    "CREATE INDEX ON {t} (person_id)",
    "CREATE INDEX ON {t} (region_code varchar_pattern_ops)",
    "CREATE INDEX ON {t} USING brin (batch_id)",
)


def layout_floor(path: Path) -> dict[str, float]:
    """(b1): COPY into a bare table, its indexes built once, and a current-versions table with its unique index."""
    from django.db import connection, transaction

    def drop(cursor) -> None:
        cursor.execute(f"DROP TABLE IF EXISTS {LAYOUT_FLOOR}")
        cursor.execute(f"DROP TABLE IF EXISTS {CURRENT_FLOOR}")

    with connection.cursor() as cursor:
        drop(cursor)
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    try:
        with transaction.atomic(), connection.cursor() as cursor:
            # An index built once sorts in memory with this much (the default 64 MB spills to disk).
            cursor.execute("SET LOCAL maintenance_work_mem = '256MB'")
            cursor.execute(
                f"CREATE TABLE {LAYOUT_FLOOR} (LIKE households_healthrecord INCLUDING DEFAULTS INCLUDING IDENTITY)"
            )
            copy_file(cursor, path, LAYOUT_FLOOR)
            clock = time.perf_counter()
            seconds["copy"] = clock - started
            for statement in FLOOR_INDEXES:
                cursor.execute(statement.format(t=LAYOUT_FLOOR))
            seconds["indexes"] = time.perf_counter() - clock
            clock = time.perf_counter()
            cursor.execute(
                f"CREATE TABLE {CURRENT_FLOOR} (id_number varchar(18) NOT NULL, county varchar(6) NOT NULL, "
                f"version_id bigint NOT NULL, row_hash varchar(32) NOT NULL)"
            )
            cursor.execute(
                f"INSERT INTO {CURRENT_FLOOR} SELECT id_number, left(region_code, 6), id, row_hash "
                f"FROM {LAYOUT_FLOOR} ORDER BY id_number"
            )
            cursor.execute(f"CREATE UNIQUE INDEX ON {CURRENT_FLOOR} (id_number, county)")
            seconds["current"] = time.perf_counter() - clock
        seconds["total"] = time.perf_counter() - started
    finally:
        with connection.cursor() as cursor:
            drop(cursor)
    return seconds


def python_work(path: Path) -> dict[str, float]:
    """(r): the import's reading, validating and COPY text over the file, timed apart, without the database."""
    from django.utils import timezone

    from exchange.declarations import get_department
    from exchange.load import Loader
    from exchange.models import ImportBatch
    from exchange.readers import FileReader, match_header
    from exchange.validate import FileValidator
    from households.codes import codebook

    department = get_department("health")
    reader = FileReader(path)
    header = match_header(department, reader.headers)
    validator = FileValidator(
        department=department,
        codes=codebook(),
        positions=header.positions,
        headers=header.headers,
        period="2025-03",
        today=timezone.localdate(),
    )
    loader = Loader(department=department, batch=ImportBatch(region_code=REGION), region_prefix=REGION[:6])
    seconds = {"read": 0.0, "validate": 0.0, "copy_text": 0.0}
    next_row = 1
    clock = time.perf_counter()
    for chunk in reader.chunks():
        now = time.perf_counter()
        seconds["read"] += now - clock
        outcome = validator.validate(chunk, next_row)
        next_row += len(chunk)
        clock = time.perf_counter()
        seconds["validate"] += clock - now
        loader.copy_text(outcome.accepted)
        now = time.perf_counter()
        seconds["copy_text"] += now - clock
        clock = now
    seconds["total"] = sum(seconds.values())
    return seconds


# --- (c) django-import-export --------------------------------------------------------------------------


def import_export_bulk(typed: Path, rows: int) -> float:
    import tablib
    from import_export import fields, resources

    from exchange.departments import HealthRecord

    class HealthResource(resources.ModelResource):
        batch = fields.Field(attribute="batch_id", column_name="batch_id")
        person = fields.Field(attribute="person_id", column_name="person_id")

        class Meta:
            model = HealthRecord
            use_bulk = True
            batch_size = 1000
            import_id_fields = ()
            skip_diff = True
            fields = ("batch", "person", *(c for c in COLUMNS if c not in ("batch_id", "person_id")))

    headers = list(COLUMNS)
    data = tablib.Dataset(headers=headers)
    with typed.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle):
            if number >= rows:
                break
            data.append([None if v == r"\N" else v for v in line.rstrip("\n").split("\t")])
    started = time.perf_counter()
    result = HealthResource().import_data(data, dry_run=False, use_transactions=True, raise_errors=True)
    seconds = time.perf_counter() - started
    assert not result.has_errors()
    return seconds


# --- The run -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slice", type=int, default=20_000, help="rows for django-import-export (default 20000)")
    parser.add_argument("--seed", type=int, default=2)
    parser.add_argument("--dir", default="var/bench", help="where the generated files are kept")
    parser.add_argument("--skip-second-period", action="store_true")
    parser.add_argument(
        "--no-migrate", action="store_true", help="measure the database's schema as it is (e.g. an earlier migration)"
    )
    parser.add_argument("--phase", choices=["all", "import"], default="all", help=argparse.SUPPRESS)
    parser.add_argument("--file", help=argparse.SUPPRESS)
    parser.add_argument("--region", default=REGION, help=argparse.SUPPRESS)
    args = parser.parse_args()
    setup_django()
    if args.phase == "import":
        import_phase(Path(args.file), args.region)
        return

    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("This benchmark measures PostgreSQL (COPY): set DATABASE_URL=postgres://…")
    prepare_database(migrate=not args.no_migrate)
    print("Machine:", machine())
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    first_path = directory / f"health_{args.rows}_{args.seed}.csv"
    second_path = directory / f"health_{args.rows}_{args.seed}_2025-04.csv"
    started = time.perf_counter()
    first = generate(first_path, args.rows, seed=args.seed)
    if not args.skip_second_period:
        second_period(first, second_path, seed=args.seed + 1)
    del first
    print(
        f"Generated {args.rows:,} rows ({first_path.stat().st_size / 1e6:.0f} MB) in "
        f"{time.perf_counter() - started:.0f} s (not measured)"
    )

    empty_health_tables()
    a = run_import_child(first_path)
    a_rate = a["total"] / a["seconds"]
    print(
        f"\n(a) import end to end: {a['total']:,} rows ({a['accepted']:,} accepted, {a['rejected']:,} rejected) "
        f"in {a['seconds']:.1f} s = {a_rate:,.0f} rows/s; peak memory (RSS) {a['peak_rss_mb']:,.0f} MB"
    )
    print("    steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in a["timings"].items()))
    typed = directory / "health_typed_file_order.copy"
    typed_sorted = directory / "health_typed_id_order.copy"
    copied = export_typed_rows(a["batch"], typed, order="row_number")
    export_typed_rows(a["batch"], typed_sorted, order="id_number")
    if not args.skip_second_period:
        a2 = run_import_child(second_path)
        print(
            f"(a2) second period, history merge: {a2['total']:,} rows in {a2['seconds']:.1f} s = "
            f"{a2['total'] / a2['seconds']:,.0f} rows/s; peak {a2['peak_rss_mb']:,.0f} MB; {a2['note']}"
        )
        print("    steps (s): " + ", ".join(f"{k} {v:.1f}" for k, v in a2["timings"].items()))

    b0 = unindexed_copy(typed)
    print(
        f"(b0) bare COPY of the {copied:,} accepted rows, typed, into an unindexed table of the same columns "
        f"(commit): {b0:.1f} s = {copied / b0:,.0f} rows/s"
    )
    b1 = layout_floor(typed_sorted)
    print(
        f"(b1) the same rows into a bare table indexed once, with a current-versions table (commit): "
        f"{b1['total']:.2f} s = {copied / b1['total']:,.0f} rows/s (COPY {b1['copy']:.2f}, five indexes "
        f"{b1['indexes']:.2f}, current versions {b1['current']:.2f})"
    )
    r = python_work(first_path)
    print(
        f"(r) the import's own Python work, without the database: {r['total']:.2f} s (reading {r['read']:.2f}, "
        f"validating {r['validate']:.2f}, COPY text {r['copy_text']:.2f})"
    )
    restore_batch(a)
    b = bare_copy(typed)
    b_rate = copied / b
    restore_batch(a)
    b_sorted = bare_copy(typed_sorted)
    print(
        f"(b) bare COPY of the {copied:,} accepted rows, typed, into the same table (indexes, constraints, "
        f"commit): file order {b:.1f} s = {b_rate:,.0f} rows/s; ID order {b_sorted:.1f} s = "
        f"{copied / b_sorted:,.0f} rows/s"
    )

    restore_batch(a)
    rows = min(args.slice, copied)
    c = import_export_bulk(typed, rows)
    c_rate = rows / c
    print(
        f"(c) django-import-export bulk mode (use_bulk, batch_size 1000): {rows:,} rows in {c:.1f} s = "
        f"{c_rate:,.0f} rows/s"
    )
    empty_health_tables()

    print("\nRatios (rows per second):")
    print(f"  import / bare COPY (file order) = {a_rate / b_rate:.0%}   (target ≥ 75%)")
    print(f"  import / bare COPY (ID order)   = {a_rate / (copied / b_sorted):.0%}")
    print(f"  import / unindexed COPY         = {a_rate / (copied / b0):.0%}   (a province's target ≥ 35%)")
    # The ceiling of that ratio whatever the record tables' layout: reading, validating and rendering the rows
    # (read_validate, which the staging COPY overlaps) stay however cheap the insert and the commit become.
    reading = a["timings"].get("read_validate")
    if reading:
        print(
            f"  import with a free merge and commit / unindexed COPY ≤ {a['total'] / reading / (copied / b0):.0%}"
            f"   (reading and validating alone {reading:.1f} s against {b0:.1f} s for the unindexed COPY)"
        )
    # The most the (b1) layout could give: the Python work wholly beside the COPY (the other core), then the
    # indexes and the current versions; the merge, linking and commit free.
    overlapped = max(r["total"], b1["copy"]) + b1["indexes"] + b1["current"]
    print(
        f"  import on the bare-load layout (b1), the Python work (r) beside its COPY / unindexed COPY "
        f"≤ {b0 / overlapped:.0%}   ({overlapped:.2f} s at best against {b0 / 0.35:.2f} s for 35%)"
    )
    print(f"  import / django-import-export   = {a_rate / c_rate:,.0f}×   (target ≥ 50×)")
    print(
        f"  import throughput {a_rate:,.0f} rows/s (target ≥ 100,000); peak {a['peak_rss_mb']:,.0f} MB "
        f"(target ≤ 2,048 MB)"
    )


if __name__ == "__main__":
    main()
