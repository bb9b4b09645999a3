"""Exports are prepared in the background (povertycloud.downloads): post the export's form, run the job the
request queued (on commit, as the worker would), then fetch the file from 我的下载 like the user does."""

from django.test import TestCase
from django.urls import reverse

from povertycloud.downloads.models import Download


def run_export(client, url: str, data: dict | None = None, **extra) -> Download:
    """Post an export form and run the download it queues; returns the Download (refreshed)."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        response = client.post(url, data or {}, **extra)
    assert response.status_code == 302, response.content[:500]
    assert response["Location"] == reverse("downloads:list")
    user_id = int(client.session["_auth_user_id"])
    return Download.objects.filter(requested_by_id=user_id).latest("pk")


def fetch(client, download: Download):
    response = client.get(reverse("downloads:file", args=[download.pk]))
    assert response.status_code == 200, download.error
    assert response["Content-Disposition"].startswith("attachment; filename=")
    return response


def export_file(client, url: str, data: dict | None = None, **extra) -> bytes:
    """The bytes of the file an export form produces, fetched from the download view."""
    download = run_export(client, url, data, **extra)
    assert download.status == Download.Status.SUCCEEDED, download.error
    return b"".join(fetch(client, download).streaming_content)
