"""The department import service: one file of one declared department into its record table, with history.

Service API (keyword-only; the command, the background task and the web pages all call these):

``import_department_file(*, department, path, by, region_code, encoding=None, progress=None, period=None)``
    Receive and run in one call; returns the ImportBatch. ``department`` is a declared slug
    (``civil_affairs``, ``health``, ``education`` … see declarations.REGISTRY).
    ``progress(rows_done, rows_total)`` is called per chunk. If a succeeded batch of the same department,
    region and file content (SHA-256) exists, that batch is returned unchanged with
    ``batch.already_imported = True`` and nothing is written.

``receive_department_file(*, department, path, by, region_code, encoding=None, period=None, file_name=None)``
    Records the upload (status "received") and returns the batch, or the earlier succeeded batch of the same
    file (``already_imported``). A web upload stores the file first (``store_upload``), calls this, then
    ``enqueue_import(batch=...)`` to run it as a background task (tasks.import_department_file_task).

``run_import(*, batch, progress=None)``
    Runs a received batch: received → running → succeeded | failed. One database transaction holds the
    staging, the merge, the rejected rows, the final counts and the audit event: if the process dies, none of
    it remains and the batch is not "succeeded" (a later run marks it failed, see mark_interrupted_batches).

``read_progress(batch_id)`` → ``{"done": n, "total": m, "stage": ...}`` or None, from the cache key
``import-progress:<batch id>`` that a page polls. Stages: received, validating, merging, succeeded, failed.

A file that cannot be imported at all (missing required columns, unreadable encoding, a period earlier than
one already imported, unknown region) raises ``FileRefused`` with a Chinese message; the batch is marked
failed with that message in ``batch.error``. Row-level faults never refuse a file: the row is kept as a
RejectedRow (original values, reasons) and ``accepted_rows + rejected_rows == total_rows`` always.
"""

import fcntl
import hashlib
import re
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from exchange import load
from exchange.declarations import Department, Kind, get_department
from exchange.models import ImportBatch
from exchange.readers import FileReader, FileRefused, file_facts, match_header
from exchange.validate import FileValidator, period_start
from households.codes import codebook
from povertycloud.audit.services import record_event
from povertycloud.regions.models import Region

Progress = Callable[[int, int], None]
PROGRESS_KEY = "import-progress:{}"
PROGRESS_SECONDS = 24 * 3600
LOCK_NAMESPACE = 4104  # PostgreSQL advisory locks: (namespace, batch id) while a batch runs
DEPARTMENT_LOCK_NAMESPACE = 4105  # (namespace, department) for the load transaction
Status = ImportBatch.Status

__all__ = [
    "FileRefused",
    "enqueue_import",
    "import_department_file",
    "mark_interrupted_batches",
    "read_progress",
    "receive_department_file",
    "run_import",
    "store_upload",
]


def import_department_file(
    *,
    department: str,
    path: Path,
    by: Any | None,
    region_code: str,
    encoding: str | None = None,
    progress: Progress | None = None,
    period: str | None = None,
) -> ImportBatch:
    batch = receive_department_file(
        department=department, path=path, by=by, region_code=region_code, encoding=encoding, period=period
    )
    if batch.already_imported:
        return batch
    return run_import(batch=batch, progress=progress)


def receive_department_file(
    *,
    department: str,
    path: Path,
    by: Any | None,
    region_code: str,
    encoding: str | None = None,
    period: str | None = None,
    file_name: str | None = None,
) -> ImportBatch:
    declared = get_department(department)
    path = Path(path)
    if not path.is_file():
        raise FileRefused(f"文件不存在：{path}")
    if not Region.objects.filter(code=region_code).exists():
        raise FileRefused(f"区划代码 {region_code} 不存在。")
    if period is not None and not _is_period(period):
        raise FileRefused(f"统计期“{period}”应写作 YYYY-MM，如 2025-03。")
    facts = file_facts(path)
    earlier = (
        ImportBatch.objects.filter(
            department=declared.slug, region_code=region_code, sha256=facts.sha256, status=Status.SUCCEEDED
        )
        .order_by("-finished_at")
        .first()
    )
    if earlier is not None:
        earlier.already_imported = True
        return earlier
    batch = ImportBatch.objects.create(
        department=declared.slug,
        file_name=(file_name or path.name)[:255],
        stored_file=str(path.resolve()),
        sha256=facts.sha256,
        size_bytes=facts.size_bytes,
        file_format="",
        encoding=encoding or "",
        period=period or "",
        period_start=period_start(period) if period else None,
        region_code=region_code,
        uploaded_by=by if getattr(by, "is_authenticated", False) else None,
        status=Status.RECEIVED,
    )
    batch.already_imported = False
    _publish(batch, 0, 0, "received")
    return batch


def run_import(*, batch: ImportBatch, progress: Progress | None = None) -> ImportBatch:
    mark_interrupted_batches()
    with _RunLock(batch.pk):
        started = ImportBatch.objects.filter(pk=batch.pk, status=Status.RECEIVED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        if not started:
            batch.refresh_from_db()
            raise FileRefused(f"批次 #{batch.pk} 的状态是“{batch.get_status_display()}”，不能再次导入。")
        batch.refresh_from_db()
        batch.already_imported = False
        try:
            _run(batch, progress)
        except FileRefused as exc:
            _fail(batch, str(exc))
            raise
        except IntegrityError as exc:
            if "batch_file_loaded_once" in str(exc):
                message = "同一文件已由另一次导入完成，本次未写入任何记录。"
            else:
                message = f"导入失败，未写入任何记录：{exc}"
            _fail(batch, message)
            raise FileRefused(message) from exc
        except Exception as exc:
            _fail(batch, f"导入失败，未写入任何记录：{type(exc).__name__}: {exc}")
            raise
    return batch


def _run(batch: ImportBatch, progress: Progress | None) -> None:
    department = get_department(batch.department)
    region = Region.objects.get(code=batch.region_code)
    reader = FileReader(Path(batch.stored_file), encoding=batch.encoding or None)
    header = match_header(department, reader.headers)
    if reader.format == "xlsx":
        total_estimate = reader.xlsx_row_count()
    else:
        total_estimate = max(file_facts(Path(batch.stored_file)).line_count - 1, 0)
    batch.file_format, batch.encoding = reader.format, reader.encoding
    ImportBatch.objects.filter(pk=batch.pk).update(file_format=batch.file_format, encoding=batch.encoding)

    def report(done: int, total: int, stage: str) -> None:
        _publish(batch, done, total, stage)
        if progress is not None:
            progress(done, total)

    report(0, total_estimate, "validating")
    validator = FileValidator(
        department=department,
        codes=codebook(),
        positions=header.positions,
        headers=header.headers,
        period=batch.period or None,
        today=timezone.localdate(),
    )
    totals = {"rows": 0, "accepted": 0, "rejected": 0, "blank": 0}
    timings = batch.timings = {}
    clock = time.perf_counter()
    with transaction.atomic():
        _lock_department(department)
        if batch.period:
            _refuse_earlier_period(batch, department)
        loader: load.Loader | None = None
        next_row = 1
        try:
            for chunk in reader.chunks():
                if not batch.period:
                    _choose_period(batch, department, validator, chunk)
                    if batch.period:
                        _refuse_earlier_period(batch, department)
                if loader is None:
                    # Started once the period (and so the start of the new versions) is known.
                    loader = load.Loader(department=department, batch=batch, region_prefix=region.prefix)
                    loader.start()
                outcome = validator.validate(chunk, next_row)
                next_row += len(chunk)
                loader.add(outcome)
                totals["rows"] += outcome.total
                totals["accepted"] += outcome.accepted_count
                totals["rejected"] += len(outcome.rejected)
                totals["blank"] += outcome.skipped_blank
                report(next_row - 1, max(total_estimate, next_row - 1), "validating")
            if not batch.period:
                _choose_period(batch, department, validator, None)
                _refuse_earlier_period(batch, department)
            if loader is None:
                loader = load.Loader(department=department, batch=batch, region_prefix=region.prefix)
                loader.start()
            timings["read_validate"] = time.perf_counter() - clock
            report(totals["rows"], totals["rows"], "merging")
            counts = loader.finish()
        except BaseException:
            if loader is not None:
                loader.abort()
            raise
        timings.update(counts.seconds)
        clock = time.perf_counter()
        batch.total_rows, batch.accepted_rows, batch.rejected_rows = (
            totals["rows"], totals["accepted"], totals["rejected"]
        )
        batch.new_versions, batch.closed_versions = counts.new_versions, counts.closed
        batch.linked_rows, batch.unlinked_rows = counts.linked, counts.unlinked
        batch.note = _note(header, totals, counts)
        batch.status, batch.finished_at, batch.error = Status.SUCCEEDED, timezone.now(), ""
        batch.save()
        record_event(
            actor=batch.uploaded_by,
            action="import",
            entity=ImportBatch._meta.label_lower,
            object_pk=batch.pk,
            object_repr=f"{department.name} {batch.file_name}",
            region_code=batch.region_code,
            changes={
                "department": department.slug,
                "period": batch.period,
                "sha256": batch.sha256,
                "total": batch.total_rows,
                "accepted": batch.accepted_rows,
                "rejected": batch.rejected_rows,
                "new": counts.new,
                "changed": counts.changed,
                "unchanged": counts.unchanged,
                "closed": counts.closed,
                "linked": counts.linked,
                "unlinked": counts.unlinked,
            },
            note=batch.note,
        )
    timings["commit"] = time.perf_counter() - clock
    report(batch.total_rows, batch.total_rows, "succeeded")


def _choose_period(batch: ImportBatch, department: Department, validator: FileValidator, chunk) -> None:
    chosen = validator.choose_period(chunk) if chunk is not None else None
    if chosen is None:
        if chunk is not None and any(spec.kind == Kind.PERIOD for spec in department.fields):
            return  # wait for a chunk with a valid period; rows without one are rejected meanwhile
        chosen = timezone.localdate().strftime("%Y-%m")
    batch.period, batch.period_start = chosen, period_start(chosen)
    validator.period = chosen


def _refuse_earlier_period(batch: ImportBatch, department: Department) -> None:
    later = [
        other
        for other in ImportBatch.objects.filter(
            department=department.slug, status=Status.SUCCEEDED, period_start__gt=batch.period_start
        ).only("pk", "period", "region_code")
        if other.region_code.startswith(_prefix(batch.region_code))
        or batch.region_code.startswith(_prefix(other.region_code))
    ]
    if later:
        other = max(later, key=lambda b: b.period)
        raise FileRefused(
            f"统计期 {batch.period} 早于本部门已导入的统计期 {other.period}（批次 #{other.pk}），"
            f"不能再导入较早的数据。"
        )


def _prefix(region_code: str) -> str:
    region = Region.objects.filter(code=region_code).first()
    return region.prefix if region else region_code


def _note(header, totals: dict[str, int], counts: load.MergeCounts) -> str:
    parts = [
        f"新增 {counts.new} 人，内容变更 {counts.changed} 人，未变 {counts.unchanged} 人，"
        f"不再列入而终止 {counts.closed} 人。"
    ]
    if counts.relinked:
        parts.append(f"原未关联的 {counts.relinked} 条当前记录已关联到人。")
    if header.extra:
        parts.append(f"忽略了声明以外的列：{'、'.join(header.extra)}。")
    if header.absent_optional:
        parts.append(f"文件没有这些可选列（按空值处理）：{'、'.join(header.absent_optional)}。")
    if totals["blank"]:
        parts.append(f"跳过了 {totals['blank']} 个空行。")
    return "".join(parts)


def _fail(batch: ImportBatch, message: str) -> None:
    ImportBatch.objects.filter(pk=batch.pk).exclude(status=Status.SUCCEEDED).update(
        status=Status.FAILED, error=message, finished_at=timezone.now()
    )
    batch.refresh_from_db()
    batch.already_imported = False
    _publish(batch, 0, 0, "failed")
    record_event(
        actor=batch.uploaded_by,
        action="import",
        entity=ImportBatch._meta.label_lower,
        object_pk=batch.pk,
        object_repr=f"{batch.department} {batch.file_name}",
        region_code=batch.region_code,
        changes={"department": batch.department, "sha256": batch.sha256, "status": "failed"},
        note=message,
    )


def _is_period(text: str) -> bool:
    return re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text) is not None


# --- Progress ------------------------------------------------------------------------------------------


def _publish(batch: ImportBatch, done: int, total: int, stage: str) -> None:
    _publish_id(batch.pk, done, total, stage)


def _publish_id(batch_id: int, done: int, total: int, stage: str) -> None:
    cache.set(PROGRESS_KEY.format(batch_id), {"done": done, "total": total, "stage": stage}, PROGRESS_SECONDS)


def read_progress(batch_id: int) -> dict | None:
    return cache.get(PROGRESS_KEY.format(batch_id))


# --- Running batches whose process died ----------------------------------------------------------------


class _RunLock:
    """Held while a batch runs: a PostgreSQL advisory lock, or (SQLite, one machine) a lock on a file.

    The operating system or the database frees it when the process dies, which is how a later run tells a
    batch that is still running from one whose process was killed.
    """

    def __init__(self, batch_id: int):
        self.batch_id = batch_id
        self.handle = None

    def acquire(self, *, wait: bool) -> bool:
        if connection.vendor == "postgresql":
            function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {function}(%s, %s)", [LOCK_NAMESPACE, self.batch_id])
                got = cursor.fetchone()[0]
            return got is not False
        directory = Path(settings.VAR_DIR) / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        self.handle = (directory / f"import-batch-{self.batch_id}.lock").open("a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self.handle.close()
            self.handle = None
            return False
        return True

    def release(self) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [LOCK_NAMESPACE, self.batch_id])
        elif self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def __enter__(self):
        self.acquire(wait=True)
        return self

    def __exit__(self, *exc):
        self.release()


def mark_interrupted_batches() -> list[int]:
    """Running batches whose process is gone become failed (their transaction rolled back: nothing stays)."""
    marked = []
    for batch_id in ImportBatch.objects.filter(status=Status.RUNNING).values_list("pk", flat=True):
        lock = _RunLock(batch_id)
        if not lock.acquire(wait=False):
            continue
        try:
            if ImportBatch.objects.filter(pk=batch_id, status=Status.RUNNING).update(
                status=Status.FAILED,
                finished_at=timezone.now(),
                error="导入进程在完成前中断，本批次没有写入任何记录；请重新导入该文件。",
            ):
                marked.append(batch_id)
                _publish_id(batch_id, 0, 0, "failed")
        finally:
            lock.release()
    return marked


def _lock_department(department: Department) -> None:
    """One load at a time per department: two merges would both try to open the current versions."""
    if connection.vendor == "postgresql":
        key = zlib.crc32(department.slug.encode()) & 0x7FFFFFFF
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DEPARTMENT_LOCK_NAMESPACE, key])
    # SQLite: the transaction holds the database's write lock from its start (transaction_mode IMMEDIATE).


# --- Uploads and background runs -----------------------------------------------------------------------


def store_upload(*, uploaded_file, department: str) -> Path:
    """Keep an uploaded file (a Django UploadedFile) under MEDIA_ROOT/feeds/, named by its content."""
    directory = Path(settings.MEDIA_ROOT) / "feeds" / get_department(department).slug
    directory.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=directory, suffix=".partial", delete=False) as out:
        for block in uploaded_file.chunks():
            digest.update(block)
            out.write(block)
        partial = Path(out.name)
    suffix = Path(uploaded_file.name).suffix.lower()[:8]
    final = directory / f"{digest.hexdigest()}{suffix}"
    shutil.move(partial, final)
    return final


def enqueue_import(*, batch: ImportBatch) -> None:
    """Run a received batch in the background once the current transaction commits."""
    from exchange.tasks import import_department_file_task

    transaction.on_commit(lambda: import_department_file_task.enqueue(batch.pk))

