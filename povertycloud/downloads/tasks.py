"""The background task of downloads (django-tasks; the database backend runs it in `db_worker`)."""

from django_tasks import task

from povertycloud.downloads.services import run_download


@task()
def prepare_download_task(download_id: int) -> dict:
    download = run_download(download_id)
    return {"download": download.pk, "status": download.status, "sha256": download.sha256}
