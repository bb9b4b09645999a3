"""Asking for a performance report and generating it.

request_report(*, by, region_code, start, end) checks the input (Chinese messages), creates the Report row
and queues the background job once the transaction commits. generate_report(*, report) is that job: it
reads the region's data (reports.sources), computes the indicators, writes the XLSX, the PDF and the CSV
ledgers under VAR_DIR/reports/<id>/ with a manifest, and reports its progress on the row as it goes.
"""

import datetime as dt
import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from povertycloud.regions.models import Region
from povertycloud.regions.scoping import is_active_user, user_may_see_code
from povertycloud.regions.selectors import full_name
from reports.files import csv_bytes, ledger_file_name, pdf_bytes, xlsx_bytes
from reports.models import Report
from reports.partitions import ReportContent, compute_region
from reports.performance import PerformanceReport, compute_report
from reports.sources import read_sources
from risk.jobs import RunLock, fail_task_row, interrupted_message, task_gone, task_row, uses_database_tasks
from risk.partitions import CountyProgress, county_partitions

REPORT_LOCK_NAMESPACE = 4120  # PostgreSQL advisory locks: (namespace, report id) while a report is generated
GENERATE_TASK = "reports.tasks.generate_report_task"
# What the pages' forms (the dashboard, the exports, the report page) accept: a county or a township.
COUNTY_LEVELS = (Region.Level.COUNTY, Region.Level.TOWNSHIP)
# What a requested report accepts: also a province or a prefecture, computed one county a task (reports.partitions).
REPORT_LEVELS = (Region.Level.PROVINCE, Region.Level.CITY, *COUNTY_LEVELS)
MAX_PERIOD_DAYS = 366 * 5
Status = Report.Status


def reports_dir() -> Path:
    return Path(settings.VAR_DIR) / "reports"


def report_dir(report: Report) -> Path:
    return reports_dir() / str(report.pk)


def check_request(
    *,
    user: Any,
    region_code: str,
    start: dt.date | None,
    end: dt.date | None,
    levels: tuple[int, ...] = COUNTY_LEVELS,
) -> Region:
    """The region asked for, or a ValidationError whose messages say in Chinese what is wrong."""
    errors: dict[str, str] = {}
    region = Region.objects.filter(code=(region_code or "").strip()).first()
    if region is None:
        errors["region"] = _("区划代码不存在。")
    elif not user_may_see_code(user, region.code):
        errors["region"] = _("“%(region)s”不在您的辖区内，不能生成它的报告。") % {"region": region.name}
    elif region.level not in levels and levels == COUNTY_LEVELS:
        errors["region"] = _("报告按县或乡镇生成，请选择县或乡镇。")
    elif region.level not in levels:
        errors["region"] = _("报告按省、市（州）、县或乡镇生成，请选择其中之一。")
    if start is None:
        errors["start"] = _("请填写统计期起始日。")
    if end is None:
        errors["end"] = _("请填写统计期截止日。")
    if start is not None and end is not None:
        if end < start:
            errors["end"] = _("统计期截止日不能早于起始日。")
        elif (end - start).days > MAX_PERIOD_DAYS:
            errors["end"] = _("统计期最长五年。")
        elif start > timezone.localdate():
            errors["start"] = _("统计期起始日不能晚于今天。")
    if errors:
        raise ValidationError(errors)
    return region


def request_report(
    *, by: Any, region_code: str, start: dt.date | None, end: dt.date | None, queue: bool = True
) -> Report:
    """The Report row of a valid request, queued for the background job once the transaction commits (queue=False:
    not queued, the caller runs generate_report itself, as manage.py build_report does)."""
    if not is_active_user(by):
        raise PermissionDenied(_("请先登录。"))
    region = check_request(user=by, region_code=region_code, start=start, end=end, levels=REPORT_LEVELS)
    language = translation.get_language() or settings.LANGUAGE_CODE
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    report = Report.objects.create(
        region=region, period_start=start, period_end=end, requested_by=by, language=language
    )
    if queue:
        transaction.on_commit(lambda: _enqueue(report.pk))
    return report


def _enqueue(report_id: int) -> None:
    from reports.tasks import generate_report_task

    result = generate_report_task.enqueue(report_id)
    Report.objects.filter(pk=report_id).update(task_id=str(result.id))


def report_lock(report: Report | int) -> RunLock:
    """Held by the process that generates the report, for as long as it runs (see risk.jobs.RunLock)."""
    return RunLock(REPORT_LOCK_NAMESPACE, getattr(report, "pk", report))


def mark_interrupted_reports() -> list[int]:
    """Queued or running reports whose task is gone (risk.jobs.task_gone: no task row, a task that ended
    without finishing the report, or a running task whose process no longer holds the report's lock)
    become failed with the reason; the report's page offers to generate it again."""
    if not uses_database_tasks():
        return []
    marked = []
    reason = interrupted_message()
    for report in Report.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]):
        lock = report_lock(report)
        row = task_row(task_id=report.task_id, task_path=GENERATE_TASK, first_arg=report.pk)
        if not task_gone(row=row, requested_at=report.requested_at, lock=lock):
            continue
        if not lock.acquire(wait=False):
            continue
        try:
            if Report.objects.filter(pk=report.pk, status=report.status).update(
                status=Status.FAILED, finished_at=timezone.now(), stage=gettext_noop("失败"), error=reason
            ):
                marked.append(report.pk)
                fail_task_row(row, reason)
        finally:
            lock.release()
    return marked


def _progress(report: Report, percent: int, stage: str) -> None:
    Report.objects.filter(pk=report.pk).update(progress=percent, stage=stage)
    report.progress, report.stage = percent, stage


def _write(directory: Path, name: str, content: bytes) -> dict[str, Any]:
    (directory / name).write_bytes(content)
    return {"bytes": len(content), "sha256": hashlib.sha256(content).hexdigest()}


def generate_report(*, report: Report, cluster: str | None = None) -> Report:
    """Run a queued report; a report already started or finished is left as it is. The report's lock is
    held while it runs: the cleanup (mark_interrupted_reports) leaves a report alone while it is held.
    A province's or a prefecture's report runs one county a task on `cluster` (None: the DASK_SCHEDULER_ADDRESS
    setting, else a LocalCluster; "local"; a scheduler's address; "none": in this process)."""
    with report_lock(report):
        return _generate_locked(report, cluster)


def _generate_locked(report: Report, cluster: str | None = None) -> Report:
    started = Report.objects.filter(pk=report.pk, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), progress=1, stage=gettext_noop("读取数据")
    )
    report.refresh_from_db()
    if not started:
        return report
    directory = report_dir(report)
    try:
        result = _generate(report, directory, cluster)
    except Exception as exc:
        shutil.rmtree(directory, ignore_errors=True)
        Report.objects.filter(pk=report.pk).update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            stage=gettext_noop("失败"),
            error=f"{type(exc).__name__}: {exc}",
        )
        report.refresh_from_db()
        raise
    Report.objects.filter(pk=report.pk).update(
        status=Status.SUCCEEDED,
        finished_at=timezone.now(),
        progress=100,
        stage=gettext_noop("已完成"),
        data_hash=result["data_sha256"],
        manifest=result,
    )
    report.refresh_from_db()
    return report


# Above county level the counties' tasks take the report from 1% to COUNTIES_DONE%, each one's end told.
COUNTIES_DONE = 45


def _county_progress(report: Report, counties: list[str]) -> CountyProgress:
    names = dict(Region.objects.filter(code__in=counties).values_list("code", "name"))
    done: list[str] = []

    def tell(county: str, state: str) -> None:
        done.append(county)
        parts = (COUNTY_STAGE, str(len(done)), str(len(counties)), names.get(county, county))
        stage = COUNTY_STAGE_SEPARATOR.join(parts)
        _progress(report, 1 + (COUNTIES_DONE - 1) * len(done) // len(counties), stage[:60])

    return tell


# A county's end is stored as its parts (the stage field keeps text), and worded when shown, in the reader's language.
COUNTY_STAGE, COUNTY_STAGE_SEPARATOR = "county", "\x1f"
COUNTY_DONE = gettext_noop("%(county)s 已完成（%(done)s/%(total)s）")


def stage_label(stage: str) -> str:
    """A stored stage in the reader's language: a stage's Chinese source string, or a county's end."""
    parts = stage.split(COUNTY_STAGE_SEPARATOR)
    if len(parts) == 4 and parts[0] == COUNTY_STAGE:
        return _(COUNTY_DONE) % {"county": parts[3], "done": parts[1], "total": parts[2]}
    return _(stage)


def _generate(report: Report, directory: Path, cluster: str | None = None) -> dict[str, Any]:
    user = report.requested_by
    region = report.region
    counties = county_partitions(region.code)
    computed = compute_content(
        region=region,
        start=report.period_start,
        end=report.period_end,
        user=user,
        cluster=cluster,
        on_county=_county_progress(report, counties),
        on_computing=lambda: _progress(report, 30, gettext_noop("计算指标")),
    )
    content, data_hash = computed.report, computed.data_hash
    manifest: dict[str, Any] = {
        "report": report.pk,
        "generated_by": getattr(user, "username", "") or "system",
        "generated_at": timezone.localtime().isoformat(timespec="seconds"),
        "parameters": {
            "region": region.code,
            "region_name": content.region_name,
            "start": report.period_start.isoformat(),
            "end": report.period_end.isoformat(),
            "income_year": computed.year,
        },
        "row_counts": computed.row_counts,
        "data_sha256": data_hash,
    }
    directory.mkdir(parents=True, exist_ok=True)
    files: dict[str, Any] = {}
    with translation.override(report.language or settings.LANGUAGE_CODE):
        _progress(report, 50, gettext_noop("生成 Excel"))
        files["performance.xlsx"] = _write(directory, "performance.xlsx", xlsx_bytes(content, manifest))
        _progress(report, 65, gettext_noop("生成 PDF"))
        files["performance.pdf"] = _write(directory, "performance.pdf", pdf_bytes(content, manifest))
        _progress(report, 90, gettext_noop("生成台账 CSV"))
        for ledger in content.ledgers:
            files[ledger_file_name(ledger)] = _write(directory, ledger_file_name(ledger), csv_bytes(ledger))
    manifest["files"] = files
    manifest["numbers"] = content.numbers
    manifest["ledger_rows"] = {ledger.name: len(ledger.rows) for ledger in content.ledgers}
    _write(directory, "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=2, default=str).encode())
    return manifest


def compute_content(
    *,
    region: Region,
    start: dt.date,
    end: dt.date,
    user: Any,
    cluster: str | None = None,
    on_county: CountyProgress | None = None,
    on_computing: Callable[[], None] | None = None,
) -> ReportContent:
    """The report's content, data hash, row counts and income year, in the source language. Above county level
    one county a task on risk.partitions.runner_for(region, cluster) (cluster None: the DASK_SCHEDULER_ADDRESS
    setting, else a LocalCluster; "none": in this process), on_county told as each county's part is in;
    a county or a township in this process, on_computing told once its data is read."""
    with translation.override(settings.LANGUAGE_CODE):  # content in the source language; files translate it
        name = full_name(region)
        partitioned = compute_region(
            region=region, start=start, end=end, user=user, region_name=name, cluster=cluster, on_county=on_county
        )
        if partitioned is not None:
            return partitioned
        sources = read_sources(region=region, start=start, end=end, user=user)
        if on_computing is not None:
            on_computing()
        content = compute_report(sources, region_name=name)
    return ReportContent(
        report=content, data_hash=sources.data_hash(), row_counts=sources.row_counts, year=sources.year
    )


def compute_for(
    *, region: Region, start: dt.date, end: dt.date, user: Any, cluster: str | None = None
) -> tuple[PerformanceReport, str]:
    """The report's content and data hash without writing files (the dashboard's background job, see
    reports.dashboards, and the tests). The content is built in the source language whatever the request's
    language: the dashboard's is stored and shared."""
    computed = compute_content(region=region, start=start, end=end, user=user, cluster=cluster)
    return computed.report, computed.data_hash


def stored_file(report: Report, name: str) -> Path | None:
    """A file of a finished report, by a name its manifest lists; None for anything else."""
    if report.status != Status.SUCCEEDED or name not in (report.manifest or {}).get("files", {}):
        return None
    path = report_dir(report) / name
    return path if path.is_file() else None
