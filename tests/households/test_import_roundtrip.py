"""Export → edit → import: the officials' default (masked) export imports back; a masked cell means
"unchanged", a masked value that is not the stored value's mask is refused; the preview counts new, changed,
unchanged and rejected rows and lists only the changed (with their columns) and the rejected (with reasons)."""

import datetime as dt
import io

import openpyxl
import pytest
from django.urls import reverse

from households import spreadsheets
from households.models import Household, Person
from povertycloud.audit.models import AuditEvent
from tests.download_helpers import export_file
from tests.factories import VILLAGE_A, VILLAGE_A2, VILLAGE_B, resident_id
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db
EXPORT = reverse("households:export")
IMPORT = reverse("households:import")
CONFIRM = reverse("households:import_confirm")


@pytest.fixture(autouse=True)
def _uploads_in_a_temporary_directory(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def township(official_a, official_b):
    """Three households of township A (one with a spouse and a disability certificate), one of township B."""
    first = make_file(
        official_a, head="王大山", number="A-0001", phone="13812345678", bank_account="6222020200112233",
    )
    spouse_id = resident_id(dt.date(1982, 2, 3), sex="2")
    add_spouse(
        official_a, first, name="李小花", id_number=spouse_id, health=",4,", disability_category="4",
        disability_grade="3", disability_certificate=spouse_id + "43",
    )
    second = make_file(official_a, head="杨二", number="A-0002", phone="0855-1234567")
    third = make_file(official_a, village=VILLAGE_A2, head="吴三", number="A-0003")
    other = make_file(official_b, village=VILLAGE_B, head="郎外", number="B-0001", phone="13900001111")
    return {"first": first, "second": second, "third": third, "other": other}


def export_book(client) -> openpyxl.Workbook:
    return openpyxl.load_workbook(io.BytesIO(export_file(client, EXPORT)))


def upload(workbook: openpyxl.Workbook, name: str = "edited.xlsx") -> io.BytesIO:
    buffer = io.BytesIO()
    workbook.save(buffer)
    buffer.seek(0)
    buffer.name = name
    return buffer


def cell(workbook: openpyxl.Workbook, *, name: str, column: str):
    """The cell of `column` in the row of the member called `name`."""
    rows = list(workbook.active.iter_rows())
    headers = [c.value for c in rows[0]]
    for row in rows[1:]:
        if row[headers.index("姓名")].value == name:
            return row[headers.index(column)]
    raise AssertionError(name)


def add_row(workbook: openpyxl.Workbook, like: str, **values: object) -> None:
    """A new row: the row of member `like` with some columns (by header) changed."""
    rows = list(workbook.active.iter_rows(values_only=True))
    headers = list(rows[0])
    source = next(row for row in rows[1:] if row[headers.index("姓名")] == like)
    new = list(source)
    for column, value in values.items():
        new[headers.index(column)] = value
    workbook.active.append(new)


def snapshot() -> list[tuple]:
    households = list(Household.objects.order_by("number").values_list("number", "phone", "bank_account", "version"))
    people = list(Person.objects.order_by("id_number").values_list("id_number", "name", "labour_skill", "version"))
    return households + people


def preview(client, workbook: openpyxl.Workbook):
    response = client.post(IMPORT, {"file": upload(workbook)})
    assert response.status_code == 200
    return response


# --- The rule ----------------------------------------------------------------------------------------


def test_default_export_is_masked_and_imports_back_unchanged(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    assert cell(workbook, name="王大山", column="联系电话").value == "138****5678"
    assert cell(workbook, name="李小花", column="证件号码").value.endswith("********")
    before = snapshot()
    response = preview(client, workbook)
    report = response.context["report"]
    assert report.ok, [row.errors for row in report.rows]
    assert (report.count_new, report.count_update, report.count_skip, report.count_rejected) == (0, 0, 4, 0)
    assert report.shown_changed == [] and report.shown_rejected == []
    html = response.content.decode()
    assert 'data-testid="import-row"' not in html  # no table of unchanged rows
    assert 'data-testid="import-count-unchanged">4<' in html
    client.post(CONFIRM, {"token": response.context["token"]})
    assert snapshot() == before
    assert not AuditEvent.objects.filter(action="update").exists()


def test_a_phone_typed_in_full_changes_exactly_that_household(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="李小花", column="联系电话").value = "13987654321"  # one cell, the spouse's row
    response = preview(client, workbook)
    report = response.context["report"]
    assert report.ok
    assert (report.count_update, report.count_skip, report.count_rejected) == (1, 3, 0)
    [changed] = report.shown_changed
    assert changed.name == "李小花" and changed.number == "A-0001"
    assert changed.changes == [("联系电话", "138****5678", "139****4321")]
    html = response.content.decode()
    assert "13987654321" not in html  # the preview masks the new value too
    assert Household.objects.get(number="A-0001").phone == "13812345678"  # nothing written before confirm
    client.post(CONFIRM, {"token": response.context["token"]})
    household = Household.objects.get(number="A-0001")
    assert household.phone == "13987654321" and household.bank_account == "6222020200112233"
    assert household.version == 2


def test_a_labour_skill_edit_changes_exactly_that_member(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="杨二", column="劳动技能").value = "技能劳动力"
    report = preview(client, workbook).context["report"]
    assert (report.count_update, report.count_skip, report.count_rejected) == (1, 3, 0)
    assert report.shown_changed[0].changes == [("劳动技能", "普通劳动力", "技能劳动力")]
    token = client.post(IMPORT, {"file": upload(workbook)}).context["token"]
    client.post(CONFIRM, {"token": token})
    head = Person.objects.get(name="杨二")
    assert head.labour_skill == "2" and head.version == 2
    assert Person.objects.get(name="王大山").version == 1


def test_masked_ids_left_masked_match_the_member_by_name_and_mask(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    spouse = Person.objects.get(name="李小花")
    assert cell(workbook, name="李小花", column="证件号码").value == spouse.id_number[:10] + "********"
    assert cell(workbook, name="李小花", column="残疾证号").value == spouse.id_number[:10] + "*" * 10
    cell(workbook, name="李小花", column="劳动技能").value = "弱劳动力或半劳动力"
    token = preview(client, workbook).context["token"]
    client.post(CONFIRM, {"token": token})
    spouse.refresh_from_db()
    assert spouse.labour_skill == "3"
    assert spouse.disability_certificate.startswith(spouse.id_number)  # kept, not overwritten by the mask
    assert Person.objects.filter(name="李小花").count() == 1


def test_a_new_member_with_a_full_id_is_added_beside_masked_ones(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    child_id = resident_id(dt.date(2017, 6, 1), sex="1")
    add_row(
        workbook, "杨二", 证件号码=child_id, 姓名="杨小", 与户主关系="之子", 性别="男", 出生日期="2017-06-01",
        劳动技能="无劳动力", 文化程度="", 在校生状况="小学二年级",
    )
    report = preview(client, workbook).context["report"]
    assert report.ok, [row.errors for row in report.rows]
    assert (report.count_new, report.count_update, report.count_skip) == (1, 0, 4)


# --- Bad input -----------------------------------------------------------------------------------------


def test_a_masked_value_that_is_not_the_stored_ones_mask_is_rejected_and_nothing_is_written(
    client, official_a, township
):
    client.force_login(official_a)
    workbook = export_book(client)
    for name in ("王大山", "李小花"):
        cell(workbook, name=name, column="联系电话").value = "138****0000"
    before = snapshot()
    response = preview(client, workbook)
    report = response.context["report"]
    assert not report.ok and "token" not in response.context
    assert report.count_rejected == 2
    column, message = report.shown_rejected[0].errors[0]
    assert column == "联系电话" and "是脱敏值，但与系统中登记的不符" in message
    assert 'data-testid="import-confirm"' not in response.content.decode()
    assert snapshot() == before


def test_a_masked_id_that_matches_no_member_is_rejected(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="李小花", column="姓名").value = "李晓花"  # renamed, ID left masked
    report = preview(client, workbook).context["report"]
    [rejected] = report.shown_rejected
    assert rejected.errors[0][0] == "证件号码"
    assert "本户中没有姓名为“李晓花”且证件号码与之相符的成员" in rejected.errors[0][1]


def test_a_masked_phone_for_a_new_household_is_rejected(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    add_row(workbook, "吴三", 户编号="A-0099", 证件号码=resident_id(dt.date(1970, 1, 1)), 姓名="新户主",
            联系电话="138****5678")
    report = preview(client, workbook).context["report"]
    [rejected] = report.shown_rejected
    assert rejected.errors == [
        ("联系电话", "联系电话“138****5678”是脱敏值，系统中没有可对照的原值；请填写完整的联系电话。")
    ]


def test_a_bad_cell_is_rejected_with_its_reason(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="吴三", column="劳动技能").value = "很能干"
    cell(workbook, name="杨二", column="联系电话").value = "12345"
    before = snapshot()
    response = preview(client, workbook)
    report = response.context["report"]
    assert report.count_rejected == 2 and report.count_skip == 2
    reasons = {row.name: row.errors for row in report.shown_rejected}
    assert reasons["吴三"][0][0] == "劳动技能" and "不在数据字典中" in reasons["吴三"][0][1]
    assert reasons["杨二"][0][0] == "联系电话"
    assert snapshot() == before


def test_two_rows_changing_a_household_field_differently_disagree(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="王大山", column="联系电话").value = "13911112222"
    cell(workbook, name="李小花", column="联系电话").value = "13933334444"
    report = preview(client, workbook).context["report"]
    assert report.count_rejected == 1
    assert "户信息与第" in report.shown_rejected[0].errors[0][1]


def test_the_preview_lists_at_most_its_cap(client, official_a, township, monkeypatch):
    monkeypatch.setattr(spreadsheets, "PREVIEW_ROWS", 1)
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="杨二", column="劳动技能").value = "很能干"
    cell(workbook, name="吴三", column="劳动技能").value = "很能干"
    response = preview(client, workbook)
    report = response.context["report"]
    assert report.count_rejected == 2 and len(report.shown_rejected) == 1 and report.more_rejected == 1
    assert 'data-testid="import-more-rejected"' in response.content.decode()


# --- Permissions -------------------------------------------------------------------------------------------


def test_auditor_and_county_staff_cannot_import_an_export(client, official_a, auditor, county_staff, township):
    client.force_login(official_a)
    workbook = export_book(client)
    for user in (auditor, county_staff):
        client.force_login(user)
        assert client.post(IMPORT, {"file": upload(workbook)}).status_code == 403


def test_another_townships_household_in_the_file_is_rejected_without_naming_it(
    client, official_a, official_b, township
):
    client.force_login(official_b)
    theirs = export_book(client)
    client.force_login(official_a)
    workbook = export_book(client)
    # their household's row, put into a village of township A under its own number
    add_row(workbook, "吴三", 户编号="B-0001", 证件号码=cell(theirs, name="郎外", column="证件号码").value,
            姓名="郎外", 联系电话="139****1111")
    add_row(workbook, "吴三", 户编号="B-0001", 村代码=VILLAGE_B, 姓名="郎外")
    before = snapshot()
    response = preview(client, workbook)
    report = response.context["report"]
    assert report.count_rejected == 2
    by_village = {row.village: row.errors for row in report.shown_rejected}
    # filed under a village of A: refused by number, without the village, head or phone it is filed under
    assert by_village[VILLAGE_A2] == [("户编号", "户编号 B-0001 已被使用，不能导入到本辖区。")]
    assert by_village[VILLAGE_B] == [("村代码", f"村代码 {VILLAGE_B} 不在您的辖区内，不能导入。")]
    html = response.content.decode()
    assert "郎德上寨" not in html and "13900001111" not in html
    assert snapshot() == before
    assert Household.objects.get(number="B-0001").village_id == VILLAGE_B


def test_the_full_export_of_a_role_that_may_reveal_still_imports_unchanged(client, official_a, township):
    client.force_login(official_a)
    content = export_file(client, EXPORT, {"include_sensitive": "1"})
    report = client.post(IMPORT, {"file": upload(openpyxl.load_workbook(io.BytesIO(content)))}).context["report"]
    assert report.ok and report.count_skip == 4


def test_an_exported_village_row_stays_in_its_village(client, official_a, township):
    client.force_login(official_a)
    workbook = export_book(client)
    cell(workbook, name="吴三", column="村代码").value = VILLAGE_A
    report = preview(client, workbook).context["report"]
    assert "导入不能把户迁到" in report.shown_rejected[0].errors[0][1]
