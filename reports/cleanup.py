"""Interrupted background jobs: imports, reports and risk jobs whose task is gone are marked failed, with the
reason, so that they can be started again. Reports sits above exchange and risk, so the one cleanup lives
here and calls each app's own function; `manage.py cleanup_jobs` runs it once, `manage.py run_worker` runs
it when the worker starts and then every few minutes beside it.

"Gone" is decided from django-tasks' database backend (DBTaskResult rows) and from the run locks that a
running job holds (risk.jobs), never from a job's age alone: a long job whose process is alive is left alone.

- Imports (exchange.ImportBatch): a running batch whose process no longer holds its run lock
  (exchange.pipeline.mark_interrupted_batches); a received batch whose task row is gone or ended without
  running it. The batch page then says why; the same file can be uploaded again (the same-file check only
  counts batches that stand).
- Reports (reports.Report): reports.services.mark_interrupted_reports; the report's page offers to
  generate it again.
- Risk jobs (risk.Job: the risk-list refresh, training): risk.jobs.mark_interrupted_jobs; the risk list
  and the models page offer to start them again.
- Downloads (povertycloud.downloads: exports prepared in the background): running ones whose process no
  longer holds their lock are marked failed, and files past DOWNLOAD_RETENTION_HOURS are deleted (the
  download shows as expired) (povertycloud.downloads.services.clean_up_downloads).
"""

import logging
from dataclasses import dataclass, field

from django.utils import timezone

from exchange.models import ImportBatch
from exchange.pipeline import mark_interrupted_batches
from povertycloud.downloads.services import clean_up_downloads
from reports.services import mark_interrupted_reports
from risk.jobs import (
    fail_task_row,
    interrupted_message,
    mark_interrupted_jobs,
    task_gone,
    task_row,
    uses_database_tasks,
)

logger = logging.getLogger(__name__)
IMPORT_TASK = "exchange.tasks.import_department_file_task"


@dataclass
class Cleaned:
    imports: list[int] = field(default_factory=list)
    reports: list[int] = field(default_factory=list)
    risk_jobs: list[int] = field(default_factory=list)
    downloads: list[int] = field(default_factory=list)
    expired_downloads: list[int] = field(default_factory=list)

    @property
    def total(self) -> int:
        return len(self.imports) + len(self.reports) + len(self.risk_jobs) + len(self.downloads)


def _mark_lost_received_batches() -> list[int]:
    """Received batches that no task will ever run: their task row is gone or ended without running them."""
    if not uses_database_tasks():
        return []
    marked = []
    reason = interrupted_message()
    for batch in ImportBatch.objects.filter(status=ImportBatch.Status.RECEIVED):
        row = task_row(task_path=IMPORT_TASK, first_arg=batch.pk)
        # A received batch's task is READY (waiting) or just claimed; no lock to ask before it runs.
        if not task_gone(row=row, requested_at=batch.uploaded_at, lock=None):
            continue
        if ImportBatch.objects.filter(pk=batch.pk, status=ImportBatch.Status.RECEIVED).update(
            status=ImportBatch.Status.FAILED, finished_at=timezone.now(), error=reason
        ):
            marked.append(batch.pk)
    return marked


def _fail_import_task_rows(batch_ids: list[int]) -> None:
    for batch_id in batch_ids:
        fail_task_row(task_row(task_path=IMPORT_TASK, first_arg=batch_id), interrupted_message())


def clean_up_interrupted_jobs() -> Cleaned:
    """Mark every interrupted import, report and risk job failed; returns what was marked."""
    running = mark_interrupted_batches()
    _fail_import_task_rows(running)
    cleaned = Cleaned(
        imports=sorted([*running, *_mark_lost_received_batches()]),
        reports=mark_interrupted_reports(),
        risk_jobs=mark_interrupted_jobs(),
    )
    downloads = clean_up_downloads()
    cleaned.downloads, cleaned.expired_downloads = downloads.interrupted, downloads.expired
    if cleaned.total:
        logger.warning(
            "Interrupted jobs marked failed: imports %s, reports %s, risk jobs %s, downloads %s",
            cleaned.imports,
            cleaned.reports,
            cleaned.risk_jobs,
            cleaned.downloads,
        )
    return cleaned
