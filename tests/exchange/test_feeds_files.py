"""Bad files against a declaration: a department declared as data checks every row by its declared kinds, code
tables, limits and required columns, in the uploader's language, and refuses a file it cannot read whole."""

import datetime as dt

import pytest
from django.utils import translation
from django.utils.translation import trans_real

from exchange.feeds.declare import declare_feed
from exchange.feeds.models import DeclaredRecord
from exchange.models import ImportBatch, RejectedRow
from exchange.pipeline import enqueue_import, import_department_file, receive_department_file
from exchange.readers import FileRefused
from tests.exchange.files import write_csv, write_xlsx
from tests.factories import COUNTY, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db

RENOVATIONS = {
    "slug": "renovations",
    "name": "住建 危房改造",
    "name_en": "Housing: renovations",
    "full_snapshot": True,
    "columns": [
        {"column": "统计期", "key": "period", "kind": "period", "required": True},
        {"column": "证件号码", "key": "id_number", "kind": "id_number", "required": True},
        {"column": "姓名", "key": "name", "kind": "text", "max_length": 50},
        {"column": "鉴定等级", "key": "grade", "kind": "code", "codeset": "housing_grade", "required": True},
        {"column": "鉴定日期", "key": "appraised_on", "kind": "date"},
        {"column": "补助金额（元）", "key": "subsidy", "kind": "amount", "min_value": 100, "max_value": 50000},
        {"column": "层数", "key": "floors", "kind": "integer", "max_value": 30},
        {"column": "列入改造", "key": "in_renovation", "kind": "flag"},
        {"column": "开工日期", "key": "started_on", "kind": "date", "required_when": "in_renovation"},
    ],
}
COLUMNS = [c["column"] for c in RENOVATIONS["columns"]]
IDS = [resident_id(dt.date(1960 + i, 1 + i % 12, 1 + i), sequence=60 + i) for i in range(9)]

# English for the reasons these tests read (the English catalogue is rebuilt from the translations at the end,
# see tests/exchange/test_english_reasons.py); the entries already translated are the catalogue's own.
ENGLISH = {
    "%(column)s“%(value)s”不在数据字典中（可填：%(allowed)s）。": (
        "%(column)s “%(value)s” is not in the data dictionary (allowed: %(allowed)s)."
    ),
    "%(column)s“%(value)s”不是有效日期（可写作 2025-03-01、2025/3/1、20250301 或 2025年3月1日）。": (
        "%(column)s “%(value)s” is not a valid date (write 2025-03-01, 2025/3/1, 20250301 or 2025年3月1日)."
    ),
    "%(column)s“%(value)s”低于下限 %(limit)s。": "%(column)s “%(value)s” is below the lower limit of %(limit)s.",
    "%(column)s“%(value)s”超过上限 %(limit)s。": "%(column)s “%(value)s” exceeds the limit of %(limit)s.",
    "%(column)s“%(value)s”应为整数。": "%(column)s “%(value)s” must be a whole number.",
    "%(column)s不能为空（%(other)s为“是”时必填）。": (
        "%(column)s must not be empty (it is required when %(other)s is “是”)."
    ),
    "%(column)s不能为空。": "%(column)s must not be empty.",
}


@pytest.fixture
def renovations(admin_user):
    return declare_feed(declaration=RENOVATIONS, by=admin_user)


@pytest.fixture
def english(monkeypatch):
    catalog = trans_real.translation("en")._catalog._catalogs[0]
    for msgid, msgstr in ENGLISH.items():
        monkeypatch.setitem(catalog, msgid, msgstr)
    with translation.override("en"):
        yield


def row(number: int, **values) -> list[str]:
    cells = {
        "统计期": "2025-03", "证件号码": IDS[number], "姓名": f"人{number}", "鉴定等级": "C", "鉴定日期": "2025-02-01",
        "补助金额（元）": "20000", "层数": "2", "列入改造": "否", "开工日期": "",
    }
    cells.update(values)
    return [cells[c] for c in COLUMNS]


def bad_rows() -> list[list[str]]:
    return [
        row(0),
        row(1, 鉴定等级="E"),
        row(2, 鉴定日期="2025-13-45"),
        row(3, **{"补助金额（元）": "60000"}),
        row(4, **{"补助金额（元）": "50"}),
        row(5, 层数="2.5"),
        row(6, 列入改造="是", 开工日期=""),
        row(7, 鉴定等级=""),
        row(8, 列入改造="是", 开工日期="2025/3/2"),
    ]


def run(tmp_path, rows, *, name="f.csv", columns=COLUMNS, encoding="utf-8"):
    path = write_csv(tmp_path / name, columns, rows, encoding=encoding)
    return import_department_file(department="renovations", path=path, by=None, region_code=COUNTY)


def reasons_of(batch) -> dict[int, list[str]]:
    return dict(RejectedRow.objects.filter(batch=batch).values_list("row_number", "reasons"))


def test_each_bad_row_is_rejected_with_its_reason_in_chinese(renovations, regions, tmp_path):
    batch = run(tmp_path, bad_rows())
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (9, 2, 7)
    assert batch.accepted_rows + batch.rejected_rows == batch.total_rows
    assert reasons_of(batch) == {
        2: ["鉴定等级“E”不在数据字典中（可填：A 级、B 级、C 级、D 级）。"],
        3: ["鉴定日期“2025-13-45”不是有效日期（可写作 2025-03-01、2025/3/1、20250301 或 2025年3月1日）。"],
        4: ["补助金额（元）“60000”超过上限 50,000。"],
        5: ["补助金额（元）“50”低于下限 100。"],
        6: ["层数“2.5”应为整数。"],
        7: ["开工日期不能为空（列入改造为“是”时必填）。"],
        8: ["鉴定等级不能为空。"],
    }
    assert set(DeclaredRecord.objects.values_list("id_number", flat=True)) == {IDS[0], IDS[8]}
    assert DeclaredRecord.objects.get(id_number=IDS[8]).data["started_on"] == "2025-03-02"


def test_each_bad_row_is_rejected_with_its_reason_in_english_for_an_english_uploader(
    renovations, regions, tmp_path, english, django_capture_on_commit_callbacks
):
    path = write_csv(tmp_path / "f.csv", COLUMNS, bad_rows())
    batch = receive_department_file(department="renovations", path=path, by=None, region_code=COUNTY)
    with django_capture_on_commit_callbacks() as callbacks:
        enqueue_import(batch=batch)  # the uploader's request, in English
    with translation.override("zh-hans"):  # the worker's own language
        for callback in callbacks:
            callback()
    batch.refresh_from_db()
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (9, 2, 7)
    # The column and the value are the file's own; the sentence is the uploader's language.
    assert reasons_of(batch) == {
        2: ["鉴定等级 “E” is not in the data dictionary (allowed: A 级、B 级、C 级、D 级)."],
        3: ["鉴定日期 “2025-13-45” is not a valid date (write 2025-03-01, 2025/3/1, 20250301 or 2025年3月1日)."],
        4: ["补助金额（元） “60000” exceeds the limit of 50,000."],
        5: ["补助金额（元） “50” is below the lower limit of 100."],
        6: ["层数 “2.5” must be a whole number."],
        7: ["开工日期 must not be empty (it is required when 列入改造 is “是”)."],
        8: ["鉴定等级 must not be empty."],
    }


def test_a_file_missing_a_required_declared_column_is_refused_naming_it_and_changes_nothing(
    renovations, regions, tmp_path
):
    person = make_person(make_household(with_head=False), id_number=IDS[0])
    first = run(tmp_path, [row(0), row(1)], name="march.csv")
    before = list(DeclaredRecord.all_versions.values_list("pk", "valid_to", "void"))
    without = [c for c in COLUMNS if c != "鉴定等级"]
    with pytest.raises(FileRefused, match="鉴定等级") as refused:
        run(tmp_path, [[v for c, v in zip(COLUMNS, row(2), strict=True) if c != "鉴定等级"]], name="april.csv",
            columns=without)
    assert "缺少住建 危房改造数据的必填列" in str(refused.value)
    assert list(DeclaredRecord.all_versions.values_list("pk", "valid_to", "void")) == before
    assert DeclaredRecord.objects.get(id_number=IDS[0]).person == person and first.status == "succeeded"
    failed = ImportBatch.objects.exclude(pk=first.pk).get()
    assert failed.status == "failed" and "鉴定等级" in failed.error


def test_a_header_only_file_closes_nothing(renovations, regions, tmp_path):
    run(tmp_path, [row(0), row(1)], name="march.csv")
    path = write_csv(tmp_path / "april.csv", COLUMNS, [])
    with pytest.raises(FileRefused, match="没有有效的统计期"):  # no period in the file, none given
        import_department_file(department="renovations", path=path, by=None, region_code=COUNTY)
    empty = import_department_file(department="renovations", path=path, by=None, region_code=COUNTY, period="2025-04")
    assert empty.status == "succeeded"
    assert (empty.total_rows, empty.new_versions, empty.closed_versions) == (0, 0, 0)
    assert "未终止任何记录" in empty.note
    current = DeclaredRecord.objects.filter(valid_to__isnull=True)
    assert set(current.values_list("id_number", flat=True)) == {IDS[0], IDS[1]}


def test_an_xlsx_file_is_imported_like_the_same_csv(renovations, admin_user, regions, tmp_path):
    rows = bad_rows()
    from_csv = run(tmp_path, rows)
    csv_data = {r.id_number: r.data for r in DeclaredRecord.objects.all()}
    csv_reasons = reasons_of(from_csv)
    declare_feed(declaration={**RENOVATIONS, "slug": "renovations_x", "name": "住建 危房改造（表格）"}, by=admin_user)
    path = write_xlsx(tmp_path / "f.xlsx", COLUMNS, rows)
    from_xlsx = import_department_file(department="renovations_x", path=path, by=None, region_code=COUNTY)
    assert from_xlsx.file_format == "xlsx"
    assert (from_xlsx.total_rows, from_xlsx.accepted_rows, from_xlsx.rejected_rows) == (9, 2, 7)
    assert {r.id_number: r.data for r in DeclaredRecord.objects.filter(department="renovations_x")} == csv_data
    assert reasons_of(from_xlsx) == {
        n: [reason.replace("住建 危房改造", "住建 危房改造（表格）") for reason in reasons]
        for n, reasons in csv_reasons.items()
    }


def test_a_gbk_csv_is_read(renovations, regions, tmp_path):
    batch = run(tmp_path, [row(0, 姓名="王大山"), row(8)], encoding="gbk")
    assert (batch.total_rows, batch.accepted_rows) == (2, 2) and batch.encoding.lower().startswith("gb")
    mine = DeclaredRecord.objects.get(id_number=IDS[0])
    assert mine.name == "王大山"
    assert mine.data == {
        "grade": "C", "appraised_on": "2025-02-01", "subsidy": 20000, "floors": 2, "in_renovation": False,
        "started_on": None,
    }
