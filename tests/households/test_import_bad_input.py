"""Bad input to the officials' spreadsheet import stays a clear message: a sheet that declares a million rows is
refused from its dimensions before a row is read, a line that cannot be read is an error of that line only,
an over-long field is a message, never a 500."""

import io
import re
import zipfile

import openpyxl
import pytest
from django.urls import reverse

from households import spreadsheets
from households.models import Household, Person
from tests.factories import VILLAGE_A
from tests.households.test_import_export import HEADERS, good_rows, member_row, xlsx

pytestmark = pytest.mark.django_db
IMPORT = reverse("households:import")


@pytest.fixture(autouse=True)
def _uploads_in_a_temporary_directory(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def declaring(upload: io.BytesIO, ref: str) -> io.BytesIO:
    """The same workbook with its sheet's <dimension ref> rewritten (what a crafted file declares)."""
    source = zipfile.ZipFile(upload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data, replaced = re.subn(rb'<dimension ref="[^"]+"', f'<dimension ref="{ref}"'.encode(), data)
                assert replaced == 1
            target.writestr(item, data)
    out.seek(0)
    out.name = "households.xlsx"
    return out


def csv_upload(lines: list[str], encoding: str = "utf-8") -> io.BytesIO:
    upload = io.BytesIO("\r\n".join(lines).encode(encoding))
    upload.name = "households.csv"
    return upload


def csv_line(cells: list[object]) -> str:
    return ",".join(str(cell) for cell in cells)


def test_a_sheet_declaring_a_million_rows_is_refused_before_a_row_is_read(client, official_a, monkeypatch):
    read = []
    original = openpyxl.worksheet._read_only.ReadOnlyWorksheet._cells_by_row

    def spy(self, *args, **kwargs):
        read.append(args)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(openpyxl.worksheet._read_only.ReadOnlyWorksheet, "_cells_by_row", spy)
    client.force_login(official_a)
    response = client.post(IMPORT, {"file": declaring(xlsx(good_rows()), "A1:N1000000")})
    assert response.status_code == 200
    html = response.content.decode()
    assert "工作表声明有 1000000 行，一次最多导入 2000 行" in html
    assert "report" not in response.context
    assert read == []  # refused from the declared dimensions: no row was parsed
    assert not Household.objects.exists()


def test_a_sheet_declaring_too_many_columns_is_refused(client, official_a):
    client.force_login(official_a)
    response = client.post(IMPORT, {"file": declaring(xlsx(good_rows()), "A1:XFD4")})
    assert "工作表声明有 16384 列" in response.content.decode()


def test_a_sheet_without_dimensions_is_read_no_further_than_the_bound(client, official_a):
    # A row numbered far down (r="900000") in a sheet with no <dimension>: openpyxl would fill every line
    # up to it with empty rows; the reader stops at its bound and refuses the file.
    upload = xlsx(good_rows())
    source = zipfile.ZipFile(upload)
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as target:
        for item in source.infolist():
            data = source.read(item.filename)
            if item.filename == "xl/worksheets/sheet1.xml":
                data = re.sub(rb'<dimension ref="[^"]+" ?/>', b"", data)
                far_row = b'<row r="900000"><c r="A900000" t="inlineStr"><is><t>x</t></is></c></row>'
                data = data.replace(b"</sheetData>", far_row + b"</sheetData>")
            target.writestr(item, data)
    out.seek(0)
    out.name = "households.xlsx"
    client.force_login(official_a)
    html = client.post(IMPORT, {"file": out}).content.decode()
    assert f"工作表声明有 {spreadsheets.MAX_SHEET_ROWS + 1} 行" in html
    assert not Household.objects.exists()


def test_more_data_rows_than_the_limit_are_refused_before_the_rest_is_read(client, official_a, monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_IMPORT_ROWS", 2)
    client.force_login(official_a)
    html = client.post(IMPORT, {"file": xlsx(good_rows())}).content.decode()
    assert "一次最多导入 2 行，文件超过 2 行，请分批导入。" in html


def test_a_workbook_that_unpacks_to_too_much_is_refused(client, official_a, monkeypatch):
    monkeypatch.setattr(spreadsheets, "MAX_UNPACKED_BYTES", 1024)
    client.force_login(official_a)
    html = client.post(IMPORT, {"file": xlsx(good_rows())}).content.decode()
    assert "文件解压后超过" in html


def test_an_oversized_upload_is_refused_without_being_parsed():
    with pytest.raises(Exception, match="文件过大"):
        spreadsheets.read_sheet(b"x" * (spreadsheets.MAX_UPLOAD_BYTES + 1), "big.csv")


def test_a_nul_byte_or_an_unbalanced_quote_rejects_that_line_and_the_others_are_read(client, official_a):
    rows = good_rows()
    lines = [
        csv_line(HEADERS),
        csv_line(rows[0]),
        csv_line(rows[1]).replace("李大哥", "李\x00大哥"),  # line 3: a NUL byte
        csv_line(member_row("N-0003", VILLAGE_A, '"没关引号', 1971)),  # line 4: an unbalanced quote
        csv_line(rows[2]),  # line 5 is read as usual, not swallowed by the open quote
    ]
    client.force_login(official_a)
    response = client.post(IMPORT, {"file": csv_upload(lines)})
    assert response.status_code == 200
    report = response.context["report"]
    by_line = {row.line: row for row in report.rows}
    assert set(by_line) == {2, 3, 4, 5}
    assert by_line[3].errors == [("", "这一行含有空字符（NUL），未读取。")]
    assert by_line[4].errors == [("", "这一行的引号不成对（或引号后缺少分隔符），未读取。")]
    assert not by_line[5].errors and by_line[5].number == "N-0002" and by_line[5].outcome == "new"
    assert not report.ok
    html = response.content.decode()
    assert "引号不成对" in html and "空字符" in html and 'data-testid="import-confirm"' not in html
    assert not Household.objects.exists()


def test_an_over_long_csv_field_is_a_message_not_a_500(client, official_a):
    lines = [
        csv_line(HEADERS),
        csv_line(good_rows()[1]),
        csv_line(member_row("N-0003", VILLAGE_A, "长" * 200_000, 1971)),  # beyond the csv module's limit
        csv_line(member_row("N-0004", VILLAGE_A, "长" * 600, 1972)),  # beyond the household file's columns
    ]
    client.force_login(official_a)
    response = client.post(IMPORT, {"file": csv_upload(lines)})
    assert response.status_code == 200
    by_line = {row.line: row for row in response.context["report"].rows}
    assert by_line[3].errors == [("", "这一行的内容过长，未读取。")]
    assert by_line[4].errors[0][1].startswith("第 6 列的内容过长（600 个字符，最多 500 个）")
    assert not by_line[2].errors


def test_a_value_longer_than_its_column_is_a_message_on_its_column(client, official_a):
    row = member_row("N-0001", VILLAGE_A, "名" * 60, 1980)
    client.force_login(official_a)
    response = client.post(IMPORT, {"file": xlsx([row])})
    assert response.status_code == 200
    assert response.context["report"].rows[0].errors == [("姓名", "姓名最长 50 个字符，这里有 60 个。")]
    assert not Person.objects.exists()


def test_a_header_that_cannot_be_read_refuses_the_file(client, official_a):
    client.force_login(official_a)
    html = client.post(IMPORT, {"file": csv_upload(['户编号,"村代码', "x"])}).content.decode()
    assert "第 1 行（表头）无法读取" in html


def test_blank_lines_and_a_short_line_are_still_read(client, official_a):
    rows = good_rows()
    lines = [csv_line(HEADERS), "", csv_line(rows[1]), ",,,", csv_line(rows[2])]
    client.force_login(official_a)
    report = client.post(IMPORT, {"file": csv_upload(lines)}).context["report"]
    assert report.ok and [row.line for row in report.rows] == [3, 5]
