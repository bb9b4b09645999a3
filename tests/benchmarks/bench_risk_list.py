"""Time every filter, sort and a few combinations of the risk list (/risk/) on an existing county database,
for a county staff user and a township official, through the Django test Client (middleware, the view, its
selectors and the template: what a user waits for, less the network). Run on purpose, not by pytest:

    DJANGO_ENV=development DATABASE_URL=postgres://postgres@127.0.0.1:5432/povertycloud_h_risk \\
        nice .venv/bin/python -m tests.benchmarks.bench_risk_list --repeat 30

Needs a finished scoring run (bench_county makes one). Creates two users if they are missing
("bench-risk-county", "bench-risk-township"; the only writes). Prints p50 / p95 per case beside the
150 ms target (and the SQL share: the sum of the request's query times, median), the cases over it,
and the EXPLAIN (ANALYZE, BUFFERS) of the slowest query of the slowest case.
--legacy MODULE swaps risk.list_selectors.filter_scores and risk_page for another module's (a copy of the
selectors of before a change, to time both on the same database).
"""

import argparse
import importlib
import os
import platform
import statistics
import time

TARGET_MS = 150.0
COUNTY = "522634000000"
TOWNSHIP = "522634101000"


def cases(risk_types: list[str], rules: list[str], monitoring: str) -> list[tuple[str, dict[str, str]]]:
    found: list[tuple[str, dict[str, str]]] = [
        ("default", {}),
        ("township", {"township": TOWNSHIP}),
        ("level=high", {"level": "high"}),
        ("level=low", {"level": "low"}),
        ("monitoring=any", {"monitoring": "any"}),
        (f"monitoring={monitoring}", {"monitoring": monitoring}),
        ("monitoring=none", {"monitoring": "none"}),
        ("hide_monitored", {"hide_monitored": "on"}),
    ]
    found += [(f"risk_type={code}", {"risk_type": code}) for code in risk_types]
    found += [(f"rule={code}", {"rule": code}) for code in rules]
    for status in ("none", "open", "overdue", "warned", "verifying", "monitored", "excluded"):
        found.append((f"status={status}", {"status": status}))
    for sort in ("p_return", "p_poor", "household", "village", "category"):
        for direction in ("desc", "asc"):
            found.append((f"sort={sort} {direction}", {"sort": sort, "dir": direction}))
    first_type = risk_types[0] if risk_types else "01"
    found += [
        ("township+level+sort p_poor", {"township": TOWNSHIP, "level": "high", "sort": "p_poor"}),
        ("township+level+sort category", {"township": TOWNSHIP, "level": "medium", "sort": "category"}),
        (f"risk_type={first_type}+sort p_poor", {"risk_type": first_type, "sort": "p_poor"}),
        (f"risk_type={first_type}+sort category", {"risk_type": first_type, "sort": "category", "dir": "asc"}),
        (
            f"township+risk_type={first_type}+hide",
            {"township": TOWNSHIP, "risk_type": first_type, "hide_monitored": "on"},
        ),
        ("status=open+sort village", {"status": "open", "sort": "village"}),
        ("status=none+level=high+sort household", {"status": "none", "level": "high", "sort": "household"}),
    ]
    if rules:
        query = {"township": TOWNSHIP, "rule": rules[0], "status": "open"}
        found.append((f"township+rule={rules[0]}+status=open", query))
    return found


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "povertycloud.settings")
    import django

    django.setup()
    from django.db import connection
    from django.db.models import Count
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from django.urls import reverse

    from povertycloud.accounts.models import Role, User
    from risk import list_selectors
    from risk.models import RiskCase, RiskScore, ScoringRun, Warning

    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--only", default="", help="time only cases whose name contains one of these (a,b,…)")
    parser.add_argument("--legacy", default="", help="MODULE whose filter_scores and risk_page to use")
    args = parser.parse_args()
    if args.legacy:
        legacy = importlib.import_module(args.legacy)
        list_selectors.filter_scores, list_selectors.risk_page = legacy.filter_scores, legacy.risk_page
        print(f"filter_scores and risk_page from {args.legacy}")

    run = ScoringRun.objects.filter(finished_at__isnull=False).order_by("-as_of", "-finished_at").first()
    if run is None:
        raise SystemExit("no finished scoring run")
    with connection.cursor() as cursor:
        cursor.execute("SELECT version()")
        version = cursor.fetchone()[0].split(" on ")[0]
    print(
        f"machine: {platform.node()} {platform.machine()}, {os.cpu_count()} cores, {version}; "
        f"run {run.pk} as of {run.as_of}: {run.households_scored:,} households scored; "
        f"database {connection.settings_dict['NAME']}"
    )
    # The filter values to time: the commonest and the rarest warned risk type, the commonest warning rule of
    # the cases, and the commonest monitoring category.
    counted = list(
        Warning.objects.exclude(rule__risk_type="").values("rule__risk_type").annotate(n=Count("id")).order_by("-n")
    )
    risk_types = list(dict.fromkeys([row["rule__risk_type"] for row in counted[:1] + counted[-1:]])) or ["01"]
    rules = list(RiskCase.objects.exclude(warning_rules=[]).values_list("warning_rules", flat=True)[:2000])
    flat = [code for codes in rules for code in codes]
    rules = [max(set(flat), key=flat.count)] if flat else []
    top = (
        RiskScore.objects.filter(run=run)
        .exclude(household__monitoring_type="")
        .values("household__monitoring_type")
        .annotate(n=Count("id"))
        .order_by("-n")
        .first()
    )
    monitoring = top["household__monitoring_type"] if top else "1"

    users = {
        "county staff": User.objects.get_or_create(
            username="bench-risk-county", defaults={"role": Role.COUNTY_STAFF, "region_id": COUNTY}
        )[0],
        "township official": User.objects.get_or_create(
            username="bench-risk-township", defaults={"role": Role.TOWNSHIP_OFFICIAL, "region_id": TOWNSHIP}
        )[0],
    }
    url = reverse("risk:list")
    results: list[tuple[str, str, float, float, dict]] = []
    for who, user in users.items():
        client = Client()
        client.force_login(user)
        client.get(url)  # warm: sessions, the data dictionary cache, the connection
        print(f"\n{who} ({user.region_id}), {args.repeat} requests each, ms:")
        print(f"  {'case':<44} {'p50':>7} {'p95':>7}  target {TARGET_MS:.0f}")
        for name, query in cases(risk_types, rules, monitoring):
            if args.only and not any(part in name for part in args.only.split(",")):
                continue
            times, sql = [], []
            for _ in range(args.repeat):
                connection.queries_log.clear()  # the log keeps 9,000 queries; past that a capture reads none
                with CaptureQueriesContext(connection) as captured:
                    started = time.perf_counter()
                    response = client.get(url, query)
                    times.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (name, response.status_code)
                sql.append(sum(float(q["time"]) for q in captured.captured_queries) * 1000)
            times.sort()
            p50 = statistics.median(times)
            p95 = times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]
            flag = "ok" if p95 <= TARGET_MS else "OVER"
            print(
                f"  {name:<44} {p50:7.1f} {p95:7.1f}  {flag:<4}  SQL p50 {statistics.median(sql):6.1f} "
                f"in {len(captured.captured_queries)} queries"
            )
            results.append((who, name, p50, p95, query))
    over = [r for r in results if r[3] > TARGET_MS]
    print(f"\n{len(results) - len(over)} of {len(results)} cases within p95 ≤ {TARGET_MS:.0f} ms")
    for who, name, _p50, p95, _query in over:
        print(f"  over: {who}: {name} p95 {p95:.1f} ms")
    who, name, _p50, p95, query = max(results, key=lambda r: r[3])
    client = Client()
    client.force_login(users[who])
    connection.queries_log.clear()
    with CaptureQueriesContext(connection) as captured:
        client.get(url, query)
    slowest = max(captured.captured_queries, key=lambda q: float(q["time"]))
    print(f"\nslowest case: {who}: {name} (p95 {p95:.1f} ms); its slowest query ({slowest['time']} s):")
    print(slowest["sql"])
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("EXPLAIN (ANALYZE, BUFFERS) " + slowest["sql"])
            print("\n".join(row[0] for row in cursor.fetchall()))


if __name__ == "__main__":
    main()
