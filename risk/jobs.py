"""Background jobs that must not run twice at once, and telling a job whose process is gone from a live one.

``start_job(*, kind, by, region_code="", parameters=None)``
    Records a Job (queued) and enqueues its task in the same transaction. A second start of the same kind
    while one is queued or running fails in the database (the partial unique constraint
    ``one_active_job_per_kind``), not in a check before it: two starts at the same moment give one job and
    one ``JobBusy`` whose message the page shows ("风险名单正在更新，请稍后。").

``run_job(*, job_id, work)``
    What the task runs: holds the job's RunLock for as long as it works, queued → running → succeeded |
    failed, conditionally (a job already marked failed by the cleanup is not run).

``RunLock(namespace, key)``
    Held by the process that runs a job: a PostgreSQL advisory lock on its own connection, or (SQLite, one
    machine) an flock on a file under VAR_DIR/locks. The database or the operating system frees it when
    the process dies; that is how the cleanup tells a live job from a dead one, never by its age.

``task_gone(*, row, requested_at, lock)`` and ``mark_interrupted_jobs()``
    Whether a job's task is gone, from django-tasks' database backend rows (DBTaskResult): no row at all
    (after a short grace for the enqueue), a row that finished (SUCCESSFUL / FAILED) while the job row
    still says queued or running, or a RUNNING row whose process no longer holds the job's RunLock. A
    READY row is a job that waits for a worker: it is left alone, however old.
"""

import datetime as dt
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from households.models import Household
from povertycloud.db import ProcessLock
from povertycloud.regions.models import Region
from risk.models import Job

JOB_LOCK_NAMESPACE = 4110  # PostgreSQL advisory locks: (namespace, job id) while a risk job runs
# Between a worker claiming a task and the task taking its lock, and between a job row and its task row
# becoming visible, a live job looks like a dead one for an instant: a gone job is older than this.
GRACE = dt.timedelta(minutes=2)
INTERRUPTED_TASK = "povertycloud.JobInterrupted"  # the exception path written on a dead task's row
Status = Job.Status


def interrupted_message() -> str:
    return _("任务中断：后台进程已停止，可重新开始。")


def busy_message(kind: str) -> str:
    if kind == Job.Kind.TRAIN:
        return _("模型正在训练，请稍后。")
    return _("风险名单正在更新，请稍后。")


class JobBusy(ValidationError):
    """A job of this kind is already queued or running."""


# --- The lock a running job holds --------------------------------------------------------------------


RunLock = ProcessLock  # the lock a running job holds (povertycloud.db)


def job_lock(job_id: int) -> RunLock:
    return RunLock(JOB_LOCK_NAMESPACE, job_id)


# --- Starting and running a job ----------------------------------------------------------------------


def _task_of(kind: str):
    from risk.tasks import refresh_risk_list_task, train_risk_task

    return {Job.Kind.REFRESH: refresh_risk_list_task, Job.Kind.TRAIN: train_risk_task}[kind]


def start_job(*, kind: str, by: Any, region_code: str | None = "", parameters: dict | None = None) -> Job:
    """Queue a job of `kind`, or raise JobBusy if one is queued or running (decided by the database)."""
    with transaction.atomic():
        try:
            with transaction.atomic():
                job = Job.objects.create(
                    kind=kind,
                    region_code=region_code or "",
                    parameters=parameters or {},
                    requested_by=by if getattr(by, "is_authenticated", False) else None,
                )
        except IntegrityError as error:
            raise JobBusy(busy_message(kind), code="busy") from error
        # The task row is written in the same transaction as the job row (database backend): neither is
        # ever seen without the other. (Under the test settings the task runs here, at once.)
        result = _task_of(kind).enqueue(job_id=job.pk)
        Job.objects.filter(pk=job.pk).update(task_id=str(result.id))
    job.refresh_from_db()
    return job


def run_job(*, job_id: int, work: Callable[[Job], dict]) -> dict:
    """Run a queued job while holding its lock; a job that is no longer queued is not run again."""
    with job_lock(job_id):
        started = Job.objects.filter(pk=job_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        job = Job.objects.get(pk=job_id)
        if not started:
            return {"job": job_id, "status": job.status, "ran": False}
        try:
            result = work(job)
        except Exception as exc:
            Job.objects.filter(pk=job_id, status=Status.RUNNING).update(
                status=Status.FAILED, finished_at=timezone.now(), error=f"{type(exc).__name__}: {exc}"
            )
            raise
        Job.objects.filter(pk=job_id, status=Status.RUNNING).update(
            status=Status.SUCCEEDED, finished_at=timezone.now(), result=result
        )
        return result


class CountyTracker:
    """A job's progress per county (Job.progress), told by the region-wide jobs as each county's task ends
    (risk.partitions.CountyProgress). A job over one county records nothing: its page shows the job's state."""

    def __init__(self, job_id: int, region_code: str | None):
        from risk.partitions import county_partitions

        self.job_id = job_id
        codes = county_partitions(region_code) if region_code else []
        names = dict(Region.objects.filter(code__in=codes).values_list("code", "name"))
        self.progress = {"counties": {code: {"name": names.get(code, code), "done": []} for code in codes}}
        Job.objects.filter(pk=job_id).update(progress=self.progress)

    def __call__(self, county: str, step: str) -> None:
        entry = self.progress["counties"].setdefault(county, {"name": county, "done": []})
        if step not in entry["done"]:
            entry["done"].append(step)
        Job.objects.filter(pk=self.job_id).update(progress=self.progress)


def latest_job(kind: str, *, region_code: str | None = None) -> Job | None:
    """The newest job of `kind` (of one region's, when region_code is given; "" is all regions)."""
    jobs = Job.objects.filter(kind=kind)
    if region_code is not None:
        jobs = jobs.filter(region_code=region_code)
    return jobs.order_by("-requested_at", "-id").first()


# --- How long a refresh will take --------------------------------------------------------------------

# Seconds per household of a refresh when no refresh of the scope has completed yet, measured on the
# 1,000,000-person county (README, "A county of 1,000,000 people, end to end"): warning rules 20.7 s,
# features 25.6 s, scoring with explanations and cases 44.3 s, for 259,843 households.
SECONDS_PER_HOUSEHOLD = (20.7 + 25.6 + 44.3) / 259_843
MINIMUM_SECONDS = 5  # starting the task, loading the models


@dataclass(frozen=True)
class RefreshEstimate:
    seconds: int
    households: int
    previous: Job | None  # the last completed refresh of the same scope, whose duration is the estimate

    @property
    def from_previous(self) -> bool:
        return self.previous is not None


def job_seconds(job: Job) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return max((job.finished_at - job.started_at).total_seconds(), 0.0)


def households_in_scope(region_code: str | None) -> int:
    households = Household.objects.all()
    if region_code:
        region = Region.objects.filter(pk=region_code).first()
        prefix = region.prefix if region is not None else region_code
        # A range of village codes, which the village index seeks (a LIKE 'prefix%' may not, by collation).
        households = households.filter(village_id__gte=prefix.ljust(12, "0"), village_id__lte=prefix.ljust(12, "9"))
    return households.count()


def refresh_estimate(region_code: str | None) -> RefreshEstimate:
    """How long refreshing `region_code`'s risk list ("" or None: all regions) will take: as long as the
    previous completed refresh of the same scope took, or, with none, households × SECONDS_PER_HOUSEHOLD."""
    households = households_in_scope(region_code)
    previous = (
        Job.objects.filter(
            kind=Job.Kind.REFRESH, region_code=region_code or "", status=Status.SUCCEEDED,
            started_at__isnull=False, finished_at__isnull=False,
        )
        .order_by("-finished_at", "-id")
        .first()
    )
    if previous is not None:
        seconds = job_seconds(previous) or 0.0
    else:
        seconds = MINIMUM_SECONDS + households * SECONDS_PER_HOUSEHOLD
    return RefreshEstimate(seconds=max(1, math.ceil(seconds)), households=households, previous=previous)


def duration_text(seconds: float) -> str:
    """约 40 秒, 约 3 分钟, 约 1 小时 20 分钟."""
    seconds = max(1, math.ceil(seconds))
    if seconds < 60:
        return _("约 %(seconds)d 秒") % {"seconds": seconds}
    minutes = math.ceil(seconds / 60)
    if minutes < 60:
        return _("约 %(minutes)d 分钟") % {"minutes": minutes}
    hours, rest = divmod(minutes, 60)
    if rest == 0:
        return _("约 %(hours)d 小时") % {"hours": hours}
    return _("约 %(hours)d 小时 %(minutes)d 分钟") % {"hours": hours, "minutes": rest}


# --- Jobs whose task is gone -------------------------------------------------------------------------


def uses_database_tasks() -> bool:
    """Whether tasks go through django-tasks' database backend, whose rows say what became of a task."""
    from django_tasks_db.backend import DatabaseBackend
    from django_tasks_db.compat import task_backends

    return isinstance(task_backends["default"], DatabaseBackend)


def task_row(*, task_id: str = "", task_path: str = "", first_arg: Any = None):
    """The DBTaskResult of a job: by its id when the job kept it, else the newest of `task_path` whose
    first argument is `first_arg` (for rows that do not keep the id, e.g. an import batch)."""
    from django_tasks_db.models import DBTaskResult

    rows = DBTaskResult.objects.all()
    if task_id:
        try:
            return rows.filter(id=task_id).first()
        except ValidationError:
            return None
    found = [
        row for row in rows.filter(task_path=task_path).order_by("-enqueued_at")
        if (row.args_kwargs or {}).get("args", [None])[:1] == [first_arg]
    ]
    return found[0] if found else None


def task_gone(*, row: Any, requested_at: dt.datetime, lock: RunLock | None, now: dt.datetime | None = None) -> bool:
    """Whether a job still queued or running has lost its task (see the module's docstring)."""
    from django_tasks_db.compat import TaskResultStatus

    now = now or timezone.now()
    if row is None:
        return requested_at < now - GRACE
    if row.status == TaskResultStatus.READY:
        return False
    if row.status in (TaskResultStatus.SUCCESSFUL, TaskResultStatus.FAILED):
        return True
    # RUNNING: a worker claimed it. Alive while a process holds the job's lock, or just after the claim;
    # without a lock to ask, nobody can tell, and the job is left alone.
    if lock is None or lock.held_elsewhere():
        return False
    return row.started_at is None or row.started_at <= now - GRACE


def fail_task_row(row: Any, reason: str) -> None:
    """A RUNNING task row whose process is gone says so too (the jobs table reads it)."""
    from django_tasks_db.compat import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    if row is not None and row.status == TaskResultStatus.RUNNING:
        DBTaskResult.objects.filter(pk=row.pk, status=TaskResultStatus.RUNNING).update(
            status=TaskResultStatus.FAILED,
            finished_at=timezone.now(),
            exception_class_path=INTERRUPTED_TASK,
            traceback=reason,
        )


def mark_interrupted_jobs() -> list[int]:
    """Queued or running risk jobs whose task is gone become failed, with the reason; they can be started
    again (the constraint no longer counts them)."""
    if not uses_database_tasks():
        return []
    marked = []
    reason = interrupted_message()
    for job in Job.objects.filter(status__in=[Status.QUEUED, Status.RUNNING]):
        lock = job_lock(job.pk)
        row = task_row(task_id=job.task_id)
        if not task_gone(row=row, requested_at=job.requested_at, lock=lock):
            continue
        if not lock.acquire(wait=False):
            continue  # its process took the lock this instant: it is alive
        try:
            if Job.objects.filter(pk=job.pk, status=job.status).update(
                status=Status.FAILED, finished_at=timezone.now(), error=reason
            ):
                marked.append(job.pk)
                fail_task_row(row, reason)
        finally:
            lock.release()
    return marked
