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

Prints rows/s, seconds per stage, peak memory, the import's share of the bare COPY's rate, and the machine.
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


def stage_import(args) -> dict:
    from demo.county.generator import load_county
    from exchange.models import ImportBatch

    _empty_tables()
    ImportBatch.objects.filter(department="registry").update(status=ImportBatch.Status.FAILED)
    batch = load_county(summary_or_dir=Path(args.dir))
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in batch.timings.items())
    return {"rows": batch.total_rows, "detail": f"{timings}; rejected {batch.rejected_rows}"}


def stage_again(args) -> dict:
    from demo.county.generator import load_county
    from exchange.models import ImportBatch

    ImportBatch.objects.filter(department="registry").update(status=ImportBatch.Status.FAILED)
    batch = load_county(summary_or_dir=Path(args.dir))
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in batch.timings.items())
    return {"rows": batch.total_rows, "detail": f"{timings}; rows new or changed {batch.new_versions}"}


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
    started = time.perf_counter()
    with transaction.atomic():
        for table in TABLES:
            columns, data = dumps[table]
            with raw.cursor() as cursor, cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
                copy.write(data)
            rows += data.count(b"\n")
    seconds = time.perf_counter() - started
    return {"rows": rows, "seconds": seconds, "detail": "COPY FROM of the rows the import wrote, committed"}


STAGES = {"generate": stage_generate, "import": stage_import, "again": stage_again, "copy": stage_copy}


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
        results[name] = run_stage(name, args)
        r = results[name]
        print(
            f"{name:<9} {r['seconds']:8.1f} s  {r['rows']:>10,} rows  {r['rows'] / r['seconds']:>10,.0f} rows/s  "
            f"peak {r['peak_mb']:,.0f} MB  {r.get('detail', '')}",
            flush=True,
        )
    share = (results["import"]["rows"] / results["import"]["seconds"]) / (
        results["copy"]["rows"] / results["copy"]["seconds"]
    )
    print(f"import rate / bare COPY rate: {share:.0%}")


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "povertycloud.settings")
    main()
