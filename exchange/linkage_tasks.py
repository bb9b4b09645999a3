"""Background work of the linkage review: finding candidates once an import has finished."""

import datetime as dt

from django.db import transaction
from django.utils import timezone
from django_tasks import task

from exchange.linkage import find_candidates
from exchange.models import ImportBatch

RETRY_SECONDS = 20
MAX_ATTEMPTS = 180  # an hour of waiting for the import to finish


@task(priority=-1)  # after the imports queued beside it
def find_link_candidates_task(batch_id: int | None = None, region_code: str = "", attempt: int = 0) -> dict:
    """Candidates for one batch's unlinked records (after its import), or for every record under a region."""
    if batch_id is None:
        result = find_candidates(region_code=region_code)
        return {"region": region_code, "unlinked": result.unlinked, "created": result.created}
    batch = ImportBatch.objects.get(pk=batch_id)
    if batch.status in (ImportBatch.Status.RECEIVED, ImportBatch.Status.RUNNING):
        # The import runs in another worker: look again later (a backend that cannot defer runs tasks in
        # order, so it never gets here).
        backend = find_link_candidates_task.get_backend()
        if attempt < MAX_ATTEMPTS and backend.supports_defer:
            later = timezone.now() + dt.timedelta(seconds=RETRY_SECONDS)
            find_link_candidates_task.using(run_after=later).enqueue(batch_id=batch_id, attempt=attempt + 1)
        return {"batch": batch_id, "status": batch.status, "waiting": True}
    if batch.status != ImportBatch.Status.SUCCEEDED:
        return {"batch": batch_id, "status": batch.status}
    result = find_candidates(region_code=batch.region_code, batch=batch)
    return {"batch": batch_id, "unlinked": result.unlinked, "created": result.created}


def enqueue_candidate_search(*, batch: ImportBatch | None = None, region_code: str = "") -> None:
    """After the current transaction commits (and after an import enqueued before it in the same one)."""
    if batch is not None:
        transaction.on_commit(lambda: find_link_candidates_task.enqueue(batch_id=batch.pk))
    else:
        transaction.on_commit(lambda: find_link_candidates_task.enqueue(region_code=region_code))
