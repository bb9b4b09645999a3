"""The department REST API (/api/v1/) on an existing county database, on PostgreSQL (run on purpose, not by pytest).

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_county \\
        .venv/bin/python -m tests.benchmarks.bench_api [--records 100000] [--page-sizes 500,2000]

Needs a county made by tests.benchmarks.bench_county (registry and department files imported). Every request
goes through the whole Django and DRF stack in this process (rest_framework.test.APIClient with a Bearer
token: middleware, authentication, throttle, parsing, the view, rendering), without a network or a server.

Pull: for each dataset, a full walk along ``next`` with each page size (every field the dataset has): rows,
pages, seconds, rows/s, per-page p50/p95/max, the SQL time of the pages (sum of their queries' times, as the
debug cursor measures them) and the Share and SharedPerson rows the walk wrote; then an incremental walk with
changed_since = now (should be near empty) and one with a date a week back.

Push: --records current health records of the county (spread over it), each with a changed year-to-date
amount, for a period after the county's last:
(a) one JSON push (POST /api/v1/batches/, mode changes): queued (202); the queued import task then runs here,
    synchronously, and is timed with the answer;
(b) the same records (another amount, the next period) written as the CSV file the push makes, imported by
    the pipeline directly (exchange.pipeline.receive_department_file + run_import, what
    import_department_file does, with the push's "changes" mode: health is declared a full list, and a
    snapshot of part of the county would close everyone else's record);
(c) --small-records records pushed --small-repeats times, each with its own period and amounts, answered in
    the request (201): p50/p95; then one more of that size imported directly, with the pipeline's steps timed.
The linkage task the queue would run after (a) is run and timed too (--skip-link to leave it out).

What it writes: one API client ("bench-api", found again on a later run) and a token per run (revoked at the
end); the pull's shares, deleted at the end with their persons (--keep-shares to keep them); the pushed and
imported batches and their record versions stay (they are the county's newest health periods), as do the audit
events. The tasks the pushes queued in the database are run or dropped here, never left for a worker.
Timings decide nothing in the test suite.
"""

import argparse
import datetime as dt
import json
import random
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlencode

from tests.benchmarks.bench_import_feed import machine, setup_django

COUNTY = "522634000000"
CLIENT_NAME = "bench-api"
DATASETS = ("education_pupils", "health_premium", "new_monitoring")
PULL_URL = "/api/v1/pull/{dataset}/"
PUSH_URL = "/api/v1/batches/"
SLOW_PAGE_MS = 300.0
HEALTH_FIELDS = (
    "id_number", "name", "insured", "insurance_type", "critical_illness_insurance", "chronic_diagnosis",
    "serious_diagnosis", "serious_diagnosis_date", "out_of_pocket_ytd", "max_stay_self_pay",
    "monthly_outpatient_cost",
)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))] if ordered else 0.0


def admin_user():
    from povertycloud.accounts.models import Role, User

    user, _ = User.objects.get_or_create(
        username="benchmark-admin", defaults={"role": Role.ADMIN, "is_superuser": True, "is_staff": True}
    )
    return user


def bench_client(county: str):
    """The benchmark's API client (made once, found again later) with every pull and health push, every field
    of every dataset, and a rate no walk reaches; and a fresh token for this run."""
    from exchange.api.datasets import DATASETS as DECLARED
    from exchange.api.models import ApiClient
    from exchange.api.services import create_client, issue_token, update_client
    from povertycloud.regions.models import Region

    admin = admin_user()
    wanted = {
        "scopes": ["push:health", *(d.scope for d in DECLARED.values())],
        "fields": {slug: d.field_names for slug, d in DECLARED.items()},
        "rate_per_minute": 1_000_000,
        "active": True,
    }
    client = ApiClient.objects.filter(name=CLIENT_NAME, region_id=county, department="health").first()
    if client is None:
        client = create_client(
            name=CLIENT_NAME, department="health", region=Region.objects.get(code=county), by=admin,
            purpose="基准测试", scopes=wanted["scopes"], fields=wanted["fields"],
            rate_per_minute=wanted["rate_per_minute"],
        )
    elif any(getattr(client, key) != value for key, value in wanted.items()):
        client = update_client(client=client, by=admin, **wanted)
    issued = issue_token(client=client, by=admin, days=1)
    return client, issued


def http_for(secret: str):
    from rest_framework.test import APIClient

    http = APIClient()
    http.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return http


# --- Pull -------------------------------------------------------------------------------------------------


@dataclass
class Walk:
    label: str
    rows: int = 0
    pages: int = 0
    seconds: float = 0.0
    sql_seconds: float = 0.0
    page_ms: list[float] = field(default_factory=list)
    shares: int = 0
    shared_persons: int = 0
    slowest_ms: float = 0.0
    slowest_sql: str = ""  # the slowest read of the slowest page
    slowest_sql_ms: float = 0.0
    slowest_page_sql_ms: float = 0.0  # all the slowest page's queries
    sql_by_kind: dict[str, float] = field(default_factory=lambda: dict.fromkeys(SQL_KINDS, 0.0))


SQL_KINDS = ("read", "share", "commit", "other")


def kind_of(sql: str) -> str:
    """What a page's query is for: the page's read, the share's writes, the commit, or the rest (token …)."""
    text = sql.lstrip().upper()
    if text.startswith("SELECT") and '"HOUSEHOLDS_PERSON"' in text[:200]:
        return "read"
    if text.startswith('INSERT INTO "EXCHANGE_SHARE'):
        return "share"
    return "commit" if text.startswith("COMMIT") else "other"


def share_counts(client) -> tuple[int, int]:
    from exchange.api.models import Share, SharedPerson

    return Share.objects.filter(client=client).count(), SharedPerson.objects.filter(share__client=client).count()


def walk(http, client, dataset: str, query: dict[str, str], label: str) -> Walk:
    """Follow ``next`` from the first page to the last; time each request (the JSON parsed outside the timing)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    result = Walk(label=label)
    before = share_counts(client)
    url: str | None = f"{PULL_URL.format(dataset=dataset)}?{urlencode(query)}"
    while url:
        connection.queries_log.clear()  # the log keeps 9,000 queries; past that a capture reads none
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = http.get(url)
            ms = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{dataset} {label}: {response.status_code} {response.content[:500]!r}")
        body = response.json()
        result.pages += 1
        result.rows += len(body["results"])
        result.page_ms.append(ms)
        for query in captured.captured_queries:
            result.sql_seconds += float(query["time"])
            result.sql_by_kind[kind_of(query["sql"])] += float(query["time"])
        if ms > result.slowest_ms:
            # The page's slowest read (the share's inserts are not EXPLAINed: ANALYZE would run them).
            reads = [q for q in captured.captured_queries if q["sql"].lstrip().upper().startswith("SELECT")]
            slowest = max(reads, key=lambda q: float(q["time"]), default=None)
            result.slowest_ms = ms
            result.slowest_sql = slowest["sql"] if slowest else ""
            result.slowest_sql_ms = float(slowest["time"]) * 1000 if slowest else 0.0
            result.slowest_page_sql_ms = sum(float(q["time"]) for q in captured.captured_queries) * 1000
        url = body["next"]
    result.seconds = sum(result.page_ms) / 1000
    after = share_counts(client)
    result.shares, result.shared_persons = after[0] - before[0], after[1] - before[1]
    return result


def print_walk(dataset: str, w: Walk) -> None:
    rate = w.rows / w.seconds if w.seconds else 0.0
    print(
        f"  {dataset:<17}{w.label:<28}{w.rows:>9,}{w.pages:>6}{w.seconds:>9.1f}{rate:>9,.0f}"
        f"{statistics.median(w.page_ms):>8.0f}{percentile(w.page_ms, 0.95):>7.0f}{max(w.page_ms):>7.0f}"
        f"{w.sql_seconds:>8.1f}  {' '.join(f'{w.sql_by_kind[k]:.1f}' for k in SQL_KINDS):<24}"
        f"{w.shares:>7,}{w.shared_persons:>10,}"
    )


def pull_part(http, client, datasets: list[str], page_sizes: list[int]) -> list[tuple[str, Walk]]:
    from django.utils import timezone

    print(
        "\nPull (in process: APIClient → Django → DRF → view → JSON; no network). Per-page times in ms; "
        "seconds and SQL are the sums over the pages."
    )
    print(
        f"  {'dataset':<17}{'walk':<28}{'rows':>9}{'pages':>6}{'seconds':>9}{'rows/s':>9}{'p50':>8}{'p95':>7}"
        f"{'max':>7}{'SQL s':>8}  {'read/share/commit/other':<24}{'shares':>7}{'persons':>10}"
    )
    walks: list[tuple[str, Walk]] = []
    for dataset in datasets:
        http.get(PULL_URL.format(dataset=dataset), {"page_size": 1})  # warm: code book, plans, connection
        for size in page_sizes:
            w = walk(http, client, dataset, {"page_size": str(size)}, f"full, page {size}")
            print_walk(dataset, w)
            walks.append((dataset, w))
        now = timezone.now().isoformat()
        week = (timezone.localdate() - dt.timedelta(days=7)).isoformat()
        size = max(page_sizes)
        for label, since in ((f"since now, page {size}", now), (f"since {week}, page {size}", week)):
            w = walk(http, client, dataset, {"page_size": str(size), "changed_since": since}, label)
            print_walk(dataset, w)
            walks.append((dataset, w))
    return walks


def explain_slowest(walks: list[tuple[str, Walk]]) -> None:
    from django.db import connection, transaction

    from exchange.quality import planned_for_oltp

    dataset, slowest = max(walks, key=lambda item: item[1].slowest_ms)
    print(
        f"\n  slowest page: {dataset}, {slowest.label}: {slowest.slowest_ms:.0f} ms, of which SQL "
        f"{slowest.slowest_page_sql_ms:.0f} ms, its slowest read {slowest.slowest_sql_ms:.0f} ms"
    )
    if slowest.slowest_ms <= SLOW_PAGE_MS or not slowest.slowest_sql or connection.vendor != "postgresql":
        return
    print(f"  that read, EXPLAIN (ANALYZE, BUFFERS) with jit off as the view runs it:\n    {slowest.slowest_sql}")
    with transaction.atomic(), planned_for_oltp(), connection.cursor() as cursor:
        cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest.slowest_sql)
        print("\n".join("    " + row[0] for row in cursor.fetchall()))
        transaction.set_rollback(True)


def delete_shares(client, first_share_id: int) -> None:
    from django.db import connection

    from exchange.api.models import Share, SharedPerson

    shares, persons = Share._meta.db_table, SharedPerson._meta.db_table
    started = time.perf_counter()
    with connection.cursor() as cursor:
        cursor.execute(
            f"DELETE FROM {persons} WHERE share_id IN (SELECT id FROM {shares} WHERE client_id = %s AND id > %s)",
            [client.pk, first_share_id],
        )
        deleted_persons = cursor.rowcount
        cursor.execute(f"DELETE FROM {shares} WHERE client_id = %s AND id > %s", [client.pk, first_share_id])
        deleted_shares = cursor.rowcount
        if connection.vendor == "postgresql":
            cursor.execute(f"VACUUM ANALYZE {persons}, {shares}")
    print(
        f"\n(cleanup: this run's {deleted_shares:,} shares and {deleted_persons:,} shared persons deleted, "
        f"tables vacuumed, in {time.perf_counter() - started:.1f} s)"
    )


# --- Push -------------------------------------------------------------------------------------------------


def next_period(period: str, months: int = 1) -> str:
    year, month = (int(part) for part in period.split("-"))
    index = year * 12 + month - 1 + months
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def last_health_period(county: str) -> str:
    from exchange.departments import HealthRecord
    from exchange.models import ImportBatch

    batches = ImportBatch.objects.filter(
        department="health", status=ImportBatch.Status.SUCCEEDED, region_code__startswith=county[:6]
    ).exclude(period="")
    latest = batches.order_by("-period_start").values_list("period", flat=True).first()
    records = HealthRecord.objects.filter(region_code__startswith=county[:6]).order_by("-period")
    return max(filter(None, [latest, records.values_list("period", flat=True).first()]))


def current_health_records(county: str, count: int) -> list[dict]:
    """``count`` current health records spread over the county (evenly by id), as the API's field names."""
    from exchange.departments import HealthRecord

    current = HealthRecord.objects.filter(region_code__startswith=county[:6], valid_to__isnull=True, void=False)
    ids = list(current.order_by("id").values_list("id", flat=True))
    if len(ids) < count:
        raise SystemExit(f"only {len(ids):,} current health records in {county} (asked {count:,})")
    chosen = ids[:: len(ids) // count][:count]
    rows: list[dict] = []
    for start in range(0, len(chosen), 10_000):  # a query's parameters are fewer than 65,536
        rows += current.filter(id__in=chosen[start : start + 10_000]).order_by("id").values(*HEALTH_FIELDS)
    return rows


def as_records(rows: list[dict], *, rng: random.Random, step: int) -> list[dict]:
    """Records as a department system would post them, each with a changed year-to-date amount: the stored
    amount plus 5,000 × step plus 1 to 5,000, so that every push of a run changes every record it sends."""
    records = []
    for row in rows:
        record = {}
        for name, value in row.items():
            if value is None or value == "":
                continue
            if isinstance(value, dt.date):
                value = value.isoformat()
            elif not isinstance(value, (bool, int, str)):
                value = str(value)  # Decimal
            record[name] = value
        old = float(row["out_of_pocket_ytd"] or 0)
        record["out_of_pocket_ytd"] = f"{old + 5000 * step + rng.randint(1, 5000):.2f}"
        records.append(record)
    return records


def body_of(records: list[dict], period: str) -> bytes:
    return json.dumps({"period": period, "mode": "changes", "records": records}, ensure_ascii=False).encode()


def queued_tasks() -> set:
    from django_tasks_db.models import DBTaskResult

    return set(DBTaskResult.objects.values_list("id", flat=True))


def drop_queued(before: set) -> int:
    """Delete the tasks this run queued in the database (already run here), so that no worker runs them."""
    from django_tasks_db.models import DBTaskResult

    mine = DBTaskResult.objects.exclude(id__in=before)
    return mine.delete()[0]


def timings_of(batch) -> str:
    timings = getattr(batch, "timings", None) or {}
    return ", ".join(f"{key} {value:.2f}" for key, value in timings.items())


def push_part(http, client, args, work_dir: Path) -> None:
    from exchange.api.push import records_csv
    from exchange.declarations import get_department
    from exchange.linkage_tasks import find_link_candidates_task
    from exchange.models import ImportBatch
    from exchange.pipeline import receive_department_file, run_import
    from exchange.tasks import import_department_file_task

    rng = random.Random(args.seed)
    last = last_health_period(args.county)
    started = time.perf_counter()
    rows = current_health_records(args.county, args.records)
    print(
        f"\nPush (in process; health, mode changes): {len(rows):,} current records of {args.county} read in "
        f"{time.perf_counter() - started:.1f} s (not measured); the county's last health period {last}"
    )
    tasks_before = queued_tasks()
    big, csv_period = next_period(last, 1), next_period(last, 2)

    # (a) JSON push, queued, then the queued import run here.
    body = body_of(as_records(rows, rng=rng, step=0), big)
    started = time.perf_counter()
    response = http.post(PUSH_URL, data=body, content_type="application/json")
    answer = time.perf_counter() - started
    if response.status_code not in (201, 202):
        raise SystemExit(f"push of {len(rows):,}: {response.status_code} {response.content[:500]!r}")
    batch_id, task = response.json()["id"], 0.0
    if response.status_code == 202:  # queued (more than RUN_AT_ONCE_RECORDS records)
        started = time.perf_counter()
        import_department_file_task.call(batch_id)
        task = time.perf_counter() - started
    batch = ImportBatch.objects.get(pk=batch_id)
    a_seconds = answer + task
    print(
        f"(a) JSON push {len(rows):,} records ({len(body) / 1e6:.0f} MB body), period {big}: answer "
        f"{response.status_code} in {answer:.1f} s + queued import run here {task:.1f} s = {a_seconds:.1f} s = "
        f"{len(rows) / a_seconds:,.0f} rows/s; batch #{batch_id} {batch.status}: accepted "
        f"{batch.accepted_rows:,}, rejected {batch.rejected_rows:,}, new versions {batch.new_versions:,}, "
        f"closed {batch.closed_versions:,}"
    )
    if not args.skip_link:
        started = time.perf_counter()
        linked = find_link_candidates_task.call(batch_id=batch_id)
        print(f"    then its queued linkage task, run here: {time.perf_counter() - started:.1f} s ({linked})")
    del body

    # (b) The same records as the CSV file the push makes (another amount, the next period), imported directly.
    made = records_csv(
        department=get_department("health"), records=as_records(rows, rng=rng, step=1), period=csv_period
    )
    path = work_dir / f"bench_api_health_{csv_period}_{made.sha256[:8]}.csv"
    path.write_bytes(made.content)
    started = time.perf_counter()
    received = receive_department_file(
        department="health", path=path, by=None, region_code=args.county, period=csv_period, full_snapshot=False
    )
    imported = run_import(batch=received)
    b_seconds = time.perf_counter() - started
    print(
        f"(b) CSV file of the same records ({len(made.content) / 1e6:.0f} MB), period {csv_period}, "
        f"receive_department_file + run_import (changes): {b_seconds:.1f} s = {len(rows) / b_seconds:,.0f} rows/s; "
        f"batch #{imported.pk} {imported.status}: accepted {imported.accepted_rows:,}, new versions "
        f"{imported.new_versions:,}; steps (s): {timings_of(imported)}"
    )
    print(
        f"    JSON push (answer + import) / CSV import, rows per second: "
        f"{(len(rows) / a_seconds) / (len(rows) / b_seconds):.0%} (the push's answer alone: {answer:.1f} s)"
    )

    # (c) Small pushes answered in the request.
    small = rows[: args.small_records]
    times = []
    period = csv_period
    for repeat in range(args.small_repeats):
        period = next_period(period)
        body = body_of(as_records(small, rng=rng, step=2 + repeat), period)
        started = time.perf_counter()
        response = http.post(PUSH_URL, data=body, content_type="application/json")
        times.append((time.perf_counter() - started) * 1000)
        if response.status_code != 201:
            raise SystemExit(f"push of {len(small):,}: {response.status_code} {response.content[:500]!r}")
    print(
        f"(c) JSON push of {len(small):,} records answered in the request (201), {args.small_repeats} pushes "
        f"(periods {next_period(csv_period)}–{period}): p50 {statistics.median(times):.0f} ms, "
        f"p95 {percentile(times, 0.95):.0f} ms, max {max(times):.0f} ms = "
        f"{len(small) / (statistics.median(times) / 1000):,.0f} rows/s at the median"
    )
    # Where a small push's time goes: the same import without the request, its steps timed by the pipeline.
    period = next_period(period)
    made = records_csv(
        department=get_department("health"), records=as_records(small, rng=rng, step=2 + args.small_repeats),
        period=period,
    )
    path = work_dir / f"bench_api_health_{period}_{made.sha256[:8]}.csv"
    path.write_bytes(made.content)
    started = time.perf_counter()
    received = receive_department_file(
        department="health", path=path, by=None, region_code=args.county, period=period, full_snapshot=False
    )
    imported = run_import(batch=received)
    print(
        f"    the same size as a CSV import without the request, period {period}: "
        f"{(time.perf_counter() - started) * 1000:.0f} ms; steps (s): {timings_of(imported)}"
    )
    dropped = drop_queued(tasks_before)
    print(f"    ({dropped} tasks the pushes queued in the database dropped: run here or not needed)")


# --- The run -------------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--county", default=COUNTY)
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated")
    parser.add_argument("--page-sizes", default="500,2000", help="comma-separated (the API allows 1 to 2000)")
    parser.add_argument("--records", type=int, default=100_000, help="records of the large JSON push (≤ 100,000)")
    parser.add_argument("--small-records", type=int, default=1000, help="records of a push answered in the request")
    parser.add_argument("--small-repeats", type=int, default=5)
    parser.add_argument("--seed", type=int, default=16)
    parser.add_argument("--dir", default="var/bench_api", help="where the CSV file of part (b) is written")
    parser.add_argument("--skip-pull", action="store_true")
    parser.add_argument("--skip-push", action="store_true")
    parser.add_argument("--skip-link", action="store_true", help="do not run the linkage task after the push")
    parser.add_argument("--keep-shares", action="store_true", help="keep the shares the pulls wrote")
    args = parser.parse_args()
    setup_django()

    from django.db import connection

    from exchange.api.models import ApiToken, Share
    from exchange.api.services import revoke_token
    from households.models import Person

    print("Machine:", machine())
    persons = Person.objects.filter(household__village__code__startswith=args.county[:6]).count()
    print(
        f"Database {connection.settings_dict['NAME']} ({connection.vendor}); county {args.county}: {persons:,} people. "
        "Every request in process (rest_framework.test.APIClient through middleware, authentication, throttle and "
        "DRF): no network, no server."
    )
    client, issued = bench_client(args.county)
    http = http_for(issued.secret)
    response = http.get("/api/v1/me/")
    if response.status_code != 200:
        raise SystemExit(f"/api/v1/me/: {response.status_code} {response.content[:300]!r}")
    first_share = Share.objects.filter(client=client).order_by("-id").values_list("id", flat=True).first() or 0
    work_dir = Path(args.dir)
    work_dir.mkdir(parents=True, exist_ok=True)
    try:
        if not args.skip_pull:
            walks = pull_part(
                http, client, [d for d in args.datasets.split(",") if d],
                [int(size) for size in args.page_sizes.split(",") if size],
            )
            explain_slowest(walks)
        if not args.skip_push:
            push_part(http, client, args, work_dir)
    finally:
        if not args.keep_shares:
            delete_shares(client, first_share)
        revoke_token(token=ApiToken.objects.get(pk=issued.token.pk), by=admin_user())
    print(
        f"Left in the database: client {CLIENT_NAME!r} (#{client.pk}) with this run's revoked token; the pushed "
        "and imported batches and their record versions (the county's newest health periods)."
    )


if __name__ == "__main__":
    main()
