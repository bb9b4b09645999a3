"""Background runs of the cross-checks (django-tasks; its database backend runs them in `db_worker`), so that a
page queues a run instead of running it in the request.

``enqueue_cross_checks(*, county_code, as_of, by) -> int`` writes the run row (not finished yet) and its task in
one transaction and returns the run's id. The task runs the checks into that row; its progress goes to the cache
(eligibility.services.read_progress: queued → running, done of total checks → succeeded | failed with the
error). A run whose ``finished_at`` is empty has not finished: queued, running, or failed (its progress says).
"""

import datetime as dt
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import translation
from django_tasks import task

from eligibility.models import CrossCheckRun
from eligibility.services import execute_run, publish_progress, start_run


@task()
def run_cross_checks_task(run_id: int, user_id: int | None = None, language: str | None = None) -> dict:
    """Run the active checks into a run that enqueue_cross_checks wrote."""
    run = CrossCheckRun.objects.get(pk=run_id)
    if run.finished_at is not None:
        return {"run": run_id, "ran": False}
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None

    def progress(done: int, total: int, name: str) -> None:
        publish_progress(run_id, done, total, "running" if done < total else "succeeded", check=name)

    try:
        with translation.override(language or settings.LANGUAGE_CODE):
            run = execute_run(run=run, by=user, progress=progress)
    except Exception as exc:
        publish_progress(run_id, 0, 0, "failed", error=f"{type(exc).__name__}: {exc}")
        raise
    return {"run": run.pk, "found": run.hits_found, "new": run.hits_new}


def enqueue_cross_checks(*, county_code: str, as_of: dt.date, by: Any) -> int:
    """Queue a run of the active checks over a county; the run's id (its page follows read_progress)."""
    with transaction.atomic():
        run = start_run(county_code=county_code, as_of=as_of, by=by)
        publish_progress(run.pk, 0, 0, "queued")
        # Under the test settings the task runs here, at once; with the database backend the task's row is
        # written in this transaction, so neither row is ever seen without the other.
        run_cross_checks_task.enqueue(
            run_id=run.pk,
            user_id=by.pk if getattr(by, "is_authenticated", False) else None,
            language=translation.get_language(),
        )
    return run.pk
