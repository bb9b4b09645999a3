"""Export (scoped, masked, formula-safe); import (preview saves nothing, confirm saves via services)."""

import csv
import datetime as dt
import io

import openpyxl
import pytest
from django.urls import reverse

from households.models import Household, IncomeRecord, Person, StatusChange
from households.spreadsheets import neutralise_formula
from povertycloud.audit.models import AuditEvent
from tests.download_helpers import export_file, fetch, run_export
from tests.factories import VILLAGE_A, VILLAGE_A2, VILLAGE_B, resident_id
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db
EXPORT = reverse("households:export")
IMPORT = reverse("households:import")
CONFIRM = reverse("households:import_confirm")


@pytest.fixture(autouse=True)
def _uploads_in_a_temporary_directory(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def sheet(content: bytes) -> list[dict[str, object]]:
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    rows = list(workbook.active.iter_rows(values_only=True))
    return [dict(zip(rows[0], row, strict=True)) for row in rows[1:]]


def counts() -> dict[str, int]:
    models = (Household, Person, IncomeRecord, StatusChange, AuditEvent)
    return {model.__name__: model.objects.count() for model in models}


@pytest.fixture
def files(official_a, official_b):
    mine = make_file(
        official_a, head="王大山", number="A-0001", phone="13812345678", bank_account="6222020200112233",
        group_name="=HYPERLINK(\"http://evil\")",
    )
    add_spouse(official_a, mine, name="@SUM(A1)", health=",2,", work_place="-2+3")
    other = make_file(official_b, village=VILLAGE_B, head="杨其他", number="B-0001")
    return {"mine": mine, "other": other}


# --- Export ------------------------------------------------------------------------------------------


def test_export_page_renders_for_every_role(client, official_a, auditor, files):
    for user in (official_a, auditor):
        client.force_login(user)
        assert client.get(EXPORT).status_code == 200


def test_export_holds_only_the_users_region_one_row_per_member(client, official_a, files):
    client.force_login(official_a)
    download = run_export(client, EXPORT)
    response = fetch(client, download)
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    assert download.region_code == official_a.region.code and download.file_name.endswith(".xlsx")
    rows = sheet(b"".join(response.streaming_content))
    assert {row["户编号"] for row in rows} == {"A-0001"}
    assert sorted(row["姓名"] for row in rows) == sorted(["王大山", "'@SUM(A1)"])
    assert rows[0]["户类型"] == "一般农户" and rows[0]["村"] == "西江村"


def test_export_as_csv_holds_the_same_rows_and_an_unknown_format_is_a_workbook(client, official_a, files):
    client.force_login(official_a)
    download = run_export(client, EXPORT, {"format": "csv"})
    assert download.parameters["format"] == "csv" and download.file_name.endswith(".csv")
    text = b"".join(fetch(client, download).streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert {row["户编号"] for row in rows} == {"A-0001"}
    assert sorted(row["姓名"] for row in rows) == sorted(["王大山", "'@SUM(A1)"])
    odd = run_export(client, EXPORT, {"format": "exe"})
    assert odd.parameters["format"] == "xlsx" and odd.file_name.endswith(".xlsx")


def test_export_masks_sensitive_values_by_default(client, official_a, files):
    client.force_login(official_a)
    rows = sheet(export_file(client, EXPORT))
    head = files["mine"].members.get(relation="01")
    ids = {row["证件号码"] for row in rows}
    assert head.id_number not in ids and f"{head.id_number[:10]}********" in ids
    assert {row["联系电话"] for row in rows} == {"138****5678"}
    assert {row["银行账号"] for row in rows} == {"****2233"}


def test_export_of_full_values_for_a_role_that_may_reveal_is_audited(client, official_a, files):
    client.force_login(official_a)
    rows = sheet(export_file(client, EXPORT, {"include_sensitive": "1"}))
    head = files["mine"].members.get(relation="01")
    assert head.id_number in {row["证件号码"] for row in rows}
    assert {row["联系电话"] for row in rows} == {"13812345678"}
    event = AuditEvent.objects.get(action="export", entity="households.household")
    assert event.actor == official_a and "含完整敏感信息" in event.note and "2 行" in event.note


def test_auditor_without_access_gets_masked_values_and_no_health_details(client, auditor, files):
    client.force_login(auditor)
    rows = sheet(export_file(client, EXPORT, {"include_sensitive": "1"}))
    assert {row["户编号"] for row in rows} == {"A-0001", "B-0001"}
    assert all("*" in row["证件号码"] for row in rows)
    assert {row["健康状况"] for row in rows} == {"（已隐藏）"}
    assert "敏感信息已脱敏" in AuditEvent.objects.get(action="export", entity="households.household").note


def test_export_neutralises_spreadsheet_formulas(client, official_a, files):
    client.force_login(official_a)
    content = export_file(client, EXPORT)
    rows = sheet(content)
    assert {row["村民小组"] for row in rows} == {"'=HYPERLINK(\"http://evil\")"}
    assert "'-2+3" in {row["务工地点"] for row in rows}
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    assert all(cell.data_type != "f" for row in workbook.active.iter_rows() for cell in row)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("=1+1", "'=1+1"), ("+86", "'+86"), ("-1", "'-1"), ("@A1", "'@A1"), ("a=b", "a=b"), (5, 5), ("", "")],
)
def test_neutralise_formula(value, expected):
    assert neutralise_formula(value) == expected


def test_export_follows_the_list_filters(client, official_a, files):
    make_file(official_a, village=VILLAGE_A2, number="A-0002")
    client.force_login(official_a)
    rows = sheet(export_file(client, EXPORT, {"village": VILLAGE_A2}))
    assert {row["户编号"] for row in rows} == {"A-0002"}


# --- Import ------------------------------------------------------------------------------------------

HEADERS = [
    "户编号", "村代码", "户类型", "住房", "证件号码", "姓名", "与户主关系", "性别", "健康状况", "劳动技能",
    "文化程度", "城乡居民基本医疗保险", "危房等级", "务工时间（月）",
]


def member_row(
    number: str, village: str, name: str, birth_year: int, *, relation: str = "户主", sex: str = "1",
    id_number: str | None = None,
) -> list[object]:
    birth = dt.date(birth_year, 4, 2)
    return [number, village, "一般农户", "", id_number or resident_id(birth, sex=sex), name, relation,
            "男" if sex == "1" else "女", "健康", "普通劳动力", "初中", "是", "A", 0]


def xlsx(rows: list[list[object]], headers: list[str] = HEADERS) -> io.BytesIO:
    workbook = openpyxl.Workbook()
    workbook.active.append(headers)
    for row in rows:
        workbook.active.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "households.xlsx"
    return buffer


def good_rows() -> list[list[object]]:
    return [
        # the spouse comes first in the file: the import still adds the 户主 first
        member_row("N-0001", VILLAGE_A, "李二妹", 1983, relation="配偶", sex="2"),
        member_row("N-0001", VILLAGE_A, "李大哥", 1980),
        member_row("N-0002", VILLAGE_A2, "周三", 1975),
    ]


def test_import_is_forbidden_to_county_staff_and_auditors(client, county_staff, auditor):
    for user in (county_staff, auditor):
        client.force_login(user)
        assert client.get(IMPORT).status_code == 403
        assert client.post(IMPORT, {"file": xlsx(good_rows())}).status_code == 403


def test_preview_shows_what_would_be_saved_and_saves_nothing(client, official_a, files):
    client.force_login(official_a)
    before = counts()
    response = client.post(IMPORT, {"file": xlsx(good_rows())})
    assert response.status_code == 200
    report = response.context["report"]
    assert report.ok and not report.saved
    assert [row.outcome for row in report.rows] == ["new", "new", "new"]
    assert [row.line for row in report.rows] == [3, 2, 4]  # file lines, 户主 first
    html = response.content.decode()
    assert 'data-testid="import-confirm"' in html
    assert counts() == before


def test_confirm_saves_every_row_through_the_services(client, official_a, files, tmp_path):
    client.force_login(official_a)
    preview = client.post(IMPORT, {"file": xlsx(good_rows())})
    assert len(list(tmp_path.glob("imports/*.upload"))) == 1
    response = client.post(CONFIRM, {"token": preview.context["token"]})
    assert response.status_code == 302
    assert not list(tmp_path.glob("imports/*.upload"))
    household = Household.objects.get(number="N-0001")
    assert sorted(household.members.values_list("name", "relation")) == [("李二妹", "02"), ("李大哥", "01")]
    assert Household.objects.get(number="N-0002").village_id == VILLAGE_A2
    assert StatusChange.objects.filter(household=household).count() == 1
    creates = AuditEvent.objects.filter(action="create", household_id=household.pk)
    assert creates.count() == 3 and {e.actor for e in creates} == {official_a}
    summary = AuditEvent.objects.get(action="import")
    assert summary.object_repr == "households.xlsx" and "新增 3" in summary.note
    assert "导入完成" in client.get(response["Location"]).content.decode()


def test_confirm_twice_does_nothing_the_second_time(client, official_a):
    client.force_login(official_a)
    token = client.post(IMPORT, {"file": xlsx(good_rows())}).context["token"]
    client.post(CONFIRM, {"token": token})
    before = counts()
    response = client.post(CONFIRM, {"token": token})
    assert response.status_code == 302 and response["Location"] == IMPORT
    assert counts() == before


def test_confirm_with_another_token_does_nothing(client, official_a):
    client.force_login(official_a)
    client.post(IMPORT, {"file": xlsx(good_rows())})
    before = counts()
    client.post(CONFIRM, {"token": "0" * 32})
    assert counts() == before


def test_bad_rows_are_reported_with_the_validators_messages_and_nothing_can_be_confirmed(client, official_a):
    good_id = resident_id(dt.date(1990, 1, 1))
    bad_id = good_id[:17] + ("0" if good_id[17] != "0" else "1")
    rows = [*good_rows(), member_row("N-0003", VILLAGE_A, "错号", 1990, id_number=bad_id)]
    client.force_login(official_a)
    before = counts()
    response = client.post(IMPORT, {"file": xlsx(rows)})
    report = response.context["report"]
    assert not report.ok
    bad = [row for row in report.rows if row.errors]
    assert [row.line for row in bad] == [5]
    assert bad[0].errors[0][0] == "证件号码" and "校验位错误" in bad[0].errors[0][1]
    html = response.content.decode()
    assert 'data-testid="import-errors"' in html and 'data-testid="import-confirm"' not in html
    assert "token" not in response.context
    assert counts() == before


def test_rows_for_villages_outside_the_region_are_refused(client, official_a):
    rows = [*good_rows(), member_row("N-0009", VILLAGE_B, "外乡", 1970)]
    client.force_login(official_a)
    before = counts()
    report = client.post(IMPORT, {"file": xlsx(rows)}).context["report"]
    bad = [row for row in report.rows if row.errors]
    assert len(bad) == 1 and bad[0].number == "N-0009"
    assert bad[0].errors == [("村代码", f"村代码 {VILLAGE_B} 不在您的辖区内，不能导入。")]
    assert counts() == before


def test_household_number_of_another_township_is_refused(client, official_a, files):
    rows = [member_row("B-0001", VILLAGE_A, "冒名", 1970)]
    client.force_login(official_a)
    report = client.post(IMPORT, {"file": xlsx(rows)}).context["report"]
    assert "已被使用" in report.rows[0].errors[0][1]
    assert Household.objects.get(number="B-0001").village_id == VILLAGE_B


def test_unknown_code_gets_the_dictionary_message(client, official_a):
    row = member_row("N-0001", VILLAGE_A, "李大哥", 1980)
    row[HEADERS.index("户类型")] = "富裕户"
    client.force_login(official_a)
    report = client.post(IMPORT, {"file": xlsx([row])}).context["report"]
    assert report.rows[0].errors == [("户类型", "户类型代码“富裕户”不在数据字典中。")]


def test_missing_columns_and_unreadable_files_are_explained(client, official_a):
    client.force_login(official_a)
    response = client.post(IMPORT, {"file": xlsx([["N-1"]], headers=["户编号"])})
    assert "文件缺少必需的列" in response.content.decode()
    garbage = io.BytesIO(b"not a spreadsheet")
    garbage.name = "x.xlsx"
    assert "无法读取文件" in client.post(IMPORT, {"file": garbage}).content.decode()
    text = io.BytesIO(b"hello")
    text.name = "x.txt"
    assert "只能导入 .xlsx 或 .csv 文件" in client.post(IMPORT, {"file": text}).content.decode()


def test_csv_in_gbk_is_read(client, official_a):
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(HEADERS)
    writer.writerows(good_rows())
    upload = io.BytesIO(buffer.getvalue().encode("gbk"))
    upload.name = "households.csv"
    client.force_login(official_a)
    report = client.post(IMPORT, {"file": upload}).context["report"]
    assert report.ok and len(report.rows) == 3


def test_exported_file_imports_back_without_changes(client, official_a, files):
    client.force_login(official_a)
    content = export_file(client, EXPORT, {"include_sensitive": "1"})
    upload = io.BytesIO(content)
    upload.name = "roundtrip.xlsx"
    report = client.post(IMPORT, {"file": upload}).context["report"]
    assert report.ok, [row.errors for row in report.rows]
    assert {row.outcome for row in report.rows} == {"skip"}


def test_import_updates_an_existing_household_through_the_services(client, official_a, files):
    client.force_login(official_a)
    content = export_file(client, EXPORT, {"include_sensitive": "1"})
    workbook = openpyxl.load_workbook(io.BytesIO(content))
    rows = list(workbook.active.iter_rows())
    column = [cell.value for cell in rows[0]].index("耕地面积（亩）")
    for row in rows[1:]:
        row[column].value = 3.5
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = "edited.xlsx"
    token = client.post(IMPORT, {"file": buffer}).context["token"]
    client.post(CONFIRM, {"token": token})
    household = files["mine"]
    household.refresh_from_db()
    assert household.cultivated_land_mu == 3.5 and household.version == 2
    assert AuditEvent.objects.filter(household_id=household.pk, action="update").count() == 1


def test_rows_of_one_household_must_agree(client, official_a):
    rows = good_rows()
    rows[1][HEADERS.index("危房等级")] = "B"
    client.force_login(official_a)
    report = client.post(IMPORT, {"file": xlsx(rows)}).context["report"]
    assert any("户信息与第" in message for row in report.rows for _column, message in row.errors)
