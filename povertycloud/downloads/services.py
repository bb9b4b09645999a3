"""Asking for a download, preparing it in the background, serving it and cleaning up.

request_download(*, by, kind, region_code, parameters) records a queued Download and queues its task once
the transaction commits; the caller has done the permission and region checks. run_download(id) is the
task: it holds the download's ProcessLock, runs the kind's producer (povertycloud.downloads.registry) into
a temporary file under VAR_DIR/downloads/, then renames it and records its size and SHA-256. A producer
that fails marks the download failed with the reason. clean_up_downloads() deletes the files past
DOWNLOAD_RETENTION_HOURS (the download shows as expired), marks failed the running downloads whose
process is gone (nobody holds their lock), and finds the queued downloads whose task vanished (the worker's
task row lost, or the task ended without starting the download, or never queued because the process died
between the commit and the enqueue): each is queued again once (MAX_REQUEUES), then marked failed with a
reason the 我的下载 page shows.
"""

import datetime as dt
import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from povertycloud.db import ProcessLock
from povertycloud.downloads import registry
from povertycloud.downloads.models import Download

logger = logging.getLogger(__name__)
LOCK_NAMESPACE = 4130  # PostgreSQL advisory locks: (namespace, download id) while a download is prepared
GRACE = dt.timedelta(minutes=2)
MAX_REQUEUES = 1
# Reasons stored untranslated (msgids): the page shows them in its own language.
INTERRUPTED_REASON = gettext_noop("任务中断：后台进程已停止，可重新申请。")
LOST_REASON = gettext_noop("任务丢失：后台任务已不存在，重新排队后仍未运行，请重新申请。")
REQUEUED_STAGE = gettext_noop("后台任务丢失，已重新排队")
READY_BADGE_LIMIT = 10
Status = Download.Status


def downloads_dir() -> Path:
    """VAR_DIR/downloads, or DOWNLOADS_DIR where set (the tests)."""
    return Path(getattr(settings, "DOWNLOADS_DIR", None) or Path(settings.VAR_DIR) / "downloads")


def retention() -> dt.timedelta:
    return dt.timedelta(hours=getattr(settings, "DOWNLOAD_RETENTION_HOURS", 24))


def download_lock(download_id: int) -> ProcessLock:
    return ProcessLock(LOCK_NAMESPACE, download_id, file_name=f"download-{download_id}.lock")


def _badge_key(user_id: int) -> str:
    return f"downloads:ready:{user_id}"


def forget_badge(user_id: int) -> None:
    cache.delete(_badge_key(user_id))


def ready_count(user: Any) -> int:
    """Finished downloads the user has not fetched yet (at most READY_BADGE_LIMIT), cached until one changes:
    every page's header shows it, so most pages read it from the cache, not the database."""
    if not getattr(user, "is_authenticated", False):
        return 0
    key = _badge_key(user.pk)
    found = cache.get(key)
    if found is None:
        found = len(
            Download.objects.filter(requested_by=user, status=Status.SUCCEEDED, fetched_at__isnull=True)
            .order_by()
            .values_list("pk", flat=True)[:READY_BADGE_LIMIT]
        )
        cache.set(key, found, 300)
    return found


def request_download(*, by: Any, kind: str, region_code: str = "", parameters: dict | None = None) -> Download:
    if registry.get(kind) is None:
        raise ValueError(f"No producer registered for {kind!r}")
    language = translation.get_language() or settings.LANGUAGE_CODE
    if language not in dict(settings.LANGUAGES):
        language = settings.LANGUAGE_CODE
    download = Download.objects.create(
        kind=kind,
        parameters=parameters or {},
        requested_by=by,
        region_code=region_code or "",
        language=language,
        stage=gettext_noop("排队中"),
    )
    transaction.on_commit(lambda: _enqueue(download.pk))
    return download


def _enqueue(download_id: int) -> None:
    from povertycloud.downloads.tasks import prepare_download_task

    result = prepare_download_task.enqueue(download_id)
    Download.objects.filter(pk=download_id).update(task_id=str(result.id)[:64])


def _hash(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_download(download_id: int) -> Download:
    """Prepare a queued download; one already started or finished is left as it is."""
    lock = download_lock(download_id)
    lock.acquire(wait=True)
    try:
        return _run_locked(download_id)
    finally:
        lock.release()


def _run_locked(download_id: int) -> Download:
    started = Download.objects.filter(pk=download_id, status=Status.QUEUED).update(
        status=Status.RUNNING, started_at=timezone.now(), progress=1, stage=gettext_noop("生成中")
    )
    download = Download.objects.select_related("requested_by").get(pk=download_id)
    if not started:
        return download
    registered = registry.get(download.kind)
    directory = downloads_dir()
    directory.mkdir(parents=True, exist_ok=True)
    partial = directory / f"{download.pk}.part"

    def progress(percent: int, stage: str) -> None:
        percent = max(1, min(int(percent), 99))
        Download.objects.filter(pk=download.pk).update(progress=percent, stage=stage[:100])

    try:
        if registered is None:
            raise LookupError(_("未知的下载类型：%(kind)s") % {"kind": download.kind})
        with translation.override(download.language or settings.LANGUAGE_CODE):
            file_name = registered.produce(download, partial, progress)
        stored = f"{download.pk}-{Path(file_name).name}"
        final = directory / stored
        partial.replace(final)
    except Exception as exc:
        partial.unlink(missing_ok=True)
        logger.exception("Download %s (%s) failed", download.pk, download.kind)
        Download.objects.filter(pk=download.pk).update(
            status=Status.FAILED,
            finished_at=timezone.now(),
            stage=gettext_noop("失败"),
            error=f"{type(exc).__name__}: {exc}"[:2000],
        )
        download.refresh_from_db()
        return download
    now = timezone.now()
    Download.objects.filter(pk=download.pk).update(
        status=Status.SUCCEEDED,
        progress=100,
        stage=gettext_noop("已完成"),
        file_name=Path(file_name).name,
        stored_path=stored,
        size=final.stat().st_size,
        sha256=_hash(final),
        finished_at=now,
        expires_at=now + retention(),
    )
    forget_badge(download.requested_by_id)
    download.refresh_from_db()
    return download


def stored_file(download: Download) -> Path | None:
    """The file of a finished, unexpired download; None for anything else."""
    if download.status != Status.SUCCEEDED or not download.stored_path:
        return None
    if download.expires_at is not None and download.expires_at <= timezone.now():
        return None
    path = downloads_dir() / Path(download.stored_path).name
    return path if path.is_file() else None


def mark_fetched(download: Download) -> None:
    if download.fetched_at is None and Download.objects.filter(pk=download.pk, fetched_at__isnull=True).update(
        fetched_at=timezone.now()
    ):
        forget_badge(download.requested_by_id)


@dataclass
class CleanedDownloads:
    expired: list[int] = field(default_factory=list)
    interrupted: list[int] = field(default_factory=list)
    requeued: list[int] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # queued downloads whose task vanished twice: failed


def expire_downloads(now: dt.datetime | None = None) -> list[int]:
    """Files past their retention are deleted; their downloads show as expired."""
    now = now or timezone.now()
    expired = []
    for download in Download.objects.filter(status=Status.SUCCEEDED, expires_at__lte=now):
        if download.stored_path:
            (downloads_dir() / Path(download.stored_path).name).unlink(missing_ok=True)
        if Download.objects.filter(pk=download.pk, status=Status.SUCCEEDED).update(
            status=Status.EXPIRED, stage=gettext_noop("已过期"), stored_path=""
        ):
            expired.append(download.pk)
            forget_badge(download.requested_by_id)
    return expired


def mark_interrupted_downloads(now: dt.datetime | None = None) -> list[int]:
    """Running downloads whose process is gone (nobody holds their lock) become failed, their partial file
    removed. A queued download waits for a worker and is left alone."""
    now = now or timezone.now()
    marked = []
    reason = INTERRUPTED_REASON
    for download in Download.objects.filter(status=Status.RUNNING, started_at__lte=now - GRACE):
        lock = download_lock(download.pk)
        if not lock.acquire(wait=False):
            continue
        try:
            if Download.objects.filter(pk=download.pk, status=Status.RUNNING).update(
                status=Status.FAILED, finished_at=now, stage=gettext_noop("失败"), error=reason
            ):
                (downloads_dir() / f"{download.pk}.part").unlink(missing_ok=True)
                marked.append(download.pk)
        finally:
            lock.release()
    return marked


TASK_WAITING, TASK_GONE, TASK_UNKNOWN = "waiting", "gone", "unknown"


def task_state(task_id: str) -> str:
    """Whether the task of a queued download can still run it: TASK_WAITING (its row is there, ready or
    running), TASK_GONE (no task id, no such task, or a task that finished while the download stayed
    queued), TASK_UNKNOWN (a backend that cannot tell, such as the tests' immediate one)."""
    from django_tasks.base import TaskResultStatus
    from django_tasks.exceptions import TaskResultDoesNotExist, TaskResultMismatch

    from povertycloud.downloads.tasks import prepare_download_task

    if not task_id:
        return TASK_GONE
    try:
        result = prepare_download_task.get_result(task_id)
    except (TaskResultDoesNotExist, TaskResultMismatch):
        return TASK_GONE
    except (NotImplementedError, ValueError):
        return TASK_UNKNOWN
    if result.status in (TaskResultStatus.READY, TaskResultStatus.RUNNING):
        return TASK_WAITING
    return TASK_GONE


def recover_vanished_downloads(now: dt.datetime | None = None) -> tuple[list[int], list[int]]:
    """Queued downloads (asked for more than GRACE ago) whose task vanished: queued again (a new task) up to
    MAX_REQUEUES times, then failed with LOST_REASON. Returns (requeued, failed). A download whose lock is
    held is being prepared and is left alone."""
    now = now or timezone.now()
    requeued, failed = [], []
    for download in Download.objects.filter(status=Status.QUEUED, created_at__lte=now - GRACE).order_by("pk"):
        if task_state(download.task_id) != TASK_GONE:
            continue
        lock = download_lock(download.pk)
        if not lock.acquire(wait=False):
            continue
        try:
            if download.requeued < MAX_REQUEUES:
                if Download.objects.filter(pk=download.pk, status=Status.QUEUED, task_id=download.task_id).update(
                    requeued=download.requeued + 1, task_id="", stage=REQUEUED_STAGE
                ):
                    requeued.append(download.pk)
                    transaction.on_commit(lambda pk=download.pk: _enqueue(pk))
            elif Download.objects.filter(pk=download.pk, status=Status.QUEUED).update(
                status=Status.FAILED, finished_at=now, stage=gettext_noop("失败"), error=LOST_REASON
            ):
                failed.append(download.pk)
        finally:
            lock.release()
    if requeued or failed:
        logger.warning("Queued downloads whose task vanished: requeued %s, failed %s", requeued, failed)
    return requeued, failed


def clean_up_downloads(now: dt.datetime | None = None) -> CleanedDownloads:
    requeued, lost = recover_vanished_downloads(now)
    return CleanedDownloads(
        expired=expire_downloads(now), interrupted=mark_interrupted_downloads(now), requeued=requeued, lost=lost
    )
