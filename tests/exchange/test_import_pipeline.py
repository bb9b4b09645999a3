"""The department import service end to end: formats, rejected rows, idempotence, history, linkage."""

import datetime as dt
import json
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command

from exchange.departments import CivilAffairsRecord, EducationRecord, HealthRecord
from exchange.models import ImportBatch, RejectedRow
from exchange.pipeline import (
    FileRefused,
    enqueue_import,
    import_department_file,
    mark_interrupted_batches,
    read_progress,
    receive_department_file,
    run_import,
)
from exchange.tasks import import_department_file_task
from povertycloud.audit.models import AuditEvent
from tests.exchange.files import (
    CIVIL_COLUMNS,
    EDUCATION_COLUMNS,
    HEALTH_COLUMNS,
    bad_check,
    civil_row,
    education_row,
    health_row,
    write_csv,
    write_xlsx,
)
from tests.factories import COUNTY, TOWNSHIP_A, VILLAGE_A, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db
A = resident_id(dt.date(1980, 5, 17), sex="1", sequence=21)
B = resident_id(dt.date(1975, 2, 3), sex="2", sequence=22)
C = resident_id(dt.date(2012, 9, 30), sex="1", sequence=23)
D = resident_id(dt.date(1950, 12, 1), sex="2", sequence=24)


def health_file(path: Path, rows, *, encoding="utf-8-sig") -> Path:
    return write_csv(path, HEALTH_COLUMNS, rows, encoding=encoding)


def run(path: Path, department="health", region=COUNTY, **kwargs) -> ImportBatch:
    return import_department_file(department=department, path=path, by=None, region_code=region, **kwargs)


# --- Formats -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("encoding", "detected"), [("gbk", "gb18030"), ("utf-8-sig", "utf-8-sig"), ("utf-8", "utf-8")]
)
def test_a_civil_affairs_csv_in_each_encoding_is_imported(regions, tmp_path, encoding, detected):
    rows = [
        civil_row(A, "龚琴", 低保类别="农村低保", 低保开始日期="2021/4/1", **{"低保月保障金额（元）": "330"})
    ]
    batch = run(write_csv(tmp_path / "c.csv", CIVIL_COLUMNS, rows, encoding=encoding), "civil_affairs")
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert (batch.file_format, batch.encoding, batch.period) == ("csv", detected, "2025-03")
    record = CivilAffairsRecord.objects.get(batch=batch)
    assert (record.name, record.dibao_type, record.dibao_start) == ("龚琴", "2", dt.date(2021, 4, 1))
    assert record.dibao_monthly_amount == 330
    assert (record.valid_from, record.valid_to) == (dt.date(2025, 3, 1), None)


def test_the_encoding_the_caller_names_is_used(regions, tmp_path):
    path = health_file(tmp_path / "h.csv", [health_row(A, "龚琴")], encoding="gbk")
    batch = run(path, encoding="gbk")
    assert batch.encoding == "gb18030"
    assert HealthRecord.objects.get(batch=batch).name == "龚琴"


def test_an_education_xlsx_is_imported(regions, tmp_path):
    rows = [education_row(A, "张三"), education_row(B, "李四", 学段="初中", 入学日期="2023年9月1日")]
    batch = run(write_xlsx(tmp_path / "e.xlsx", EDUCATION_COLUMNS, rows), "education")
    assert (batch.file_format, batch.accepted_rows, batch.rejected_rows) == ("xlsx", 2, 0)
    stages = dict(EducationRecord.objects.values_list("id_number", "stage"))
    assert stages == {A: "2", B: "3"}
    assert EducationRecord.objects.get(id_number=B).enrolment_date == dt.date(2023, 9, 1)


# --- Rejected rows -------------------------------------------------------------------------------------


def test_rejected_rows_keep_their_original_values_and_reasons(regions, tmp_path):
    rows = [
        health_row(A, "张三"),
        health_row(bad_check(B), "李四", 大病确诊日期="2024年5月6日"),
        health_row(C, "王五", 参保类型="新农合"),
        health_row(A, "张三"),
    ]
    batch = run(health_file(tmp_path / "h.csv", rows))
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (4, 1, 3)
    assert batch.accepted_rows + batch.rejected_rows == batch.total_rows
    rejected = {r.row_number: r for r in RejectedRow.objects.filter(batch=batch)}
    assert set(rejected) == {2, 3, 4}
    assert rejected[2].values["证件号码"] == bad_check(B)
    assert rejected[2].values["大病确诊日期"] == "2024年5月6日"
    assert rejected[2].reasons[0].startswith("证件号码校验位错误")
    assert rejected[3].reasons == ["参保类型“新农合”不在数据字典中（可填：城乡居民、城镇职工）。"]
    assert rejected[4].reasons == ["整行与第 1 行重复。"]
    assert HealthRecord.objects.filter(batch=batch).count() == 1


def test_a_file_missing_a_required_column_is_refused_and_the_batch_failed(regions, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["统计期", "姓名", "参保状态"], [["2025-03", "张三", "是"]])
    with pytest.raises(FileRefused, match="证件号码"):
        run(path)
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED
    assert "缺少医保/卫健数据的必填列：证件号码" in batch.error
    assert not RejectedRow.objects.exists() and not HealthRecord.objects.exists()


def test_a_constraint_the_load_runs_into_fails_the_batch_without_naming_the_row(regions, tmp_path, monkeypatch):
    """A load that meets a row written at the same time (an IntegrityError from the database) fails with a worded
    message; the database's detail, which names an ID number perhaps of another region, stays in the log."""
    from django.db import IntegrityError

    from exchange import load

    other = resident_id(dt.date(1990, 1, 1), sex="1", sequence=31)

    def conflict(self):
        raise IntegrityError(
            'duplicate key value violates unique constraint "health_one_current_per_person_county"\n'
            f"DETAIL:  Key (id_number, left(region_code::text, 6))=({other}, 522601) already exists."
        )

    monkeypatch.setattr(load.Loader, "finish", conflict)
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(A, "张三")])
    with pytest.raises(FileRefused, match="冲突") as refused:
        run(path)
    batch = ImportBatch.objects.get()
    assert batch.status == ImportBatch.Status.FAILED and "请稍后重新导入" in batch.error
    assert other not in batch.error and other not in str(refused.value) and "522601" not in batch.error
    assert not HealthRecord.objects.exists() and not RejectedRow.objects.exists()


def test_extra_columns_and_blank_lines_are_noted_on_the_batch(regions, tmp_path):
    header = [*HEALTH_COLUMNS, "备注"]
    rows = [[*health_row(A, "张三"), "无"], [""] * len(header), [*health_row(B, "李四"), ""]]
    batch = run(write_csv(tmp_path / "h.csv", header, rows))
    assert (batch.total_rows, batch.accepted_rows) == (2, 2)
    assert "忽略了声明以外的列：备注" in batch.note
    assert "跳过了 1 个空行" in batch.note


def test_a_file_with_every_row_rejected_still_succeeds_with_all_rows_kept(regions, tmp_path):
    rows = [health_row(bad_check(A), "张三"), health_row("123", "李四")]
    batch = run(health_file(tmp_path / "h.csv", rows))
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert (batch.accepted_rows, batch.rejected_rows) == (0, 2)


# --- Idempotence, progress, audit ----------------------------------------------------------------------


def test_the_same_file_twice_is_a_no_op_that_says_so(regions, tmp_path):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三"), health_row(bad_check(B), "李四")])
    first = run(path)
    assert first.already_imported is False
    copy = tmp_path / "renamed.csv"
    copy.write_bytes(path.read_bytes())
    second = run(copy)
    assert second.pk == first.pk and second.already_imported is True
    assert ImportBatch.objects.count() == 1
    assert HealthRecord.objects.count() == 1 and RejectedRow.objects.count() == 1
    assert AuditEvent.objects.filter(action="import").count() == 1


def test_the_same_file_for_another_region_is_a_new_batch(regions, tmp_path):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三")])
    assert run(path).pk != run(path, region=TOWNSHIP_A).pk


def test_progress_is_reported_per_chunk_and_left_in_the_cache(regions, tmp_path, monkeypatch):
    monkeypatch.setattr("exchange.readers.CHUNK_ROWS", 2)
    calls = []
    path = health_file(
        tmp_path / "h.csv", [health_row(x, "张三") for x in (A, B, C, D)] + [health_row(A, "张")]
    )
    batch = run(path, progress=lambda done, total: calls.append((done, total)))
    assert calls[0] == (0, 5)
    assert (2, 5) in calls and calls[-1] == (5, 5)
    assert read_progress(batch.pk) == {"done": 5, "total": 5, "stage": "succeeded"}
    assert cache.get(f"import-progress:{batch.pk}")["stage"] == "succeeded"


def test_an_import_is_recorded_in_the_audit_trail_with_its_counts(regions, tmp_path, county_staff):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三"), health_row("1", "李四")])
    batch = import_department_file(department="health", path=path, by=county_staff, region_code=COUNTY)
    event = AuditEvent.objects.get(action="import")
    assert event.actor == county_staff and event.object_pk == str(batch.pk)
    assert event.changes["accepted"] == 1 and event.changes["rejected"] == 1 and event.changes["new"] == 1
    assert batch.uploaded_by == county_staff


def test_an_unknown_department_or_region_is_refused(regions, tmp_path):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三")])
    with pytest.raises(LookupError, match="未知的部门"):
        run(path, department="tax")
    with pytest.raises(FileRefused, match="区划代码"):
        run(path, region="999999000000")


# --- History -------------------------------------------------------------------------------------------


def test_a_second_period_keeps_unchanged_rows_and_versions_changed_ones(regions, tmp_path):
    march = run(health_file(tmp_path / "m.csv", [health_row(A, "张三"), health_row(B, "李四")]))
    april_rows = [
        health_row(A, "张三", 统计期="2025-04"),
        health_row(B, "李四", 统计期="2025-04", **{"年度累计自付费用（元）": "5200"}),
        health_row(C, "王五", 统计期="2025-04"),
    ]
    april = run(health_file(tmp_path / "a.csv", april_rows))
    assert (april.new_versions, april.closed_versions) == (2, 0)
    assert "新增 1 人，内容变更 1 人，未变 1 人" in april.note
    a_versions = HealthRecord.objects.filter(id_number=A)
    assert [(v.batch_id, v.valid_to) for v in a_versions] == [(march.pk, None)]
    b_versions = list(HealthRecord.objects.filter(id_number=B).order_by("valid_from"))
    assert [(v.batch_id, v.valid_from, v.valid_to) for v in b_versions] == [
        (march.pk, dt.date(2025, 3, 1), dt.date(2025, 4, 1)),
        (april.pk, dt.date(2025, 4, 1), None),
    ]
    assert b_versions[1].out_of_pocket_ytd == 5200


def test_a_full_snapshot_closes_the_people_it_no_longer_lists_in_its_region_only(regions, tmp_path):
    run(health_file(tmp_path / "m.csv", [health_row(A, "张三"), health_row(B, "李四")]), region=TOWNSHIP_A)
    run(health_file(tmp_path / "other.csv", [health_row(C, "王五")]), region="522634103000")
    april = run(health_file(tmp_path / "a.csv", [health_row(A, "张三", 统计期="2025-04")]), region=TOWNSHIP_A)
    assert april.closed_versions == 1
    assert HealthRecord.objects.get(id_number=B).valid_to == dt.date(2025, 4, 1)
    assert HealthRecord.objects.get(id_number=C).valid_to is None  # another township's list
    assert HealthRecord.objects.get(id_number=A).valid_to is None


def test_an_earlier_period_than_one_already_imported_is_refused(regions, tmp_path):
    run(health_file(tmp_path / "a.csv", [health_row(A, "张三", 统计期="2025-04")]))
    with pytest.raises(FileRefused, match="早于本部门已导入的统计期 2025-04"):
        run(health_file(tmp_path / "m.csv", [health_row(A, "张三", 统计期="2025-03")]))
    assert HealthRecord.objects.count() == 1


def test_a_correction_in_the_same_period_replaces_the_current_version(regions, tmp_path):
    first = run(health_file(tmp_path / "m.csv", [health_row(A, "张三")]))
    second = run(health_file(tmp_path / "m2.csv", [health_row(A, "张三", 大病保险="否")]))
    versions = list(HealthRecord.objects.filter(id_number=A).order_by("id"))
    assert [(v.batch_id, v.valid_to) for v in versions] == [
        (first.pk, dt.date(2025, 3, 1)),
        (second.pk, None),
    ]


# --- Linkage -------------------------------------------------------------------------------------------


def test_rows_are_linked_to_people_by_id_number_and_take_their_village(regions, tmp_path):
    household = make_household(with_head=False, village_id=VILLAGE_A)
    person = make_person(household, id_number=A)
    other = make_person(make_household(with_head=False, village_id=VILLAGE_B), id_number=B, relation="01")
    batch = run(
        health_file(tmp_path / "h.csv", [health_row(A, "张三"), health_row(B, "李四"), health_row(C, "王")])
    )
    assert (batch.linked_rows, batch.unlinked_rows) == (2, 1)
    records = {r.id_number: r for r in HealthRecord.objects.all()}
    assert (records[A].person_id, records[A].region_code) == (person.pk, VILLAGE_A)
    assert (records[B].person_id, records[B].region_code) == (other.pk, VILLAGE_B)
    assert (records[C].person_id, records[C].region_code) == (None, COUNTY)


def test_an_unchanged_record_is_linked_once_its_person_is_registered(regions, tmp_path):
    run(health_file(tmp_path / "m.csv", [health_row(A, "张三")]))
    person = make_person(make_household(with_head=False), id_number=A)
    april = run(health_file(tmp_path / "a.csv", [health_row(A, "张三", 统计期="2025-04")]))
    assert (april.new_versions, april.linked_rows) == (0, 1)
    assert HealthRecord.objects.get(id_number=A).person_id == person.pk
    assert "已关联到人" in april.note


# --- Background task, interrupted runs, the command ----------------------------------------------------


def test_an_uploaded_file_runs_as_a_task(regions, tmp_path, django_capture_on_commit_callbacks):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三")])
    batch = receive_department_file(department="health", path=path, by=None, region_code=COUNTY)
    assert batch.status == ImportBatch.Status.RECEIVED
    assert read_progress(batch.pk)["stage"] == "received"
    with django_capture_on_commit_callbacks(execute=True):
        enqueue_import(batch=batch)
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.SUCCEEDED and batch.accepted_rows == 1


def test_the_task_reports_a_refused_file_as_a_failed_batch(regions, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["姓名"], [["张三"]])
    batch = receive_department_file(department="health", path=path, by=None, region_code=COUNTY)
    result = import_department_file_task.enqueue(batch.pk)
    assert result.return_value["status"] == "failed"
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED


def test_a_batch_is_run_only_once(regions, tmp_path):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三")])
    batch = receive_department_file(department="health", path=path, by=None, region_code=COUNTY)
    run_import(batch=batch)
    with pytest.raises(FileRefused, match="不能再次导入"):
        run_import(batch=batch)


def test_a_running_batch_whose_process_is_gone_is_marked_failed(regions):
    batch = ImportBatch.objects.create(
        department="health",
        file_name="x.csv",
        sha256="0" * 64,
        file_format="csv",
        region_code=COUNTY,
        status=ImportBatch.Status.RUNNING,
    )
    assert mark_interrupted_batches() == [batch.pk]
    batch.refresh_from_db()
    assert batch.status == ImportBatch.Status.FAILED and "中断" in batch.error


def test_the_command_prints_counts_and_writes_the_rejected_rows(regions, tmp_path, capsys):
    path = health_file(tmp_path / "h.csv", [health_row(A, "张三"), health_row(bad_check(B), "=李四")])
    out = tmp_path / "rejected.csv"
    call_command("import_feed", "health", str(path), "--region", COUNTY, "--rejected-out", str(out), verbosity=0)
    printed = capsys.readouterr().out
    assert "共 2 行，接收 1 行，拒收 1 行" in printed and "未关联 1 行" in printed
    assert str(out) in printed
    lines = out.read_text(encoding="utf-8-sig").splitlines()
    assert lines[0].startswith("行号,拒收原因,统计期,证件号码,姓名")
    assert "'=李四" in lines[1]  # a cell Excel would run as a formula is written as text
    call_command("import_feed", "health", str(path), "--region", COUNTY, verbosity=0)
    assert "本次未写入任何内容" in capsys.readouterr().out


def test_the_command_refuses_an_unknown_department_and_a_bad_file(regions, tmp_path):
    with pytest.raises(CommandError, match="未知的部门"):
        call_command("import_feed", "tax", str(tmp_path / "x.csv"), "--region", COUNTY, verbosity=0)
    path = write_csv(tmp_path / "h.csv", ["姓名"], [["张三"]])
    with pytest.raises(CommandError, match="必填列"):
        call_command("import_feed", "health", str(path), "--region", COUNTY, verbosity=0)


def test_the_command_has_help(capsys):
    with pytest.raises(SystemExit):
        call_command("import_feed", "--help")
    text = capsys.readouterr().out
    assert "--encoding" in text and "--region" in text and "civil_affairs" in text


def test_rejected_row_values_are_json_with_chinese_kept(regions, tmp_path):
    batch = run(health_file(tmp_path / "h.csv", [health_row("1", "张三")]))
    row = RejectedRow.objects.get(batch=batch)
    assert json.dumps(row.values, ensure_ascii=False).count("张三") == 1


def test_the_command_needs_the_region_it_imports_into(regions, tmp_path):
    path = write_csv(tmp_path / "h.csv", ["姓名"], [["张三"]])
    with pytest.raises(CommandError, match="--region"):
        call_command("import_feed", "health", str(path), verbosity=0)
