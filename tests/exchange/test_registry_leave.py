"""The registry import closes members who left (never deletes them), names the batch that wrote each row, and
keeps what it changed (RegistryRowChange) so that an import can be undone."""

import datetime as dt

import pytest

from exchange.registry.models import RegistryRowChange
from exchange.registry.service import import_registry
from households.models import Household, IncomeRecord, Person, StatusChange
from tests.exchange.registry_files import MEMBER_COLUMNS, household_row, member_row, small_export, write_table
from tests.exchange.test_registry_import import base_members, next_year

AS_OF = dt.date(2025, 12, 31)
LATER = dt.date(2026, 6, 30)
pytestmark = pytest.mark.django_db


def run(paths, *, as_of=AS_OF, **kwargs):
    return import_registry(region_code="522634000000", paths=paths, by=None, as_of=as_of, **kwargs)


def without(name: str) -> list[dict]:
    return [m for m in base_members() if m["姓名"] != name]


@pytest.fixture
def first(regions, tmp_path):
    (tmp_path / "first").mkdir()
    return run(small_export(tmp_path / "first"))


def test_a_member_missing_from_the_next_export_is_closed_not_deleted(first, tmp_path):
    ming = Person.objects.get(name="吴明")
    batch = run(next_year(tmp_path / "second", members=without("吴明")), as_of=LATER)

    ming = Person.everyone.get(pk=ming.pk)  # the row is still there
    assert ming.left_on == LATER
    assert ming.left_reason == f"户档案导入（批次 #{batch.pk}）：导出数据中已无此成员"
    assert ming.version == 2 and ming.source_batch == batch.pk
    assert not Person.objects.filter(pk=ming.pk).exists()
    assert Person.objects.count() == 5 and Person.everyone.count() == 6
    assert batch.table_counts["members"]["closed"] == 1
    assert batch.table_counts["members"]["unchanged"] == 5
    assert "离开（已关闭）1 人" in batch.note
    change = RegistryRowChange.objects.get(batch=batch, entity="households.person", object_id=ming.pk)
    assert change.before == {"left_on": None, "left_reason": ""} and change.version_after == 2

    # The same second export again (other bytes: a new batch) changes nothing.
    third = next_year(tmp_path / "third")
    write_table(third[1], MEMBER_COLUMNS, without("吴明"), encoding="gbk")
    again = run(third, as_of=LATER)
    assert again.pk != batch.pk
    assert again.new_versions == 0 and again.table_counts["members"]["closed"] == 0
    assert Person.everyone.get(pk=ming.pk).version == 2
    assert not RegistryRowChange.objects.filter(batch=again).exists()


def test_members_of_households_absent_from_the_export_are_untouched(first, tmp_path):
    households = [household_row("H001")]  # H002 and H003 are not in this export
    members = [m for m in base_members() if m["户编号"] == "H001"]
    batch = run(next_year(tmp_path / "second", households=households, members=members, incomes=[]), as_of=LATER)
    assert batch.table_counts["members"]["closed"] == 0
    assert Person.objects.count() == 6


def test_a_member_whose_row_was_rejected_is_not_closed(first, tmp_path):
    members = base_members()
    members[1]["与户主关系"] = "外星人"  # 吴明's row is rejected: an unknown relation code
    batch = run(next_year(tmp_path / "second", members=members), as_of=LATER)
    assert batch.rejected_rows >= 1
    assert batch.table_counts["members"]["closed"] == 0
    assert Person.objects.filter(name="吴明").exists()


def test_a_closed_member_in_a_later_export_is_reopened_and_moved(first, tmp_path):
    ming = Person.objects.get(name="吴明")
    run(next_year(tmp_path / "second", members=without("吴明")), as_of=LATER)
    members = without("吴明")
    back = next(m for m in base_members() if m["姓名"] == "吴明")
    members.append({**back, "户编号": "H003", "与户主关系": "之子"})
    batch = run(next_year(tmp_path / "third", members=members), as_of=LATER)

    ming = Person.objects.get(pk=ming.pk)  # present again
    assert ming.left_on is None and ming.left_reason == ""
    assert ming.household == Household.objects.get(number="H003")
    assert ming.version == 3 and ming.source_batch == batch.pk
    assert batch.table_counts["members"]["changed"] == 1
    assert batch.table_counts["members"]["new"] == 0
    change = RegistryRowChange.objects.get(batch=batch, object_id=ming.pk, entity="households.person")
    assert change.before["left_on"] == LATER.isoformat()
    assert change.before["left_reason"].startswith("户档案导入（批次 #")
    assert change.before["household_id"] == Household.objects.get(number="H001").pk
    assert change.version_after == 3


def test_a_member_an_official_added_since_the_import_is_not_closed_but_a_conflict(first, tmp_path, official_a):
    from households.services import add_person, update_person
    from tests.factories import person_values

    h001 = Household.objects.get(number="H001")
    added = add_person(
        by=official_a, household=h001,
        data=person_values(name="吴小明", birth_date=dt.date(2013, 3, 3), relation="05", labour_skill="5",
                           education="", school_status="21"),
    )
    ming = Person.objects.get(name="吴明")
    update_person(by=official_a, person=ming, data={"work_place": "凯里"}, expected_version=ming.version)
    # The export has neither the member the official added nor 吴明 (whom the official just edited).
    batch = run(next_year(tmp_path / "second", members=without("吴明")), as_of=LATER)

    assert Person.objects.filter(pk__in=[added.pk, ming.pk]).count() == 2  # both still present
    conflicts = {c.object_id: c for c in batch.conflicts.filter(field="left_on")}
    assert set(conflicts) == {added.pk, ming.pk}
    conflict = conflicts[added.pk]
    assert (conflict.entity, conflict.system_value, conflict.export_value) == (
        "households.person", "", LATER.isoformat(),
    )
    assert conflict.household_id == h001.pk
    assert batch.table_counts["members"]["closed"] == 0


def test_source_batch_names_the_batch_that_inserted_or_changed_a_row(first, tmp_path):
    assert set(Household.objects.values_list("source_batch", flat=True)) == {first.pk}
    assert set(Person.objects.values_list("source_batch", flat=True)) == {first.pk}
    assert set(IncomeRecord.objects.values_list("source_batch", flat=True)) == {first.pk}
    assert set(StatusChange.objects.values_list("source_batch", flat=True)) == {first.pk}

    households = [
        household_row("H001", 监测对象类别="边缘易致贫户", 风险类型="因病"),
        household_row("H002", 户类型="脱贫户", 贫困户属性="一般脱贫户", 脱贫年度="2018", 主要致贫原因="因病",
                      监测对象类别="脱贫不稳定户", 风险类型="因病、因学"),
        household_row("H003", village="522634103200"),
        household_row("H004"),
    ]
    members = base_members()
    members[0]["健康状况"] = "患有大病"
    members.append(member_row("H004", "张三", birth=dt.date(1970, 2, 2), sequence=7))
    paths = next_year(tmp_path / "second", households=households, members=members)
    batch = run(paths, as_of=LATER)

    def source(model, **lookup):
        return model._base_manager.get(**lookup).source_batch

    assert source(Household, number="H001") == batch.pk  # changed
    assert source(Household, number="H004") == batch.pk  # new
    assert source(Household, number="H002") == first.pk  # unchanged
    assert source(Person, name="杨秀英") == batch.pk and source(Person, name="张三") == batch.pk
    assert source(Person, name="吴明") == first.pk
    assert set(StatusChange.objects.filter(source_batch=batch.pk).values_list("household__number", flat=True)) == {
        "H001", "H004",
    }

    changes = {(c.entity, c.object_id): c for c in RegistryRowChange.objects.filter(batch=batch)}
    h001 = Household.objects.get(number="H001")
    yang = Person.objects.get(name="杨秀英")
    assert set(changes) == {
        ("households.household", h001.pk), ("households.person", yang.pk),
    }
    assert changes[("households.household", h001.pk)].before == {"monitoring_type": "", "risk_types": ""}
    assert changes[("households.household", h001.pk)].version_after == h001.version == 2
    assert changes[("households.person", yang.pk)].before == {"health": ",1,"}
    assert changes[("households.person", yang.pk)].version_after == yang.version == 2


def test_a_changed_income_keeps_its_amounts_before(first, tmp_path):
    from tests.exchange.registry_files import INCOME_COLUMNS, income_row

    incomes = [
        income_row("H001", 2024), income_row("H001", 2025, wages=25000),
        income_row("H002", 2024, wages=4000), income_row("H002", 2025, wages=4500),
        income_row("H003", 2025, wages=30000),
    ]
    directory = tmp_path / "second"
    paths = next_year(directory, incomes=incomes)
    write_table(paths[2], INCOME_COLUMNS, incomes)
    batch = run(paths, as_of=LATER)
    record = IncomeRecord.objects.get(household__number="H001", year=2025)
    assert record.source_batch == batch.pk and record.version == 2
    change = RegistryRowChange.objects.get(batch=batch)
    assert change.entity == "households.incomerecord" and change.object_id == record.pk
    assert change.before == {"wage_income": "22000.00"}
