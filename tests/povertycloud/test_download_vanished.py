"""A queued download whose task vanished (the worker restarted and lost its task row, or the process died between
the commit and the enqueue) is found by the cleanup: queued again once, then failed with a reason the 我的下载 page
shows. The page lists the user's own downloads through the region scope."""

import datetime as dt
from types import SimpleNamespace

import pytest
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from django_tasks.base import TaskResultStatus
from django_tasks.exceptions import TaskResultDoesNotExist

from povertycloud.downloads import services
from povertycloud.downloads.models import Download
from povertycloud.downloads.tasks import prepare_download_task
from tests.factories import TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A2
from tests.households.pages import make_file

pytestmark = pytest.mark.django_db
Status = Download.Status
LIST = reverse("downloads:list")


@pytest.fixture
def files(official_a):
    make_file(official_a, head="王大山", number="A-0001")
    make_file(official_a, village=VILLAGE_A2, head="吴三", number="A-0002")


def queued(user, *, minutes_ago: int = 10, task_id: str = "lost-task", region_code: str = TOWNSHIP_A) -> Download:
    download = Download.objects.create(
        kind="households.list", requested_by=user, region_code=region_code, task_id=task_id
    )
    Download.objects.filter(pk=download.pk).update(created_at=timezone.now() - dt.timedelta(minutes=minutes_ago))
    return download


def test_a_queued_download_whose_task_is_gone_is_queued_again_and_then_prepared(official_a, files, monkeypatch):
    monkeypatch.setattr(services, "task_state", lambda task_id: services.TASK_GONE)
    download = queued(official_a)
    with TestCase.captureOnCommitCallbacks(execute=True):
        cleaned = services.clean_up_downloads()
    assert cleaned.requeued == [download.pk] and cleaned.lost == []
    download.refresh_from_db()
    # The tests' backend runs the new task at once: the download is prepared.
    assert download.requeued == 1 and download.status == Status.SUCCEEDED, download.error


def test_a_download_whose_task_vanished_again_fails_with_a_reason_the_page_shows(client, official_a, monkeypatch):
    monkeypatch.setattr(services, "task_state", lambda task_id: services.TASK_GONE)
    download = queued(official_a)
    Download.objects.filter(pk=download.pk).update(requeued=services.MAX_REQUEUES)
    cleaned = services.clean_up_downloads()
    assert cleaned.lost == [download.pk] and cleaned.requeued == []
    download.refresh_from_db()
    assert download.status == Status.FAILED and download.error == services.LOST_REASON
    client.force_login(official_a)
    page = client.get(LIST).content.decode()
    assert "任务丢失：后台任务已不存在，重新排队后仍未运行，请重新申请。" in page


def test_the_page_says_when_a_download_was_queued_again(client, official_a):
    download = queued(official_a)
    Download.objects.filter(pk=download.pk).update(requeued=1, stage=services.REQUEUED_STAGE)
    client.force_login(official_a)
    page = client.get(LIST).content.decode()
    assert 'data-testid="download-requeued"' in page and "后台任务丢失，已重新排队" in page


def test_downloads_whose_task_waits_or_that_are_new_or_unknown_are_left_alone(official_a, monkeypatch):
    waiting = queued(official_a, task_id="waiting")
    new = queued(official_a, minutes_ago=0, task_id="")
    unknown = queued(official_a, task_id="unknown")
    states = {"waiting": services.TASK_WAITING, "": services.TASK_GONE, "unknown": services.TASK_UNKNOWN}
    monkeypatch.setattr(services, "task_state", lambda task_id: states[task_id])
    cleaned = services.clean_up_downloads()
    assert (cleaned.requeued, cleaned.lost) == ([], [])
    assert set(Download.objects.values_list("status", flat=True)) == {Status.QUEUED}
    assert {d.pk for d in (waiting, new, unknown)} == set(Download.objects.values_list("pk", flat=True))


def test_the_task_state_is_read_from_the_task_backend(monkeypatch):
    task_type = type(prepare_download_task)
    answers = {}

    def get_result(self, task_id):
        answer = answers[task_id]
        if isinstance(answer, Exception):
            raise answer
        return SimpleNamespace(status=answer)

    monkeypatch.setattr(task_type, "get_result", get_result)
    answers.update(
        ready=TaskResultStatus.READY,
        running=TaskResultStatus.RUNNING,
        ended=TaskResultStatus.SUCCESSFUL,
        failed=TaskResultStatus.FAILED,
        missing=TaskResultDoesNotExist("missing"),
        cannot=NotImplementedError(),
    )
    assert services.task_state("ready") == services.task_state("running") == services.TASK_WAITING
    # A task that ended while its download stayed queued never prepared it.
    assert services.task_state("ended") == services.task_state("failed") == services.TASK_GONE
    assert services.task_state("missing") == services.task_state("") == services.TASK_GONE
    assert services.task_state("cannot") == services.TASK_UNKNOWN


def test_the_tests_immediate_backend_cannot_tell_so_nothing_is_touched(official_a):
    download = queued(official_a)
    assert services.task_state(download.task_id) == services.TASK_UNKNOWN
    assert services.clean_up_downloads().requeued == []


def test_a_download_being_prepared_is_not_queued_again(official_a, monkeypatch):
    monkeypatch.setattr(services, "task_state", lambda task_id: services.TASK_GONE)
    download = queued(official_a)

    class Held:
        def acquire(self, wait=True):
            return False

        def release(self):
            raise AssertionError("not acquired")

    monkeypatch.setattr(services, "download_lock", lambda pk: Held())
    assert services.clean_up_downloads().requeued == []
    assert Download.objects.get(pk=download.pk).status == Status.QUEUED


def test_the_page_lists_only_the_users_downloads_within_the_users_region(client, official_a, official_b):
    mine = queued(official_a)
    elsewhere = queued(official_a, region_code=TOWNSHIP_B)  # asked for before the user moved township
    theirs = queued(official_b, region_code=TOWNSHIP_B)
    client.force_login(official_a)
    page = client.get(LIST).content.decode()
    listed = {int(part.split('"')[0]) for part in page.split('data-download-id="')[1:]}
    assert listed == {mine.pk}
    assert elsewhere.pk not in listed and theirs.pk not in listed
    client.force_login(official_b)
    assert client.get(reverse("downloads:file", args=[mine.pk])).status_code == 404


def test_an_administrator_sees_their_own_downloads_whatever_the_region(client, admin_user):
    own = queued(admin_user, region_code="")
    client.force_login(admin_user)
    assert f'data-download-id="{own.pk}"' in client.get(LIST).content.decode()
