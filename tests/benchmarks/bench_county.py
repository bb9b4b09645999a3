"""The whole path on a generated county, on PostgreSQL (run on purpose, not by the test suite).

    createdb -h 127.0.0.1 -U postgres povertycloud_county
    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_county \\
        .venv/bin/python -m tests.benchmarks.bench_county --persons 1000000

Stages, each in a child process of its own so that its peak memory (VmHWM) is its own: generate the county
and its three department files; import them (the merge links each record to its person by ID number);
the linkage step (unlinked records tried again, candidates looked for); run the warning rules; build the
features; train (XGBoost and both baselines, out of time); score every household with explanations for the
top 10% and open the cases; produce a county performance report; last, relink every current record from
scratch (links cleared first, not timed). Then page latency: the web app under gunicorn with the project's
settings (gunicorn.conf.py), every page type a user works with (household list and file, assistance page, risk
list with its filters and sorts, cases, model page, dashboards, data quality, batches, eliminations, reports,
downloads, a report download), one user at a time and then 20 concurrent users, p50 and p95, requests per second,
errors counted. Prints wall time, rows per second and peak memory per stage, and the machine. Timings never decide
anything in the test suite.

The first stage drops the tables an earlier run left in the database, so the benchmark can be run again on the
same database (`--from-stage`, `--only` and `--only-pages` keep what is there).
"""

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

COUNTY = "522634000000"
TOWNSHIP = "522634101000"
STAGES = (
    "generate", "registry", "import", "link", "rules", "features", "train", "score", "report", "precompute", "relink",
)
TARGETS = {
    "import": "≥ 100,000 rows/s per file",
    "link": "≤ 10 s",
    "relink": "(not a target)",
    "train": "≤ 120 s (300,000 households)",
    "score": "≤ 60 s (300,000 households)",
    "report": "≤ 60 s",
    "precompute": "(a background job; pages read its results)",
}
PAGE_TARGET_MS = 150
LOAD_TARGET_MS = 1000


def setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "povertycloud.settings")
    import django

    django.setup()


def peak_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def _admin():
    from povertycloud.accounts.models import Role, User

    user, _ = User.objects.get_or_create(
        username="benchmark-admin", defaults={"role": Role.ADMIN, "is_superuser": True, "is_staff": True}
    )
    return user


def reset_database() -> None:
    """A second run on the same database starts from an empty schema, so that the benchmark can be run again
    on the database it made (a county generated twice would be two counties, and a registry or department
    file loaded again is recognised and skipped, which measures nothing). The schema is dropped rather than
    flushed: on PostgreSQL the audit table refuses TRUNCATE and DELETE for every role. Never in production."""
    from django.conf import settings
    from django.db import connection

    if settings.ENVIRONMENT == "production":
        raise SystemExit("bench_county: refusing to reset a production database")
    tables = connection.introspection.table_names()
    if not tables:
        return
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
    else:
        with connection.cursor() as cursor:
            for table in tables:
                cursor.execute(f'DROP TABLE IF EXISTS "{table}"')
    print(f"(database {connection.settings_dict['NAME']}: {len(tables)} tables of an earlier run dropped)",
          file=sys.stderr)


# --- Stages (each runs in a child process) ----------------------------------------------------------------


def stage_generate(args) -> dict:
    from django.conf import settings
    from django.core.management import call_command

    from demo.county.generator import generate_county
    from households.monitoring import DEMO_THRESHOLDS, load_thresholds_csv
    from povertycloud.regions.services import load_regions_csv

    reset_database()
    call_command("migrate", verbosity=0)
    load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")
    load_thresholds_csv(DEMO_THRESHOLDS)
    summary = generate_county(persons=args.persons, seed=args.seed, out_dir=Path(args.dir))
    return {"rows": args.persons, "detail": f"{summary.households:,} households, registry export and department files"}


def stage_registry(args) -> dict:
    from demo.county.generator import load_county

    batch = load_county(summary_or_dir=Path(args.dir))
    timings = ", ".join(f"{k} {v:.1f} s" for k, v in getattr(batch, "timings", {}).items())
    return {"rows": batch.total_rows, "detail": f"registry import: {timings}; rejected {batch.rejected_rows}"}


def stage_import(args) -> dict:
    from demo.county.department_files import CIVIL_AFFAIRS, EDUCATION, HEALTH
    from exchange.pipeline import import_department_file

    rows, parts = 0, []
    for spec in (CIVIL_AFFAIRS, HEALTH, EDUCATION):
        started = time.perf_counter()
        batch = import_department_file(department=spec.key, path=Path(args.dir) / spec.filename, by=None,
                                       region_code=COUNTY)
        seconds = time.perf_counter() - started
        rows += batch.total_rows
        parts.append(f"{spec.key} {batch.total_rows:,} rows in {seconds:.1f} s = {batch.total_rows / seconds:,.0f}/s")
    return {"rows": rows, "detail": "; ".join(parts)}


def stage_link(args) -> dict:
    """The linkage step after the imports: records the merge could not link by ID number are tried again
    (the person may be registered since) and candidates are looked for (same name and birth date; IDs one
    digit or one transposition apart) among the county's people. The merge itself links by ID as it inserts."""
    from exchange.declarations import REGISTRY
    from exchange.linkage import find_candidates

    records = sum(d.model.objects.filter(valid_to__isnull=True).count() for d in REGISTRY.values())
    started = time.perf_counter()
    result = find_candidates(region_code=COUNTY)
    return {"rows": records, "seconds": time.perf_counter() - started, "detail": str(result)}


def stage_relink(args) -> dict:
    """Every current record's link cleared (not timed), then linked again from scratch: the cost of
    rebuilding all links, e.g. after the household file was loaded after the department files."""
    from exchange.declarations import REGISTRY
    from exchange.linkage import find_candidates

    records = 0
    for department in REGISTRY.values():
        records += department.model.objects.filter(valid_to__isnull=True).update(person=None)
    started = time.perf_counter()
    result = find_candidates(region_code=COUNTY)
    return {"rows": records, "seconds": time.perf_counter() - started, "detail": str(result)}


def stage_rules(args) -> dict:
    from risk.rules import run_warning_rules

    result = run_warning_rules(region_code=COUNTY, by=_admin())
    return {"rows": result.fired, "detail": f"{result.created:,} warnings"}


def stage_features(args) -> dict:
    from django.utils import timezone

    from risk.sources import Sources

    frame = Sources.load(region_code=COUNTY).at(timezone.localdate())
    return {"rows": len(frame), "detail": f"{frame.shape[1]} columns"}


OVERRIDE_REASON = "基准测试：计时评分需要启用 XGBoost 模型（未超过最佳基线，由管理员强制启用）"


def stage_train(args) -> dict:
    from risk.models import RiskModel
    from risk.registry import activate_model
    from risk.training import train_risk_models

    admin = _admin()
    result = train_risk_models(region_code=COUNTY, seed=0, by=admin)
    overridden = []
    for model in result.models:
        if model.kind == RiskModel.Kind.XGBOOST:
            # The real activation path: an XGBoost model that did not beat its best baseline on held-out
            # data is activated only by the administrator's override with a reason (audited).
            reason = OVERRIDE_REASON if model.beats_baseline is False else ""
            activate_model(by=admin, model=model, override_reason=reason)
            if reason:
                overridden.append(model.target)
    table = "; ".join(
        f"{row['target']} {row['kind']} ROC-AUC {row['roc_auc']:.3f} PR-AUC {row['pr_auc']:.3f}"
        for row in result.table()
    ) + "".join(f"; {target} XGBoost activated by override" for target in overridden)
    return {"rows": max(row["n"] for row in result.table()), "detail": table}


def stage_score(args) -> dict:
    from risk.scoring import score_region
    from risk.services import open_cases_from_run

    admin = _admin()
    run = score_region(region_code=COUNTY, by=admin)
    opened = open_cases_from_run(run=run, by=admin)
    return {
        "rows": run.households_scored,
        "detail": f"{run.explained:,} explained, {opened.opened:,} cases opened",
    }


def stage_report(args) -> dict:
    from demo.steps.reports import build_demo_report

    report = build_demo_report(region_code=COUNTY, by=_admin())
    rows = sum(report.manifest.get("row_counts", {}).values())
    return {"rows": rows, "detail": f"{report.period_start}–{report.period_end}, XLSX + PDF + CSV ledgers"}


def stage_precompute(args) -> dict:
    """What the pages read instead of computing: the data-quality counts and the dashboards' snapshots (the
    county and its townships), computed as the scheduled commands compute them."""
    from django.core.management import call_command

    from exchange.models import QualityCount
    from reports.models import DashboardSnapshot

    started = time.perf_counter()
    with open(os.devnull, "w") as quiet:
        call_command("refresh_quality_counts", region=COUNTY, stdout=quiet)
        quality = time.perf_counter() - started
        call_command("refresh_dashboards", region=COUNTY, now=True, stdout=quiet)
        dashboards = time.perf_counter() - started - quality
    snapshots = DashboardSnapshot.objects.filter(region__code__startswith=COUNTY[:6]).count()
    return {
        "rows": QualityCount.objects.count() + snapshots,
        "detail": f"data-quality counts {quality:.1f} s; {snapshots} dashboard snapshots {dashboards:.1f} s",
    }


def run_stage(name: str, args) -> None:
    setup_django()
    started = time.perf_counter()
    result = globals()[f"stage_{name}"](args)
    result.setdefault("seconds", time.perf_counter() - started)
    result["peak_mb"] = peak_mb()
    print(json.dumps(result, default=str))


def child(name: str, args) -> dict:
    command = [sys.executable, "-m", "tests.benchmarks.bench_county", "--stage", name,
               "--persons", str(args.persons), "--seed", str(args.seed), "--dir", args.dir]
    done = subprocess.run(command, capture_output=True, text=True, env=os.environ.copy())
    if done.returncode:
        return {"error": done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"}
    return json.loads(done.stdout.strip().splitlines()[-1])


# --- Page latency --------------------------------------------------------------------------------------


def _sessions() -> dict[str, str]:
    """A logged-in session per role, made the way the login page makes them. Users are found or made, so the
    pages can be measured again on the same database."""
    from django.test import Client

    from povertycloud.accounts.models import Role, User

    people = {
        "official": ("bench-official", Role.TOWNSHIP_OFFICIAL, TOWNSHIP),
        "county": ("bench-county", Role.COUNTY_STAFF, COUNTY),
        "auditor": ("bench-auditor", Role.AUDITOR, COUNTY),
    }
    cookies = {}
    for key, (username, role, region) in people.items():
        user, _ = User.objects.get_or_create(username=username, defaults={"role": role, "region_id": region})
        client = Client()
        client.force_login(user)
        cookies[key] = client.cookies["sessionid"].value
    return cookies


def _paths(report_path: str | None) -> dict[str, tuple[str, list[str]]]:
    """Every page type a user works with, as (role, addresses spread over its filters and objects)."""
    from households.models import Household
    from povertycloud.regions.models import Region
    from risk.models import RiskCase

    rng = random.Random(1)
    township_households = list(
        Household.objects.filter(village__code__startswith=TOWNSHIP[:9]).values_list("pk", flat=True)[:5000]
    )
    regions = Region.objects.values_list("code", flat=True)
    villages = list(regions.filter(code__startswith=TOWNSHIP[:9], level=Region.Level.VILLAGE))
    townships = list(regions.filter(code__startswith=COUNTY[:6], level=Region.Level.TOWNSHIP))
    cases = list(RiskCase.objects.filter(region_code__startswith=COUNTY[:6]).values_list("pk", flat=True)[:2000])
    households = rng.sample(township_households, min(200, len(township_households)))
    pages = {
        "home": ("official", ["/"]),
        "household list (official)": ("official", [
            "/households/", "/households/?monitoring_type=1", f"/households/?village={rng.choice(villages)}",
            "/households/?risk_type=01", "/households/?q=" + quote("杨"), "/households/?q=" + quote("王"),
        ]),
        "household list (county)": ("county", [
            "/households/", "/households/?household_type=1", "/households/?q=" + quote("杨"),
            "/households/?risk_type=02", "/households/?monitoring_type=any",
        ]),
        "household file": ("official", [f"/households/{pk}/" for pk in households]),
        "assistance page": ("official", [f"/resources/households/{pk}/" for pk in households]),
        "risk list (county)": ("county", [
            "/risk/", "/risk/?sort=p_poor", "/risk/?level=high", f"/risk/?township={rng.choice(townships)}",
            f"/risk/?township={rng.choice(townships)}&level=medium&sort=p_poor", "/risk/?risk_type=01",
            "/risk/?status=warned", "/risk/?status=overdue", "/risk/?monitoring=any", "/risk/?sort=category",
            "/risk/?sort=household&dir=asc", "/risk/?hide_monitored=on&risk_type=02",
        ]),
        "risk list (official)": ("official", ["/risk/", "/risk/?risk_type=01", "/risk/?status=warned",
                                              "/risk/?level=high&sort=p_poor"]),
        "case list": ("county", ["/risk/cases/", "/risk/cases/?status=warned", "/risk/cases/?status=verifying"]),
        "case page": ("county", [f"/risk/cases/{pk}/" for pk in rng.sample(cases, min(100, len(cases)))]),
        "model page": ("county", ["/risk/models/"]),
        "dashboard (county)": ("county", ["/reports/"]),
        "dashboard (township)": ("official", ["/reports/"]),
        "data quality": ("official", ["/departments/quality/"]),
        "department batches": ("county", ["/departments/"]),
        "eliminations": ("county", ["/resources/eliminations/"]),
        "performance reports": ("auditor", ["/reports/performance/"]),
        "my downloads": ("auditor", ["/downloads/"]),
    }
    if report_path:
        pages["report download"] = ("auditor", [report_path])
    return {name: (role, paths) for name, (role, paths) in pages.items() if paths}


def _get(url: str, cookie: str) -> tuple[float, int]:
    request = urllib.request.Request(url, headers={"Cookie": f"sessionid={cookie}"})
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        status = error.code
    except OSError:
        status = 0
    return (time.perf_counter() - started) * 1000, status


def _p95(times: list[float]) -> float:
    return times[int(0.95 * (len(times) - 1))]


def measure_pages(args) -> None:
    """Each page type under the project's gunicorn settings (gunicorn.conf.py): first one user at a time, then
    `--users` at once; p50/p95 per page, requests per second, every answer that is not 200 counted."""
    setup_django()
    cookies = _sessions()
    from django.conf import settings
    from django.urls import reverse

    from reports.models import Report

    report = Report.objects.filter(status=Report.Status.SUCCEEDED, region_id=COUNTY).order_by("-pk").first()
    report_path = reverse("reports:file", args=[report.pk, "performance.xlsx"]) if report else None
    pages = _paths(report_path)
    if args.pages:
        # Only the named page types (comma-separated, as the table names them), e.g. "model page,data quality".
        wanted = [name.strip() for name in args.pages.split(",") if name.strip()]
        unknown = [name for name in wanted if name not in pages]
        if unknown:
            raise SystemExit(f"unknown page types: {', '.join(unknown)}; known: {', '.join(pages)}")
        pages = {name: pages[name] for name in wanted}
    port = args.port
    config = Path(settings.BASE_DIR) / "gunicorn.conf.py"
    env = {**os.environ, "DJANGO_ALLOWED_HOSTS": "127.0.0.1", "GUNICORN_BIND": f"127.0.0.1:{port}",
           "GUNICORN_LOG_LEVEL": "warning"}
    if args.workers:
        env["GUNICORN_WORKERS"] = str(args.workers)
    server = subprocess.Popen([sys.executable, "-m", "gunicorn", "-c", str(config), "povertycloud.wsgi"], env=env)
    summary = []
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(base + "/accounts/login/", timeout=2).read()
                break
            except OSError:
                time.sleep(0.2)
        workers = env.get("GUNICORN_WORKERS", "2 × processors + 1")
        print(f"\nPages: gunicorn -c gunicorn.conf.py ({workers} workers × {env.get('GUNICORN_THREADS', 4)} threads); "
              f"one user at a time ({args.single} requests), then {args.users} concurrent users ({args.requests} "
              f"requests per page, after a warm-up of each address)")
        print(f"  {'page':<28}{'1 user p50':>11}{'p95':>7}{'   ':3}{args.users:>3} users p50{'p95':>7}{'max':>7}"
              f"{'req/s':>7}{'errors':>7}  targets")
        for name, (role, paths) in pages.items():
            cookie = cookies[role]
            for path in paths[:20]:
                _get(base + path, cookie)
            single = sorted(_get(base + paths[i % len(paths)], cookie)[0] for i in range(args.single))
            urls = [base + paths[i % len(paths)] for i in range(args.requests)]
            started = time.perf_counter()
            with ThreadPoolExecutor(max_workers=args.users) as pool:
                results = list(pool.map(_get, urls, [cookie] * len(urls)))
            wall = time.perf_counter() - started
            times = sorted(ms for ms, _ in results)
            errors = sum(1 for _, status in results if status != 200)
            summary.append((name, _p95(single), _p95(times), errors))
            print(f"  {name:<28}{statistics.median(single):>11.0f}{_p95(single):>7.0f}   "
                  f"{statistics.median(times):>13.0f}{_p95(times):>7.0f}{times[-1]:>7.0f}"
                  f"{len(times) / wall:>7.1f}{errors:>7}  p95 ≤ {PAGE_TARGET_MS} ms alone, ≤ {LOAD_TARGET_MS} ms "
                  f"with {args.users}")
    finally:
        server.terminate()
        server.wait(timeout=30)
    alone = [name for name, p95, _, _ in summary if p95 > PAGE_TARGET_MS]
    loaded = [name for name, _, p95, _ in summary if p95 > LOAD_TARGET_MS]
    failed = [name for name, _, _, errors in summary if errors]
    print(f"\n  one user, p95 over {PAGE_TARGET_MS} ms: {', '.join(alone) or 'none'}")
    print(f"  {args.users} users, p95 over {LOAD_TARGET_MS} ms: {', '.join(loaded) or 'none'}")
    print(f"  pages with errors: {', '.join(failed) or 'none'}")


# --- The run -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--persons", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--dir", default="var/bench_county")
    parser.add_argument("--from-stage", choices=STAGES, default="generate", help="skip the stages before it")
    parser.add_argument("--only", choices=STAGES, help="run this one stage on the county as it is, then the pages")
    parser.add_argument("--only-pages", action="store_true", help="measure the pages on the county as it is")
    parser.add_argument("--no-pages", action="store_true", help="stages only, no page latency")
    parser.add_argument("--users", type=int, default=20)
    parser.add_argument("--requests", type=int, default=400, help="requests per page type under load")
    parser.add_argument("--single", type=int, default=40, help="requests per page type, one user at a time")
    parser.add_argument("--workers", type=int, help="gunicorn workers (default: gunicorn.conf.py's)")
    parser.add_argument("--port", type=int, default=8123, help="gunicorn's port (another engineer's run may hold one)")
    parser.add_argument("--pages", help='only these page types, comma-separated (e.g. "model page,data quality")')
    parser.add_argument("--stage", choices=STAGES, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.stage:
        run_stage(args.stage, args)
        return

    from tests.benchmarks.bench_import_feed import machine

    setup_django()
    print("Machine:", machine())
    print(f"County: {args.persons:,} people, seed {args.seed}")
    if not args.only_pages:
        print(f"\n  {'stage':<10}{'seconds':>9}{'rows':>12}{'rows/s':>10}{'peak MB':>9}  target; detail")
        for name in [args.only] if args.only else STAGES[STAGES.index(args.from_stage):]:
            result = child(name, args)
            if "skipped" in result:
                print(f"  {name:<10}{'—':>9}  {result['skipped']}")
                continue
            if "error" in result:
                print(f"  {name:<10}{'—':>9}  {result['error']}")
                print("Stopped: the later stages need this one.")
                return
            rate = result["rows"] / result["seconds"] if result["seconds"] else 0
            target = TARGETS.get(name, "")
            print(f"  {name:<10}{result['seconds']:>9.1f}{result['rows']:>12,}{rate:>10,.0f}{result['peak_mb']:>9,.0f}"
                  f"  {target + '; ' if target else ''}{result.get('detail', '')}")
    if not args.no_pages:
        measure_pages(args)


if __name__ == "__main__":
    main()
