"""Imports run with English active: reasons come out of the catalogue, and importing works the same.

The English catalogue is rebuilt from the translations at the end, so these tests put the few entries they
need into the active catalogue themselves (restored after each test); the file formats (Chinese column
headers, 是/否, code labels) stay the same whatever the language.
"""

import datetime as dt

import pytest
from django.utils import translation
from django.utils.translation import trans_real

from exchange.models import RejectedRow
from exchange.pipeline import enqueue_import, import_department_file, receive_department_file
from exchange.registry.service import enqueue_registry_import, import_registry, receive_registry
from exchange.tasks import import_department_file_task
from households.models import Household, Person
from tests.exchange.files import HEALTH_COLUMNS, bad_check, health_row, write_csv
from tests.exchange.registry_files import (
    HOUSEHOLD_COLUMNS,
    MEMBER_COLUMNS,
    household_row,
    member_row,
    write_table,
)
from tests.factories import COUNTY, resident_id

pytestmark = pytest.mark.django_db
A = resident_id(dt.date(1980, 5, 17), sex="1", sequence=21)
B = resident_id(dt.date(1975, 2, 3), sex="2", sequence=22)
C = resident_id(dt.date(2012, 9, 30), sex="1", sequence=23)

ENGLISH = {
    "整行与第 %(row)s 行重复。": "The whole row repeats row %(row)s.",
    "证件号码与第 %(row)s 行重复。": "The ID number repeats row %(row)s.",
    "%(column)s“%(value)s”不在数据字典中（可填：%(allowed)s）。": (
        "%(column)s “%(value)s” is not in the data dictionary (allowed: %(allowed)s)."
    ),
    "证件号码校验位错误：最后一位应为 %(expected)s，实际为 %(actual)s，请核对号码。": (
        "The ID number's check character is wrong: the last character should be %(expected)s, not %(actual)s."
    ),
}


@pytest.fixture
def english(monkeypatch):
    """English active, with ENGLISH in its catalogue for the test's duration."""
    catalog = trans_real.translation("en")._catalog._catalogs[0]
    for msgid, msgstr in ENGLISH.items():
        monkeypatch.setitem(catalog, msgid, msgstr)
    with translation.override("en"):
        yield


def health_import(tmp_path, rows):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, rows)
    return import_department_file(department="health", path=path, by=None, region_code=COUNTY)


def bad_rows():
    return [
        health_row(A, "张三"),
        health_row(bad_check(B), "李四"),
        health_row(C, "王五", 参保类型="新农合"),
        health_row(A, "张三"),
    ]


def test_a_department_import_with_english_active_gives_its_reasons_in_english(regions, tmp_path, english):
    batch = health_import(tmp_path, bad_rows())
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (4, 1, 3)
    reasons = {r.row_number: r.reasons for r in RejectedRow.objects.filter(batch=batch)}
    assert reasons[2][0].startswith("The ID number's check character is wrong")
    # The column and the value are the file's own (a Chinese header, a Chinese label); the sentence is English.
    assert reasons[3] == ["参保类型 “新农合” is not in the data dictionary (allowed: 城乡居民、城镇职工)."]
    assert reasons[4] == ["The whole row repeats row 1."]


def test_the_same_import_in_chinese_still_gives_chinese_reasons(regions, tmp_path, english):
    with translation.override("zh-hans"):
        batch = health_import(tmp_path, bad_rows())
    reasons = {r.row_number: r.reasons for r in RejectedRow.objects.filter(batch=batch)}
    assert reasons[4] == ["整行与第 1 行重复。"]
    assert reasons[3] == ["参保类型“新农合”不在数据字典中（可填：城乡居民、城镇职工）。"]


def test_an_english_user_imports_the_chinese_headers_and_words_of_a_county_file(regions, tmp_path):
    # No catalogue entries needed: the headers, 是/否 and the code labels are the file format, not UI text.
    with translation.override("en"):
        batch = health_import(tmp_path, [health_row(A, "张三", 大病保险="是"), health_row(B, "李四", 大病保险="否")])
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (2, 2, 0)


def test_an_id_in_two_households_is_found_from_english_repeat_reasons_too(regions, tmp_path, english):
    # The registry's check across households reads exchange.validate's "repeats row n" reasons: with English
    # active they are English, and the row of the first household must still be rejected with its twin.
    shared = member_row("H1", "重复者", birth=dt.date(1985, 1, 1), relation="之子")
    twin = dict(shared, 户编号="H2", 与户主关系="之子")
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row("H1"), household_row("H2")]),
        write_table(
            tmp_path / "m.csv",
            MEMBER_COLUMNS,
            [member_row("H1", "甲"), shared, member_row("H2", "乙", birth=dt.date(1950, 2, 2)), twin],
        ),
    ]
    batch = import_registry(region_code=COUNTY, paths=paths, by=None, as_of=dt.date(2025, 12, 31))
    assert batch.rejected_rows == 2
    reasons = [reason for row in batch.rejected.all() for reason in row.reasons]
    assert "The ID number repeats row 2." in reasons
    assert not Person.objects.filter(name="重复者").exists()
    assert Household.objects.count() == 2


# --- Background imports write in the uploader's language ---------------------------------------------------


def test_a_background_import_writes_its_reasons_in_the_language_it_was_enqueued_in(
    regions, tmp_path, english, django_capture_on_commit_callbacks
):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, bad_rows())
    batch = receive_department_file(department="health", path=path, by=None, region_code=COUNTY)
    with django_capture_on_commit_callbacks() as callbacks:
        enqueue_import(batch=batch)  # English is active: the uploader's request
    with translation.override("zh-hans"):  # the worker's own language is the site's default
        for callback in callbacks:
            callback()
    reasons = {r.row_number: r.reasons for r in RejectedRow.objects.filter(batch=batch)}
    assert reasons[4] == ["The whole row repeats row 1."]


def test_the_task_without_a_language_writes_in_the_sites_default(regions, tmp_path, english):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, bad_rows())
    batch = receive_department_file(department="health", path=path, by=None, region_code=COUNTY)
    import_department_file_task.enqueue(batch.pk)  # English active here, but no language passed
    reasons = {r.row_number: r.reasons for r in RejectedRow.objects.filter(batch=batch)}
    assert reasons[4] == ["整行与第 1 行重复。"]


def test_a_background_registry_import_writes_in_the_uploaders_language(
    regions, tmp_path, english, django_capture_on_commit_callbacks
):
    shared = member_row("H1", "重复者", birth=dt.date(1985, 1, 1), relation="之子")
    twin = dict(shared, 户编号="H2", 与户主关系="之子")
    stored = tmp_path / "upload"
    stored.mkdir()
    paths = [
        write_table(stored / "h.csv", HOUSEHOLD_COLUMNS, [household_row("H1"), household_row("H2")]),
        write_table(
            stored / "m.csv",
            MEMBER_COLUMNS,
            [member_row("H1", "甲"), shared, member_row("H2", "乙", birth=dt.date(1950, 2, 2)), twin],
        ),
    ]
    batch = receive_registry(region_code=COUNTY, paths=paths, by=None, as_of=dt.date(2025, 12, 31), stored_dir=stored)
    with django_capture_on_commit_callbacks() as callbacks:
        enqueue_registry_import(batch=batch)
    with translation.override("zh-hans"):
        for callback in callbacks:
            callback()
    batch.refresh_from_db()
    assert batch.rejected_rows == 2
    assert "The ID number repeats row 2." in [reason for row in batch.rejected.all() for reason in row.reasons]
