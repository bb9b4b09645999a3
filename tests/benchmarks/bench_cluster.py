"""A region on a Dask cluster: 1, 2 and 4 generated counties, on PostgreSQL (run on purpose, not by the test suite).

    createdb -h 127.0.0.1 -U postgres povertycloud_cluster_bench
    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_cluster_bench \\
        .venv/bin/python -m tests.benchmarks.bench_cluster --persons 20000 --workers 2

What it shows (issue #18): a worker's memory is bounded by the largest county it holds, not by the region. The
first stage drops what an earlier run left and builds --counties-max (4) generated counties of --persons people
each, through the real imports, laid out so that regions of exactly 1, 2 and 4 counties exist above county level:

    520000000000 贵州省 (the province: 4 counties)
      522600000000 黔东南州: county 0 (522690)         -- a region of 1 county
      522700000000 黔南州:   counties 1, 2 (522790, 522791) -- a region of 2 counties
      522300000000 黔西南州: county 3 (522390)

then trains once over the province in process and activates the XGBoost models (override with a reason, as an
administrator would when a model does not beat its baseline). For each region it runs what the risk list's
refresh button runs, the warning rules then the scoring (run_warning_rules, score_region; cases are not opened),
on ONE fresh LocalCluster per region (--workers single-threaded worker processes) whose scheduler address is
passed to both calls, so the same workers serve both and their peak memory (ru_maxrss) is read after. Each region
runs in a child process of its own, whose peak (VmHWM) is the driver's (the LocalCluster's scheduler included).
Last, the 2-county region in process (cluster "none") for comparison.

Workers are warmed before the clock starts (Django set up, the risk modules imported: the same fixed cost however
many counties follow); that time and the workers' peak after it are printed apart. Each run scores a different
date (a day apart, oldest first): a run's warnings are new for its date and no later scoring run exists, as on a
county's first refresh of the day. `--scheduler tcp://host:8786` runs against a running cluster instead (its
workers are restarted before each region, so that their peaks are that region's; the scheduler and the workers
must be started with Django set up, `--preload`, see the README). Timings decide nothing.
"""

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from tests.benchmarks.bench_county import _admin, peak_mb, setup_django  # the same start and figures

PROVINCE = "520000000000"
# (prefecture code, name, the 6-digit codes of the generated counties in it)
PREFECTURES = (
    ("522600000000", "黔东南苗族侗族自治州", ("522690",)),
    ("522700000000", "黔南布依族苗族自治州", ("522790", "522791")),
    ("522300000000", "黔西南布依族苗族自治州", ("522390",)),
)
COUNTIES = [(prefix, prefecture, name) for prefecture, name, prefixes in PREFECTURES for prefix in prefixes]


def regions_of(counties_max: int) -> dict[int, str]:
    """Region size in counties → the first region of exactly that many of the built counties (with 4: 黔东南 1,
    黔南 2, the province 4; with 2: 黔东南 1, the province 2)."""
    built = [prefecture for _, prefecture, _ in COUNTIES[:counties_max]]
    regions: dict[int, str] = {}
    for prefecture, _, _ in PREFECTURES:
        if built.count(prefecture):
            regions.setdefault(built.count(prefecture), prefecture)
    regions.setdefault(counties_max, PROVINCE)
    return dict(sorted(regions.items()))


OVERRIDE_REASON = "基准测试：集群评分需要启用 XGBoost 模型（未超过最佳基线，由管理员强制启用）"


# --- Building the counties -------------------------------------------------------------------------------


def regions_file(index: int, folder: Path) -> Path:
    """The demo county's code list moved to generated county `index`, under its prefecture of PREFECTURES (the
    county keeps a 6-digit county code that starts with its prefecture's 4 digits)."""
    from tests.risk.counties import regions_file_of

    prefix, prefecture, prefecture_name = COUNTIES[index]
    return regions_file_of(index, folder, prefix=prefix, prefecture=(prefecture, prefecture_name))


def stage_build(args) -> dict:
    from django.core.management import call_command

    from demo.county.department_files import CIVIL_AFFAIRS, EDUCATION, HEALTH
    from demo.county.generator import generate_county, load_county
    from exchange.pipeline import import_department_file
    from households.monitoring import load_thresholds_csv
    from povertycloud.regions.services import load_regions_csv
    from risk.models import RiskModel
    from risk.registry import activate_model
    from risk.training import train_risk_models
    from tests.benchmarks.bench_county import reset_database
    from tests.risk.counties import province_thresholds

    folder = Path(args.dir)
    folder.mkdir(parents=True, exist_ok=True)
    reset_database()
    call_command("migrate", verbosity=0)
    started = time.perf_counter()
    for index in range(args.counties_max):
        out = folder / f"county_{index}"
        out.mkdir(parents=True, exist_ok=True)
        regions = regions_file(index, folder)
        load_regions_csv(regions)
        if index == 0:
            load_thresholds_csv(province_thresholds(folder))
        summary = generate_county(persons=args.persons, seed=args.seed + index, out_dir=out, regions_file=regions)
        load_county(summary_or_dir=summary)
        for spec in (CIVIL_AFFAIRS, HEALTH, EDUCATION):
            import_department_file(
                department=spec.key, path=out / spec.filename, by=None, region_code=summary.county_code
            )
    built = time.perf_counter() - started

    started = time.perf_counter()
    admin = _admin()
    result = train_risk_models(region_code=PROVINCE, seed=0, by=admin, cluster="none")
    for model in result.models:
        if model.kind == RiskModel.Kind.XGBOOST:
            reason = OVERRIDE_REASON if model.beats_baseline is False else ""
            activate_model(by=admin, model=model, override_reason=reason)
    trained = time.perf_counter() - started
    return {"build_s": built, "train_s": trained, "peak_mb": peak_mb()}


# --- One region's refresh ----------------------------------------------------------------------------------


def _size(region_code: str) -> tuple[int, int, int]:
    """Counties, households and people of the region."""
    from households.models import Household, Person
    from povertycloud.regions.models import Region
    from risk.partitions import county_partitions

    prefix = Region.objects.get(code=region_code).prefix
    low, high = prefix.ljust(12, "0"), prefix.ljust(12, "9")
    households = Household.objects.filter(village_id__gte=low, village_id__lte=high).count()
    persons = Person.objects.filter(household__village_id__gte=low, household__village_id__lte=high).count()
    return len(county_partitions(region_code)), households, persons


def _warm(client) -> None:
    """Django set up and the risk side's modules imported in every worker: a fixed cost per worker process,
    paid once whatever the region, kept out of the timed refresh."""
    from povertycloud.cluster import ensure_django

    client.run(ensure_django)
    client.run(exec, "import risk.rules, risk.scoring")  # exec: a builtin the workers can unpickle by name


def stage_region(args) -> dict:
    from povertycloud.cluster import IN_PROCESS, local_cluster, worker_peak_memory
    from risk.rules import run_warning_rules
    from risk.scoring import score_region

    as_of = dt.date.fromisoformat(args.as_of)
    counties, households, persons = _size(args.region)
    admin = _admin()
    result = {"region": args.region, "counties": counties, "households": households, "persons": persons,
              "mode": args.mode, "as_of": args.as_of}
    cluster, client = None, None
    if args.mode == "dask":
        from dask.distributed import Client

        started = time.perf_counter()
        if args.scheduler:
            client = Client(args.scheduler, set_as_default=False)
            client.restart()  # fresh worker processes: their peaks are this region's
            address = args.scheduler
        else:
            cluster = local_cluster(workers=args.workers, processes=True)
            client = Client(cluster, set_as_default=False)
            address = cluster.scheduler_address
        _warm(client)
        result["warm_s"] = time.perf_counter() - started
        result["warm_worker_mb"] = sorted(p["peak"] / 2**20 for p in client.run(worker_peak_memory).values())
    else:
        address = IN_PROCESS
    try:
        started = time.perf_counter()
        rules = run_warning_rules(as_of=as_of, region_code=args.region, by=admin, cluster=address)
        result["rules_s"] = time.perf_counter() - started
        started = time.perf_counter()
        run = score_region(as_of=as_of, region_code=args.region, by=admin, cluster=address)
        result["score_s"] = time.perf_counter() - started
        result["warnings"], result["scored"], result["explained"] = rules.created, run.households_scored, run.explained
        if client is not None:
            peaks = client.run(worker_peak_memory)
            result["worker_mb"] = [peaks[worker]["peak"] / 2**20 for worker in sorted(peaks)]
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()
    result["driver_mb"] = peak_mb()
    return result


# --- The parent: children, figures -------------------------------------------------------------------------


def run_stage(args) -> None:
    setup_django()
    print(json.dumps(globals()[f"stage_{args.stage}"](args), default=str))


def child(args, stage: str, *extra: str) -> dict:
    command = [sys.executable, "-m", "tests.benchmarks.bench_cluster", "--stage", stage,
               "--persons", str(args.persons), "--seed", str(args.seed), "--dir", args.dir,
               "--counties-max", str(args.counties_max), "--workers", str(args.workers), *extra]
    if args.scheduler:
        command += ["--scheduler", args.scheduler]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode:
        tail = "\n".join(done.stderr.strip().splitlines()[-15:])
        raise SystemExit(f"bench_cluster: stage {stage} {' '.join(extra)} failed:\n{tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _line(r: dict) -> str:
    total = r["rules_s"] + r["score_s"]
    text = (
        f"{r['counties']} count{'y' if r['counties'] == 1 else 'ies'} ({r['region']}), {r['persons']:,} people, "
        f"{r['households']:,} households: rules {r['rules_s']:.1f} s + scoring {r['score_s']:.1f} s = "
        f"{total:.1f} s, {total / r['persons'] * 1e6:,.0f} µs/person"
    )
    if "worker_mb" in r:
        workers = r["worker_mb"]
        text += (
            f"; peak per worker max {max(workers):,.0f} MB (each {', '.join(f'{m:,.0f}' for m in workers)}; "
            f"after warm-up {', '.join(f'{m:,.0f}' for m in r['warm_worker_mb'])}), total over workers "
            f"{sum(workers):,.0f} MB; warm-up {r['warm_s']:.1f} s"
        )
    else:
        text += " (in process, no workers)"
    return text + f"; driver peak {r['driver_mb']:,.0f} MB; {r['warnings']:,} warnings, {r['explained']:,} explained"


def _wall(r: dict) -> float:
    return r["rules_s"] + r["score_s"]


def _ratios(r: dict, base: dict) -> str:
    per_person, base_per_person = _wall(r) / r["persons"], _wall(base) / base["persons"]
    worker, base_worker = max(r["worker_mb"]), max(base["worker_mb"])
    return (
        f"{r['counties']} counties / 1: people {r['persons'] / base['persons']:.2f}, wall "
        f"{_wall(r) / _wall(base):.2f}, µs/person {per_person / base_per_person:.2f}, peak per worker (max) "
        f"{worker / base_worker:.2f}, total over workers {sum(r['worker_mb']) / sum(base['worker_mb']):.2f}, "
        f"driver {r['driver_mb'] / base['driver_mb']:.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--persons", type=int, default=20_000, help="people per county")
    parser.add_argument("--counties-max", type=int, default=4, choices=(1, 2, 4))
    parser.add_argument("--workers", type=int, default=2, help="LocalCluster worker processes (one thread each)")
    parser.add_argument("--scheduler", default="", help="tcp://host:8786: a running cluster instead of LocalClusters")
    parser.add_argument("--repeat", type=int, default=1, help="run the regions this many times")
    parser.add_argument("--no-in-process", action="store_true", help="skip the in-process run of 2 counties")
    parser.add_argument("--seed", type=int, default=31)
    parser.add_argument("--dir", default="var/bench_cluster")
    parser.add_argument("--stage", choices=("build", "region"), help=argparse.SUPPRESS)
    parser.add_argument("--region", help=argparse.SUPPRESS)
    parser.add_argument("--as-of", help=argparse.SUPPRESS)
    parser.add_argument("--mode", choices=("dask", "none"), default="dask", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args)
        return

    setup_django()
    from tests.benchmarks.bench_import_feed import machine

    print(f"machine: {machine()}")
    print(f"cluster: {args.scheduler or f'a LocalCluster per region, {args.workers} worker processes × 1 thread'}")
    built = child(args, "build")
    print(f"built {args.counties_max} counties of {args.persons:,} people in {built['build_s']:.1f} s; trained over "
          f"the province in process in {built['train_s']:.1f} s (peak {built['peak_mb']:,.0f} MB)")

    regions = regions_of(args.counties_max)
    sizes = list(regions)
    runs = [(size, "dask") for _ in range(args.repeat) for size in sizes]
    if not args.no_in_process and 2 in regions:
        runs.append((2, "none"))
    first_day = dt.date.today() - dt.timedelta(days=len(runs))
    results = []
    for day, (size, mode) in enumerate(runs):
        as_of = (first_day + dt.timedelta(days=day)).isoformat()
        result = child(args, "region", "--region", regions[size], "--as-of", as_of, "--mode", mode)
        results.append(result)
        print(_line(result), flush=True)

    print("\nratios to the 1-county region (same round):")
    for round_start in range(0, args.repeat * len(sizes), len(sizes)):
        round_ = results[round_start:round_start + len(sizes)]
        for result in round_[1:]:
            print("  " + _ratios(result, round_[0]))
    in_process = [r for r in results if r["mode"] == "none"]
    if in_process:
        on_dask = [r for r in results if r["mode"] == "dask" and r["counties"] == 2]
        one = in_process[0]
        for r in on_dask:
            print(f"  2 counties in process / on the cluster: wall {_wall(one) / _wall(r):.2f}, "
                  f"driver peak {one['driver_mb']:,.0f} MB against {r['driver_mb']:,.0f} MB + workers' "
                  f"{max(r['worker_mb']):,.0f} MB max")


if __name__ == "__main__":
    main()
