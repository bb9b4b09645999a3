"""Generating a performance report in the background: stored files, manifest, reproducibility, file formats."""

import csv
import hashlib
import io
import json
import warnings
from decimal import Decimal

import numpy as np
import pytest
from matplotlib import font_manager
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ft2font import FT2Font
from openpyxl import load_workbook

from reports import files, services
from reports.models import Report
from reports.performance import compute_report
from reports.sources import read_sources
from resources.models import AssistanceMeasure
from tests.factories import COUNTY
from tests.reports.builders import END, START, measure, small_county

pytestmark = pytest.mark.django_db


@pytest.fixture
def county(regions):
    return small_county()


def generate(user, django_capture_on_commit_callbacks, code: str = COUNTY) -> Report:
    with django_capture_on_commit_callbacks(execute=True):
        report = services.request_report(by=user, region_code=code, start=START, end=END)
    report.refresh_from_db()
    return report


def test_a_generated_report_stores_its_files_and_a_manifest(county, auditor, django_capture_on_commit_callbacks):
    report = generate(auditor, django_capture_on_commit_callbacks)
    assert (report.status, report.progress, report.stage) == (Report.Status.SUCCEEDED, 100, "已完成")
    manifest = report.manifest
    assert manifest["generated_by"] == "auditor"
    assert manifest["generated_at"]
    assert manifest["parameters"] == {
        "region": COUNTY,
        "region_name": "贵州省黔东南苗族侗族自治州雷山县",
        "start": "2024-01-01",
        "end": "2024-12-31",
        "income_year": 2024,
    }
    assert manifest["row_counts"]["households"] == 5
    assert manifest["row_counts"]["measures"] == 4
    assert manifest["row_counts"]["cases"] == 3
    assert manifest["data_sha256"] == report.data_hash and len(report.data_hash) == 64
    directory = services.report_dir(report)
    expected = {
        "performance.xlsx",
        "performance.pdf",
        "ledger-assistance.csv",
        "ledger-identifications.csv",
        "ledger-eliminations.csv",
        "ledger-timeliness.csv",
    }
    assert set(manifest["files"]) == expected
    for name, facts in manifest["files"].items():
        content = (directory / name).read_bytes()
        assert hashlib.sha256(content).hexdigest() == facts["sha256"]
        assert len(content) == facts["bytes"]
    stored = json.loads((directory / "manifest.json").read_text(encoding="utf-8"))
    assert stored["data_sha256"] == report.data_hash
    assert stored["numbers"]["monitored_households"] == 3


def test_generating_again_from_the_same_data_gives_the_same_numbers_and_data_hash(
    county, auditor, county_staff, django_capture_on_commit_callbacks
):
    first = generate(auditor, django_capture_on_commit_callbacks)
    second = generate(county_staff, django_capture_on_commit_callbacks)
    assert second.pk != first.pk
    assert second.data_hash == first.data_hash
    assert second.manifest["numbers"] == first.manifest["numbers"]
    assert second.manifest["row_counts"] == first.manifest["row_counts"]
    assert second.manifest["ledger_rows"] == first.manifest["ledger_rows"]

    measure(county.h2, "05", "0501", 800, START.replace(month=9))
    third = generate(auditor, django_capture_on_commit_callbacks)
    assert third.data_hash != first.data_hash
    assert third.manifest["numbers"]["amount_total"] == first.manifest["numbers"]["amount_total"] + 800


def test_the_data_hash_depends_on_the_rows_read_not_on_their_order(county, auditor):
    import random

    from povertycloud.regions.models import Region

    region = Region.objects.get(code=COUNTY)
    sources = read_sources(region=region, start=START, end=END, user=auditor)
    reference = sources.data_hash()
    shuffle = random.Random(7).shuffle
    for table in sources.tables.values():
        shuffle(table.rows)
    assert sources.data_hash() == reference
    sources.tables["incomes"].rows[0] = (*sources.tables["incomes"].rows[0][:3], Decimal("1.00"))
    assert sources.data_hash() != reference


def test_the_workbook_has_a_sheet_per_section_numbers_as_numbers_and_a_definitions_sheet(
    county, auditor, django_capture_on_commit_callbacks
):
    report = generate(auditor, django_capture_on_commit_callbacks)
    book = load_workbook(services.report_dir(report) / "performance.xlsx")
    assert book.sheetnames == [
        "报告清单",
        "监测对象户数和人数",
        "新识别与风险消除",
        "识别与帮扶时效",
        "帮扶措施覆盖",
        "帮扶资金",
        "受帮扶户收入变化",
        "风险消除后返贫",
        "FGT 贫困指数",
        "风险名单瞄准误差",
        "资格比对（部门数据比对）",
        "分乡镇",
        "指标定义",
    ]
    cover = {row[0]: row[1] for row in book["报告清单"].iter_rows(min_row=2, values_only=True)}
    assert cover["所读数据 SHA-256"] == report.data_hash
    assert cover["生成人"] == "auditor"
    money = list(book["帮扶资金"].iter_rows(values_only=True))
    total = next(row for row in money if row[0] == "合计")
    assert total[1:3] == (2, 9000)
    assert isinstance(total[2], int | float)
    fgt = {row[0]: row[1] for row in book["FGT 贫困指数"].iter_rows(values_only=True) if row and row[0]}
    assert isinstance(fgt["P0 贫困发生率"], float)
    assert fgt["P0 贫困发生率"] == pytest.approx(5 / 9, abs=1e-6)
    definitions = list(book["指标定义"].iter_rows(min_row=2, values_only=True))
    assert len(definitions) == 11
    assert all(definition and len(definition) > 20 for _, definition in definitions)
    assert any("P_α" in definition for _, definition in definitions)


def test_the_ledgers_are_csv_with_spreadsheet_formulas_neutralised(county, auditor, django_capture_on_commit_callbacks):
    AssistanceMeasure.objects.filter(household=county.h1, amount=Decimal(3000)).update(
        funding_source='=HYPERLINK("http://x.example","点击")'
    )
    report = generate(auditor, django_capture_on_commit_callbacks)
    content = (services.report_dir(report) / "ledger-assistance.csv").read_bytes()
    assert content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["措施编号", "户编号", "村代码"]
    assert len(rows) == 3
    assert rows[1][6] == '\'=HYPERLINK("http://x.example","点击")'
    timeliness = list(
        csv.reader(io.StringIO((services.report_dir(report) / "ledger-timeliness.csv").read_text("utf-8-sig")))
    )
    assert [row[5] for row in timeliness[1:]] == ["10", "30"]


def _glyphs_present(font_path: str, text: str) -> bool:
    font = FT2Font(font_path)
    return all(font.get_char_index(ord(char)) != 0 for char in text if not char.isspace())


def _render(text: str, family: str) -> np.ndarray:
    figure = Figure(figsize=(1, 1), dpi=72)
    figure.text(0.1, 0.3, text, fontsize=40, family=family)
    canvas = FigureCanvasAgg(figure)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., 0].copy()


def test_the_pdf_draws_its_chinese_text_in_a_cjk_font_with_no_missing_glyph(county, auditor):
    from povertycloud.regions.models import Region

    sources = read_sources(region=Region.objects.get(code=COUNTY), start=START, end=END, user=auditor)
    report = compute_report(sources, region_name="雷山县")
    manifest = {
        "report": 1,
        "generated_by": "auditor",
        "parameters": {"region": COUNTY, "region_name": "雷山县"},
        "row_counts": sources.row_counts,
        "data_sha256": sources.data_hash(),
    }
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        content = files.pdf_bytes(report, manifest)
    missing = [str(w.message) for w in caught if "missing from font" in str(w.message)]
    assert missing == []
    assert content.startswith(b"%PDF")
    assert b"NotoSansCJK" in content or b"NotoSerifCJK" in content  # the CJK font is embedded

    family = files.cjk_font()
    path = font_manager.findfont(font_manager.FontProperties(family=family), fallback_to_default=False)
    import matplotlib

    with matplotlib.rc_context(files.chart_style()):
        pages = list(files.report_figures(report, manifest))
        texts = [t.get_text() for page in pages for t in page.texts]
        for page in pages:
            for axes in page.axes:
                texts += [t.get_text() for t in axes.texts] + [axes.get_title()]
                texts += [label.get_text() for label in axes.get_yticklabels() + axes.get_xticklabels()]
                for table in axes.tables:
                    texts += [cell.get_text().get_text() for cell in table.get_celld().values()]
        chinese = "".join(sorted({c for text in texts for c in text if "\u4e00" <= c <= "\u9fff"}))
        assert len(chinese) > 200
        assert _glyphs_present(path, chinese)

        # Drawn, the cover page has ink, and two different characters come out as different shapes in the
        # report's font; in a font without Chinese both would be the same empty box ("tofu").
        canvas = FigureCanvasAgg(pages[0])
        canvas.draw()
        cover = np.asarray(canvas.buffer_rgba())[..., 0]
        assert (cover < 128).sum() > 5000
        assert not np.array_equal(_render("审", family), _render("计", family))
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("ignore")
        assert np.array_equal(_render("审", "DejaVu Sans"), _render("计", "DejaVu Sans"))


def _ink(image: np.ndarray, box: tuple[float, float, float, float], scale: float, height: float) -> np.ndarray:
    """The dark pixels of a PDF box (left, bottom, right, top in points) on the page rendered at scale."""
    left, bottom, right, top = box
    rows = slice(int((height - top) * scale), int((height - bottom) * scale) + 1)
    columns = slice(int(left * scale), int(right * scale) + 1)
    return image[rows, columns].min(axis=-1) < 128


def _trimmed(ink: np.ndarray) -> np.ndarray:
    rows, columns = np.flatnonzero(ink.any(axis=1)), np.flatnonzero(ink.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, columns[0] : columns[-1] + 1]


def test_the_generated_pdf_rendered_to_an_image_shows_its_chinese_title(county, auditor):
    import pypdfium2

    from povertycloud.regions.models import Region

    sources = read_sources(region=Region.objects.get(code=COUNTY), start=START, end=END, user=auditor)
    report = compute_report(sources, region_name="雷山县")
    manifest = {"report": 1, "parameters": {"region": COUNTY, "region_name": "雷山县"}}
    document = pypdfium2.PdfDocument(files.pdf_bytes(report, manifest))
    page = document[0]
    scale, (_, height) = 4, page.get_size()
    image = page.render(scale=scale).to_numpy()
    text = page.get_textpage()
    found = text.search("成效考核报告").get_next()
    assert found is not None, "the title is in the PDF's text"
    start, _count = found
    glyphs = [_ink(image, text.get_charbox(start + i), scale, height) for i in range(6)]
    # Each character of the title is drawn with ink, and no two of its different characters come out as the
    # same shape, as the empty boxes a font without Chinese draws would.
    assert all(glyph.sum() > 20 for glyph in glyphs)
    shapes = {_trimmed(glyph).tobytes() for glyph in glyphs}
    assert len(shapes) == len(set("成效考核报告"))


def test_the_demo_report_is_generated_at_once_for_the_county(county, county_staff):
    import datetime as dt

    from demo.steps.reports import build_demo_report

    report = build_demo_report(region_code=COUNTY, by=county_staff, start=START, end=END)
    assert report.status == Report.Status.SUCCEEDED
    assert (report.period_start, report.period_end) == (START, END)
    assert report.manifest["numbers"]["monitored_households"] == 3
    assert (services.report_dir(report) / "performance.pdf").is_file()
    default = build_demo_report(region_code=COUNTY, by=county_staff)
    assert default.period_start == dt.date(default.period_end.year - 1, 1, 1)


def test_a_report_whose_generation_fails_is_marked_failed_and_leaves_no_files(
    county, auditor, django_capture_on_commit_callbacks, monkeypatch
):
    def broken(*args, **kwargs):
        raise RuntimeError("磁盘已满")

    monkeypatch.setattr(services, "pdf_bytes", broken)
    report = generate(auditor, django_capture_on_commit_callbacks)
    assert (report.status, report.stage, report.data_hash) == (Report.Status.FAILED, "失败", "")
    assert report.error == "RuntimeError: 磁盘已满"
    assert report.finished_at is not None
    assert not services.report_dir(report).exists()
    assert services.generate_report(report=report).status == Report.Status.FAILED  # not run a second time


def test_a_report_asked_for_in_english_writes_english_files(county, auditor, django_capture_on_commit_callbacks):
    from django.utils import translation

    with translation.override("en"):
        report = generate(auditor, django_capture_on_commit_callbacks)
    assert report.language == "en" and report.status == Report.Status.SUCCEEDED
    sheets = load_workbook(services.report_dir(report) / "performance.xlsx").sheetnames
    assert sheets[0] == "Report manifest" and "Definitions" in sheets
    # the numbers do not depend on the language: the same data gives the same digest
    assert report.data_hash == generate(auditor, django_capture_on_commit_callbacks).data_hash


def test_a_report_asked_for_in_chinese_writes_chinese_files(county, auditor, django_capture_on_commit_callbacks):
    report = generate(auditor, django_capture_on_commit_callbacks)
    assert report.language == "zh-hans"
    assert load_workbook(services.report_dir(report) / "performance.xlsx").sheetnames[0] == "报告清单"
