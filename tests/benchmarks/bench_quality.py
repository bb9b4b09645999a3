"""Benchmark of the data-quality counts, page and export on a generated county (run on purpose).

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_h_quality \\
        nice .venv/bin/python -m tests.benchmarks.bench_quality [--county 522634000000] [--requests 20]

Writes to the database it is given (three users, the stored counts): never run it on a database others read.
On the county's present data, in one run:

(a) before: the page as it was, counting the whole county in the request (one grouped query per rule, JIT as
    the server is configured) plus one township's items, and the auditors' quality export with no stored
    counts and JIT as configured;
(b) the background job (exchange.quality.refresh_counts: counts and each township's first ITEM_LIMIT items per
    rule) with JIT off, and with JIT as configured; and its rule reads alone, counts only
    (compute_counts, what the job did before it stored items) against counts and items
    (compute_counts_and_items), alternated --job-repeats times;
(c) after: the page reading the stored counts and items, p50/p95 over --requests requests, for county staff
    (all townships, no items), a township official (their township's counts and PAGE_ITEMS items per rule),
    county staff choosing that township, and the official's page of one rule (up to ITEM_LIMIT items);
    and, for comparison, one township's items computed as the page did before it read stored items
    (exchange.quality.issues_in);
(d) after: the auditors' quality export (reports.exports.export_to) reading the stored counts.

Prints seconds, p50/p95 and ratios, and the machine. Timings never decide anything in the test suite.
"""

import argparse
import contextlib
import datetime as dt
import io
import statistics
import time

from tests.benchmarks.bench_import_feed import machine, setup_django


def users(county: str, township: str):
    from povertycloud.accounts.models import Role, User

    made = {}
    for name, role, region in (
        ("bench_quality_staff", Role.COUNTY_STAFF, county),
        ("bench_quality_auditor", Role.AUDITOR, county),
        ("bench_quality_official", Role.TOWNSHIP_OFFICIAL, township),
    ):
        user, _created = User.objects.update_or_create(
            username=name, defaults={"role": role, "region_id": region, "is_active": True}
        )
        made[role] = user
    return made


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


@contextlib.contextmanager
def jit_as_configured():
    """The quality computations as they were: no SET LOCAL jit = off."""
    from exchange import quality

    original = quality.planned_for_oltp
    quality.planned_for_oltp = contextlib.nullcontext
    try:
        yield
    finally:
        quality.planned_for_oltp = original


def percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(ordered) * 1000:.0f} ms, p95 {p95 * 1000:.0f} ms (n={len(ordered)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--county", default="522634000000")
    parser.add_argument("--township", default="522634101000")
    parser.add_argument("--requests", type=int, default=30)
    parser.add_argument("--job-repeats", type=int, default=2)
    parser.add_argument("--skip-before", action="store_true", help="do not time the old per-request counting")
    args = parser.parse_args()
    setup_django()

    from django.conf import settings
    from django.db import transaction
    from django.test import Client
    from django.utils import timezone

    from exchange import quality
    from exchange.models import QualityItem, QualityRun
    from households.models import Person
    from povertycloud.accounts.models import Role
    from povertycloud.regions.models import Region
    from reports.exports import export_to

    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
    county = Region.objects.get(code=args.county)
    township = Region.objects.get(code=args.township)
    people = Person.objects.filter(household__village__pk__startswith=county.prefix).count()
    print(f"machine: {machine()}")
    print(f"county {county.code} {county.name}: {people:,} people present")
    by_role = users(county.code, township.code)
    staff, auditor, official = by_role[Role.COUNTY_STAFF], by_role[Role.AUDITOR], by_role[Role.TOWNSHIP_OFFICIAL]
    on = quality.month_start(timezone.localdate())
    end = on  # the export's period ends on the day the counts are stored for
    start = end.replace(year=end.year - 1)

    def export() -> None:
        export_to(io.BytesIO(), user=auditor, kind="quality", region=county, start=start, end=end)

    figures: dict[str, float] = {}
    if not args.skip_before:
        QualityRun.objects.filter(county_code=county.code, as_of=on).delete()

        def old_page() -> None:
            ctx = quality.build_context(user=staff, region=county, on=on)
            quality.compute_counts(ctx)
            quality.issues_in(ctx, township)

        with jit_as_configured():
            figures["before.page"] = timed(old_page)
            print(f"(a) before: page counting the county in the request: {figures['before.page']:.2f} s")
            figures["before.export"] = timed(export)
            print(f"(a) before: quality export, no stored counts, JIT as configured: {figures['before.export']:.2f} s")
        figures["before.export.nojit"] = timed(export)
        print(f"(a) quality export, no stored counts, JIT off: {figures['before.export.nojit']:.2f} s")
        with jit_as_configured():
            figures["job.jit"] = quality.refresh_counts(county.code, on).seconds
        print(f"(b) job, JIT as configured: {figures['job.jit']:.2f} s")
    figures["job"] = quality.refresh_counts(county.code, on).seconds
    print(f"(b) job (refresh_counts), JIT off: {figures['job']:.2f} s")
    for _ in range(args.job_repeats):
        for label, compute in (
            ("counts only", quality.compute_counts),
            ("counts and items", quality.compute_counts_and_items),
        ):
            with transaction.atomic():
                seconds = timed(lambda compute=compute: compute(quality.county_context(county, on)))
            print(f"(b) the rules read for the job, {label}: {seconds:.2f} s")
    items = QualityItem.objects.filter(run__county_code=county.code, run__as_of=on).count()
    print(f"(b) items stored: {items:,} (at most {quality.ITEM_LIMIT} per township and rule)")

    def items_computed() -> None:
        ctx = quality.build_context(user=official, region=township, on=on)
        quality.issues_in(ctx, township)

    samples = [timed(items_computed) for _ in range(3)]
    print(f"(c) for comparison, one township's items computed per request (as before): {percentiles(samples)}")

    from exchange.models import QualityCount

    biggest = (
        QualityCount.objects.filter(run__county_code=county.code, run__as_of=on, township_code=township.code)
        .order_by("-people")
        .values_list("rule", flat=True)
        .first()
    )
    pages = [
        ("county staff, counts of every township", staff, "/departments/quality/"),
        ("township official, counts and items", official, f"/departments/quality/?township={township.code}"),
        ("county staff, one township's items", staff, f"/departments/quality/?township={township.code}"),
    ]
    if biggest:
        pages.append(
            (f"township official, one rule's items ({biggest}, up to {quality.ITEM_LIMIT})", official,
             f"/departments/quality/?township={township.code}&rule={biggest}")
        )
    for label, user, url in pages:
        client = Client()
        client.force_login(user)
        assert client.get(url).status_code == 200  # warm: sessions, templates
        samples = []
        for _ in range(args.requests):
            begin = time.perf_counter()
            response = client.get(url)
            samples.append(time.perf_counter() - begin)
            assert response.status_code == 200, response.status_code
            assert b'data-testid="quality-queued"' not in response.content
        print(f"(c) page, {label}: {percentiles(samples)}")

    figures["export"] = timed(export)
    print(f"(d) after: quality export reading the stored counts: {figures['export']:.2f} s (target <= 10 s)")
    if "before.export" in figures:
        print(
            f"ratios: export before/after {figures['before.export'] / figures['export']:.1f}x; "
            f"job JIT configured/off {figures['job.jit'] / figures['job']:.1f}x"
        )
    print(f"as of {on}; export period {start} to {end}; run at {dt.datetime.now():%Y-%m-%d %H:%M}")


if __name__ == "__main__":
    main()
