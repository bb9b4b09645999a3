"""The registry import: a county's household file from the national system's exports."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command

from exchange.models import ImportBatch
from exchange.readers import FileRefused
from exchange.registry.service import import_registry
from households.models import Household, IncomeRecord, Person, StatusChange
from tests.exchange.registry_files import (
    HOUSEHOLD_COLUMNS,
    INCOME_COLUMNS,
    MEMBER_COLUMNS,
    household_row,
    income_row,
    member_row,
    small_export,
    write_table,
)
from tests.factories import COUNTY, TOWNSHIP_A, make_household, make_person

AS_OF = dt.date(2025, 12, 31)
pytestmark = pytest.mark.django_db


def run(paths, *, by=None, region=COUNTY, as_of=AS_OF, **kwargs):
    return import_registry(region_code=region, paths=paths, by=by, as_of=as_of, **kwargs)


def rejects(batch) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for row in batch.rejected.order_by("id"):
        key = row.values.get("证件号码") or row.values.get("户编号")
        found.setdefault(key, []).extend(row.reasons)
    return found


def test_a_small_export_loads_households_members_incomes_and_history(regions, tmp_path, county_staff):
    batch = run(small_export(tmp_path), by=county_staff)

    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (14, 14, 0)
    assert Household.objects.count() == 3 and Person.objects.count() == 6 and IncomeRecord.objects.count() == 5
    lifted = Household.objects.get(number="H002")
    assert (lifted.household_type, lifted.poverty_attribute, lifted.lifted_year) == ("1", "1", 2018)
    assert lifted.risk_types == ",01,03," and lifted.monitoring_type == "1"
    pupil = Person.objects.get(name="吴小红")
    assert (pupil.school_status, pupil.education, pupil.relation, pupil.sex) == ("21", "", "04", "2")
    assert pupil.birth_date == dt.date(2012, 9, 1)  # from the ID number: the file has no birth date column
    assert Person.objects.get(name="李桂花").health == ",2,"
    income = IncomeRecord.objects.get(household__number="H001", year=2025)
    assert income.household_size == 3  # the member count, where the file leaves it empty
    assert income.net_income == 22000 + 3000 - 1000
    history = StatusChange.objects.filter(household__number="H002").get()
    assert (history.event, history.effective_date, history.monitoring_type) == ("01", AS_OF, "1")


def test_the_same_files_twice_change_nothing(regions, tmp_path):
    paths = small_export(tmp_path)
    first = run(paths)
    again = run(paths)
    assert again.pk == first.pk and again.already_imported
    assert ImportBatch.objects.count() == 1
    assert Person.objects.count() == 6 and StatusChange.objects.count() == 3


def test_a_rewritten_export_with_the_same_content_changes_no_record(regions, tmp_path):
    first_dir, second_dir = tmp_path / "a", tmp_path / "b"
    first_dir.mkdir(), second_dir.mkdir()
    run(small_export(first_dir))
    versions = sorted(Person.objects.values_list("id_number", "version"))
    # The same content in GBK: other bytes, so a new batch, but no row is new or changed.
    batch = run(small_export(second_dir, encoding="gbk"))
    assert batch.new_versions == 0 and batch.rejected_rows == 0
    assert sorted(Person.objects.values_list("id_number", "version")) == versions
    assert StatusChange.objects.count() == 3


def test_a_gbk_file_is_read_whatever_its_name_says(regions, tmp_path):
    batch = run(small_export(tmp_path, encoding="gbk"))
    assert batch.accepted_rows == 14
    assert Person.objects.filter(name="杨秀英").exists()


def test_codes_and_labels_are_both_accepted(regions, tmp_path):
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row("H9", 户类型="2", 危房等级="B")]),
        write_table(tmp_path / "m.csv", MEMBER_COLUMNS, [member_row("H9", "张三", 与户主关系="01", 性别="1")]),
    ]
    batch = run(paths)
    assert batch.rejected_rows == 0
    assert Household.objects.get(number="H9").household_type == "2"


def test_a_member_whose_household_is_missing_is_rejected_with_a_reason(regions, tmp_path):
    paths = small_export(tmp_path)
    write_table(
        paths[1], MEMBER_COLUMNS,
        [member_row("H001", "杨秀英", sex="2"), member_row("H404", "孤立", birth=dt.date(1970, 1, 1))],
    )
    write_table(paths[0], HOUSEHOLD_COLUMNS, [household_row("H001")])
    write_table(paths[2], INCOME_COLUMNS, [income_row("H001", 2025)])
    batch = run(paths)
    reasons = rejects(batch)
    assert any("户信息表中没有户编号 H404" in r for rs in reasons.values() for r in rs)
    assert batch.accepted_rows + batch.rejected_rows == batch.total_rows
    assert not Person.objects.filter(name="孤立").exists()


def test_a_household_without_a_head_is_rejected_with_its_members_and_incomes(regions, tmp_path):
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row("H1"), household_row("H2")]),
        write_table(
            tmp_path / "m.csv", MEMBER_COLUMNS,
            [member_row("H1", "户主甲"), member_row("H2", "妻子", sex="2", relation="配偶")],
        ),
        write_table(tmp_path / "i.csv", INCOME_COLUMNS, [income_row("H1", 2025), income_row("H2", 2025)]),
    ]
    batch = run(paths)
    assert list(Household.objects.values_list("number", flat=True)) == ["H1"]
    assert batch.rejected_rows == 3  # the household, its member, its income
    messages = [r for row in batch.rejected.all() for r in row.reasons]
    assert any("每户必须有一名户主" in m for m in messages)
    assert sum("所属户（户编号 H2）在户信息表中被拒收" in m for m in messages) == 2


def test_an_id_number_in_two_households_rejects_every_row_with_it(regions, tmp_path):
    shared = member_row("H1", "重复者", birth=dt.date(1985, 1, 1), relation="之子")
    twin = dict(shared, 户编号="H2", 与户主关系="之子")
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row("H1"), household_row("H2")]),
        write_table(
            tmp_path / "m.csv", MEMBER_COLUMNS,
            [member_row("H1", "甲"), shared, member_row("H2", "乙", birth=dt.date(1950, 2, 2)), twin],
        ),
    ]
    batch = run(paths)
    assert batch.rejected_rows == 2
    assert not Person.objects.filter(name="重复者").exists()
    assert Household.objects.count() == 2


def test_unknown_codes_and_bad_ids_are_row_rejects_not_a_refusal(regions, tmp_path):
    bad_id = member_row("H1", "错号", relation="之子", birth=dt.date(2000, 1, 1))
    bad_id["证件号码"] = bad_id["证件号码"][:-1] + ("0" if bad_id["证件号码"][-1] != "0" else "1")
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row("H1"), household_row("H2", 户类型="富裕户")]),
        write_table(tmp_path / "m.csv", MEMBER_COLUMNS, [member_row("H1", "甲"), bad_id, member_row("H2", "乙")]),
    ]
    batch = run(paths)
    reasons = " ".join(r for row in batch.rejected.all() for r in row.reasons)
    assert "户类型“富裕户”不在数据字典中" in reasons
    assert "证件号码校验位错误" in reasons
    assert list(Household.objects.values_list("number", flat=True)) == ["H1"]


def test_an_income_year_before_2014_is_rejected(regions, tmp_path):
    paths = small_export(tmp_path)
    write_table(paths[2], INCOME_COLUMNS, [income_row("H001", 2013), income_row("H001", 2014)])
    batch = run(paths)
    reasons = " ".join(r for row in batch.rejected.all() for r in row.reasons)
    assert "早于 2014 年" in reasons
    assert list(IncomeRecord.objects.values_list("year", flat=True)) == [2014]


def test_a_missing_required_column_refuses_the_file_and_writes_nothing(regions, tmp_path):
    paths = small_export(tmp_path)
    columns = [c for c in MEMBER_COLUMNS if c != "姓名"]
    write_table(paths[1], columns, [{k: v for k, v in member_row("H001", "x").items() if k != "姓名"}])
    with pytest.raises(FileRefused, match="姓名"):
        run(paths)
    assert Household.objects.count() == 0 and Person.objects.count() == 0


def test_a_member_table_without_its_household_table_is_refused(regions, tmp_path):
    paths = small_export(tmp_path)
    with pytest.raises(FileRefused, match="户信息"):
        run(paths[1:])
    assert Household.objects.count() == 0


def test_a_township_official_imports_only_into_their_own_township(regions, tmp_path, official_a):
    paths = small_export(tmp_path)
    with pytest.raises(PermissionDenied):
        run(paths, by=official_a, region=COUNTY)
    batch = run(paths, by=official_a, region=TOWNSHIP_A)
    # Only the township's villages are the import's: H003 lives in township B.
    assert sorted(Household.objects.values_list("number", flat=True)) == ["H001", "H002"]
    assert any("不是本次导入地区的村" in r for row in batch.rejected.all() for r in row.reasons)


def test_auditors_cannot_import(regions, tmp_path, auditor):
    with pytest.raises(PermissionDenied):
        run(small_export(tmp_path), by=auditor)
    assert not ImportBatch.objects.exists()


def test_an_id_registered_in_another_region_is_rejected_without_naming_it(regions, tmp_path):
    from povertycloud.regions.models import Region

    Region.objects.create(code="522635000000", name="麻江县", level=3, parent_id="522600000000")
    Region.objects.create(code="522635100000", name="杏山街道", level=4, parent_id="522635000000")
    Region.objects.create(code="522635100200", name="某村", level=5, parent_id="522635100000")
    other = make_household(with_head=False, number="OTHER-1", village_id="522635100200")
    paths = small_export(tmp_path)
    same_id = member_row("H003", "王强", birth=dt.date(1990, 11, 11), sequence=6)["证件号码"]
    registered = make_person(other, name="别处的人", id_number=same_id)
    batch = run(paths)
    reasons = [r for row in batch.rejected.all() for r in row.reasons]
    assert any("已在其他地区登记" in r for r in reasons)
    assert not any("OTHER-1" in r or "别处的人" in r for r in reasons)
    registered.refresh_from_db()
    assert registered.household_id == other.pk


def test_the_command_needs_a_region_and_loads_with_a_progress_bar(regions, tmp_path, capsys):
    paths = [str(p) for p in small_export(tmp_path)]
    with pytest.raises(CommandError, match="--region"):
        call_command("import_registry", *paths, "--as-of", "2025-12-31")
    call_command("import_registry", *paths, "--region", COUNTY, "--as-of", "2025-12-31")
    assert Household.objects.count() == 3


# --- A new year's export ---------------------------------------------------------------------------------


def next_year(directory, *, households=None, members=None, incomes=None):
    """The small export a year on: the files rewritten with the given rows (the others as they were)."""
    directory.mkdir()
    new = small_export(directory)
    if households is not None:
        write_table(new[0], HOUSEHOLD_COLUMNS, households)
    if members is not None:
        write_table(new[1], MEMBER_COLUMNS, members)
    if incomes is not None:
        write_table(new[2], INCOME_COLUMNS, incomes)
    return new


def base_members():
    return [
        member_row("H001", "杨秀英", sex="2", sequence=1),
        member_row("H001", "吴明", birth=dt.date(1978, 3, 2), relation="配偶", sequence=2),
        member_row("H001", "吴小红", birth=dt.date(2012, 9, 1), sex="2", relation="之女", 劳动技能="无劳动力",
                   文化程度="", 在校生状况="七年级", sequence=3),
        member_row("H002", "龙光荣", birth=dt.date(1960, 1, 8), sequence=4),
        member_row("H002", "李桂花", birth=dt.date(1962, 6, 30), sex="2", relation="配偶", 健康状况="长期慢性病",
                   sequence=5),
        member_row("H003", "王强", birth=dt.date(1990, 11, 11), sequence=6),
    ]


def test_a_new_years_export_updates_what_changed_and_keeps_history(regions, tmp_path):
    (tmp_path / "2025").mkdir()
    run(small_export(tmp_path / "2025"))
    household = Household.objects.get(number="H001")
    version = household.version
    households = [
        household_row("H001", 监测对象类别="边缘易致贫户", 风险类型="因病"),
        household_row("H002", 户类型="脱贫户", 贫困户属性="一般脱贫户", 脱贫年度="2018", 主要致贫原因="因病",
                      监测对象类别="脱贫不稳定户", 风险类型="因病、因学"),
        household_row("H003", village="522634103200"),
    ]
    members = base_members()
    members[0]["健康状况"] = "患有大病"
    incomes = [income_row("H001", 2024), income_row("H001", 2025, wages=22000), income_row("H001", 2026, wages=9000)]
    export = next_year(tmp_path / "2026", households=households, members=members, incomes=incomes)
    batch = run(export, as_of=dt.date(2026, 6, 30))
    household.refresh_from_db()
    assert household.monitoring_type == "2" and household.risk_types == ",01,"
    assert household.version == version + 1
    change = StatusChange.objects.filter(household=household).order_by("-id").first()
    assert (change.event, change.effective_date, change.monitoring_type) == ("03", dt.date(2026, 6, 30), "2")
    assert Person.objects.get(name="杨秀英").health == ",3,"
    assert IncomeRecord.objects.filter(household=household, year=2026).exists()
    # Incomes of other households that the new export does not list are kept, not deleted.
    assert IncomeRecord.objects.filter(household__number="H002").count() == 2
    assert batch.conflicts.count() == 0


def test_an_officials_edit_after_the_import_is_not_overwritten_but_listed(regions, tmp_path, official_a):
    from households.services import update_person

    (tmp_path / "first").mkdir()
    run(small_export(tmp_path / "first"))
    person = Person.objects.get(name="吴明")
    update_person(by=official_a, person=person, data={"labour_skill": "3"}, expected_version=person.version)
    members = base_members()
    members[1]["劳动技能"] = "技能劳动力"  # the export says otherwise
    members[3]["健康状况"] = "长期慢性病"  # a change nobody edited in the system: taken
    batch = run(next_year(tmp_path / "second", members=members))
    person.refresh_from_db()
    assert person.labour_skill == "3"  # the official's value stands
    assert Person.objects.get(name="龙光荣").health == ",2,"
    conflict = batch.conflicts.get()
    assert (conflict.field, conflict.system_value, conflict.export_value) == ("labour_skill", "3", "2")
    assert conflict.household_id == person.household_id and conflict.status == "open"


def test_a_gbk_export_declared_as_utf8_is_refused_with_a_message_and_writes_nothing(regions, tmp_path):
    paths = small_export(tmp_path, encoding="gbk")
    with pytest.raises(FileRefused, match="编码"):
        run(paths, encoding="utf-8")
    assert not Household.objects.exists() and not Person.objects.exists()
    assert not ImportBatch.objects.filter(status=ImportBatch.Status.SUCCEEDED).exists()


def test_one_workbook_with_a_sheet_per_table_loads_like_the_files(regions, tmp_path):
    import csv as csv_module

    from openpyxl import Workbook

    workbook = Workbook()
    workbook.remove(workbook.active)
    for path in small_export(tmp_path):
        sheet = workbook.create_sheet(path.stem)
        with path.open(encoding="utf-8") as handle:
            for row in csv_module.reader(handle):
                sheet.append(row)
    book = tmp_path / "国家系统导出.xlsx"
    workbook.save(book)
    batch = run([book])
    assert (batch.total_rows, batch.rejected_rows) == (14, 0)
    assert Household.objects.count() == 3 and IncomeRecord.objects.count() == 5
    assert batch.table_counts["members"]["source"] == "国家系统导出.xlsx（成员信息）"


def test_two_files_of_the_same_table_are_refused(regions, tmp_path):
    paths = small_export(tmp_path)
    again = tmp_path / "成员信息（第二份）.csv"
    again.write_bytes(paths[1].read_bytes())
    with pytest.raises(FileRefused, match="每张表只能有一份"):
        run([*paths, again])
    assert not ImportBatch.objects.exists()


def test_an_export_dated_after_today_is_refused(regions, tmp_path):
    with pytest.raises(FileRefused, match="晚于今天"):
        run(small_export(tmp_path), as_of=dt.date.today() + dt.timedelta(days=1))
    assert not ImportBatch.objects.exists()


def test_a_region_that_is_not_loaded_is_refused_with_what_to_do(regions, tmp_path):
    with pytest.raises(FileRefused, match="load_regions"):
        run(small_export(tmp_path), region="411522000000")


def test_an_export_of_villages_outside_the_region_rejects_every_row_and_writes_nothing(regions, tmp_path):
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row("X1", village="999999999999")]),
        write_table(tmp_path / "m.csv", MEMBER_COLUMNS, [member_row("X1", "甲", sequence=1)]),
    ]
    batch = run(paths)
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (2, 0, 2)
    assert not Household.objects.exists() and not Person.objects.exists()


def _member_regions() -> dict[str, str]:
    return dict(Person.everyone.values_list("name", "region_code"))


def test_imported_members_carry_their_households_village_and_follow_a_move(regions, tmp_path):
    """Person.region_code (what the household list's name search reads by region) is written by the import
    for new members, follows a household the next export moves to another village, and goes back when that
    import is undone."""
    from exchange.registry.rollback import rollback_registry_batch
    from tests.factories import VILLAGE_A

    (tmp_path / "2025").mkdir()
    run(small_export(tmp_path / "2025"))
    villages = dict(Household.objects.values_list("number", "village_id"))
    assert _member_regions() == {
        name: villages[number]
        for name, number in Person.everyone.values_list("name", "household__number")
    }
    assert "" not in _member_regions().values()
    moved = "522634103200"
    households = [household_row("H001"), household_row("H002"), household_row("H003", village=moved)]
    batch = run(next_year(tmp_path / "2026", households=households, members=base_members()),
                as_of=dt.date(2026, 6, 30))
    assert _member_regions()["王强"] == moved and _member_regions()["杨秀英"] == VILLAGE_A
    rollback_registry_batch(batch=batch, by=_admin(), reason="导错了文件")
    assert _member_regions()["王强"] == villages["H003"]


def _admin():
    from povertycloud.accounts.models import Role, User

    return User.objects.create_user("registry-admin", password="x" * 12, role=Role.ADMIN, is_superuser=True)
