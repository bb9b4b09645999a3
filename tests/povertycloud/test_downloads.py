"""Downloads prepared in the background (povertycloud.downloads): the job, who may fetch a file, the page,
the header's badge, failures, interruptions and expiry. The household-list export is the producer used."""

import datetime as dt
import io
import threading

import openpyxl
import pytest
import tablib
from django.core.cache import cache
from django.db import connection
from django.test import TestCase
from django.urls import reverse
from django.utils import timezone
from import_export.formats.base_formats import XLSX

from households.models import Household
from households.spreadsheets import HouseholdMemberResource, sheet_rows
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.downloads import registry, services
from povertycloud.downloads.models import Download
from povertycloud.regions.scoping import scope_for_user
from tests.conftest import PASSWORD
from tests.download_helpers import fetch, run_export
from tests.factories import TOWNSHIP_A, VILLAGE_A2, VILLAGE_B
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db
EXPORT = reverse("households:export")
LIST = reverse("downloads:list")
Status = Download.Status


def file_url(download: Download) -> str:
    return reverse("downloads:file", args=[download.pk])


def rows_of(content: bytes) -> list[tuple]:
    return list(openpyxl.load_workbook(io.BytesIO(content)).worksheets[0].iter_rows(values_only=True))


@pytest.fixture
def files(official_a, official_b):
    mine = make_file(official_a, head="王大山", number="A-0001", phone="13812345678", bank_account="6222020200112233")
    add_spouse(official_a, mine, name="@SUM(A1)", health=",2,", work_place="-2+3")
    make_file(official_a, village=VILLAGE_A2, head="吴三", number="A-0002")
    make_file(official_b, village=VILLAGE_B, head="杨其他", number="B-0001")


@pytest.fixture
def ready(client, official_a, files) -> Download:
    client.force_login(official_a)
    download = run_export(client, EXPORT)
    assert download.status == Status.SUCCEEDED
    return download


# --- The job -------------------------------------------------------------------------------------------


def test_the_background_file_holds_the_same_rows_as_the_export_made_in_the_request(client, official_a, files):
    """The old in-request export (import-export's dataset through tablib) and the write-only one agree."""
    for sensitive in (False, True):
        resource = HouseholdMemberResource(user=official_a, include_sensitive=sensitive)
        dataset = resource.export(queryset=sheet_rows(scope_for_user(Household.objects.all(), official_a), official_a))
        before = rows_of(XLSX().export_data(dataset))
        client.force_login(official_a)
        download = run_export(client, EXPORT, {"include_sensitive": "1"} if sensitive else {})
        after = rows_of(b"".join(fetch(client, download).streaming_content))
        assert after == before
        assert len(after) == 1 + 3  # the headers, 王大山 and spouse, 吴三
    assert isinstance(dataset, tablib.Dataset)


def test_the_job_records_the_file_its_size_hash_and_expiry(client, ready, settings):
    path = services.stored_file(ready)
    assert path is not None and path.parent == services.downloads_dir()
    assert ready.size == path.stat().st_size and len(ready.sha256) == 64
    assert ready.progress == 100 and ready.finished_at is not None
    assert ready.expires_at - ready.finished_at == dt.timedelta(hours=settings.DOWNLOAD_RETENTION_HOURS)
    assert ready.parameters == {"filters": {}, "include_sensitive": False, "format": "xlsx"}
    assert not list(services.downloads_dir().glob("*.part"))


def test_the_request_only_queues_the_job_until_it_commits(client, official_a, files):
    client.force_login(official_a)
    with TestCase.captureOnCommitCallbacks(execute=False) as callbacks:
        response = client.post(EXPORT, {"village": VILLAGE_A2})
    assert response.status_code == 302 and response["Location"] == LIST
    download = Download.objects.get()
    assert (download.status, download.kind, download.region_code) == (Status.QUEUED, "households.list", TOWNSHIP_A)
    assert download.parameters["filters"] == {"village": VILLAGE_A2}
    assert len(callbacks) == 1
    assert not AuditEvent.objects.filter(action="export").exists()  # the export is audited when it is written


def test_a_failing_producer_marks_the_download_failed_with_the_reason(official_a):
    def broken(download, path, progress):
        progress(10, "half way")
        path.write_bytes(b"partial")
        raise RuntimeError("磁盘已满")

    registry.register("tests.broken", broken)
    try:
        with TestCase.captureOnCommitCallbacks(execute=True):
            download = services.request_download(by=official_a, kind="tests.broken")
    finally:
        registry._PRODUCERS.pop("tests.broken")
    download.refresh_from_db()
    assert download.status == Status.FAILED
    assert download.error == "RuntimeError: 磁盘已满" and download.finished_at is not None
    assert services.stored_file(download) is None
    assert not list(services.downloads_dir().glob("*"))


def test_an_unknown_kind_is_refused_and_a_kind_whose_producer_is_gone_fails(official_a):
    with pytest.raises(ValueError):
        services.request_download(by=official_a, kind="no.such.kind")
    orphan = Download.objects.create(kind="no.such.kind", requested_by=official_a)
    assert services.run_download(orphan.pk).status == Status.FAILED
    assert "no.such.kind" in Download.objects.get(pk=orphan.pk).error


def test_a_download_already_started_is_not_run_again(ready):
    again = services.run_download(ready.pk)
    assert (again.status, again.sha256) == (Status.SUCCEEDED, ready.sha256)


# --- Who may fetch a file ------------------------------------------------------------------------------


def test_the_requester_fetches_the_file_and_each_fetch_is_audited(client, official_a, ready):
    response = fetch(client, ready)
    assert response["Cache-Control"] == "no-store"
    event = AuditEvent.objects.get(entity="downloads.download")
    assert (event.actor, event.action, event.object_pk) == (official_a, "export", str(ready.pk))
    assert event.changes["sha256"] == ready.sha256
    assert AuditEvent.objects.filter(action="export", entity="households.household").count() == 1
    fetch(client, ready)
    assert AuditEvent.objects.filter(entity="downloads.download").count() == 2


def test_another_user_of_the_same_region_or_another_region_gets_404(client, ready, county_staff, official_b, auditor):
    for other in (county_staff, official_b, auditor):
        client.force_login(other)
        assert client.get(file_url(ready)).status_code == 404, other
        assert f'data-download-id="{ready.pk}"' not in client.get(LIST).content.decode()
    assert not AuditEvent.objects.filter(entity="downloads.download").exists()


def test_an_administrator_may_fetch_anyones_file_without_marking_it_fetched(client, ready, admin_user):
    client.force_login(admin_user)
    assert client.get(file_url(ready)).status_code == 200
    ready.refresh_from_db()
    assert ready.fetched_at is None
    assert AuditEvent.objects.get(entity="downloads.download").actor == admin_user


def test_an_anonymous_visitor_is_sent_to_log_in(client, ready):
    client.logout()
    assert client.get(file_url(ready)).status_code == 302
    assert client.get(LIST).status_code == 302


def test_a_file_not_ready_or_missing_or_unknown_is_404(client, official_a, ready):
    queued = Download.objects.create(kind="households.list", requested_by=official_a)
    assert client.get(file_url(queued)).status_code == 404
    assert client.get(reverse("downloads:file", args=[999999])).status_code == 404
    services.stored_file(ready).unlink()
    assert client.get(file_url(ready)).status_code == 404


def test_posting_to_the_file_is_refused(client, ready):
    assert client.post(file_url(ready)).status_code == 405


# --- The page and the badge ----------------------------------------------------------------------------


def test_the_page_lists_only_the_users_own_downloads(client, official_a, official_b, ready):
    theirs = Download.objects.create(kind="households.list", requested_by=official_b)
    running = Download.objects.create(
        kind="households.list", requested_by=official_a, status=Status.RUNNING, progress=40
    )
    page = client.get(LIST).content.decode()
    assert f'data-download-id="{ready.pk}"' in page and f'data-download-id="{running.pk}"' in page
    assert f'data-download-id="{theirs.pk}"' not in page
    assert file_url(ready) in page
    assert 'data-testid="download-progress"' in page and 'data-testid="downloads-refresh"' in page
    client.force_login(official_b)
    page = client.get(LIST).content.decode()
    assert f'data-download-id="{theirs.pk}"' in page and f'data-download-id="{ready.pk}"' not in page


def test_the_page_does_not_refresh_when_nothing_is_running(client, ready):
    assert 'data-testid="downloads-refresh"' not in client.get(LIST).content.decode()


def test_the_header_badge_counts_files_ready_and_not_yet_fetched(client, official_a, ready):
    page = client.get(reverse("households:list")).content.decode()
    assert 'data-testid="nav-downloads"' in page
    assert 'data-testid="downloads-ready"' in page and f">{services.ready_count(official_a)}<" in page
    assert services.ready_count(official_a) == 1
    fetch(client, ready)
    assert services.ready_count(official_a) == 0
    assert 'data-testid="downloads-ready"' not in client.get(reverse("households:list")).content.decode()


def test_the_badge_is_read_from_the_cache_once_counted(client, official_a, ready, django_assert_num_queries):
    services.ready_count(official_a)
    with django_assert_num_queries(0):
        assert services.ready_count(official_a) == 1
    cache.clear()
    with django_assert_num_queries(1):
        assert services.ready_count(official_a) == 1


# --- Cleaning up ---------------------------------------------------------------------------------------


def test_files_past_their_retention_are_deleted_and_show_as_expired(client, ready):
    path = services.stored_file(ready)
    assert services.expire_downloads() == []
    later = ready.expires_at + dt.timedelta(seconds=1)
    assert services.clean_up_downloads(now=later).expired == [ready.pk]
    ready.refresh_from_db()
    assert ready.status == Status.EXPIRED and not path.exists()
    assert client.get(file_url(ready)).status_code == 404
    page = client.get(LIST).content.decode()
    assert 'data-status="expired"' in page and file_url(ready) not in page


def test_an_expired_file_is_not_served_even_before_the_cleanup_ran(client, ready):
    Download.objects.filter(pk=ready.pk).update(expires_at=timezone.now() - dt.timedelta(minutes=1))
    assert client.get(file_url(ready)).status_code == 404


def test_a_running_download_whose_process_is_gone_is_marked_failed(official_a):
    started = timezone.now() - dt.timedelta(minutes=10)
    gone = Download.objects.create(kind="households.list", requested_by=official_a, status=Status.RUNNING)
    fresh = Download.objects.create(kind="households.list", requested_by=official_a, status=Status.RUNNING)
    queued = Download.objects.create(kind="households.list", requested_by=official_a)
    Download.objects.filter(pk=gone.pk).update(started_at=started)
    Download.objects.filter(pk=fresh.pk).update(started_at=timezone.now())
    alive = Download.objects.create(kind="households.list", requested_by=official_a, status=Status.RUNNING)
    Download.objects.filter(pk=alive.pk).update(started_at=started)
    # A live process holds its lock: left alone. It is held from another thread, which has its own database
    # connection: PostgreSQL's advisory locks are re-entrant within one connection.
    holding, done = threading.Event(), threading.Event()

    def hold() -> None:
        lock = services.download_lock(alive.pk)
        try:
            if lock.acquire(wait=False):
                holding.set()
                done.wait(30)
                lock.release()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert holding.wait(30)
        assert services.clean_up_downloads().interrupted == [gone.pk]
    finally:
        done.set()
        holder.join()
    statuses = dict(Download.objects.values_list("pk", "status"))
    assert statuses == {
        gone.pk: Status.FAILED,
        fresh.pk: Status.RUNNING,
        queued.pk: Status.QUEUED,
        alive.pk: Status.RUNNING,
    }
    assert "任务中断" in Download.objects.get(pk=gone.pk).error


def test_a_user_who_may_not_reveal_gets_a_masked_file_even_when_asking(client, regions, files):
    auditor = User.objects.create_user("plain_auditor", password=PASSWORD, role=Role.AUDITOR, region_id=TOWNSHIP_A)
    client.force_login(auditor)
    download = run_export(client, EXPORT, {"include_sensitive": "1"})
    assert download.parameters["include_sensitive"] is False
    rows = rows_of(b"".join(fetch(client, download).streaming_content))
    phones = {row[rows[0].index("联系电话")] for row in rows[1:]}
    assert "13812345678" not in phones


def test_the_household_export_looks_each_code_label_up_once(official_a, files, monkeypatch):
    from households.codes import codebook
    from households.spreadsheets import export_workbook

    book = codebook()
    calls = []
    original = type(book).label_zh

    def counting(self, codeset, code):
        calls.append((codeset, code))
        return original(self, codeset, code)

    monkeypatch.setattr(type(book), "label_zh", counting)
    export_workbook(user=official_a, households=Household.objects.all())
    assert calls and len(calls) == len(set(calls))
