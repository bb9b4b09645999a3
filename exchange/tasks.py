"""Background tasks of the department feeds (django-tasks; its database backend runs them in `db_worker`)."""

import datetime as dt

from django.conf import settings
from django.utils import translation
from django_tasks import task

from exchange import quality
from exchange.models import ImportBatch
from exchange.pipeline import FileRefused, run_import


@task()
def import_department_file_task(batch_id: int, language: str | None = None) -> dict:
    """Run a received batch (an uploaded, stored file); progress goes to the cache for the batch page.
    Reasons and notes are written in `language`, the uploader's (the site's default if not given)."""
    batch = ImportBatch.objects.get(pk=batch_id)
    try:
        with translation.override(language or settings.LANGUAGE_CODE):
            batch = run_import(batch=batch)
    except FileRefused as exc:
        # The batch is marked failed with the reason: the task itself has done its job.
        return {"batch": batch_id, "status": ImportBatch.Status.FAILED, "error": str(exc)}
    if batch.status == ImportBatch.Status.SUCCEEDED:
        quality.request_refresh_for(batch.region_code)
    return {
        "batch": batch.pk,
        "status": batch.status,
        "total": batch.total_rows,
        "accepted": batch.accepted_rows,
        "rejected": batch.rejected_rows,
        "linked": batch.linked_rows,
        "unlinked": batch.unlinked_rows,
    }


@task(priority=-2)  # after the imports and the linkage runs queued beside it: it counts what they wrote
def refresh_quality_counts_task(county_code: str, as_of: str) -> dict:
    """Recompute and store one county's data-quality counts as of a date (exchange.quality)."""
    run = quality.refresh_counts(county_code, dt.date.fromisoformat(as_of))
    return {"county": run.county_code, "as_of": as_of, "seconds": run.seconds}
