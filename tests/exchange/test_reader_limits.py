"""Bad department files get a clear message, row by row where they can: huge Excel sheets, NUL bytes,
unbalanced quotes, over-long fields; the upload reads a bounded part of the file during the request."""

import datetime as dt
import re
import zipfile
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from exchange import readers
from exchange.departments import EducationRecord, HealthRecord
from exchange.models import ImportBatch, ImportSettings, RejectedRow
from exchange.pipeline import FileRefused, import_department_file
from exchange.readers import FileReader, peek_header, xlsx_dimensions
from exchange.validate import RAW_LINE
from tests.exchange.files import EDUCATION_COLUMNS, HEALTH_COLUMNS, education_row, health_row, write_xlsx
from tests.factories import COUNTY, resident_id

pytestmark = pytest.mark.django_db
IDS = [resident_id(dt.date(1970 + i, 1 + i, 1 + i), sex=str(1 + i % 2), sequence=60 + i) for i in range(6)]


def declare_rows(path: Path, ref: str) -> Path:
    """The same workbook with its first sheet's <dimension> rewritten (as a bad exporter leaves it)."""
    out = path.with_name("declared-" + path.name)
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, n = re.subn(rb'<dimension ref="[^"]*"', f'<dimension ref="{ref}"'.encode(), data)
                assert n == 1
            target.writestr(item, data)
    return out


@pytest.fixture
def huge_xlsx(tmp_path) -> Path:
    small = write_xlsx(tmp_path / "e.xlsx", EDUCATION_COLUMNS, [education_row(IDS[0], "张三")])
    return declare_rows(small, "A1:Z1000000")


@pytest.fixture
def no_calamine(monkeypatch):
    """Fail if anything hands the workbook to calamine (which sizes its grid from the declaration)."""
    import python_calamine

    def refuse(*args, **kwargs):
        raise AssertionError("calamine must not read this workbook")

    monkeypatch.setattr(python_calamine.CalamineWorkbook, "from_path", refuse)


def run(path: Path, department="health", **kwargs) -> ImportBatch:
    return import_department_file(department=department, path=path, by=None, region_code=COUNTY, **kwargs)


# --- Excel: declared dimensions --------------------------------------------------------------------------


def test_the_declared_dimensions_are_read_from_the_sheet_head(huge_xlsx):
    assert xlsx_dimensions(huge_xlsx) == (1_000_000, 26)


def test_a_sheet_declaring_a_million_rows_is_refused_before_it_is_read(regions, huge_xlsx, no_calamine):
    with pytest.raises(FileRefused, match="声明有 1,000,000 行"):
        run(huge_xlsx, "education")
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED and "1,000,000" in batch.error
    assert not EducationRecord.objects.exists()


def test_import_feed_refuses_it_too(regions, huge_xlsx, no_calamine):
    with pytest.raises(CommandError, match="声明有 1,000,000 行"):
        call_command("import_feed", "education", str(huge_xlsx), "--region", COUNTY)


def test_the_web_upload_refuses_it_without_reading_the_sheet(client, county_staff, huge_xlsx, no_calamine):
    client.force_login(county_staff)
    with huge_xlsx.open("rb") as handle:
        response = client.post(
            reverse("exchange:upload"), {"department": "education", "region": COUNTY, "file": handle}
        )
    assert response.status_code == 200
    assert "声明有 1,000,000 行" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_the_row_limit_is_set_by_an_administrator(regions, tmp_path):
    rows = [education_row(IDS[i], "某") for i in range(3)]
    path = write_xlsx(tmp_path / "e.xlsx", EDUCATION_COLUMNS, rows)
    ImportSettings.objects.create(max_xlsx_rows=2)
    with pytest.raises(FileRefused, match="超过了允许的 2 行"):
        run(path, "education")
    ImportSettings.objects.update(max_xlsx_rows=3)
    assert run(path, "education").accepted_rows == 3


def test_the_upload_reads_the_excel_header_without_calamine(client, county_staff, tmp_path, no_calamine):
    path = write_xlsx(tmp_path / "e.xlsx", EDUCATION_COLUMNS, [education_row(IDS[0], "张三")])
    client.force_login(county_staff)
    with path.open("rb") as handle:
        response = client.post(
            reverse("exchange:upload"), {"department": "education", "region": COUNTY, "file": handle}
        )
    assert response.status_code == 302  # received; the background import (not run here) reads the sheet
    assert ImportBatch.objects.get().status == ImportBatch.Status.RECEIVED


def test_the_upload_still_refuses_a_workbook_missing_required_columns(client, county_staff, tmp_path, no_calamine):
    path = write_xlsx(tmp_path / "e.xlsx", ["姓名", "学校名称"], [["张三", "一小"]])
    client.force_login(county_staff)
    with path.open("rb") as handle:
        response = client.post(
            reverse("exchange:upload"), {"department": "education", "region": COUNTY, "file": handle}
        )
    assert response.status_code == 200 and "缺少" in response.content.decode()
    assert not ImportBatch.objects.exists()


def test_the_header_peek_reads_a_bounded_number_of_bytes(tmp_path, monkeypatch):
    path = write_xlsx(tmp_path / "e.xlsx", EDUCATION_COLUMNS, [education_row(IDS[0], "张三")])
    assert peek_header(path).headers == EDUCATION_COLUMNS
    # A header that is not within the bound is left to the background import (None), not searched for.
    monkeypatch.setattr(readers, "HEADER_XML_BYTES", 64)
    assert peek_header(path).headers is None
    reads = []
    original = zipfile.ZipExtFile.read

    def counting(self, n=-1):
        reads.append(n)
        return original(self, n)

    monkeypatch.setattr(zipfile.ZipExtFile, "read", counting)
    monkeypatch.setattr(readers, "HEADER_XML_BYTES", 1 << 20)
    peek_header(path)
    assert reads and all(0 < n <= 1 << 20 for n in reads)


def test_the_header_peek_of_a_csv_reads_the_first_megabyte_only(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(",".join(HEALTH_COLUMNS) + "\n" + "x" * (3 << 20) + "\n", encoding="utf-8")
    assert peek_header(path).headers == HEALTH_COLUMNS


# --- CSV: bad rows are rejected one by one ---------------------------------------------------------------


def csv_text(path: Path, lines: list[str]) -> Path:
    path.write_bytes(("\n".join([",".join(HEALTH_COLUMNS), *lines]) + "\n").encode("utf-8"))
    return path


def line(id_number: str, name: str, **values) -> str:
    return ",".join(health_row(id_number, name, **values))


def test_a_nul_byte_rejects_its_row_and_keeps_the_others(regions, tmp_path):
    path = csv_text(tmp_path / "h.csv", [line(IDS[0], "甲"), line(IDS[1], "乙\x00"), line(IDS[2], "丙")])
    batch = run(path)
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (3, 2, 1)
    rejected = RejectedRow.objects.get(batch=batch)
    assert rejected.row_number == 2 and "空字符" in rejected.reasons[0]
    assert "\x00" not in rejected.values[RAW_LINE]
    assert set(HealthRecord.objects.values_list("id_number", flat=True)) == {IDS[0], IDS[2]}


def test_an_unbalanced_quote_rejects_its_row_and_does_not_swallow_the_rest(regions, tmp_path):
    rows = [line(IDS[0], "甲"), line(IDS[1], '"乙'), *(line(IDS[i], "某") for i in range(2, 6))]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (6, 5, 1)
    rejected = RejectedRow.objects.get(batch=batch)
    assert rejected.row_number == 2 and "引号不成对" in rejected.reasons[0]
    assert HealthRecord.objects.count() == 5


def test_two_unbalanced_quotes_close_together_cost_only_their_own_rows(regions, tmp_path):
    rows = [line(IDS[0], '"甲'), line(IDS[1], "乙"), line(IDS[2], "丙", 慢性病诊断='高血压"'), line(IDS[3], "丁")]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (4, 2, 2)
    assert set(HealthRecord.objects.values_list("id_number", flat=True)) == {IDS[1], IDS[3]}


def test_quotes_that_pair_up_across_rows_never_hide_a_row_in_an_accepted_one(regions, tmp_path):
    """Quotes opened and closed in the same column of different rows look like a cell with line breaks: the
    joined record is one row, refused by the validator (its name is far too long), never silently accepted."""
    rows = [line(IDS[0], '"甲'), line(IDS[1], "乙"), line(IDS[2], '丙"'), line(IDS[3], "丁")]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert batch.total_rows == batch.accepted_rows + batch.rejected_rows
    assert set(HealthRecord.objects.values_list("id_number", flat=True)) == {IDS[3]}


def test_a_quoted_cell_with_a_line_break_is_one_row(regions, tmp_path):
    rows = [line(IDS[0], "甲", 慢性病诊断='"高血压\n糖尿病"'), line(IDS[1], "乙")]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert (batch.total_rows, batch.accepted_rows) == (2, 2)
    assert HealthRecord.objects.get(id_number=IDS[0]).chronic_diagnosis == "高血压\n糖尿病"


def test_an_over_long_field_is_a_rejected_row_with_a_clear_reason(regions, tmp_path):
    long_field = "长" * 200_000  # beyond the csv module's field limit (131,072) and the line limit
    rows = [line(IDS[0], "甲"), line(IDS[1], "乙", 慢性病诊断=long_field), line(IDS[2], "丙")]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (3, 2, 1)
    [reason] = RejectedRow.objects.get(batch=batch).reasons
    assert "过长" in reason


def test_a_quoted_over_long_field_is_rejected_too(regions, tmp_path):
    rows = [line(IDS[0], "甲", 慢性病诊断='"' + "长" * 50_000 + '"'), line(IDS[1], "乙")]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert (batch.accepted_rows, batch.rejected_rows) == (1, 1)
    assert "过长" in RejectedRow.objects.get(batch=batch).reasons[0]


def test_a_field_longer_than_declared_is_rejected_by_the_validator(regions, tmp_path):
    rows = [line(IDS[0], "甲", 慢性病诊断="病" * 500), line(IDS[1], "乙")]
    batch = run(csv_text(tmp_path / "h.csv", rows))
    assert (batch.accepted_rows, batch.rejected_rows) == (1, 1)
    assert "超过 100 个字符" in RejectedRow.objects.get(batch=batch).reasons[0]


def test_an_over_long_header_is_refused_with_a_message(regions, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text(",".join(HEALTH_COLUMNS) + "," + "x" * 200_000 + "\n" + line(IDS[0], "甲") + "\n", encoding="utf-8")
    with pytest.raises(FileRefused, match="表头"):
        run(path)


def test_the_upload_page_shows_a_message_not_a_500_for_a_bad_header(client, county_staff, tmp_path):
    path = tmp_path / "h.csv"
    path.write_text('"' + ",".join(HEALTH_COLUMNS) + "," + "x" * 200_000 + "\n", encoding="utf-8")
    client.force_login(county_staff)
    with path.open("rb") as handle:
        response = client.post(reverse("exchange:upload"), {"department": "health", "region": COUNTY, "file": handle})
    assert response.status_code == 200 and "表头" in response.content.decode()


def test_chunks_keep_row_numbers_across_bad_rows(tmp_path):
    rows = [line(IDS[i % 6], "某" if i != 4 else '"某') for i in range(9)]
    reader = FileReader(csv_text(tmp_path / "h.csv", rows), chunk_rows=3)
    chunks = list(reader.chunks())
    assert [len(c) for c in chunks] == [3, 3, 3]
    assert chunks[1].attrs["reader_rejects"] == {1: readers._unbalanced()}


def test_a_clean_large_file_takes_the_fast_path(tmp_path, monkeypatch):
    rows = [line(IDS[i % 6], "某") for i in range(1000)]
    calls = []
    real = readers.csv.reader
    monkeypatch.setattr(readers.csv, "reader", lambda *a, **k: calls.append(1) or real(*a, **k))
    reader = FileReader(csv_text(tmp_path / "h.csv", rows), chunk_rows=300)
    assert sum(len(c) for c in reader.chunks()) == 1000
    assert calls == [1]  # the header only
