"""Re-scoring the county (更新风险名单) asks for confirmation first and says how long it will take: the
duration of the previous completed refresh of the same scope, or households × a measured rate."""

import datetime as dt
import math

import pytest
from django.urls import reverse
from django.utils import timezone

from risk import jobs, model_selectors
from risk.models import Job
from tests.factories import COUNTY, VILLAGE_A, VILLAGE_B
from tests.risk.review import household

pytestmark = pytest.mark.django_db


@pytest.fixture
def started(monkeypatch):
    """start_job recorded instead of run: what matters here is whether the view starts one."""
    calls = []
    monkeypatch.setattr(model_selectors, "missing_active_models", lambda: "")
    finished = Job(kind=Job.Kind.REFRESH, status=Job.Status.SUCCEEDED)
    monkeypatch.setattr(jobs, "start_job", lambda **kwargs: calls.append(kwargs) or finished)
    return calls


def finished_job(*, seconds: float, region_code: str = COUNTY, status: str = Job.Status.SUCCEEDED, ago_days=1):
    end = timezone.now() - dt.timedelta(days=ago_days)
    made = Job.objects.create(kind=Job.Kind.REFRESH, status=status, region_code=region_code)
    Job.objects.filter(pk=made.pk).update(started_at=end - dt.timedelta(seconds=seconds), finished_at=end)
    made.refresh_from_db()
    return made


def test_the_button_leads_to_a_confirmation_that_starts_nothing(client, county_staff, started):
    client.force_login(county_staff)
    response = client.post(reverse("risk:refresh"))
    assert response.status_code == 200 and started == []
    html = response.content.decode()
    assert 'data-testid="refresh-confirm"' in html and 'name="confirm" value="yes"' in html
    assert "预计用时" in html and not Job.objects.exists()


def test_confirming_starts_the_job_of_the_user_s_county(client, county_staff, started):
    client.force_login(county_staff)
    response = client.post(reverse("risk:refresh"), {"confirm": "yes"})
    assert response.status_code == 302
    assert len(started) == 1 and started[0]["region_code"] == COUNTY and started[0]["kind"] == Job.Kind.REFRESH


@pytest.mark.parametrize("value", ["", "no", "YES", "1"])
def test_anything_but_confirm_yes_starts_nothing(client, county_staff, started, value):
    client.force_login(county_staff)
    assert client.post(reverse("risk:refresh"), {"confirm": value}).status_code == 200
    assert started == []


def test_the_estimate_is_the_previous_completed_refresh_of_the_same_scope(client, county_staff, started):
    finished_job(seconds=150, ago_days=3)
    finished_job(seconds=95, ago_days=1)  # the latest: this one counts
    finished_job(seconds=4000, region_code="")  # another scope
    finished_job(seconds=3000, status=Job.Status.FAILED, ago_days=0)  # not completed
    estimate = jobs.refresh_estimate(COUNTY)
    assert estimate.from_previous and estimate.seconds == 95
    client.force_login(county_staff)
    html = client.post(reverse("risk:refresh")).content.decode()
    assert 'data-basis="previous"' in html and 'data-seconds="95"' in html
    assert "预计用时：约 2 分钟。" in html and "同一范围上次完成的更新" in html


def test_without_a_previous_run_the_estimate_is_households_times_the_rate(client, county_staff, started, regions):
    for number in range(3):
        household(VILLAGE_A, number=f"A-{number}")
    household(VILLAGE_B, number="B-1")
    estimate = jobs.refresh_estimate(COUNTY)
    assert not estimate.from_previous and estimate.households == 4
    assert estimate.seconds == math.ceil(jobs.MINIMUM_SECONDS + 4 * jobs.SECONDS_PER_HOUSEHOLD)
    assert jobs.refresh_estimate("522634101000").households == 3  # one township's scope
    client.force_login(county_staff)
    html = client.post(reverse("risk:refresh")).content.decode()
    assert 'data-basis="rate"' in html and "按 4 户 × 每户约" in html


def test_a_large_county_is_estimated_in_minutes_and_hours():
    assert jobs.duration_text(0) == "约 1 秒"
    assert jobs.duration_text(58.2) == "约 59 秒"
    assert jobs.duration_text(59.2) == "约 1 分钟"
    assert jobs.duration_text(61) == "约 2 分钟"
    assert jobs.duration_text(3600) == "约 1 小时"
    assert jobs.duration_text(5000) == "约 1 小时 24 分钟"
    # 259,843 households (the benchmark county) at the measured rate: about a minute and a half
    assert 85 < jobs.MINIMUM_SECONDS + 259_843 * jobs.SECONDS_PER_HOUSEHOLD < 100


@pytest.mark.parametrize("role", ["official_a", "auditor"])
def test_officials_and_auditors_cannot_confirm_a_refresh(request, client, role, started):
    client.force_login(request.getfixturevalue(role))
    assert client.post(reverse("risk:refresh"), {"confirm": "yes"}).status_code == 403
    assert client.post(reverse("risk:refresh")).status_code == 403
    assert started == []


def test_the_confirmation_needs_a_post(client, county_staff, started):
    client.force_login(county_staff)
    assert client.get(reverse("risk:refresh"), {"confirm": "yes"}).status_code == 405
    assert started == []
