"""Benchmark of the registry import on PostgreSQL (run on purpose, not by the default test run).

    createdb -h 127.0.0.1 -U postgres povertycloud_registry
    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_registry \\
        .venv/bin/python -m tests.benchmarks.bench_registry --persons 1000000

In one run, each stage in a process of its own (peak memory is that process's VmHWM):

(a) generate: the demo county's national-format export (户信息, 成员信息, 收支信息 with five years, 状态变更);
(b) import: the registry import end to end (read, check every row with the household file's validators,
    cross-table checks, COPY, status history) into empty household tables;
(c) again: the same export a second time as a new batch (other bytes, same content): every row compared,
    nothing written;
(d) bare COPY: the rows the import wrote, dumped with COPY TO and loaded again with COPY FROM into the same
    (emptied) tables with the same indexes and constraints, committed.

Prints rows/s, seconds per stage (and the import's read, check and load with their rows/s, and a breakdown per
table with the process's memory after each stage), peak memory, the import's share of the bare COPY's rate,
and the machine. ``--reuse`` skips (a) when the export is already in ``--dir`` (the database must have been
set up by an earlier run).
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.bench_import_feed import machine, setup_django

TABLES = ("households_household", "households_person", "households_incomerecord", "households_statuschange")


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM"):
            return int(line.split()[1]) / 1024
    return 0.0


def stage_generate(args) -> dict:
    from django.conf import settings
    from django.core.management import call_command

    from demo.county.generator import generate_county
    from households.monitoring import DEMO_THRESHOLDS, load_thresholds_csv
    from povertycloud.regions.services import load_regions_csv

    call_command("migrate", verbosity=0)
    load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")
    load_thresholds_csv(DEMO_THRESHOLDS)
    summary = generate_county(persons=args.persons, seed=args.seed, out_dir=Path(args.dir))
    rows = sum(m["rows"] for m in summary.registry_files.values())
    return {"rows": rows, "detail": f"{summary.households:,} households, {summary.persons:,} people"}


def _empty_tables() -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE")


def _outcome(batch, note: str) -> dict:
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in batch.timings.items())
    detail = " ".join(f"{k} {v:.1f}" for k, v in getattr(batch, "timing_detail", {}).items())
    return {
        "rows": batch.total_rows, "detail": f"{timings}; {note}", "stages": batch.timings, "breakdown": detail,
    }


def stage_import(args) -> dict:
    from demo.county.generator import load_county
    from exchange.models import ImportBatch

    _empty_tables()
    ImportBatch.objects.filter(department="registry").update(status=ImportBatch.Status.FAILED)
    batch = load_county(summary_or_dir=Path(args.dir))
    return _outcome(batch, f"rejected {batch.rejected_rows}")


def stage_again(args) -> dict:
    from demo.county.generator import load_county
    from exchange.models import ImportBatch

    ImportBatch.objects.filter(department="registry").update(status=ImportBatch.Status.FAILED)
    batch = load_county(summary_or_dir=Path(args.dir))
    return _outcome(batch, f"rows new or changed {batch.new_versions}")


def stage_copy(args) -> dict:
    from django.db import connection, transaction

    dumps = {}
    connection.ensure_connection()
    raw = connection.connection
    for table in TABLES:
        columns = [
            c.name
            for c in connection.introspection.get_table_description(connection.cursor(), table)
            if c.name not in ("net_income", "per_capita_net_income")
        ]
        buffer = bytearray()
        with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) TO STDOUT") as copy:
            for block in copy:
                buffer.extend(block)
        dumps[table] = (columns, bytes(buffer))
    _empty_tables()
    rows = 0
    per_table = {}
    started = time.perf_counter()
    with transaction.atomic():
        for table in TABLES:
            columns, data = dumps[table]
            clock = time.perf_counter()
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(data)
            per_table[table.removeprefix("households_")] = time.perf_counter() - clock
            rows += data.count(b"\n")
        clock = time.perf_counter()
    per_table["commit"] = time.perf_counter() - clock
    seconds = time.perf_counter() - started
    breakdown = " ".join(f"{k} {v:.1f}" for k, v in per_table.items())
    return {
        "rows": rows, "seconds": seconds, "detail": "COPY FROM of the rows the import wrote, committed",
        "breakdown": breakdown,
    }


STAGES = {"generate": stage_generate, "import": stage_import, "again": stage_again, "copy": stage_copy}
GENERATED = ("户信息.csv", "成员信息.csv", "收支信息.csv", "状态变更.csv")


def run_stage(name: str, args) -> dict:
    command = [sys.executable, "-m", "tests.benchmarks.bench_registry", "--stage", name, "--persons",
               str(args.persons), "--seed", str(args.seed), "--dir", args.dir]
    started = time.perf_counter()
    output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
    result = json.loads(output.strip().splitlines()[-1])
    result.setdefault("seconds", time.perf_counter() - started)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--persons", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dir", default=str(Path(tempfile.gettempdir()) / "povertycloud-registry-bench"))
    parser.add_argument("--stage", choices=STAGES)
    parser.add_argument("--reuse", action="store_true", help="use the export already generated in --dir")
    args = parser.parse_args()
    setup_django()
    if args.stage:
        started = time.perf_counter()
        result = STAGES[args.stage](args)
        result.setdefault("seconds", time.perf_counter() - started)
        result["peak_mb"] = peak_mb()
        print(json.dumps(result, ensure_ascii=False))
        return
    print(machine())
    results = {}
    for name in STAGES:
        if name == "generate" and args.reuse and all((Path(args.dir) / f).is_file() for f in GENERATED):
            continue
        results[name] = run_stage(name, args)
        r = results[name]
        print(
            f"{name:<9} {r['seconds']:8.1f} s  {r['rows']:>10,} rows  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
            f"peak {r['peak_mb']:,.0f} MB  {r.get('detail', '')}",
            flush=True,
        )
        for stage, seconds in r.get("stages", {}).items():
            print(f"  {stage:<7} {seconds:8.1f} s  {r['rows'] / max(seconds, 1e-9):>10,.0f} rows/s", flush=True)
        if r.get("breakdown"):
            print(f"  ({r['breakdown']})", flush=True)
    share = (results["import"]["rows"] / results["import"]["seconds"]) / (
        results["copy"]["rows"] / results["copy"]["seconds"]
    )
    print(f"import rate / bare COPY rate: {share:.0%}")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "povertycloud.settings")
    main()
