"""The performance report's 资格比对 section: hits found in the period, how they stood at its end, the payments
involved (and the money section's amounts to recover), by check and by township, in the workbook and the PDF."""

import datetime as dt

import pytest
from openpyxl import load_workbook

from povertycloud.regions.models import Region
from reports import services
from reports.cross_checks import summary
from reports.services import compute_for
from reports.sources import read_sources
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B
from tests.reports.builders import END, START, small_county
from tests.reports.cross_check_builders import cross_check_hits

pytestmark = pytest.mark.django_db
SECTION = "资格比对（部门数据比对）"


@pytest.fixture
def hits(regions, admin_user):
    small_county()
    return cross_check_hits(admin_user)


def content_for(user, code: str = COUNTY, start: dt.date = START, end: dt.date = END):
    report, data_hash = compute_for(region=Region.objects.get(code=code), start=start, end=end, user=user)
    section = next(s for s in report.sections if s.key == "cross_checks")
    return report, section, data_hash


def table(section, caption: str) -> list[dict]:
    frame = next(frame for title, frame in section.tables if title == caption)
    return frame.to_dict("records")


def test_the_county_report_counts_the_hits_found_in_the_period_as_they_stood_at_its_end(hits, auditor):
    report, section, _ = content_for(auditor)
    n = report.numbers
    assert n["cross_check_hits"] == 5  # not the one found in 2023, not the other county's
    assert (n["cross_check_pending"], n["cross_check_confirmed"], n["cross_check_dismissed"]) == (2, 2, 1)
    assert (n["cross_check_exit_review"], n["cross_check_payment_recovery"]) == (1, 1)
    assert (n["cross_check_involved_amount"], n["cross_check_confirmed_amount"]) == (2500.5, 1200.5)
    assert section.title == SECTION and "首次发现" in section.definition and "截止日" in section.definition


def test_the_section_lists_every_check_with_its_counts_and_the_amounts_of_payment_checks(hits, auditor):
    _, section, _ = content_for(auditor)
    rows = {row["比对规则"]: row for row in table(section, "按比对规则")}
    deceased, payment, vehicle = (
        rows["监测对象已死亡（测试）"],
        rows["死亡后仍发放补贴（测试）"],
        rows["家庭成员有机动车（测试）"],
    )
    assert (deceased["发现疑点"], deceased["待核实"], deceased["核实属实"], deceased["核实排除"]) == (2, 1, 1, 0)
    assert (deceased["其中转入退出或标注审核"], deceased["其中转入资金追回"]) == (1, 0)
    assert deceased["涉及金额（元）"] is None  # not a payment check
    assert (payment["发现疑点"], payment["待核实"], payment["核实属实"], payment["核实排除"]) == (3, 1, 1, 1)
    assert payment["其中转入资金追回"] == 1
    assert (payment["涉及金额（元）"], payment["核实属实金额（元）"]) == (2500.5, 1200.5)
    assert (vehicle["发现疑点"], vehicle["涉及金额（元）"]) == (0, None)
    assert rows["合计"]["发现疑点"] == 5
    assert section.chart is not None and "死亡后仍发放补贴（测试）" in section.chart.labels


def test_the_section_breaks_the_hits_down_by_township(hits, auditor):
    _, section, _ = content_for(auditor)
    rows = {row["区划代码"]: row for row in table(section, "按乡镇")}
    assert set(rows) == {TOWNSHIP_A, TOWNSHIP_B, ""}
    a, b = rows[TOWNSHIP_A], rows[TOWNSHIP_B]
    assert (a["乡镇"], a["发现疑点"], a["待核实"], a["核实属实"], a["核实排除"]) == ("西江镇", 3, 1, 2, 0)
    assert (a["涉及金额（元）"], a["核实属实金额（元）"]) == (1200.5, 1200.5)
    assert (b["乡镇"], b["发现疑点"], b["待核实"], b["核实属实"], b["核实排除"]) == ("郎德镇", 2, 1, 0, 1)
    assert (b["涉及金额（元）"], b["核实属实金额（元）"]) == (1300.0, 0.0)
    assert rows[""]["乡镇"] == "合计" and rows[""]["发现疑点"] == 5


def test_confirmed_payment_recoveries_are_among_the_money_indicators(hits, auditor):
    report, _, _ = content_for(auditor)
    assert (report.numbers["recovery_hits"], report.numbers["recovery_amount"]) == (1, 1200.5)
    money = next(s for s in report.sections if s.key == "amounts")
    caption, frame = money.tables[-1]
    assert "应追回" in caption
    assert dict(zip(frame["指标"], frame["数值"], strict=True))["应追回资金（元）"] == 1200.5


def test_a_township_report_counts_only_that_townships_hits(hits, auditor):
    report, section, _ = content_for(auditor, TOWNSHIP_B)
    assert (report.numbers["cross_check_hits"], report.numbers["cross_check_dismissed"]) == (2, 1)
    assert report.numbers["recovery_amount"] == 0.0
    assert {row["区划代码"] for row in table(section, "按乡镇")} == {TOWNSHIP_B, ""}


def test_an_official_of_one_township_never_counts_another_townships_hits(hits, official_a):
    report, _, _ = content_for(official_a, COUNTY)  # read through the official's scope
    assert report.numbers["cross_check_hits"] == 3
    assert report.numbers["recovery_amount"] == 1200.5


def test_a_period_before_the_run_counts_only_what_was_found_then(hits, auditor):
    report, _section, _ = content_for(auditor, start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31))
    assert (report.numbers["cross_check_hits"], report.numbers["cross_check_pending"]) == (1, 1)
    assert report.numbers["cross_check_involved_amount"] == 0.0


def test_a_hit_decided_after_the_period_counts_as_pending_at_its_end(hits, auditor):
    late = hits.hits["h5"]
    frame = read_sources(region=Region.objects.get(code=COUNTY), start=START, end=END, user=auditor).frames
    assert summary(frame["checks"], frame["cross_checks"], START, END, {})["numbers"]["cross_check_pending"] == 2
    later = dt.date(2025, 6, 30)
    numbers = summary(frame["checks"], frame["cross_checks"], START, later, {})["numbers"]
    assert numbers["cross_check_pending"] == 1 and numbers["recovery_amount"] == pytest.approx(1700.5)
    assert late.status == "confirmed"


def test_the_data_hash_covers_the_hits_and_their_decisions(hits, auditor):
    _, _, before = content_for(auditor)
    sources = read_sources(region=Region.objects.get(code=COUNTY), start=START, end=END, user=auditor)
    assert sources.row_counts["cross_checks"] == 5 and sources.row_counts["checks"] == 3
    assert content_for(auditor)[2] == before
    hit = hits.hits["h1"]
    type(hit).objects.filter(pk=hit.pk).update(
        status="dismissed", reason="已核实", decided_at=hits.hits["h2"].decided_at
    )
    assert content_for(auditor)[2] != before


def test_the_workbook_and_the_pdf_carry_the_section(hits, auditor, django_capture_on_commit_callbacks):
    import pypdfium2

    with django_capture_on_commit_callbacks(execute=True):
        report = services.request_report(by=auditor, region_code=COUNTY, start=START, end=END)
    report.refresh_from_db()
    assert report.status == report.Status.SUCCEEDED, report.error
    assert report.manifest["row_counts"]["cross_checks"] == 5
    assert report.manifest["numbers"]["recovery_amount"] == 1200.5
    book = load_workbook(services.report_dir(report) / "performance.xlsx")
    assert SECTION in book.sheetnames
    values = [row for row in book[SECTION].iter_rows(values_only=True) if row and row[0]]
    by_check = next(row for row in values if row[0] == "死亡后仍发放补贴（测试）")
    assert by_check[1:4] == (3, 1, 1)
    assert by_check[7:9] == (2500.5, 1200.5) and isinstance(by_check[7], float)
    assert any(row[0] == "西江镇" and row[2] == 3 for row in values)
    definitions = {row[0]: row[1] for row in book["指标定义"].iter_rows(min_row=2, values_only=True)}
    assert "首次发现" in definitions[SECTION]
    money = [row for row in book["帮扶资金"].iter_rows(values_only=True) if row and row[0]]
    assert ("应追回资金（元）", 1200.5) in [tuple(row[:2]) for row in money]

    document = pypdfium2.PdfDocument((services.report_dir(report) / "performance.pdf").read_bytes())
    text = "".join(document[i].get_textpage().get_text_range() for i in range(len(document)))
    assert SECTION in text
    assert "死亡后仍发放补贴（测试）" in text and "郎德镇" in text
