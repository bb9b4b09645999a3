"""Benchmark: a department declared as data against the same department typed (run on purpose, not in the suite).

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_bench \\
        .venv/bin/python -m tests.benchmarks.bench_declared_import --rows 200000 --repeat 2

One generated 民政 (civil_affairs) CSV of --rows rows (UTF-8 with BOM, ~1% faulty rows) is imported end to end
(import_department_file: read, validate, stage, merge with history, link) through

- the typed department ``civil_affairs`` (CivilAffairsRecord, a column per field), and
- a department declared as data with exactly the civil_affairs columns (same headers, kinds, code sets, limits;
  declared with exchange.feeds.declare.declare_feed), whose records go into DeclaredRecord.data (JSON),

side by side in one run, each --repeat times into a fresh state (the department's records, batches, rejected
rows and candidates deleted and the table vacuumed before each import; the order alternates between repeats).
Prints rows/s of each import, the pipeline's step timings, the ratio declared/typed (target ≥ 0.50) and the
machine. The declared department's feed is removed at the end. Timings never decide anything in the test suite.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

from tests.benchmarks.bench_import_feed import machine, prepare_database, setup_django

REGION = "522634000000"
DECLARED = "civil_affairs_declared"


def civil_frame(n: int, *, seed: int, period: str = "2025-03"):
    """A 民政 file of n people as strings, vectorised; ~1% of rows carry a fault (an unknown 低保类别)."""
    import numpy as np
    import pandas as pd

    from tests.exchange.files import FAMILY, GIVEN, resident_ids

    rng = np.random.default_rng(seed)
    ids = resident_ids(n, rng)
    names = np.char.add(
        np.char.add(FAMILY[rng.integers(0, len(FAMILY), n)], GIVEN[rng.integers(0, len(GIVEN), n)]),
        np.where(rng.random(n) < 0.6, GIVEN[rng.integers(0, len(GIVEN), n)], ""),
    )
    sex = np.where(np.ascontiguousarray(ids, dtype="U18").view(np.uint32).reshape(n, 18)[:, 16] % 2 == 1, "男", "女")

    def dates(mask, start: str, days: int):
        day = np.datetime64(start) + rng.integers(0, days, n).astype("timedelta64[D]")
        return np.where(mask, np.datetime_as_string(day, unit="D"), "")

    draw = rng.random(n)
    dibao = np.where(draw < 0.6, "农村低保", np.where(draw < 0.7, "城市低保", ""))
    on_dibao = dibao != ""
    stopped = on_dibao & (rng.random(n) < 0.05)
    tekun = rng.random(n) < 0.05
    relief_count = np.where(rng.random(n) < 0.2, rng.integers(1, 4, n), 0)
    relieved = relief_count > 0
    relief_amount = rng.integers(300, 3000, n) * relief_count
    last_amount = relief_amount // np.maximum(relief_count, 1)
    frame = pd.DataFrame(
        {
            "统计期": np.full(n, period),
            "乡镇（街道）": np.array(["丹江镇", "西江镇", "永乐镇", "郎德镇"])[rng.integers(0, 4, n)],
            "村（社区）": np.array(["西江村", "麻料村", "郎德上寨", "乌东村", "龙塘村"])[rng.integers(0, 5, n)],
            "证件号码": ids,
            "姓名": names,
            "性别": sex,
            "低保类别": dibao,
            "低保档次": np.where(on_dibao, np.array(["一档", "二档", "三档"])[rng.integers(0, 3, n)], ""),
            "低保月保障金额（元）": np.where(on_dibao, rng.integers(200, 800, n).astype(str), ""),
            "低保开始日期": dates(on_dibao, "2016-01-01", 3000),
            "低保停止日期": dates(stopped, "2024-06-01", 270),
            "特困供养": np.where(tekun, "是", "否"),
            "特困供养开始日期": dates(tekun, "2015-01-01", 3000),
            "本年临时救助次数": relief_count.astype(str),
            "本年临时救助金额（元）": np.where(relieved, relief_amount.astype(str), ""),
            "最近临时救助日期": dates(relieved, "2025-01-01", 59),
            "最近临时救助金额（元）": np.where(relieved, last_amount.astype(str), ""),
            "孤儿": np.where(rng.random(n) < 0.002, "是", "否"),
            "事实无人抚养儿童": np.where(rng.random(n) < 0.002, "是", "否"),
        },
        dtype=object,
    )
    faulty = rng.random(n) < 0.01
    frame.loc[faulty, "低保类别"] = "五保"
    return frame


def declaration_like_civil_affairs() -> dict:
    """The typed civil_affairs department, declared as data: same headers, kinds, code sets and limits."""
    from exchange.departments import CIVIL_AFFAIRS

    return {
        "slug": DECLARED,
        "name": "民政（声明）",
        "name_en": "Civil affairs (declared)",
        "description": "benchmark: the civil_affairs columns declared as data",
        "full_snapshot": CIVIL_AFFAIRS.full_snapshot,
        "columns": [
            {
                "column": spec.column,
                "key": spec.name,
                "kind": spec.kind.value,
                "required": spec.required,
                "codeset": spec.codeset,
                "min_value": spec.min_value,
                "max_value": spec.max_value,
                "max_length": spec.max_length,
                "required_when": spec.required_when,
            }
            for spec in CIVIL_AFFAIRS.fields
        ],
    }


def declare() -> None:
    from exchange.feeds.declare import declare_feed
    from exchange.feeds.models import DepartmentFeed

    DepartmentFeed.objects.filter(slug=DECLARED).delete()
    declare_feed(declaration=declaration_like_civil_affairs(), by=None)


def fresh_state(slug: str) -> None:
    """Nothing of the department left: its records, batches, rejected rows and link candidates."""
    from django.db import connection

    from exchange.departments import CivilAffairsRecord
    from exchange.feeds.models import DeclaredRecord
    from exchange.models import ImportBatch, LinkCandidate, RejectedRow

    batches = f"SELECT id FROM {ImportBatch._meta.db_table} WHERE department = %s"
    with connection.cursor() as cursor:
        if slug == "civil_affairs":
            cursor.execute(f"TRUNCATE {CivilAffairsRecord._meta.db_table}")
            table = CivilAffairsRecord._meta.db_table
        else:
            table = DeclaredRecord._meta.db_table
            cursor.execute(f"DELETE FROM {table} WHERE department = %s", [slug])
        cursor.execute(f"DELETE FROM {RejectedRow._meta.db_table} WHERE batch_id IN ({batches})", [slug])
        cursor.execute(f"DELETE FROM {LinkCandidate._meta.db_table} WHERE department = %s", [slug])
        cursor.execute(f"DELETE FROM {ImportBatch._meta.db_table} WHERE department = %s", [slug])
        cursor.execute(f"VACUUM ANALYZE {table}")


def run_once(slug: str, path: Path) -> dict:
    from exchange.pipeline import import_department_file

    fresh_state(slug)
    started = time.perf_counter()
    batch = import_department_file(department=slug, path=path, by=None, region_code=REGION)
    seconds = time.perf_counter() - started
    assert batch.status == "succeeded", batch.error
    return {
        "slug": slug,
        "seconds": seconds,
        "rate": batch.total_rows / seconds,
        "total": batch.total_rows,
        "accepted": batch.accepted_rows,
        "rejected": batch.rejected_rows,
        "timings": dict(getattr(batch, "timings", {}) or {}),
    }


def same_records() -> bool:
    """The declared department's records hold what the typed one's do (a sample of 1,000, by ID number)."""
    from exchange.declarations import get_department
    from exchange.departments import CIVIL_AFFAIRS, CivilAffairsRecord

    declared = get_department(DECLARED)
    typed = {r.id_number: r for r in CivilAffairsRecord.objects.order_by("id_number")[:1000]}
    found = {r.id_number: r for r in declared.records().filter(id_number__in=list(typed))}
    if set(found) != set(typed):
        return False
    for id_number, record in typed.items():
        other = found[id_number]
        for spec in CIVIL_AFFAIRS.fields:
            a, b = CIVIL_AFFAIRS.value(record, spec.name), declared.value(other, spec.name)
            if hasattr(a, "isoformat"):
                a = a.isoformat()
            if a is not None and b is not None and not isinstance(a, str | bool):
                a, b = float(a), float(b)
            if (a or None) != (b or None):
                print(f"  differs: {id_number} {spec.name}: typed {a!r}, declared {b!r}")
                return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--dir", default="var/bench", help="where the generated file is kept")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        sys.exit("This benchmark measures PostgreSQL (COPY): set DATABASE_URL=postgres://…")
    prepare_database()
    print("Machine:", machine())
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"civil_{args.rows}_{args.seed}.csv"
    started = time.perf_counter()
    civil_frame(args.rows, seed=args.seed).to_csv(path, index=False, encoding="utf-8-sig")
    print(
        f"Generated {args.rows:,} rows ({path.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - started:.0f} s "
        f"(not measured)"
    )
    declare()
    runs: dict[str, list[dict]] = {"civil_affairs": [], DECLARED: []}
    for repeat in range(args.repeat):
        order = ["civil_affairs", DECLARED] if repeat % 2 == 0 else [DECLARED, "civil_affairs"]
        for slug in order:
            result = run_once(slug, path)
            runs[slug].append(result)
            print(
                f"  run {repeat + 1} {slug:<22} {result['total']:,} rows ({result['accepted']:,} accepted, "
                f"{result['rejected']:,} rejected) in {result['seconds']:.1f} s = {result['rate']:,.0f} rows/s"
            )
            if result["timings"]:
                print("      steps (s): " + ", ".join(f"{k} {v:.2f}" for k, v in result["timings"].items()))
    print(f"Declared records equal the typed ones (sample of 1,000): {same_records()}")
    typed_rate = statistics.median(r["rate"] for r in runs["civil_affairs"])
    declared_rate = statistics.median(r["rate"] for r in runs[DECLARED])
    typed_best = max(r["rate"] for r in runs["civil_affairs"])
    declared_best = max(r["rate"] for r in runs[DECLARED])
    print("\nRows per second (median of the runs; best in brackets):")
    print(f"  typed civil_affairs       {typed_rate:>10,.0f}  ({typed_best:,.0f})")
    print(f"  declared as data          {declared_rate:>10,.0f}  ({declared_best:,.0f})")
    print(f"  declared / typed          {declared_rate / typed_rate:>10.2f}  ({declared_best / typed_best:.2f})"
          f"   (target ≥ 0.50)")
    for slug in runs:
        fresh_state(slug)
    from exchange.feeds.models import DepartmentFeed

    DepartmentFeed.objects.filter(slug=DECLARED).delete()


if __name__ == "__main__":
    os.environ.setdefault("DJANGO_ENV", "development")
    main()
