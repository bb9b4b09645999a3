"""The auditors' exports go through povertycloud.downloads: the request checks role, region and period and
queues the job; the job writes the same workbook the request used to, row by row; the cleanup expires files."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from households.codes import codebook
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.downloads import services
from povertycloud.downloads.models import Download
from povertycloud.regions.models import Region
from reports import exports
from reports.cleanup import clean_up_interrupted_jobs
from tests.conftest import PASSWORD
from tests.download_helpers import export_file, fetch, run_export
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B
from tests.reports.builders import END, START, small_county

pytestmark = pytest.mark.django_db
EXPORTS = reverse("reports:exports")
KINDS = ["households", "assistance", "quality", "cross_checks", "decisions", "audit"]


@pytest.fixture
def county(regions):
    return small_county()


def data(kind: str, region: str = COUNTY, **extra) -> dict:
    return {"region": region, "start": START.isoformat(), "end": END.isoformat(), "kind": kind, **extra}


def sheets(content: bytes) -> dict[str, list[tuple]]:
    book = load_workbook(io.BytesIO(content))
    return {name: list(book[name].iter_rows(values_only=True)) for name in book.sheetnames}


@pytest.mark.parametrize("kind", KINDS)
def test_the_background_file_holds_what_the_export_in_the_request_held(client, county, auditor, kind):
    _, direct = exports.export(user=auditor, kind=kind, region=Region.objects.get(code=COUNTY), start=START, end=END)
    client.force_login(auditor)
    background = export_file(client, EXPORTS, data(kind))
    assert sheets(background) == sheets(direct)
    assert any(len(rows) > 1 for rows in sheets(background).values()) or kind in ("quality", "cross_checks", "audit")


def test_the_download_records_what_was_asked_and_is_named_as_before(client, county, auditor):
    client.force_login(auditor)
    download = run_export(client, EXPORTS, data("assistance", include_sensitive="on"))
    assert download.kind == "reports.export" and download.region_code == COUNTY
    assert download.parameters == {
        "kind": "assistance",
        "region": COUNTY,
        "start": "2024-01-01",
        "end": "2024-12-31",
        "include_sensitive": False,  # an auditor without sensitive access: masked, decided at request time
    }
    assert download.file_name == "assistance-522634000000-20240101-20241231.xlsx"
    assert fetch(client, download)["Content-Disposition"].endswith(
        'filename="assistance-522634000000-20240101-20241231.xlsx"'
    )
    page = client.get(reverse("downloads:list")).content.decode()
    assert "帮扶资金台账" in page


def test_a_region_outside_the_users_is_refused_at_request_time_and_nothing_is_queued(client, county, official_a):
    township_auditor = User.objects.create_user("auditor_a", password=PASSWORD, role=Role.AUDITOR, region_id=TOWNSHIP_A)
    client.force_login(township_auditor)
    response = client.post(EXPORTS, data("households", region=TOWNSHIP_B))
    assert response.status_code == 200 and "不在您的辖区内" in response.content.decode()
    bad_period = client.post(EXPORTS, {**data("households", region=TOWNSHIP_A), "end": "2023-01-01"})
    assert bad_period.status_code == 200
    assert not Download.objects.exists()
    client.force_login(official_a)  # a township official may not use the auditors' exports at all
    assert client.post(EXPORTS, data("households", region=TOWNSHIP_A)).status_code == 403
    assert not Download.objects.exists()


def test_the_job_reports_progress_and_looks_each_label_up_once(county, auditor, monkeypatch, tmp_path):
    book = codebook()
    calls = []
    original = type(book).label

    def counting(self, codeset, code):
        calls.append((codeset, code))
        return original(self, codeset, code)

    monkeypatch.setattr(type(book), "label", counting)
    monkeypatch.setattr(exports, "PROGRESS_ROWS", 2)
    progress = []
    exports.export_to(
        tmp_path / "out.xlsx",
        user=auditor,
        kind="households",
        region=Region.objects.get(code=COUNTY),
        start=START,
        end=END,
        progress=lambda percent, stage: progress.append(percent),
    )
    assert len(calls) == len(set(calls))  # each (code set, code) once in the whole export
    assert progress and progress[-1] == 95 and all(0 < p <= 95 for p in progress)


def test_the_cleanup_of_jobs_expires_old_downloads(client, county, auditor):
    client.force_login(auditor)
    download = run_export(client, EXPORTS, data("decisions"))
    path = services.stored_file(download)
    Download.objects.filter(pk=download.pk).update(expires_at=download.created_at)
    cleaned = clean_up_interrupted_jobs()
    assert cleaned.expired_downloads == [download.pk] and not path.exists()
    assert Download.objects.get(pk=download.pk).status == Download.Status.EXPIRED
    assert AuditEvent.objects.filter(entity="risk.riskcase", action="export").count() == 1
