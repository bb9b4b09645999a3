"""A department declared as data (no code, no migration) goes through the same pipeline as the typed ones:
validation against its declaration, history, closing who is no longer listed, linkage, rollback."""

import datetime as dt

import pytest

from exchange.declarations import get_department
from exchange.feeds.declare import declare_feed
from exchange.feeds.models import DeclaredRecord
from exchange.history import records_on
from exchange.models import ImportBatch, RejectedRow
from exchange.pipeline import import_department_file
from exchange.readers import FileRefused
from exchange.rollback import rollback_batch
from tests.exchange.files import bad_check, write_csv
from tests.factories import COUNTY, make_household, make_person, resident_id

HOUSING = {
    "slug": "housing_safety",
    "name": "住建 危房鉴定",
    "name_en": "Housing: safety appraisals",
    "full_snapshot": True,
    "columns": [
        {"column": "统计期", "key": "period", "kind": "period", "required": True},
        {"column": "身份证号", "key": "id_number", "kind": "id_number", "required": True},
        {"column": "姓名", "key": "name", "kind": "text", "max_length": 50},
        {"column": "危房等级", "key": "grade", "kind": "code", "codeset": "housing_grade", "required": True},
        {"column": "鉴定日期", "key": "appraised_on", "kind": "date"},
        {"column": "改造补助（元）", "key": "subsidy", "kind": "amount", "max_value": 100000},
        {"column": "已改造", "key": "rebuilt", "kind": "flag"},
        {"column": "层数", "key": "floors", "kind": "integer", "min_value": 1, "max_value": 30},
    ],
}
COLUMNS = [c["column"] for c in HOUSING["columns"]]


@pytest.fixture
def housing(db, admin_user):
    declare_feed(declaration=HOUSING, by=admin_user)
    return get_department("housing_safety")


def test_a_department_declared_as_data_is_imported_with_history_linkage_and_rejections(
    housing, regions, county_staff, tmp_path
):
    household = make_household()
    person = make_person(household, birth_date=dt.date(1970, 1, 2))
    other = resident_id(dt.date(1982, 8, 9), sequence=42)
    third, fourth = resident_id(dt.date(1983, 8, 9), sequence=43), resident_id(dt.date(1984, 8, 9), sequence=44)
    rows = [
        ["2025-03", person.id_number, person.name, "D", "2025/2/1", "35000", "否", "2"],
        ["2025-03", bad_check(other), "李四", "C", "20250203", "", "否", "1"],
        ["2025-03", other, "李四", "E", "", "", "否", "1"],
        ["2025-03", third, "王五", "C", "", "", "否", "0"],
        ["2025-03", fourth, "赵六", "C", "", "", "是", "3"],
    ]
    march = import_department_file(
        department="housing_safety",
        path=write_csv(tmp_path / "m.csv", COLUMNS, rows, encoding="gbk"),
        by=county_staff,
        region_code=COUNTY,
    )
    reasons = dict(RejectedRow.objects.filter(batch=march).values_list("row_number", "reasons"))
    assert (march.total_rows, march.accepted_rows, march.rejected_rows) == (5, 2, 3)
    assert reasons[2][0].startswith("证件号码校验位错误")
    assert reasons[3] == ["危房等级“E”不在数据字典中（可填：A 级、B 级、C 级、D 级）。"]
    assert reasons[4] == ["层数“0”低于下限 1。"]
    mine = DeclaredRecord.objects.get(id_number=person.id_number)
    assert mine.person_id == person.pk and mine.region_code == household.village_id
    assert mine.data == {"grade": "D", "appraised_on": "2025-02-01", "subsidy": 35000, "rebuilt": False, "floors": 2}
    assert housing.value(mine, "grade") == "D" and mine.period == "2025-03"
    assert (march.linked_rows, march.unlinked_rows) == (1, 1)

    april_rows = [["2025-04", person.id_number, person.name, "D", "2025-02-01", "35000", "是", "2"]]
    april = import_department_file(
        department="housing_safety",
        path=write_csv(tmp_path / "a.csv", COLUMNS, april_rows),
        by=county_staff,
        region_code=COUNTY,
    )
    assert (april.new_versions, april.closed_versions) == (1, 1)  # changed; the unlisted other one closed
    [before] = records_on(department="housing_safety", id_number=person.id_number, on=dt.date(2025, 3, 15))
    [after] = records_on(department="housing_safety", id_number=person.id_number, on=dt.date(2025, 4, 15))
    assert (before.data["rebuilt"], before.batch_id) == (False, march.pk)
    assert (after.data["rebuilt"], after.batch_id) == (True, april.pk)

    rollback_batch(batch=april, by=county_staff, reason="文件发错了")
    [again] = records_on(department="housing_safety", id_number=person.id_number, on=dt.date(2025, 4, 15))
    assert again.batch_id == march.pk
    assert ImportBatch.objects.get(pk=april.pk).status == ImportBatch.Status.ROLLED_BACK


def test_a_declared_department_keeps_to_its_own_records(housing, regions, admin_user, tmp_path):
    """Two declared departments share a table; a snapshot of one closes none of the other's records."""
    declare_feed(declaration={**HOUSING, "slug": "housing_other", "name": "住建 其他"}, by=admin_user)
    person = make_person(make_household())
    row = ["2025-03", person.id_number, person.name, "C", "", "", "否", "1"]
    for slug in ("housing_safety", "housing_other"):
        import_department_file(
            department=slug, path=write_csv(tmp_path / f"{slug}.csv", COLUMNS, [row]), by=None, region_code=COUNTY
        )
    someone_else = ["2025-04", resident_id(dt.date(1990, 1, 1)), "王五", "A"]
    import_department_file(
        department="housing_other",
        path=write_csv(tmp_path / "next.csv", COLUMNS[:4], [someone_else]),
        by=None,
        region_code=COUNTY,
    )
    current = DeclaredRecord.objects.filter(valid_to__isnull=True, id_number=person.id_number)
    assert list(current.values_list("department", flat=True)) == ["housing_safety"]


def test_a_file_missing_a_declared_required_column_is_refused_and_changes_nothing(housing, regions, tmp_path):
    with pytest.raises(FileRefused, match="危房等级"):
        import_department_file(
            department="housing_safety",
            path=write_csv(tmp_path / "m.csv", COLUMNS[:3], [["2025-03", resident_id(dt.date(1990, 1, 1)), "王五"]]),
            by=None,
            region_code=COUNTY,
        )
    assert not DeclaredRecord.objects.exists()


def test_a_batch_of_a_department_since_deactivated_can_still_be_undone(housing, regions, county_staff, tmp_path):
    from exchange.feeds.models import DepartmentFeed
    from exchange.selectors import department_name

    person = make_person(make_household())
    batch = import_department_file(
        department="housing_safety",
        path=write_csv(tmp_path / "m.csv", COLUMNS[:4], [["2025-03", person.id_number, person.name, "C"]]),
        by=county_staff,
        region_code=COUNTY,
    )
    DepartmentFeed.objects.filter(slug="housing_safety").update(active=False)
    assert department_name("housing_safety") == "住建 危房鉴定"  # by its last declared name

    rollback_batch(batch=batch, by=county_staff, reason="部门已停用，撤回其数据")
    assert ImportBatch.objects.get(pk=batch.pk).status == ImportBatch.Status.ROLLED_BACK
    assert not DeclaredRecord.objects.filter(valid_to__isnull=True).exists()
