"""An auditor generates a county performance report in a real browser and downloads it (issue 7)."""

import re

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from povertycloud.audit.models import AuditEvent
from reports.models import Report
from resources.catalogue import load_catalogue
from tests.reports.builders import small_county

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def county(regions, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    load_catalogue()  # the flush after transactional tests empties what the data migration loaded
    return small_county()


def test_an_auditor_generates_a_report_and_downloads_it(page, sign_in, auditor, county, tmp_path):
    sign_in(page, auditor)
    page.goto("/")
    page.get_by_test_id("nav-reports").click()
    expect(page.get_by_test_id("chart-township-monitored")).to_be_visible()
    page.get_by_test_id("subnav-reports").click()

    page.select_option("#id_region", "522634000000")
    page.fill("#id_start", "2024-01-01")
    page.fill("#id_end", "2024-12-31")
    # The test run executes jobs in the request (immediate task backend): the click's navigation waits for the
    # whole report, as the status below does.
    page.get_by_test_id("report-submit").click(timeout=60_000)

    expect(page).to_have_url(re.compile(r"/reports/performance/\d+/$"))
    expect(page.get_by_test_id("report-status")).to_have_text("已完成", timeout=60_000)
    report = Report.objects.get()
    expect(page.get_by_test_id("report-hash")).to_have_text(report.data_hash)
    expect(page.get_by_test_id("progress-text")).to_have_text("已完成")

    with page.expect_download() as download_info:
        page.get_by_test_id("file-performance.xlsx").click()
    download = download_info.value
    assert download.suggested_filename == f"report-{report.pk}-performance.xlsx"
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    book = load_workbook(saved)
    assert book.sheetnames[0] == "报告清单" and book.sheetnames[-1] == "指标定义"

    with page.expect_download() as download_info:
        page.get_by_test_id("file-performance.pdf").click()
    pdf = tmp_path / "report.pdf"
    download_info.value.save_as(pdf)
    assert pdf.read_bytes().startswith(b"%PDF")
    assert AuditEvent.objects.filter(action="export", entity="reports.report", actor=auditor).count() == 2


def test_a_period_that_ends_before_it_starts_is_refused_on_the_page(page, sign_in, auditor, county):
    sign_in(page, auditor)
    page.goto("/reports/performance/")
    page.fill("#id_start", "2024-06-01")
    page.fill("#id_end", "2024-05-01")
    # The test run executes jobs in the request (immediate task backend): the click's navigation waits for the
    # whole report, as the status below does.
    page.get_by_test_id("report-submit").click(timeout=60_000)
    expect(page.get_by_test_id("error-end")).to_have_text("统计期截止日不能早于起始日。")
    assert not Report.objects.exists()
