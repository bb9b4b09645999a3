"""The department import service: one file of one declared department into its record table, with history.

Service API (keyword-only; the command, the background task and the web pages all call these):

``import_department_file(*, department, path, by, region_code, encoding=None, progress=None, period=None)``
    Receive and run in one call; returns the ImportBatch. ``department`` is a declared slug
    (``civil_affairs``, ``health``, ``education`` … see declarations.REGISTRY).
    ``progress(rows_done, rows_total)`` is called per chunk. If a succeeded batch of the same department,
    region and file content (SHA-256) exists, that batch is returned unchanged with
    ``batch.already_imported = True`` and nothing is written.

``receive_department_file(*, department, path, by, region_code, encoding=None, period=None, file_name=None,
api_client=None, full_snapshot=None)``
    Records the upload (status "received") and returns the batch, or the earlier succeeded batch of the same
    file (``already_imported``). An API push names its client (来源可溯) and may be changes only
    (``full_snapshot=False``: nobody it does not list is closed). A web upload stores the file first
    (``store_upload``), calls this, then ``enqueue_import(batch=...)`` to run it as a background task
    (tasks.import_department_file_task).

``run_import(*, batch, progress=None)``
    Runs a received batch: received → running → succeeded | failed. One database transaction holds the
    staging, the merge, the rejected rows, the final counts and the audit event: if the process dies, none of
    it remains and the batch is not "succeeded" (a later run marks it failed, see mark_interrupted_batches).

``read_progress(batch_id)`` → ``{"done": n, "total": m, "stage": ...}`` or None, from the cache key
``import-progress:<batch id>`` that a page polls. Stages: received, validating, merging, succeeded, failed.

A file that cannot be imported at all (missing required columns, unreadable encoding, no valid 统计期, a
period earlier than one that stands, unknown region, an Excel sheet declaring more rows than allowed) raises
``FileRefused`` with a Chinese message; the batch is marked failed with that message in ``batch.error``.
The period comes from the caller or the file's 统计期 column, never from today's date.

Closures are checked inside the import's transaction, after the merge: if a full snapshot would close more
of the region's current records than ImportSettings allows (more than max_closed_percent, and at least
min_closed_for_review), the transaction is rolled back and the batch is left 待确认 (``review``) with the
figures (would_close, region_current, a sample of the records). ``confirm_review(batch=, by=)`` runs the
import again from the stored file in the background with up to that many closures allowed;
``cancel_review(batch=, by=)`` marks it cancelled. Both are audited. Only county staff of the batch's region
and administrators may decide. Row-level faults never refuse a file: the row is kept as a
RejectedRow (original values, reasons) and ``accepted_rows + rejected_rows == total_rows`` always.
"""

import hashlib
import logging
import shutil
import tempfile
import time
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import get_language
from django.utils.translation import gettext as _

from exchange import load
from exchange.declarations import Department, Kind, get_department
from exchange.models import ImportBatch, ImportSettings
from exchange.readers import FileReader, FileRefused, file_facts, match_header
from exchange.validate import FileValidator, parse_period, period_start
from households.codes import codebook
from povertycloud.accounts.permissions import can_upload_department_files
from povertycloud.audit.services import record_event
from povertycloud.db import ProcessLock
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import user_may_see_code

Progress = Callable[[int, int], None]
logger = logging.getLogger(__name__)
PROGRESS_KEY = "import-progress:{}"
PROGRESS_SECONDS = 24 * 3600
LOCK_NAMESPACE = 4104  # PostgreSQL advisory locks: (namespace, batch id) while a batch runs
DEPARTMENT_LOCK_NAMESPACE = 4105  # (namespace, department) for the load transaction: shared by county loads
COUNTY_LOCK_NAMESPACE = 4106  # (namespace, department and county) for a county's (or a township's) load
COUNTY_PREFIX = 6  # a county's region prefix: the first six digits of its codes
Status = ImportBatch.Status
REVIEW_SAMPLE = 1000  # would-close records kept for the review page (the count is exact)


class ClosuresNeedReview(Exception):
    """Raised inside the import's transaction (which it rolls back) when the closures exceed the threshold."""

    def __init__(self, *, would_close: int, region_current: int, sample: list[int], counts: dict[str, int]):
        super().__init__(would_close)
        self.would_close, self.region_current, self.sample, self.counts = would_close, region_current, sample, counts

__all__ = [
    "FileRefused",
    "cancel_review",
    "confirm_review",
    "enqueue_import",
    "import_department_file",
    "mark_interrupted_batches",
    "may_decide_batch",
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
    api_client: Any | None = None,
    full_snapshot: bool | None = None,
) -> ImportBatch:
    declared = get_department(department)
    path = Path(path)
    if not path.is_file():
        raise FileRefused(_("文件不存在：%(path)s") % {"path": path})
    if not Region.objects.filter(code=region_code).exists():
        raise FileRefused(_("区划代码 %(code)s 不存在。") % {"code": region_code})
    if period is not None and not _is_period(period):
        raise FileRefused(_("统计期“%(period)s”应写作 YYYY-MM，如 2025-03。") % {"period": period})
    facts = file_facts(path)
    # The same file is a no-op when a batch of it stands, or waits for its closures to be confirmed. Changes
    # only (an API push) are loaded each time they are sent: a retry is told by its idempotency key.
    earlier = None
    if full_snapshot is not False:
        earlier = (
            ImportBatch.objects.filter(
                Q(full_snapshot__isnull=True) | Q(full_snapshot=True),
                department=declared.slug, region_code=region_code, sha256=facts.sha256,
                status__in=[Status.SUCCEEDED, Status.REVIEW],
            )
            .order_by("-finished_at", "-pk")
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
        uploaded_by=by if getattr(by, "is_authenticated", False) and api_client is None else None,
        api_client=api_client,
        full_snapshot=full_snapshot,
        status=Status.RECEIVED,
    )
    batch.already_imported = False
    _publish(batch, 0, 0, "received")
    return batch


def run_import(*, batch: ImportBatch, progress: Progress | None = None) -> ImportBatch:
    mark_interrupted_batches()
    with RunLock(batch.pk):
        started = ImportBatch.objects.filter(pk=batch.pk, status=Status.RECEIVED).update(
            status=Status.RUNNING, started_at=timezone.now()
        )
        if not started:
            batch.refresh_from_db()
            raise FileRefused(
                _("批次 #%(batch)s 的状态是“%(status)s”，不能再次导入。")
                % {"batch": batch.pk, "status": batch.get_status_display()}
            )
        batch.refresh_from_db()
        batch.already_imported = False
        try:
            _run(batch, progress)
        except ClosuresNeedReview as review:
            _stop_for_review(batch, review)
        except FileRefused as exc:
            _fail(batch, str(exc))
            raise
        except IntegrityError as exc:
            if "batch_file_loaded_once" in str(exc):
                message = _("同一文件已由另一次导入完成，本次未写入任何记录。")
            else:
                # The database's detail names the conflicting row (an ID number, perhaps of another region's
                # record, when another load wrote it at the same time): kept in the log, not in the message.
                logger.exception("Import of batch %s refused by a database constraint", batch.pk)
                message = _(
                    "导入失败，未写入任何记录：写入时与已有或同时写入的记录冲突（可能另一次导入正在修改同一批人员的记录）。"
                    "请稍后重新导入；仍然失败时请联系系统管理员。"
                )
            _fail(batch, message)
            raise FileRefused(message) from exc
        except Exception as exc:
            _fail(batch, _("导入失败，未写入任何记录：%(error)s") % {"error": f"{type(exc).__name__}: {exc}"})
            raise
    return batch


def _run(batch: ImportBatch, progress: Progress | None) -> None:
    department = get_department(batch.department)
    region = Region.objects.get(code=batch.region_code)
    safeguards = ImportSettings.current()
    reader = FileReader(
        Path(batch.stored_file), encoding=batch.encoding or None, max_xlsx_rows=safeguards.max_xlsx_rows
    )
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
        _lock_department(department, batch.region_code)
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
        totals["accepted"] -= counts.foreign
        totals["rejected"] += counts.foreign
        _check_closures(batch, safeguards, loader, counts, totals)
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
                "closures_allowed": batch.closures_allowed,
                "other_region": counts.foreign,
                "linked": counts.linked,
                "unlinked": counts.unlinked,
            },
            note=batch.note,
        )
    timings["commit"] = time.perf_counter() - clock
    report(batch.total_rows, batch.total_rows, "succeeded")


def _choose_period(batch: ImportBatch, department: Department, validator: FileValidator, chunk) -> None:
    """The batch's period from the file's 统计期 column; never today's month. Refused if the file has none."""
    chosen = validator.choose_period(chunk) if chunk is not None else None
    if chosen is None:
        if chunk is not None:
            return  # wait for a chunk with a valid period; rows without one are rejected meanwhile
        column = next((spec.column for spec in department.fields if spec.kind == Kind.PERIOD), None)
        if column is None:
            raise FileRefused(_("没有指定统计期：请在导入时填写统计期（YYYY-MM，如 2025-03）。"))
        raise FileRefused(
            _("文件中没有有效的统计期：“%(column)s”列没有一行写作 YYYY-MM（如 2025-03），"
              "也没有在导入时指定统计期。请补上统计期后重新导入。") % {"column": column}
        )
    batch.period, batch.period_start = chosen, period_start(chosen)
    validator.period = chosen


def _refuse_earlier_period(batch: ImportBatch, department: Department) -> None:
    """Only batches that stand count: a cancelled, failed or rolled-back batch leaves its period free."""
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
            _("统计期 %(period)s 早于本部门已导入的统计期 %(other)s（批次 #%(batch)s），不能再导入较早的数据。")
            % {"period": batch.period, "other": other.period, "batch": other.pk}
        )


def _prefix(region_code: str) -> str:
    region = Region.objects.filter(code=region_code).first()
    return region.prefix if region else region_code


def _check_closures(
    batch: ImportBatch, safeguards: ImportSettings, loader: load.Loader, counts: load.MergeCounts,
    totals: dict[str, int],
) -> None:
    """Raise ClosuresNeedReview (the caller's transaction rolls back) when the closures need confirming.

    A confirmed batch may close up to the number that was reviewed; more than that is reviewed again."""
    closed, current = counts.closed, counts.region_current
    if not safeguards.closures_need_review(closed=closed, current=current):
        return
    if batch.closures_allowed is not None and closed <= batch.closures_allowed:
        return
    raise ClosuresNeedReview(
        would_close=closed,
        region_current=current,
        sample=loader.closure_sample(REVIEW_SAMPLE),
        counts={"total": totals["rows"], "accepted": totals["accepted"], "rejected": totals["rejected"]},
    )


def _stop_for_review(batch: ImportBatch, review: ClosuresNeedReview) -> None:
    """Nothing of the import remains (rolled back); the batch waits for an authorised user's decision."""
    percent = 100 * review.would_close / review.region_current if review.region_current else 100
    note = _(
        "本文件将使本区划 %(current)s 条当前记录中的 %(closed)s 条（%(percent).1f%%）因不再列入而终止，"
        "超过了导入设置允许的比例，未写入任何记录。请核对后确认导入或取消。"
    ) % {"current": review.region_current, "closed": review.would_close, "percent": percent}
    ImportBatch.objects.filter(pk=batch.pk, status=Status.RUNNING).update(
        status=Status.REVIEW,
        finished_at=timezone.now(),
        would_close=review.would_close,
        region_current=review.region_current,
        review_sample=review.sample,
        total_rows=review.counts["total"],
        accepted_rows=review.counts["accepted"],
        rejected_rows=review.counts["rejected"],
        new_versions=0,
        closed_versions=0,
        note=note,
        error="",
    )
    batch.refresh_from_db()
    batch.already_imported = False
    _publish(batch, 0, 0, "review")
    record_event(
        actor=batch.uploaded_by,
        action="import",
        entity=ImportBatch._meta.label_lower,
        object_pk=batch.pk,
        object_repr=f"{batch.department} {batch.file_name}",
        region_code=batch.region_code,
        changes={
            "department": batch.department, "sha256": batch.sha256, "status": Status.REVIEW,
            "would_close": review.would_close, "region_current": review.region_current,
        },
        note=note,
    )


# --- Deciding a batch that waits for its closures to be confirmed ----------------------------------------


def may_decide_batch(user: Any, batch: ImportBatch) -> bool:
    """County staff whose region holds the batch's region, and administrators."""
    return can_upload_department_files(user) and user_may_see_code(user, batch.region_code)


def _require_decider(by: Any, batch: ImportBatch) -> None:
    if not may_decide_batch(by, batch):
        raise PermissionDenied(_("只有本地区的县级工作人员和系统管理员可以处理这个批次。"))


@transaction.atomic
def confirm_review(*, batch: ImportBatch, by: Any) -> ImportBatch:
    """Allow the reviewed closures and run the import again from the stored file, in the background."""
    _require_decider(by, batch)
    allowed = batch.would_close
    if not ImportBatch.objects.filter(pk=batch.pk, status=Status.REVIEW).update(
        status=Status.RECEIVED, closures_allowed=allowed, reviewed_by=by, reviewed_at=timezone.now(),
        error="", finished_at=None,
    ):
        raise ValidationError(_("这个批次已不在待确认状态（可能已由他人处理），本次操作未生效。"), code="decided")
    batch.refresh_from_db()
    record_event(
        actor=by, action="review", entity=ImportBatch._meta.label_lower, object_pk=batch.pk,
        object_repr=f"{batch.department} {batch.file_name}", region_code=batch.region_code,
        changes={"status": {"before": Status.REVIEW, "after": Status.RECEIVED}, "closures_allowed": allowed},
        note=_("确认导入：允许终止 %(n)s 条记录，重新导入。") % {"n": allowed},
    )
    _publish(batch, 0, 0, "received")
    enqueue_import(batch=batch)
    return batch


@transaction.atomic
def cancel_review(*, batch: ImportBatch, by: Any, reason: str = "") -> ImportBatch:
    """Leave the file unimported; the batch keeps its row and figures as 已取消."""
    _require_decider(by, batch)
    reason = (reason or "").strip()[:1000]
    if not ImportBatch.objects.filter(pk=batch.pk, status=Status.REVIEW).update(
        status=Status.CANCELLED, reviewed_by=by, reviewed_at=timezone.now()
    ):
        raise ValidationError(_("这个批次已不在待确认状态（可能已由他人处理），本次操作未生效。"), code="decided")
    batch.refresh_from_db()
    record_event(
        actor=by, action="review", entity=ImportBatch._meta.label_lower, object_pk=batch.pk,
        object_repr=f"{batch.department} {batch.file_name}", region_code=batch.region_code,
        changes={"status": {"before": Status.REVIEW, "after": Status.CANCELLED}, "would_close": batch.would_close},
        note=reason or _("取消导入。"),
    )
    _publish(batch, 0, 0, "cancelled")
    return batch


def _note(header, totals: dict[str, int], counts: load.MergeCounts) -> str:
    parts = [
        _("新增 %(new)s 人，内容变更 %(changed)s 人，未变 %(unchanged)s 人，不再列入而终止 %(closed)s 人。")
        % {"new": counts.new, "changed": counts.changed, "unchanged": counts.unchanged, "closed": counts.closed}
    ]
    if counts.closing_skipped:
        parts.append(str(_("文件没有接收的行，未终止任何记录。")))
    if counts.foreign:
        parts.append(
            str(_("%(n)s 行的人员已在其他地区登记，未导入（见拒收行）。")) % {"n": counts.foreign}
        )
    if counts.relinked:
        parts.append(_("原未关联的 %(count)s 条当前记录已关联到人。") % {"count": counts.relinked})
    if header.extra:
        parts.append(_("忽略了声明以外的列：%(columns)s。") % {"columns": "、".join(header.extra)})
    if header.absent_optional:
        parts.append(
            _("文件没有这些可选列（按空值处理）：%(columns)s。") % {"columns": "、".join(header.absent_optional)}
        )
    if totals["blank"]:
        parts.append(_("跳过了 %(count)s 个空行。") % {"count": totals["blank"]})
    # Chinese sentences end in "。" and need no space between them; translated ones do.
    return "".join(part if part.endswith("。") else part + " " for part in parts).rstrip()


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
    """YYYY-MM with the years a file's 统计期 may have (1900–2100)."""
    return parse_period(text) == text


# --- Progress ------------------------------------------------------------------------------------------


def _publish(batch: ImportBatch, done: int, total: int, stage: str) -> None:
    publish_progress(batch.pk, done, total, stage)


def publish_progress(batch_id: int, done: int, total: int, stage: str) -> None:
    cache.set(PROGRESS_KEY.format(batch_id), {"done": done, "total": total, "stage": stage}, PROGRESS_SECONDS)


def read_progress(batch_id: int) -> dict | None:
    return cache.get(PROGRESS_KEY.format(batch_id))


# --- Running batches whose process died ----------------------------------------------------------------


def RunLock(batch_id: int) -> ProcessLock:
    """Held while a batch runs (povertycloud.db.ProcessLock), so that a later run tells a live batch from one
    whose process was killed."""
    return ProcessLock(LOCK_NAMESPACE, batch_id, file_name=f"import-batch-{batch_id}.lock")


def mark_interrupted_batches() -> list[int]:
    """Running batches whose process is gone become failed (their transaction rolled back: nothing stays)."""
    marked = []
    for batch_id in ImportBatch.objects.filter(status=Status.RUNNING).values_list("pk", flat=True):
        lock = RunLock(batch_id)
        if not lock.acquire(wait=False):
            continue
        try:
            if ImportBatch.objects.filter(pk=batch_id, status=Status.RUNNING).update(
                status=Status.FAILED,
                finished_at=timezone.now(),
                error=_("导入进程在完成前中断，本批次没有写入任何记录；请重新导入该文件。"),
            ):
                marked.append(batch_id)
                publish_progress(batch_id, 0, 0, "failed")
        finally:
            lock.release()
    return marked


def _lock_department(department: Department, region_code: str) -> None:
    """One load at a time per department and county: two merges in one county would both try to open the same
    current versions. Counties' loads of a department run side by side (a province's ninety monthly files of
    one department need not queue behind each other): a county's versions, their changes and closures, lie in
    that county, and a staged row of a person registered elsewhere is rejected before the merge. A batch above
    county level (a prefecture's or province's file) takes the department's whole lock: it waits for the
    counties' loads and they for it."""
    if connection.vendor != "postgresql":
        return  # SQLite: the transaction holds the database's write lock from its start (transaction_mode IMMEDIATE)
    department_key = _lock_key(department.slug)
    prefix = _prefix(region_code)
    with connection.cursor() as cursor:
        if len(prefix) < COUNTY_PREFIX:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [DEPARTMENT_LOCK_NAMESPACE, department_key])
            return
        cursor.execute("SELECT pg_advisory_xact_lock_shared(%s, %s)", [DEPARTMENT_LOCK_NAMESPACE, department_key])
        county_key = _lock_key(f"{department.slug}:{prefix[:COUNTY_PREFIX]}")
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [COUNTY_LOCK_NAMESPACE, county_key])


def _lock_key(text: str) -> int:
    return zlib.crc32(text.encode()) & 0x7FFFFFFF


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
    """Run a received batch in the background once the current transaction commits, in the language active
    now (the uploader's): the batch's reasons and notes are written in it."""
    from exchange.tasks import import_department_file_task

    language = get_language()
    transaction.on_commit(lambda: import_department_file_task.enqueue(batch.pk, language=language))

