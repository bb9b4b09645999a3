"""English labels of the data dictionary: pages in English show a code's English label (label_en) where the
dictionary gives one, the Chinese label otherwise; files are still read and written in the Chinese labels
(the file format), and report content that is cached and shared is built in Chinese whatever the request."""

import csv
import io
from pathlib import Path

import openpyxl
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import translation

from exchange.registry.checks import _code_maps
from households import spreadsheets
from households.codes import choices, codebook, forget_codebook, labels_of, load_data_dictionary
from households.models import Code, CodeSet, Household, Person
from households.spreadsheets import CodeWidget, export_workbook, preview_import, read_sheet
from tests.download_helpers import export_file
from tests.households.pages import make_file

pytestmark = pytest.mark.django_db
OLD_COLUMNS = ["codeset", "codeset_name", "codeset_description", "code", "label", "meaning", "attributes", "sort_order"]


@pytest.fixture(autouse=True)
def _fresh_codebook():
    forget_codebook()
    yield
    forget_codebook()


def write_dictionary(path: Path, rows: list[dict[str, str]], columns: list[str]) -> Path:
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return path


def row(codeset: str, code: str, label: str, **extra: str) -> dict[str, str]:
    return {
        "codeset": codeset,
        "codeset_name": "测试代码集",
        "codeset_description": "",
        "code": code,
        "label": label,
        "meaning": "",
        "attributes": "",
        "sort_order": code,
        **extra,
    }


# --- Labels in both languages -------------------------------------------------------------------------


def test_labels_are_chinese_by_default_and_english_in_english():
    assert codebook().label("sex", "2") == "女"
    assert labels_of("risk_type", ",01,02,") == "因病、因残"
    with translation.override("en"):
        assert codebook().label("sex", "2") == "Female"
        assert codebook().label("sex", "1") == "Male"
        assert codebook().label("household_type", "1") == "Household lifted out of poverty"
        assert codebook().label("monitoring_type", "2") == "Household at the margin of poverty"
        assert codebook().label("relation", "01") == "Head of household"
        assert labels_of("risk_type", ",01,02,") == "Illness、Disability"
        assert ("1", "Household lifted out of poverty") in choices("household_type")
        assert choices("sex", blank=True)[0] == ("", "—")
    assert ("1", "脱贫户") in choices("household_type")


def test_every_shipped_code_has_an_english_label_distinct_within_its_codeset():
    english: dict[str, list[str]] = {}
    for code in Code.objects.all():
        assert code.label_en, code
        english.setdefault(code.codeset_id, []).append(code.label_en.casefold())
    assert all(len(labels) == len(set(labels)) for labels in english.values())


def test_a_code_without_an_english_label_shows_its_chinese_label_in_english():
    Code.objects.filter(codeset_id="sex", code="2").update(label_en="")
    forget_codebook()
    with translation.override("en"):
        assert codebook().label("sex", "2") == "女"
        assert codebook().label("sex", "1") == "Male"
        assert codebook().label("sex", "7") == "7"  # an unknown code passes through


def test_the_cached_codebook_serves_both_languages():
    with translation.override("en"):
        assert codebook().label("sex", "1") == "Male"  # fills the cache during an English request
    assert codebook().label("sex", "1") == "男"
    with translation.override("en"):
        assert codebook().label("sex", "1") == "Male"


# --- Loading the dictionary file ----------------------------------------------------------------------


def test_a_dictionary_file_without_label_en_still_loads_and_keeps_english_labels(tmp_path):
    path = write_dictionary(
        tmp_path / "county.csv", [row("county_set", "1", "甲类"), row("sex", "1", "男")], OLD_COLUMNS
    )
    assert load_data_dictionary(path) == 2
    added = Code.objects.get(codeset_id="county_set", code="1")
    assert added.label == "甲类" and added.label_en == ""
    assert Code.objects.get(codeset_id="sex", code="1").label_en == "Male"  # not wiped by the county file
    with translation.override("en"):
        assert codebook().label("county_set", "1") == "甲类"
        assert codebook().label("sex", "1") == "Male"


def test_a_dictionary_file_with_label_en_loads_it(tmp_path):
    rows = [row("county_set", "1", "甲类", label_en="Class A"), row("county_set", "2", "乙类", label_en="")]
    load_data_dictionary(write_dictionary(tmp_path / "county.csv", rows, [*OLD_COLUMNS, "label_en"]))
    assert CodeSet.objects.filter(slug="county_set").exists()
    with translation.override("en"):
        assert codebook().label("county_set", "1") == "Class A"
        assert codebook().label("county_set", "2") == "乙类"


def test_the_load_data_dictionary_command_loads_a_county_file(tmp_path):
    path = write_dictionary(tmp_path / "county.csv", [row("county_set", "1", "甲类")], OLD_COLUMNS)
    out = io.StringIO()
    call_command("load_data_dictionary", str(path), stdout=out)
    assert "1" in out.getvalue()
    assert Code.objects.get(codeset_id="county_set", code="1").label == "甲类"


@pytest.mark.parametrize(
    ("columns", "rows", "message"),
    [
        (["codeset", "code", "label"], [{"codeset": "county_set", "code": "1", "label": "甲类"}], "codeset_name"),
        (OLD_COLUMNS, [row("county_set", "1", "甲类"), row("county_set", "2", "")], "第 3 行"),
        (OLD_COLUMNS, [row("county_set", "1", "甲类", sort_order="first")], "第 2 行"),
        (OLD_COLUMNS, [row("county_set", "1", "甲类", attributes="{not json")], "第 2 行"),
    ],
)
def test_a_faulty_dictionary_file_loads_nothing(tmp_path, columns, rows, message):
    path = write_dictionary(tmp_path / "county.csv", rows, columns)
    with pytest.raises(CommandError, match=message):
        call_command("load_data_dictionary", str(path), stdout=io.StringIO())
    assert not Code.objects.filter(codeset_id="county_set").exists()
    with pytest.raises(CommandError, match="文件不存在"):
        call_command("load_data_dictionary", str(tmp_path / "missing.csv"))


# --- Parsing files does not depend on the language ----------------------------------------------------


@pytest.mark.parametrize("language", ["zh-hans", "en"])
def test_import_cells_are_read_as_codes_or_chinese_labels_in_any_language(language):
    with translation.override(language):
        assert CodeWidget("household_type").clean("脱贫户") == "1"
        assert CodeWidget("household_type").clean("1") == "1"
        assert CodeWidget("household_type").clean(1.0) == "1"
        assert CodeWidget("risk_type", multi=True).clean("因病、因残") == ",01,02,"
        assert CodeWidget("relation").clean("户主") == "01"
        # English labels are accepted too (a file typed from an English page), in any case.
        assert CodeWidget("household_type").clean("household lifted out of poverty") == "1"
        assert CodeWidget("risk_type", multi=True).clean("Illness；因残") == ",01,02,"
        maps = _code_maps(codebook())  # the registry import's multi-valued columns
        assert maps["risk_type"]["因病"] == "01" and maps["risk_type"]["01"] == "01"


def test_an_unknown_label_is_left_for_the_validators_in_english():
    with translation.override("en"):
        assert CodeWidget("household_type").clean("Rich household") == "Rich household"
        assert codebook().code_for("household_type", "Rich household") is None
        assert not codebook().has("household_type", "Rich household")
        assert CodeWidget("risk_type", multi=True).clean("因病、Nonsense") == ",01,Nonsense,"


# --- Export → import under English --------------------------------------------------------------------


def sheet_cell(workbook: openpyxl.Workbook, *, name: str, column: str):
    rows = list(workbook.active.iter_rows())
    headers = [c.value for c in rows[0]]
    return next(r for r in rows[1:] if r[headers.index("姓名")].value == name)[headers.index(column)]


def as_upload(workbook: openpyxl.Workbook) -> bytes:
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def test_an_export_made_in_english_keeps_chinese_labels_and_imports_back(official_a):
    make_file(official_a, head="王大山", number="A-0001")
    make_file(official_a, head="杨二", number="A-0002")
    with translation.override("en"):
        content = export_workbook(user=official_a, households=Household.objects.all())
        workbook = openpyxl.load_workbook(io.BytesIO(content))
        assert sheet_cell(workbook, name="王大山", column="与户主关系").value == "户主"
        assert sheet_cell(workbook, name="王大山", column="性别").value == "男"
        report = preview_import(user=official_a, dataset=read_sheet(content, "export.xlsx"))
        assert report.ok, [r.errors for r in report.rows]
        assert (report.count_new, report.count_update, report.count_skip) == (0, 0, 2)

        sheet_cell(workbook, name="杨二", column="劳动技能").value = "Skilled labour"
        report = preview_import(user=official_a, dataset=read_sheet(as_upload(workbook), "edited.xlsx"))
        assert (report.count_update, report.count_skip, report.count_rejected) == (1, 1, 0)
        # The preview is a page: its labels are in the page's language.
        assert report.shown_changed[0].changes == [("劳动技能", "Ordinary labour", "Skilled labour")]

        sheet_cell(workbook, name="杨二", column="劳动技能").value = "Very skilled"
        report = preview_import(user=official_a, dataset=read_sheet(as_upload(workbook), "bad.xlsx"))
        assert report.count_rejected == 1
    assert Person.objects.get(name="杨二").labour_skill == "1"  # previews write nothing


def test_the_export_page_in_english_writes_chinese_labels(client, official_a):
    make_file(official_a, head="王大山", number="A-0001")
    client.force_login(official_a)
    content = export_file(client, reverse("households:export"), HTTP_ACCEPT_LANGUAGE="en")
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert sheet_cell(workbook, name="王大山", column="户类型").value in {"脱贫户", "一般农户"}
    assert spreadsheets.HouseholdMemberResource.column_of("household_type") == "户类型"


# --- The admin ----------------------------------------------------------------------------------------


def code_form(code: Code, label_en: str) -> dict[str, str]:
    return {
        "slug": "sex",
        "name": "性别",
        "description": code.codeset.description,
        "codes-TOTAL_FORMS": "1",
        "codes-INITIAL_FORMS": "1",
        "codes-MIN_NUM_FORMS": "0",
        "codes-MAX_NUM_FORMS": "1000",
        "codes-0-id": str(code.pk),
        "codes-0-codeset": "sex",
        "codes-0-code": code.code,
        "codes-0-label": code.label,
        "codes-0-label_en": label_en,
        "codes-0-meaning": code.meaning,
        "codes-0-attributes": "{}",
        "codes-0-sort_order": str(code.sort_order),
        "codes-0-active": "on",
    }


def test_an_administrator_edits_the_english_label_in_the_admin(admin_user):
    client = Client()
    client.force_login(admin_user)
    page = client.get("/admin/households/codeset/sex/change/").content.decode()
    assert 'name="codes-0-label_en"' in page and 'value="Male"' in page
    code = Code.objects.get(codeset_id="sex", code="1")
    response = client.post("/admin/households/codeset/sex/change/", code_form(code, "Man"))
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Code.objects.get(pk=code.pk).label_en == "Man"
    with translation.override("en"):
        assert codebook().label("sex", "1") == "Man"  # the admin's save forgets the cached dictionary


def test_a_township_official_with_admin_access_cannot_edit_english_labels(staff_official_a):
    client = Client()
    client.force_login(staff_official_a)
    code = Code.objects.get(codeset_id="sex", code="1")
    response = client.post("/admin/households/codeset/sex/change/", code_form(code, "Man"))
    assert response.status_code in (302, 403)
    assert Code.objects.get(pk=code.pk).label_en == "Male"


# --- Shared report content ----------------------------------------------------------------------------


def test_a_dashboard_snapshot_queued_from_an_english_page_is_built_in_chinese(regions, county_staff):
    """The stored snapshot is shared by every reader: it is built in the site's language, whoever's visit or
    change queued it, and holds the same content as one built from a Chinese page."""
    from povertycloud.regions.models import Region
    from reports.dashboards import open_snapshot
    from reports.models import DashboardSnapshot
    from tests.factories import COUNTY
    from tests.reports.builders import END, START, small_county

    small_county()
    region = Region.objects.get(code=COUNTY)
    with translation.override("en"):
        built_in_english = open_snapshot(region=region, start=START, end=END).content
    DashboardSnapshot.objects.all().delete()
    built_in_chinese = open_snapshot(region=region, start=START, end=END).content
    assert built_in_english and built_in_english == built_in_chinese
    assert built_in_english["region_name"].endswith(region.name)
