"""A prefecture's report is computed one county a task (issue #18, item 1): on a Dask LocalCluster it is the
report one process computes over the whole prefecture's sources, section by section, cell by cell; the job tells
its progress county by county; a county's report stays in one process; a county's staff cannot ask for the
prefecture's report."""

import datetime as dt
import io
import math
import time
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.utils import translation

from povertycloud.accounts.models import Role, User
from povertycloud.cluster import IN_PROCESS, LOCAL
from povertycloud.regions.models import Region
from povertycloud.regions.selectors import full_name
from reports import partitions, services
from reports.models import Report
from reports.performance import PerformanceReport, compute_report
from reports.sources import read_sources
from tests.reports.region_builders import enrich_counties
from tests.risk.counties import PREFECTURE, build_counties

START, END = dt.date(2025, 1, 1), dt.date(2025, 12, 31)
TOLERANCE = 1e-9


def _same_value(a: Any, b: Any) -> bool:
    numbers = (int, float)
    if isinstance(a, numbers) and isinstance(b, numbers) and not isinstance(a, bool) and not isinstance(b, bool):
        if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
            return True
        return abs(float(a) - float(b)) <= TOLERANCE
    if a is None or b is None:
        return a is None and b is None
    return a == b


def assert_same_report(one: PerformanceReport, many: PerformanceReport) -> None:
    """Every table of every section cell by cell (floats to 1e-9), the charts, the numbers and the ledgers."""
    assert (one.region_code, one.region_name, one.start, one.end, one.year) == (
        many.region_code,
        many.region_name,
        many.start,
        many.end,
        many.year,
    )
    assert [s.key for s in one.sections] == [s.key for s in many.sections]
    for a, b in zip(one.sections, many.sections, strict=True):
        assert (a.title, a.definition) == (b.title, b.definition)
        assert [title for title, _ in a.tables] == [title for title, _ in b.tables], a.key
        for (title, x), (_, y) in zip(a.tables, b.tables, strict=True):
            where = f"{a.key} / {title}"
            assert list(x.columns) == list(y.columns), where
            assert list(x.dtypes.astype(str)) == list(y.dtypes.astype(str)), where
            assert x.shape == y.shape, where
            for i in range(len(x)):
                for column in x.columns:
                    assert _same_value(x.iloc[i][column], y.iloc[i][column]), (where, i, column)
        assert (a.chart is None) == (b.chart is None), a.key
        if a.chart is not None:
            assert (a.chart.kind, a.chart.title, a.chart.labels, a.chart.unit, a.chart.params) == (
                b.chart.kind,
                b.chart.title,
                b.chart.labels,
                b.chart.unit,
                b.chart.params,
            )
            assert a.chart.series.keys() == b.chart.series.keys()
            for name, values in a.chart.series.items():
                assert all(map(_same_value, values, b.chart.series[name])), (a.key, name)
    assert one.numbers.keys() == many.numbers.keys()
    for key, value in one.numbers.items():
        assert _same_value(value, many.numbers[key]), key
    assert [(ledger.name, ledger.title, ledger.columns) for ledger in one.ledgers] == [
        (ledger.name, ledger.title, ledger.columns) for ledger in many.ledgers
    ]
    for a, b in zip(one.ledgers, many.ledgers, strict=True):
        assert a.rows == b.rows, a.name


@pytest.mark.django_db(transaction=True)
def test_a_prefecture_report_on_a_local_cluster_is_the_one_process_report(tmp_path, monkeypatch, settings):
    counties = build_counties(tmp_path, counties=2, persons=700)
    admin = User.objects.create(username="report-admin", role=Role.ADMIN, is_staff=True, is_superuser=True)
    enrich_counties(counties, by=admin)
    prefecture = Region.objects.get(code=PREFECTURE)

    began = time.monotonic()
    sources = read_sources(region=prefecture, start=START, end=END, user=admin)
    one = compute_report(sources, region_name=full_name(prefecture))
    one_seconds = time.monotonic() - began
    began = time.monotonic()
    many, many_hash = services.compute_for(region=prefecture, start=START, end=END, user=admin, cluster=LOCAL)
    many_seconds = time.monotonic() - began
    print(f"two-county report: one process {one_seconds:.1f} s, LocalCluster {many_seconds:.1f} s")
    assert_same_report(one, many)
    assert one.numbers["monitored_households"] > 0 and one.numbers["amount_total"] > 0
    assert len(one.sections[-1].tables[0][1]) > 1  # townships of both counties
    assert {row[2][:6] for row in one.ledgers[0].rows} == {code[:6] for code in counties}

    # The partitioned tasks in this process give the same report and the same data hash as on the cluster.
    again, again_hash = services.compute_for(region=prefecture, start=START, end=END, user=admin, cluster=IN_PROCESS)
    assert_same_report(one, again)
    assert again_hash == many_hash

    # The report job (DASK_SCHEDULER_ADDRESS: here "none", the tasks in the job's process) tells each county.
    settings.DASK_SCHEDULER_ADDRESS = IN_PROCESS
    stages: list[tuple[int, str]] = []
    real_progress = services._progress

    def recorded(report: Report, percent: int, stage: str) -> None:
        stages.append((percent, stage))
        real_progress(report, percent, stage)

    monkeypatch.setattr(services, "_progress", recorded)
    report = Report.objects.create(region=prefecture, period_start=START, period_end=END, requested_by=admin)
    report = services.generate_report(report=report)
    assert report.status == Report.Status.SUCCEEDED, report.error
    names = dict(Region.objects.filter(code__in=counties).values_list("code", "name"))
    county_stages = [
        (percent, services.stage_label(stage)) for percent, stage in stages if stage.startswith(services.COUNTY_STAGE)
    ]
    assert county_stages == [
        (1 + 44 * 1 // 2, f"{names[counties[0]]} 已完成（1/2）"),
        (1 + 44 * 2 // 2, f"{names[counties[1]]} 已完成（2/2）"),
    ]
    first_county = next(stage for _, stage in stages if stage.startswith(services.COUNTY_STAGE))
    with translation.override("en"):  # the page words the stored stage in the reader's language
        assert services.stage_label(first_county) == f"{names[counties[0]]} done (1/2)"
    assert report.data_hash == many_hash
    assert report.manifest["numbers"]["monitored_households"] == one.numbers["monitored_households"]
    assert report.manifest["row_counts"] == sources.row_counts
    assert report.manifest["parameters"]["income_year"] == sources.year


def _arguments(region: str, username: str) -> list[str]:
    return ["--region", region, "--start", START.isoformat(), "--end", END.isoformat(), "--user", username]


@pytest.mark.django_db(transaction=True)
def test_a_county_report_stays_in_one_process_and_a_county_user_cannot_ask_for_the_prefecture(tmp_path, monkeypatch):
    counties = build_counties(tmp_path, counties=2, persons=60, departments=False)
    staff = User.objects.create(username="county-staff", role=Role.COUNTY_STAFF, region_id=counties[0])

    def no_task(*args, **kwargs):
        raise AssertionError("a county's report runs no county task")

    monkeypatch.setattr(partitions, "county_part", no_task)
    monkeypatch.setattr(partitions, "runner_for", no_task)
    county = Region.objects.get(code=counties[0])
    content, _ = services.compute_for(region=county, start=START, end=END, user=staff, cluster=LOCAL)
    assert content.region_code == counties[0] and content.numbers["monitored_households"] >= 0

    with pytest.raises(ValidationError) as refused:
        services.request_report(by=staff, region_code=PREFECTURE, start=START, end=END)
    assert "region" in refused.value.message_dict
    with pytest.raises(CommandError, match="不在您的辖区内"):
        call_command("build_report", *_arguments(PREFECTURE, staff.username))
    assert not Report.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_build_report_command_generates_a_prefecture_report_through_the_job(tmp_path, monkeypatch):
    counties = build_counties(tmp_path, counties=2, persons=60, departments=False)
    User.objects.create(username="report-admin", role=Role.ADMIN, is_staff=True, is_superuser=True)
    told = []
    monkeypatch.setattr(services, "_county_progress", lambda report, codes: lambda county, state: told.append(county))
    out = io.StringIO()
    call_command("build_report", *_arguments(PREFECTURE, "report-admin"), "--cluster", IN_PROCESS, stdout=out)
    report = Report.objects.get()
    assert report.status == Report.Status.SUCCEEDED and report.region_id == PREFECTURE
    assert told == counties
    assert f"报告 #{report.pk}" in out.getvalue()
    assert (services.report_dir(report) / "performance.xlsx").is_file()
