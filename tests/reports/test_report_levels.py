"""The report page offers a prefecture or a province to whoever's region covers one (its indicators are computed
one county a task); the dashboard and the exports still take a county or a township."""

import pytest
from django.urls import reverse

from reports.models import Report

pytestmark = pytest.mark.django_db
PREFECTURE, PROVINCE = "522600000000", "520000000000"


def _offered(client, name: str) -> str:
    return client.get(reverse(name)).content.decode()


def test_an_administrator_may_ask_for_a_prefectures_or_provinces_report(client, admin_user):
    client.force_login(admin_user)
    page = _offered(client, "reports:list")
    assert f'value="{PREFECTURE}"' in page and f'value="{PROVINCE}"' in page
    dashboard = _offered(client, "reports:dashboard")
    assert f'value="{PREFECTURE}"' not in dashboard  # the dashboard reads stored county snapshots only


def test_county_staff_are_not_offered_the_prefecture_and_asking_is_refused(client, county_staff):
    client.force_login(county_staff)
    assert f'value="{PREFECTURE}"' not in _offered(client, "reports:list")
    response = client.post(
        reverse("reports:list"), {"region": PREFECTURE, "start": "2025-01-01", "end": "2025-12-31"}
    )
    assert response.status_code == 200
    assert "不在您的辖区内" in response.content.decode()
    assert not Report.objects.exists()
