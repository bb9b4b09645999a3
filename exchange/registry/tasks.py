"""The registry import as a background job (django-tasks; its database backend runs it in the worker)."""

from django.conf import settings
from django.utils import translation
from django_tasks import task

from exchange import quality
from exchange.models import ImportBatch
from exchange.readers import FileRefused
from exchange.registry.service import run_registry_import, stored_paths


@task()
def import_registry_task(batch_id: int, language: str | None = None) -> dict:
    """Run a received registry batch from its stored files; progress goes to the cache for the batch page.
    Reasons and notes are written in `language`, the uploader's (the site's default if not given)."""
    batch = ImportBatch.objects.get(pk=batch_id)
    try:
        with translation.override(language or settings.LANGUAGE_CODE):
            batch = run_registry_import(batch=batch, paths=stored_paths(batch), encoding=batch.encoding or None)
    except FileRefused as exc:
        return {"batch": batch_id, "status": ImportBatch.Status.FAILED, "error": str(exc)}
    if batch.status == ImportBatch.Status.SUCCEEDED:
        quality.request_refresh_for(batch.region_code)
    return {
        "batch": batch.pk,
        "status": batch.status,
        "total": batch.total_rows,
        "accepted": batch.accepted_rows,
        "rejected": batch.rejected_rows,
    }
