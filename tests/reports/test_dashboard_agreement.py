"""The dashboard opens on the latest period that has a monitoring threshold, and its figures are the
performance report's: the same period and region give the same headline numbers and township figures."""

import datetime as dt
import io
import json
import re

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from households.monitoring import MonitoringThreshold
from reports.forms import threshold_period
from reports.models import Report
from reports.services import report_dir
from tests.factories import COUNTY, TOWNSHIP_A
from tests.reports.builders import END, START, small_county

pytestmark = pytest.mark.django_db


@pytest.fixture
def county(regions):
    return small_county()


def shown(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}">([^<]*)<', html).group(1).strip()


def bar_values(html: str, testid: str) -> dict[str, float]:
    svg = html.split(f'data-testid="{testid}"', 1)[1].split("</svg>", 1)[0]
    return {label: float(value) for label, value in re.findall(r'data-label="([^"]+)" data-value="([^"]+)"', svg)}


def generated_report(client, user, region, django_capture_on_commit_callbacks) -> Report:
    client.force_login(user)
    data = {"region": region, "start": START.isoformat(), "end": END.isoformat()}
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("reports:list"), data)
    report = Report.objects.get(region_id=region)
    assert report.status == Report.Status.SUCCEEDED
    return report


@pytest.mark.parametrize("region", [COUNTY, TOWNSHIP_A])
def test_the_dashboard_shows_the_performance_reports_figures(
    client, county, county_staff, region, django_capture_on_commit_callbacks
):
    report = generated_report(client, county_staff, region, django_capture_on_commit_callbacks)
    manifest = json.loads((report_dir(report) / "manifest.json").read_text())
    numbers = manifest["numbers"]
    html = client.get(
        reverse("reports:dashboard"), {"region": region, "start": START.isoformat(), "end": END.isoformat()}
    ).content.decode()
    assert int(shown(html, "n-monitored")) == numbers["monitored_households"]
    assert int(shown(html, "n-people")) == numbers["monitored_people"]
    assert int(shown(html, "n-identified")) == numbers["identified"]
    assert int(shown(html, "n-eliminated")) == numbers["eliminated"]
    assert int(shown(html, "n-overdue")) == numbers["overdue_open"]
    assert float(shown(html, "n-amount").replace(",", "")) == pytest.approx(numbers["amount_total"])
    assert float(shown(html, "n-p0").rstrip("%")) == pytest.approx(round(100 * numbers["fgt_p0"], 1))
    assert numbers["monitored_households"] > 0  # the county has something to compare

    # The township figures: the dashboard's bars against the report's own township sheet.
    book = load_workbook(io.BytesIO((report_dir(report) / "performance.xlsx").read_bytes()), read_only=True)
    rows = [row for sheet in book.worksheets for row in sheet.iter_rows(values_only=True)]
    header = next(i for i, row in enumerate(rows) if row and row[0] == "乡镇" and "监测户数" in row)
    columns = list(rows[header])
    sheet_rows = []
    for row in rows[header + 1 :]:
        if not row or row[0] is None or len(row) < len(columns):
            break
        sheet_rows.append(row)
    monitored = {row[0]: float(row[columns.index("监测户数")]) for row in sheet_rows}
    amount = {row[0]: float(row[columns.index("金额（元）")]) for row in sheet_rows}
    assert monitored and bar_values(html, "chart-township-monitored") == monitored
    if any(amount.values()):
        assert bar_values(html, "chart-township-amount") == pytest.approx(amount)


def test_the_dashboard_opens_on_the_latest_year_with_a_threshold(client, county, county_staff, monkeypatch):
    # The county has thresholds for 2023 and 2024 only: in mid-2025 it opens on 2024, not on a year the
    # reports cannot measure poverty for.
    monkeypatch.setattr("django.utils.timezone.localdate", lambda *args, **kwargs: dt.date(2025, 6, 1))
    client.force_login(county_staff)
    html = client.get(reverse("reports:dashboard")).content.decode()
    assert "统计期 2024-01-01 至 2024-12-31" in shown(html, "dashboard-period")
    assert 'value="2024-01-01"' in html and 'value="2024-12-31"' in html
    assert int(shown(html, "n-monitored")) == 3  # the year's figures, not an empty 2025


def test_the_period_follows_the_thresholds_table(regions):
    MonitoringThreshold.objects.create(region_id=COUNTY, year=2023, amount=6800)
    # A year without a threshold opens on the latest earlier year that has one.
    assert threshold_period(COUNTY, dt.date(2025, 6, 1)) == (dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    # This year has one: this year so far.
    MonitoringThreshold.objects.create(region_id=COUNTY, year=2025, amount=7200)
    assert threshold_period(COUNTY, dt.date(2025, 6, 1)) == (dt.date(2025, 1, 1), dt.date(2025, 6, 1))
    # In January the whole of last year, as before.
    assert threshold_period(COUNTY, dt.date(2026, 1, 10)) == (dt.date(2025, 1, 1), dt.date(2025, 12, 31))
    # A township takes its county's thresholds.
    assert threshold_period(TOWNSHIP_A, dt.date(2025, 6, 1)) == (dt.date(2025, 1, 1), dt.date(2025, 6, 1))


def test_a_region_without_thresholds_opens_on_this_year(regions):
    assert threshold_period(COUNTY, dt.date(2025, 6, 1)) == (dt.date(2025, 1, 1), dt.date(2025, 6, 1))


def test_another_regions_dashboard_is_not_found(client, county, official_b):
    client.force_login(official_b)
    url = reverse("reports:dashboard") + f"?region={TOWNSHIP_A}&start=2024-01-01&end=2024-12-31"
    assert client.get(url).status_code == 404


def test_the_report_page_names_the_tables_it_read(client, county, auditor, django_capture_on_commit_callbacks):
    report = generated_report(client, auditor, COUNTY, django_capture_on_commit_callbacks)
    html = client.get(reverse("reports:detail", args=[report.pk])).content.decode()
    manifest = html.split('data-testid="report-manifest"', 1)[1]
    assert "<dt>户档案</dt>" in manifest and "<dt>状态变更</dt>" in manifest
    assert "<dt>households</dt>" not in manifest and "<dt>status</dt>" not in manifest


def test_the_report_files_are_written_in_the_active_language(county, county_staff):
    """The content keeps Chinese source strings; the files translate them as they write them."""
    from django.utils import translation

    from povertycloud.regions.models import Region
    from reports.files import manifest_rows, xlsx_bytes
    from reports.services import compute_for

    region = Region.objects.get(code=COUNTY)
    content, _hash = compute_for(region=region, start=START, end=END, user=county_staff)
    manifest = {"parameters": {"start": START.isoformat(), "end": END.isoformat()}, "row_counts": {"households": 5}}
    assert content.sections[0].title == "监测对象户数和人数"  # the shared content stays in the source language
    assert ("统计期", "2024-01-01 至 2024-12-31") in manifest_rows(manifest)
    with translation.override("en"):
        rows = dict(manifest_rows(manifest))
        book = load_workbook(io.BytesIO(xlsx_bytes(content, manifest)), read_only=True)
    assert "Reporting period" in rows and "统计期" not in rows
    cover = [row[0] for row in book.worksheets[0].iter_rows(values_only=True)]
    assert "Reporting period" in cover
