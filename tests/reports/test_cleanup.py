"""Interrupted jobs are cleaned up (reports.cleanup, `manage.py cleanup_jobs`, `manage.py run_worker`): imports,
reports and risk jobs whose task is gone are marked failed with the reason and can be started again; a live
job is left alone, however long it has run."""

import datetime as dt
import io

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from exchange.models import ImportBatch
from reports import services
from reports.cleanup import IMPORT_TASK, clean_up_interrupted_jobs
from reports.models import Report
from risk.models import Job
from tests.factories import COUNTY
from tests.households.races import HeldElsewhere
from tests.reports.builders import END, START

pytestmark = pytest.mark.django_db
DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
REASON = "任务中断：后台进程已停止，可重新开始。"
LONG_AGO = timezone.now() - dt.timedelta(hours=3)


@pytest.fixture(autouse=True)
def _database_tasks(settings, tmp_path):
    settings.TASKS = DATABASE_TASKS
    settings.VAR_DIR = tmp_path / "var"


def task(status: str, path: str, *args, started=None) -> DBTaskResult:
    return DBTaskResult.objects.create(
        status=status, args_kwargs={"args": list(args), "kwargs": {}}, task_path=path, backend_name="default",
        run_after=get_date_max(), started_at=started, exception_class_path="", traceback="",
    )


def report(status: str, by, *, with_task: str | None = None, started=None) -> Report:
    made = Report.objects.create(region_id=COUNTY, period_start=START, period_end=END, requested_by=by, status=status)
    Report.objects.filter(pk=made.pk).update(requested_at=LONG_AGO)
    if with_task:
        row = task(with_task, services.GENERATE_TASK, made.pk, started=started)
        Report.objects.filter(pk=made.pk).update(task_id=str(row.pk))
    made.refresh_from_db()
    return made


def batch(status: str) -> ImportBatch:
    made = ImportBatch.objects.create(
        department="health", file_name="h.csv", sha256=f"{status:0<64}"[:64], file_format="csv",
        region_code=COUNTY, status=status,
    )
    ImportBatch.objects.filter(pk=made.pk).update(uploaded_at=LONG_AGO)
    return made


def test_reports_whose_task_is_gone_are_failed_and_a_live_one_is_left(auditor):
    gone = report(Report.Status.QUEUED, auditor)  # its task row was never written or was pruned
    ended = report(Report.Status.RUNNING, auditor, with_task="FAILED", started=LONG_AGO)
    dead_worker = report(Report.Status.RUNNING, auditor, with_task="RUNNING", started=LONG_AGO)
    waiting = report(Report.Status.QUEUED, auditor, with_task="READY")
    live = report(Report.Status.RUNNING, auditor, with_task="RUNNING", started=LONG_AGO)
    with HeldElsewhere(lambda: services.report_lock(live)):
        cleaned = clean_up_interrupted_jobs()
    assert cleaned.reports == [gone.pk, ended.pk, dead_worker.pk] or sorted(cleaned.reports) == sorted(
        [gone.pk, ended.pk, dead_worker.pk]
    )
    for failed in (gone, ended, dead_worker):
        failed.refresh_from_db()
        assert (failed.status, failed.error) == (Report.Status.FAILED, REASON)
    assert DBTaskResult.objects.get(pk=dead_worker.task_id).status == "FAILED"
    for alive in (waiting, live):
        status = alive.status
        alive.refresh_from_db()
        assert alive.status == status


def test_a_failed_report_offers_to_generate_it_again(client, auditor, regions, django_capture_on_commit_callbacks):
    failed = report(Report.Status.QUEUED, auditor)
    clean_up_interrupted_jobs()
    client.force_login(auditor)
    page = client.get(reverse("reports:detail", args=[failed.pk])).content.decode()
    assert REASON in page and 'data-testid="regenerate-button"' in page
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("reports:list"), {"region": COUNTY, "start": START.isoformat(), "end": END.isoformat()}
        )
    again = Report.objects.exclude(pk=failed.pk).get()
    assert response["Location"] == reverse("reports:detail", args=[again.pk])
    assert (again.region_id, again.period_start, again.period_end) == (COUNTY, START, END)
    assert again.status == Report.Status.QUEUED and DBTaskResult.objects.filter(pk=again.task_id).exists()


def test_a_report_that_is_generated_holds_its_lock_while_it_runs(auditor, monkeypatch):
    made = report(Report.Status.QUEUED, auditor, with_task="RUNNING", started=LONG_AGO)
    seen = []

    def generate(report, directory, cluster=None):
        seen.append(services.report_lock(report).held_elsewhere() or _held_by_this_process(report))
        return {"data_sha256": "0" * 64}

    monkeypatch.setattr(services, "_generate", generate)
    services.generate_report(report=made)
    assert seen == [True]


def _held_by_this_process(report) -> bool:
    # On PostgreSQL an advisory lock is held per connection: ask from another one.
    from tests.households.races import run_together

    return run_together(lambda: services.report_lock(report).held_elsewhere())[0] == ("ok", True)


def test_imports_whose_task_is_gone_are_failed_and_waiting_ones_are_left(regions):
    running = batch(ImportBatch.Status.RUNNING)  # its process (and so its run lock) is gone
    lost = batch(ImportBatch.Status.RECEIVED)
    task("FAILED", IMPORT_TASK, lost.pk, started=LONG_AGO)
    waiting = batch(ImportBatch.Status.RECEIVED)
    task("READY", IMPORT_TASK, waiting.pk)
    cleaned = clean_up_interrupted_jobs()
    assert cleaned.imports == sorted([running.pk, lost.pk])
    assert ImportBatch.objects.get(pk=lost.pk).error == REASON
    assert ImportBatch.objects.get(pk=running.pk).status == ImportBatch.Status.FAILED
    assert ImportBatch.objects.get(pk=waiting.pk).status == ImportBatch.Status.RECEIVED


def test_the_cleanup_command_reports_what_it_marked(auditor, county_staff):
    report(Report.Status.QUEUED, auditor)
    Job.objects.create(kind=Job.Kind.REFRESH, status=Job.Status.QUEUED)
    Job.objects.update(requested_at=LONG_AGO)
    out = io.StringIO()
    call_command("cleanup_jobs", stdout=out)
    assert "导入 0 个，报告 1 个，风险任务 1 个" in out.getvalue()
    assert not Job.objects.filter(status=Job.Status.QUEUED).exists()


def test_the_worker_command_cleans_up_first_then_runs_the_worker(auditor, monkeypatch):
    report(Report.Status.QUEUED, auditor)
    ran = []
    monkeypatch.setattr(
        "reports.management.commands.run_worker.call_command", lambda name, **options: ran.append((name, options))
    )
    out = io.StringIO()
    call_command("run_worker", "--batch", "--cleanup-every", "0", stdout=out)
    assert "报告 1 个" in out.getvalue()
    assert Report.objects.get().status == Report.Status.FAILED
    assert ran == [("db_worker", {"queue_name": "default", "interval": 1, "batch": True, "reload": False,
                                  "verbosity": 1})]


def test_the_schedule_runs_the_cleanup_again(auditor):
    from reports.management.commands.run_worker import CleanupLoop

    loop = CleanupLoop(0.05)
    loop.run_once()  # what the thread does every --cleanup-every seconds
    report(Report.Status.QUEUED, auditor)
    loop.run_once()
    assert Report.objects.get().status == Report.Status.FAILED
