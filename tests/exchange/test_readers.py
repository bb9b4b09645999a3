"""Reading department files: encodings found from the bytes, headers matched to the declaration, chunks."""

import codecs
import datetime as dt

import pytest

from exchange.departments import CIVIL_AFFAIRS, HEALTH
from exchange.readers import FileReader, FileRefused, detect_encoding, file_facts, match_header
from tests.exchange.files import HEALTH_COLUMNS, health_row, write_csv, write_xlsx

ID = "522634198001011234"


def rows_of(reader: FileReader) -> list[list[str]]:
    return [row for chunk in reader.chunks() for row in chunk.to_numpy().tolist()]


def test_a_byte_order_mark_means_utf8_with_bom(tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(ID, "张三")], encoding="utf-8-sig")
    reader = FileReader(path)
    assert reader.encoding == "utf-8-sig"
    assert reader.headers == list(HEALTH_COLUMNS)
    assert rows_of(reader)[0][2] == "张三"


def test_valid_utf8_without_a_bom_is_read_as_utf8(tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(ID, "张三")], encoding="utf-8")
    reader = FileReader(path)
    assert reader.encoding == "utf-8"
    assert rows_of(reader)[0][2] == "张三"


def test_bytes_that_are_not_utf8_are_read_as_gbk_through_gb18030(tmp_path):
    path = write_csv(tmp_path / "c.csv", HEALTH_COLUMNS, [health_row(ID, "龚琴")], encoding="gbk")
    reader = FileReader(path)
    assert reader.encoding == "gb18030"
    assert reader.headers == list(HEALTH_COLUMNS)
    assert rows_of(reader)[0][2] == "龚琴"


def test_the_caller_can_name_the_encoding_instead_of_detection(tmp_path):
    # Pure ASCII digits and Latin-1 bytes: detection says GB18030; the caller knows better.
    path = tmp_path / "latin.csv"
    path.write_bytes("证件号码,姓名\n".encode() + f"{ID},Jos\u00e9\n".encode("latin-1"))
    assert FileReader(path).encoding == "gb18030"
    assert FileReader(path, encoding="latin-1").encoding == "iso8859-1"
    assert FileReader(path, encoding="GBK").encoding == "gb18030"
    assert FileReader(path, encoding="utf8").encoding == "utf-8"


def test_an_unknown_encoding_name_is_refused_in_chinese(tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(ID, "张三")])
    with pytest.raises(FileRefused, match="不认识的编码"):
        FileReader(path, encoding="klingon")


def test_detection_looks_at_the_first_megabyte_and_tolerates_a_cut_character():
    text = ("证件号码" * 100).encode("utf-8")
    assert detect_encoding(text[:-1]) == "utf-8"  # the last character cut in the middle
    assert detect_encoding(codecs.BOM_UTF8 + text) == "utf-8-sig"
    assert detect_encoding("证件号码".encode("gbk")) == "gb18030"


def test_a_file_that_turns_out_not_to_be_utf8_after_the_sample_is_refused(tmp_path):
    path = tmp_path / "mixed.csv"
    header = ",".join(HEALTH_COLUMNS) + "\n"
    good = ",".join(health_row(ID, "张三")) + "\n"
    rows = 1_200_000 // len(good.encode("utf-8"))
    path.write_bytes((header + good * rows).encode("utf-8") + ",".join(health_row(ID, "龚琴")).encode("gbk"))
    reader = FileReader(path, chunk_rows=1000)
    assert reader.encoding == "utf-8"
    with pytest.raises(FileRefused, match="编码"):
        rows_of(reader)


def test_xlsx_is_read_with_dates_and_numbers_as_the_department_meant_them(tmp_path):
    row = health_row(
        ID, "张三", **{"大病确诊日期": dt.datetime(2024, 5, 6), "年度累计自付费用（元）": 1200.0}
    )
    path = write_xlsx(tmp_path / "h.xlsx", HEALTH_COLUMNS, [row])
    reader = FileReader(path)
    assert reader.format == "xlsx"
    assert reader.xlsx_row_count() == 1
    values = dict(zip(HEALTH_COLUMNS, rows_of(reader)[0], strict=True))
    assert values["大病确诊日期"] == "2024-05-06"
    assert values["年度累计自付费用（元）"] == "1200"


def test_values_are_stripped_of_surrounding_spaces(tmp_path):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(f" {ID}\u3000", " 张三 ")])
    row = rows_of(FileReader(path))[0]
    assert row[1] == ID and row[2] == "张三"


def test_chunks_cover_every_row_and_the_line_count_estimates_the_total(tmp_path):
    rows = [health_row(ID, f"人{i}") for i in range(25)]
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, rows)
    reader = FileReader(path, chunk_rows=10)
    sizes = [len(chunk) for chunk in reader.chunks()]
    assert sizes == [10, 10, 5]
    assert file_facts(path).line_count - 1 == 25


def test_headers_match_whatever_their_width_or_spacing():
    headers = ["统计期", "证件号码", "姓 名", "参保状态", "参保类型", "年度累计自付费用(元)"]
    match = match_header(HEALTH, headers)
    assert match.positions["name"] == 2
    assert match.positions["out_of_pocket_ytd"] == 5
    assert "大病保险" in match.absent_optional


def test_a_missing_required_column_refuses_the_file_naming_the_columns():
    with pytest.raises(FileRefused) as refused:
        match_header(CIVIL_AFFAIRS, ["统计期", "乡镇（街道）", "性别"])
    message = str(refused.value)
    assert "缺少民政数据的必填列" in message
    assert "证件号码" in message and "姓名" in message


def test_extra_columns_are_ignored_and_listed():
    match = match_header(HEALTH, [*HEALTH_COLUMNS, "备注", "联系电话"])
    assert match.extra == ["备注", "联系电话"]


def test_a_column_given_twice_refuses_the_file():
    with pytest.raises(FileRefused, match="出现了不止一次"):
        match_header(HEALTH, [*HEALTH_COLUMNS, "姓名"])


def test_an_old_excel_file_is_refused_with_advice(tmp_path):
    path = tmp_path / "old.xls"
    path.write_bytes(b"\xd0\xcf\x11\xe0" + b"\x00" * 100)
    with pytest.raises(FileRefused, match="xlsx"):
        FileReader(path)
