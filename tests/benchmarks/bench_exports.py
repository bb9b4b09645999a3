"""Benchmark of the exports at county scale (issue #15 item 1), on an existing county database.

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_h_exports \\
        nice .venv/bin/python -m tests.benchmarks.bench_exports

Cases, each in a child process of its own so that its peak memory (VmHWM) is its own:

  county-csv    the auditors' household and member export (reports.exports, kind households) of the whole
                county, CSV (a zip of one CSV per table);
  county-xlsx   the same as XLSX (the member sheet continues on a second sheet past 1,048,576 rows);
  list-township the officials' household-list export (households.spreadsheets.write_workbook, XLSX) of one
                township, as that township's official;
  list-county   the same for the whole county, as county staff (target: ≤ 60 s, memory flat);
  list-township-csv, list-county-csv  the same two as CSV.

--repeat N runs each case N times (one after the other) and prints each run and the median; the load average
is printed with each run, since the machine is shared.

Each case prints wall time, the process's CPU time (Python's share; on a busy machine wall time grows with
the load, CPU time much less), rows, rows/s, file size and peak RSS beside the targets (≤ 60 s, ≤ 1 GB). The
export runs as a benchmark user of the region (bench-exports-*; created if missing) and is written to the
audit trail like any export: run it on a copy of the county, not on povertycloud_county. Files are written
to a temporary directory and deleted unless --keep.
"""

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.benchmarks.bench_import_feed import machine, setup_django

COUNTY = "522634000000"
TOWNSHIP = "522634101000"
TARGET_SECONDS = 60.0
TARGET_MB = 1024.0
CASES = ("county-csv", "county-xlsx", "list-township", "list-county", "list-township-csv", "list-county-csv")


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def print_run(label: str, r: dict) -> None:
    rate = r["rows"] / r["seconds"] if r["seconds"] else 0
    verdict = f"time {r['seconds'] / TARGET_SECONDS:.2f}× of target, memory {r['peak_mb'] / TARGET_MB:.2f}× of target"
    print(
        f"{label:<17} {r['seconds']:>8.1f} {r['cpu']:>7.1f} {r['rows']:>10,} {rate:>9,.0f} {r['bytes'] / 1e6:>8.1f} "
        f"{r['peak_mb']:>8.0f} {r['load']:>5.1f}  {verdict}",
        flush=True,
    )


def bench_user(role: str, region_code: str):
    from povertycloud.accounts.models import User

    user, _created = User.objects.get_or_create(
        username=f"bench-exports-{role}-{region_code}", defaults={"role": role, "region_id": region_code}
    )
    return user


def run_case(case: str, county: str, township: str, out_dir: Path) -> dict:
    import datetime as dt

    from households import selectors, spreadsheets
    from povertycloud.audit.models import AuditEvent
    from povertycloud.regions.models import Region
    from reports import exports

    started = time.perf_counter()
    if case.startswith("county-"):
        file_format = case.removeprefix("county-")
        user = bench_user("auditor", county)
        target = out_dir / f"{case}{exports.SUFFIXES[file_format]}"
        exports.export_to(
            target,
            user=user,
            kind="households",
            region=Region.objects.get(code=county),
            start=dt.date(2020, 1, 1),
            end=dt.date(2025, 12, 31),
            file_format=file_format,
        )
        # export_to records in the audit trail how many rows it wrote.
        latest = AuditEvent.objects.filter(action="export", actor_username=user.username).order_by("-pk").first()
        rows = int((latest.changes or {}).get("rows", 0))
    else:
        file_format = "csv" if case.endswith("-csv") else "xlsx"
        if case.startswith("list-township"):
            user = bench_user("township_official", township)
        else:
            user = bench_user("county_staff", county)
        target = out_dir / f"{case}.{file_format}"
        rows = spreadsheets.write_workbook(
            target, user=user, households=selectors.households_for(user), file_format=file_format
        )
    seconds = time.perf_counter() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "cpu": usage.ru_utime + usage.ru_stime,
        "case": case,
        "seconds": seconds,
        "rows": rows,
        "bytes": target.stat().st_size,
        "peak_mb": peak_mb(),
        "file": str(target),
    }


def child(args) -> None:
    setup_django()
    result = run_case(args.case, args.county, args.township, Path(args.dir))
    print("RESULT " + json.dumps(result))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--county", default=COUNTY)
    parser.add_argument("--township", default=TOWNSHIP)
    parser.add_argument("--cases", default=",".join(CASES), help=f"comma-separated, of {', '.join(CASES)}")
    parser.add_argument("--dir", help="where the files go (default: a temporary directory, deleted after)")
    parser.add_argument("--keep", action="store_true", help="keep the files")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each case (the median is printed too)")
    parser.add_argument("--case", choices=CASES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.case:
        child(args)
        return
    setup_django()
    from households.models import Household, Person

    first, last = args.county[:6].ljust(12, "0"), args.county[:6].ljust(12, "9")
    households = Household.objects.filter(village_id__gte=first, village_id__lte=last).count()
    people = Person.objects.filter(household__village_id__gte=first, household__village_id__lte=last).count()
    print(f"Machine: {machine()}")
    print(f"County {args.county}: {households:,} households, {people:,} members present")
    print(f"Targets: ≤ {TARGET_SECONDS:.0f} s, peak RSS ≤ {TARGET_MB:.0f} MB\n")
    directory = Path(args.dir or tempfile.mkdtemp(prefix="bench-exports-"))
    directory.mkdir(parents=True, exist_ok=True)
    header = (
        f"{'case':<17} {'seconds':>8} {'CPU s':>7} {'rows':>10} {'rows/s':>9} {'MB file':>8} {'peak MB':>8} "
        f"{'load':>5}  vs target"
    )
    print(header)
    print("-" * len(header))
    for case in [c.strip() for c in args.cases.split(",") if c.strip()]:
        runs = []
        for _run in range(max(1, args.repeat)):
            load = os.getloadavg()[0]
            command = [sys.executable, "-m", "tests.benchmarks.bench_exports", "--case", case, "--dir", str(directory)]
            command += ["--county", args.county, "--township", args.township]
            done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy(), check=False)
            found = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
            if done.returncode or not found:
                print(f"{case:<17} failed (exit {done.returncode})\n{done.stderr[-3000:]}")
                break
            r = json.loads(found[-1].removeprefix("RESULT "))
            r["load"] = load
            runs.append(r)
            print_run(case, r)
            if not args.keep:
                Path(r["file"]).unlink(missing_ok=True)
        if len(runs) > 1:
            middle = {key: statistics.median(r[key] for r in runs) for key in ("seconds", "cpu", "peak_mb", "load")}
            print_run("  median", {**runs[0], **middle})
    if not args.keep and not args.dir:
        directory.rmdir()


if __name__ == "__main__":
    main()
