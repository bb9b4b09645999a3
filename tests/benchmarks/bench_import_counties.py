"""Benchmark: two counties' files of one department, imported one after the other and side by side (PostgreSQL).

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_bench \\
        .venv/bin/python -m tests.benchmarks.bench_import_counties --rows 150000 --repeat 2

A province's counties send their monthly files of a department each for its own county. Each county's load takes
the department's lock for its county only (exchange.pipeline._lock_department), so two counties' imports run at
once. Two generated health-like (医保) CSVs of --rows rows, one for 雷山县 and one for 巴东县, each imported by
import_department_file in a process of its own: both one after the other, then both started together, the record
table emptied before each; the processes' own start (Django's setup) is not counted. Prints the seconds, rows/s
and the side-by-side / one-after-the-other ratio for each repeat, and the machine. Timings never decide anything
in the test suite.
"""

import argparse
import json
import os
import subprocess
from pathlib import Path

from tests.benchmarks.bench_import_feed import (
    REGION,
    empty_health_tables,
    generate,
    import_child_command,
    machine,
    prepare_database,
    setup_django,
)

OTHER_REGION = "422823000000"  # 巴东县 (fixtures/regions_badong.csv)


def load_other_county() -> None:
    from django.conf import settings

    from povertycloud.regions.models import Region
    from povertycloud.regions.services import load_regions_csv

    if not Region.objects.filter(code=OTHER_REGION).exists():
        load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_badong.csv")


def imports(files: list[tuple[Path, str]], *, together: bool) -> float:
    """Seconds of importing the files, each in a process of its own (Django's start not counted): one after the
    other, the sum of the imports; together, from the first import's start to the last one's end."""
    empty_health_tables()
    commands = [import_child_command(path, region) for path, region in files]
    if together:
        children = [subprocess.Popen(command, stdout=subprocess.PIPE, text=True) for command in commands]
        outputs = [child.communicate()[0] for child in children]
        codes = [child.returncode for child in children]
    else:
        done = [subprocess.run(command, stdout=subprocess.PIPE, text=True) for command in commands]
        outputs, codes = [d.stdout for d in done], [d.returncode for d in done]
    if any(codes):
        raise SystemExit(f"An import failed (exit codes {codes}).")
    results = [json.loads(output.strip().splitlines()[-1]) for output in outputs]
    if together:
        return max(r["finished_at"] for r in results) - min(r["started_at"] for r in results)
    return sum(r["seconds"] for r in results)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=150_000, help="rows per county's file (default 150000)")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--dir", default="var/bench", help="where the generated files are kept")
    args = parser.parse_args()
    setup_django()
    from django.db import connection

    if connection.vendor != "postgresql":
        raise SystemExit("This benchmark measures PostgreSQL: set DATABASE_URL=postgres://…")
    prepare_database()
    load_other_county()
    print("Machine:", machine())
    directory = Path(args.dir)
    directory.mkdir(parents=True, exist_ok=True)
    files = []
    for seed, region in ((11, REGION), (12, OTHER_REGION)):
        path = directory / f"health_{args.rows}_{seed}_{region[:6]}.csv"
        generate(path, args.rows, seed=seed)
        files.append((path, region))
    rows = 2 * args.rows
    for repeat in range(1, args.repeat + 1):
        serial = imports(files, together=False)
        side_by_side = imports(files, together=True)
        print(
            f"repeat {repeat}: {rows:,} rows of two counties, one after the other {serial:.1f} s "
            f"({rows / serial:,.0f} rows/s), side by side {side_by_side:.1f} s ({rows / side_by_side:,.0f} rows/s); "
            f"side by side / one after the other = {serial / side_by_side:.2f}× the rows per second "
            f"(load average {os.getloadavg()[0]:.1f})"
        )
    empty_health_tables()


if __name__ == "__main__":
    main()
