"""The report pages: dashboard, asking for a report and downloading it, refusals and other regions."""

import datetime as dt

import pytest
from django.urls import reverse

from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from reports.models import Report
from reports.services import report_dir
from tests.conftest import PASSWORD
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B
from tests.reports.builders import END, START, small_county

pytestmark = pytest.mark.django_db


@pytest.fixture
def county(regions):
    return small_county()


def period(region: str = COUNTY, start: dt.date = START, end: dt.date = END) -> dict[str, str]:
    return {"region": region, "start": start.isoformat(), "end": end.isoformat()}


def ask(client, user, data, django_capture_on_commit_callbacks):
    client.force_login(user)
    with django_capture_on_commit_callbacks(execute=True):
        return client.post(reverse("reports:list"), data)


def test_an_auditor_asks_for_a_report_sees_it_finished_and_downloads_its_files(
    client, county, auditor, django_capture_on_commit_callbacks
):
    response = ask(client, auditor, period(), django_capture_on_commit_callbacks)
    report = Report.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("reports:detail", args=[report.pk])
    page = client.get(response["Location"])
    assert page.status_code == 200
    text = page.content.decode()
    assert "已完成" in text and report.data_hash in text and "performance.pdf" in text
    progress = client.get(reverse("reports:progress", args=[report.pk])).json()
    assert progress == {"status": "succeeded", "percent": 100, "label": "已完成", "finished": True}

    download = client.get(reverse("reports:file", args=[report.pk, "performance.xlsx"]))
    assert download.status_code == 200
    assert download["Content-Type"].startswith("application/vnd.openxmlformats")
    assert b"".join(download.streaming_content) == (report_dir(report) / "performance.xlsx").read_bytes()
    event = AuditEvent.objects.get(action="export", entity="reports.report")
    assert (event.actor, event.region_code, event.changes["file"]) == (auditor, COUNTY, "performance.xlsx")
    assert event.changes["data_sha256"] == report.data_hash


def test_a_file_the_manifest_does_not_list_is_not_served(client, county, auditor, django_capture_on_commit_callbacks):
    ask(client, auditor, period(), django_capture_on_commit_callbacks)
    report = Report.objects.get()
    for name in ("manifest.json", "performance.docx", "..%2F..%2Fmanifest.json", "%2E%2E"):
        assert client.get(f"/reports/performance/{report.pk}/files/{name}").status_code == 404, name


def test_a_period_that_ends_before_it_starts_is_refused_in_chinese(client, county, auditor):
    client.force_login(auditor)
    response = client.post(reverse("reports:list"), period(start=dt.date(2024, 6, 1), end=dt.date(2024, 5, 31)))
    assert response.status_code == 200
    assert "统计期截止日不能早于起始日。" in response.content.decode()
    assert not Report.objects.exists()


def test_a_region_outside_the_users_own_is_refused_in_chinese(client, county, official_a):
    client.force_login(official_a)
    response = client.post(reverse("reports:list"), period(region=TOWNSHIP_B))
    assert response.status_code == 200
    assert "“郎德镇”不在您的辖区内，不能生成它的报告。" in response.content.decode()
    assert not Report.objects.exists()


def test_missing_dates_and_an_unknown_region_are_refused_in_chinese(client, county, auditor):
    client.force_login(auditor)
    text = client.post(
        reverse("reports:list"), {"region": "999999999999", "start": "", "end": "2024-13-01"}
    ).content.decode()
    assert "区划代码不存在。" in text
    assert "请填写统计期起始日。" in text
    assert "请输入有效日期" in text
    assert not Report.objects.exists()


def test_a_township_official_reports_on_their_township(client, county, official_a, django_capture_on_commit_callbacks):
    ask(client, official_a, period(region=TOWNSHIP_A), django_capture_on_commit_callbacks)
    report = Report.objects.get()
    assert (report.status, report.region_id) == (Report.Status.SUCCEEDED, TOWNSHIP_A)
    assert report.manifest["row_counts"]["households"] == 3


def test_other_regions_get_404_on_every_report_view(
    client, county, official_a, official_b, django_capture_on_commit_callbacks
):
    ask(client, official_a, period(region=TOWNSHIP_A), django_capture_on_commit_callbacks)
    report = Report.objects.get()
    client.force_login(official_b)
    for url in (
        reverse("reports:detail", args=[report.pk]),
        reverse("reports:progress", args=[report.pk]),
        reverse("reports:file", args=[report.pk, "performance.pdf"]),
        reverse("reports:dashboard") + f"?region={TOWNSHIP_A}&start=2024-01-01&end=2024-12-31",
    ):
        assert client.get(url).status_code == 404, url
    listed = client.get(reverse("reports:list")).content.decode()
    assert f'data-report-id="{report.pk}"' not in listed
    township_auditor = User.objects.create_user("auditor_b", password=PASSWORD, role=Role.AUDITOR, region_id=TOWNSHIP_B)
    client.force_login(township_auditor)
    assert client.get(reverse("reports:detail", args=[report.pk])).status_code == 404
    response = client.post(reverse("reports:exports"), {**period(region=TOWNSHIP_A), "kind": "households"})
    assert response.status_code == 200 and "不在您的辖区内" in response.content.decode()


def test_the_dashboard_charts_the_main_indicators_by_township_and_by_month(client, county, county_staff):
    client.force_login(county_staff)
    response = client.get(reverse("reports:dashboard"), period())
    assert response.status_code == 200
    text = response.content.decode()
    for chart in (
        "chart-township-monitored",
        "chart-township-amount",
        "chart-township-p0",
        "chart-monthly-flows",
        "chart-monthly-amount",
    ):
        assert f'data-testid="{chart}"' in text
    assert 'data-testid="n-monitored">3<' in text
    assert 'data-label="西江镇" data-value="2.0"' in text  # monitored households of 西江镇
    assert 'data-label="郎德镇" data-value="1.0"' in text
    assert "2024-12" in text


def test_the_dashboard_is_computed_once_per_region_and_period_and_says_when(
    client, county, county_staff, auditor, monkeypatch
):
    from reports import services

    calls = []
    real = services.compute_for

    def counted(**kwargs):
        calls.append(kwargs["region"].code)
        return real(**kwargs)

    monkeypatch.setattr(services, "compute_for", counted)
    for user in (county_staff, auditor, county_staff):
        client.force_login(user)
        text = client.get(reverse("reports:dashboard"), period()).content.decode()
        assert 'data-testid="n-monitored">3<' in text and 'data-testid="computed-at"' in text
    client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_A))
    assert calls == [COUNTY, TOWNSHIP_A]


def test_the_dashboard_opens_on_the_users_region_for_this_year(client, county, auditor):
    client.force_login(auditor)
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 200
    assert "雷山县" in response.content.decode()


def test_a_township_official_may_not_open_the_auditors_exports(client, county, official_a):
    client.force_login(official_a)
    assert client.get(reverse("reports:exports")).status_code == 403


def test_anonymous_users_are_sent_to_log_in(client, county):
    response = client.get(reverse("reports:dashboard"))
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
