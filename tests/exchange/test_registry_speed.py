"""The registry import's faster paths give the same outcome as the plain ones."""

import datetime as dt

import pytest

from exchange.registry import checks
from exchange.registry.service import import_registry
from households.models import Household, IncomeRecord, Person
from tests.exchange.registry_files import MEMBER_COLUMNS, member_row, small_export, write_table

pytestmark = pytest.mark.django_db


def rejected(batch) -> list[tuple[int, list[str]]]:
    return sorted((row.row_number, row.reasons) for row in batch.rejected.all())


def export_with_bad_rows(directory):
    paths = small_export(directory)
    members = [
        member_row("H001", "杨秀英", sex="2", sequence=1),
        member_row("H001", "吴明", birth=dt.date(1978, 3, 2), relation="配偶", sequence=2, 城乡居民基本医疗保险="否"),
        member_row("H001", "吴小红", birth=dt.date(2012, 9, 1), sex="2", relation="之女", 文化程度="",
                   在校生状况="七年级", sequence=3),
        member_row("H002", "龙光荣", birth=dt.date(1960, 1, 8), sequence=4),
        member_row("H002", "李桂花", birth=dt.date(1962, 6, 30), sex="2", relation="配偶", sequence=5),
        member_row("H003", "王强", birth=dt.date(1990, 11, 11), sequence=6),
    ]
    write_table(paths[1], MEMBER_COLUMNS, members)
    return paths


@pytest.mark.parametrize("fork", [False, True])
def test_the_row_validators_in_two_processes_reject_what_one_process_rejects(regions, tmp_path, monkeypatch, fork):
    monkeypatch.setattr(checks, "PARALLEL_ROWS", 2 if fork else 10**9)
    monkeypatch.setattr(checks, "APART_ROWS", 0 if fork else 10**9)
    batch = import_registry(
        region_code="522634000000", paths=export_with_bad_rows(tmp_path), by=None, as_of=dt.date(2025, 12, 31)
    )
    reasons = rejected(batch)
    # 吴明 without medical insurance, 吴小红 (a pupil) with a labour skill: both members rejected by the rules.
    assert [row for row, _ in reasons if row in (2, 3)] == [2, 3]
    assert any("医疗保险" in "".join(r) for _, r in reasons)
    assert any("劳动技能" in "".join(r) for _, r in reasons)
    assert Person.objects.count() == 4 and Household.objects.count() == 3
    assert IncomeRecord.objects.count() == 5


def test_income_rules_by_distinct_value_give_each_rows_messages_as_the_row_validator_does():
    import numpy as np
    import pandas as pd

    from households.models import IncomeRecord as Income
    from households.validation import income_issues

    on = dt.date(2025, 12, 31)
    names = list(Income.INCOME_FIELDS)
    rng = np.random.default_rng(7)
    n = 400
    frame = pd.DataFrame({name: rng.choice([0.0, 120.5, -3.0, 9999.99, -0.01], n) for name in names})
    frame["year"] = rng.choice([2020, 2025, 2026, 2030], n).astype(float)
    frame["household_size"] = rng.choice([1.0, 3.0, 0.0, -2.0, np.nan], n)
    bad, reasons = checks._income_issues_by_value(frame, names, on=on)

    expected = []
    for record in frame.to_dict("records"):
        size = record["household_size"]
        record = {**record, "year": int(record["year"]), "household_size": 1 if size != size else int(size)}
        expected.append("".join(i.message for i in income_issues(record, amount_fields=names, on=on) if i.is_error))
    assert bad.tolist() == [bool(e) for e in expected]
    assert reasons == [e for e in expected if e]


def test_an_error_reading_the_incomes_apart_fails_the_import_with_its_message(regions, tmp_path, monkeypatch):
    from exchange.models import ImportBatch
    from exchange.readers import FileRefused

    def refuse(rows, *, on):
        raise FileRefused("收支信息表读不出来")

    monkeypatch.setattr(checks, "APART_ROWS", 0)
    monkeypatch.setattr(checks, "check_incomes", refuse)
    with pytest.raises(FileRefused, match="收支信息表读不出来"):
        import_registry(
            region_code="522634000000", paths=small_export(tmp_path), by=None, as_of=dt.date(2025, 12, 31)
        )
    assert ImportBatch.objects.get().status == ImportBatch.Status.FAILED
    assert Household.objects.count() == 0


def test_the_household_rules_in_two_processes_reject_a_household_without_a_head(regions, tmp_path, monkeypatch):
    from tests.exchange.registry_files import HOUSEHOLD_COLUMNS, INCOME_COLUMNS, household_row, income_row

    monkeypatch.setattr(checks, "PARALLEL_ROWS", 2)
    monkeypatch.setattr(checks, "APART_ROWS", 0)
    numbers = ["H1", "H2", "H3", "H4"]
    paths = [
        write_table(tmp_path / "h.csv", HOUSEHOLD_COLUMNS, [household_row(n) for n in numbers]),
        write_table(
            tmp_path / "m.csv", MEMBER_COLUMNS,
            [
                member_row("H1", "户主甲", sequence=1), member_row("H2", "户主乙", sequence=2),
                member_row("H3", "户主丙", sequence=3), member_row("H4", "妻子", sex="2", relation="配偶", sequence=4),
            ],
        ),
        write_table(tmp_path / "i.csv", INCOME_COLUMNS, [income_row(n, 2025) for n in numbers]),
    ]
    batch = import_registry(region_code="522634000000", paths=paths, by=None, as_of=dt.date(2025, 12, 31))
    assert sorted(Household.objects.values_list("number", flat=True)) == ["H1", "H2", "H3"]
    assert batch.rejected_rows == 3
    messages = [r for row in batch.rejected.all() for r in row.reasons]
    assert any("每户必须有一名户主" in m for m in messages)
    assert IncomeRecord.objects.count() == 3


def test_a_refusal_while_the_incomes_are_read_apart_stops_the_second_process(regions, tmp_path, monkeypatch):
    import os

    from exchange.readers import FileRefused

    def refuse(rows, **kwargs):
        raise FileRefused("户信息表有误")

    monkeypatch.setattr(checks, "APART_ROWS", 0)
    monkeypatch.setattr(checks, "check_households", refuse)
    with pytest.raises(FileRefused, match="户信息表有误"):
        import_registry(
            region_code="522634000000", paths=small_export(tmp_path), by=None, as_of=dt.date(2025, 12, 31)
        )
    with pytest.raises(ChildProcessError):
        os.waitpid(-1, os.WNOHANG)  # no child left behind


def test_a_second_income_row_of_the_same_household_and_year_is_rejected_naming_the_first(regions, tmp_path):
    from tests.exchange.registry_files import INCOME_COLUMNS, income_row

    paths = small_export(tmp_path)
    incomes = [income_row("H001", 2025), income_row("H002", 2025), income_row("H001", 2025, wages=1)]
    write_table(paths[2], INCOME_COLUMNS, incomes)
    batch = import_registry(region_code="522634000000", paths=paths, by=None, as_of=dt.date(2025, 12, 31))
    assert rejected(batch) == [(3, ["户编号 H001 的 2025 年收支与第 1 行重复。"])]
    assert IncomeRecord.objects.get(household__number="H001").wage_income == 20000
