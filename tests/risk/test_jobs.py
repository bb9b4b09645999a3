"""One risk-list refresh at a time (a second start is a message, decided by the database), and risk jobs whose
task is gone are marked failed and can be started again; a live one is left alone."""

import datetime as dt

import pytest
from django.contrib.messages import get_messages
from django.db import connection
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone
from django_tasks_db.models import DBTaskResult, get_date_max

from risk import jobs, model_selectors
from risk.models import Job
from tests.households.races import HeldElsewhere, run_together

DATABASE_TASKS = {"default": {"BACKEND": "django_tasks_db.DatabaseBackend"}}
BUSY = "风险名单正在更新，请稍后。"
LONG_AGO = dt.timedelta(hours=3)


def _messages(response) -> list[str]:
    return [str(m) for m in get_messages(response.wsgi_request)]


@pytest.fixture
def models_active(monkeypatch):
    monkeypatch.setattr(model_selectors, "missing_active_models", lambda: "")


@pytest.fixture
def locks_here(settings, tmp_path):
    settings.VAR_DIR = tmp_path


def task(status: str, *, job_path: str = "risk.tasks.refresh_risk_list_task", args=(), started=None, **kwargs):
    return DBTaskResult.objects.create(
        status=status, args_kwargs={"args": list(args), "kwargs": kwargs}, task_path=job_path,
        backend_name="default", run_after=get_date_max(), started_at=started, worker_ids=["w1"] if started else [],
        exception_class_path="", traceback="",
    )


def job(status: str, row=None, *, ago: dt.timedelta = LONG_AGO, kind: str = Job.Kind.REFRESH) -> Job:
    made = Job.objects.create(kind=kind, status=status, task_id=str(row.pk) if row else "", region_code="522634000000")
    Job.objects.filter(pk=made.pk).update(requested_at=timezone.now() - ago)
    made.refresh_from_db()
    return made


# --- One refresh at a time ---------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_a_second_refresh_while_one_is_queued_is_a_message(client, county_staff, models_active):
    client.force_login(county_staff)
    first = client.post(reverse("risk:refresh"), {"confirm": "yes"})
    assert first.status_code == 302
    assert "风险名单更新任务已提交，后台运行中；完成后本页可见结果。" in _messages(first)
    queued = Job.objects.get()
    assert queued.status == Job.Status.QUEUED and DBTaskResult.objects.filter(pk=queued.task_id).exists()
    second = client.post(reverse("risk:refresh"), {"confirm": "yes"})
    assert second.status_code == 302 and BUSY in _messages(second)
    assert Job.objects.count() == 1 and DBTaskResult.objects.count() == 1
    page = client.get(reverse("risk:list")).content.decode()
    assert 'data-testid="job-state" data-status="queued"' in page


@pytest.mark.django_db
def test_the_database_refuses_a_second_active_job_of_a_kind(county_staff, locks_here):
    job(Job.Status.RUNNING)
    # No check before the insert: the partial unique constraint decides, whoever comes first.
    with pytest.raises(jobs.JobBusy) as busy:
        jobs.start_job(kind=Job.Kind.REFRESH, by=county_staff, region_code="522634000000")
    assert busy.value.messages == [BUSY]
    assert Job.objects.count() == 1
    # Another kind may run beside it.
    with override_settings(TASKS=DATABASE_TASKS):
        jobs.start_job(kind=Job.Kind.TRAIN, by=county_staff)
    assert Job.objects.filter(kind=Job.Kind.TRAIN, status=Job.Status.QUEUED).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two concurrent transactions need PostgreSQL")
@override_settings(TASKS=DATABASE_TASKS)
def test_two_refreshes_started_at_once_give_one_job_and_one_message(county_staff):
    outcomes = run_together(
        lambda: jobs.start_job(kind=Job.Kind.REFRESH, by=county_staff, region_code="522634000000"),
        lambda: jobs.start_job(kind=Job.Kind.REFRESH, by=county_staff, region_code="522634000000"),
    )
    assert sorted(kind for kind, _value in outcomes) == ["error", "ok"], outcomes
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, jobs.JobBusy) and error.messages == [BUSY]
    assert Job.objects.count() == 1 and DBTaskResult.objects.count() == 1


@pytest.mark.django_db
@pytest.mark.parametrize("role", ["official_a", "auditor"])
def test_only_county_staff_start_a_refresh(request, client, role, models_active):
    client.force_login(request.getfixturevalue(role))
    assert client.post(reverse("risk:refresh"), {"confirm": "yes"}).status_code == 403
    assert not Job.objects.exists()


@pytest.mark.django_db
def test_a_job_that_runs_is_marked_running_then_done_and_is_not_run_twice(locks_here):
    made = job(Job.Status.QUEUED)
    assert jobs.run_job(job_id=made.pk, work=lambda j: {"ok": 1}) == {"ok": 1}
    made.refresh_from_db()
    assert made.status == Job.Status.SUCCEEDED and made.result == {"ok": 1} and made.started_at
    assert jobs.run_job(job_id=made.pk, work=lambda j: {"ok": 2})["ran"] is False


# --- Jobs whose task is gone -------------------------------------------------------------------------


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_jobs_whose_task_is_gone_are_marked_failed_and_live_ones_are_left(locks_here):
    long_ago = timezone.now() - LONG_AGO
    dead_worker = job(Job.Status.RUNNING, task("RUNNING", started=long_ago), kind=Job.Kind.REFRESH)
    live = job(Job.Status.RUNNING, task("RUNNING", job_path="risk.tasks.train_risk_task", started=long_ago),
               kind=Job.Kind.TRAIN)
    with HeldElsewhere(lambda: jobs.job_lock(live.pk)):
        assert jobs.mark_interrupted_jobs() == [dead_worker.pk]
    dead_worker.refresh_from_db()
    live.refresh_from_db()
    assert dead_worker.status == Job.Status.FAILED
    assert dead_worker.error == "任务中断：后台进程已停止，可重新开始。"
    assert DBTaskResult.objects.get(pk=dead_worker.task_id).status == "FAILED"
    assert live.status == Job.Status.RUNNING  # running for three hours, but its process holds the lock
    assert DBTaskResult.objects.get(pk=live.task_id).status == "RUNNING"


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
@pytest.mark.parametrize(
    ("row_status", "gone"),
    [(None, True), ("FAILED", True), ("SUCCESSFUL", True), ("READY", False)],
    ids=["task-row-gone", "task-failed", "task-ended", "task-waiting"],
)
def test_a_queued_job_is_failed_only_when_its_task_row_says_so(row_status, gone, locks_here):
    row = task(row_status) if row_status else None
    made = job(Job.Status.QUEUED, row)
    if row is None:
        made.task_id = "8a1e7b8e-0000-4000-8000-000000000000"  # its row was deleted (pruned)
        made.save()
    assert jobs.mark_interrupted_jobs() == ([made.pk] if gone else [])
    made.refresh_from_db()
    assert made.status == (Job.Status.FAILED if gone else Job.Status.QUEUED)


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_a_job_just_claimed_or_just_queued_is_left_alone(locks_here):
    claimed = job(Job.Status.QUEUED, task("RUNNING", started=timezone.now()), ago=dt.timedelta(seconds=5))
    fresh = job(Job.Status.QUEUED, None, ago=dt.timedelta(seconds=5), kind=Job.Kind.TRAIN)
    assert jobs.mark_interrupted_jobs() == []
    assert {claimed.pk, fresh.pk} == set(Job.objects.filter(status=Job.Status.QUEUED).values_list("pk", flat=True))


@pytest.mark.django_db
@override_settings(TASKS=DATABASE_TASKS)
def test_after_the_cleanup_the_page_says_why_and_the_refresh_starts_again(client, county_staff, models_active,
                                                                          locks_here):
    client.force_login(county_staff)
    client.post(reverse("risk:refresh"), {"confirm": "yes"})
    started = Job.objects.get()
    DBTaskResult.objects.filter(pk=started.task_id).update(status="RUNNING", started_at=timezone.now() - LONG_AGO)
    Job.objects.filter(pk=started.pk).update(status=Job.Status.RUNNING)
    assert jobs.mark_interrupted_jobs() == [started.pk]
    page = client.get(reverse("risk:list")).content.decode()
    assert 'data-testid="job-state" data-status="failed"' in page
    assert "任务中断：后台进程已停止，可重新开始。" in page and "可点击“更新风险名单”重新开始。" in page
    assert 'data-testid="refresh-risk-list"' in page
    again = client.post(reverse("risk:refresh"), {"confirm": "yes"})
    assert BUSY not in _messages(again)
    assert Job.objects.filter(status=Job.Status.QUEUED).count() == 1


@pytest.mark.django_db
def test_without_the_database_task_backend_nothing_is_judged(locks_here):
    made = job(Job.Status.QUEUED, None)
    assert jobs.mark_interrupted_jobs() == []
    made.refresh_from_db()
    assert made.status == Job.Status.QUEUED
