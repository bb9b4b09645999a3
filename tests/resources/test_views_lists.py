"""The plan-check list, the elimination review list and the elimination actions on the household page:
scoped to the user's region, 404 outside it, auditors read only."""

import datetime as dt
import re

import pytest
from django.urls import reverse

from povertycloud.accounts.models import Role
from resources.models import EliminationCase
from tests.conftest import _user
from tests.factories import TOWNSHIP_A, VILLAGE_B
from tests.resources.builders import measure, monitored, today
from tests.resources.eligible import eligible_household

pytestmark = pytest.mark.django_db


@pytest.fixture
def households(regions):
    in_a = monitored(risk_types=",09,", head="西江户")
    measure(in_a)
    in_b = monitored(village=VILLAGE_B, risk_types=",10,", head="郎德户")
    measure(in_b)
    return in_a, in_b


def test_an_official_sees_only_the_checks_of_own_township(client, official_a, households):
    in_a, in_b = households
    client.force_login(official_a)
    html = client.get(reverse("resources:checks")).content.decode()
    assert f'data-household-id="{in_a.pk}"' in html
    assert f'data-household-id="{in_b.pk}"' not in html
    assert "住房安全保障" in html


def test_county_staff_see_checks_grouped_per_township_and_can_filter(client, county_staff, households):
    in_a, in_b = households
    client.force_login(county_staff)
    html = client.get(reverse("resources:checks")).content.decode()
    assert html.count('data-testid="township-group"') == 2
    filtered = client.get(reverse("resources:checks"), {"township": "522634103000"}).content.decode()
    assert f'data-household-id="{in_b.pk}"' in filtered and f'data-household-id="{in_a.pk}"' not in filtered


def test_an_official_cannot_pick_another_township(client, official_a, households):
    client.force_login(official_a)
    html = client.get(reverse("resources:checks"), {"township": "522634103000"}).content.decode()
    assert f'data-household-id="{households[1].pk}"' not in html


@pytest.fixture
def application(official_a, official_b):
    household = eligible_household()
    client_case = EliminationCase.objects.create(
        household=household, region_code=household.village_id, method="assisted", visit_date=today(),
        application_reason="x", applied_by=official_a, applied_at=dt.datetime.now(dt.UTC),
    )
    return household, client_case


def test_elimination_list_is_scoped(client, official_a, official_b, auditor, application):
    case = application[1]
    for user, seen in ((official_a, True), (auditor, True), (official_b, False)):
        client.force_login(user)
        html = client.get(reverse("resources:eliminations")).content.decode()
        assert (f'data-case-id="{case.pk}"' in html) is seen


def test_elimination_chain_through_the_page(client, official_a, county_staff, regions):
    reviewer_a = _user("reviewer_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)
    household = eligible_household()
    page = reverse("resources:household", args=[household.pk])
    client.force_login(official_a)
    assert 'data-testid="apply-form"' in client.get(page).content.decode()
    client.post(reverse("resources:elimination_apply", args=[household.pk]),
                {"method": "assisted", "visit_date": (today() - dt.timedelta(days=14)).isoformat(), "reason": "稳定"})
    case = EliminationCase.objects.get(household=household)
    township = reverse("resources:elimination_township", args=[household.pk, case.pk])
    client.force_login(reviewer_a)
    short = client.post(township, {"decision": "approve", "reason": "x", "notice_from": today().isoformat(),
                                   "notice_to": today().isoformat()})
    assert short.status_code == 200 and "不少于 5 天" in short.content.decode()
    client.post(township, {"decision": "approve", "reason": "公示无异议",
                           "notice_from": (today() - dt.timedelta(days=12)).isoformat(),
                           "notice_to": (today() - dt.timedelta(days=6)).isoformat()})
    county = reverse("resources:elimination_county", args=[household.pk, case.pk])
    assert client.post(county, {"decision": "approve", "reason": "同意"}).status_code == 403
    client.force_login(county_staff)
    assert 'data-testid="county-form"' in client.get(page).content.decode()
    client.post(county, {"decision": "approve", "reason": "同意"})
    case.refresh_from_db()
    household.refresh_from_db()
    assert case.status == "approved" and household.monitoring_type == ""
    html = client.get(page).content.decode()
    assert html.count('data-testid="elimination-event"') == 3


def test_elimination_actions_of_another_township_are_404(client, official_b, application):
    household, case = application
    client.force_login(official_b)
    for name in ("resources:elimination_township", "resources:elimination_county"):
        response = client.post(reverse(name, args=[household.pk, case.pk]), {"decision": "approve", "reason": "x"})
        assert response.status_code == 404
    case.refresh_from_db()
    assert case.status == "applied"


def test_auditors_cannot_take_elimination_steps(client, auditor, application):
    household, case = application
    client.force_login(auditor)
    for name in ("resources:elimination_township", "resources:elimination_county"):
        assert client.post(reverse(name, args=[household.pk, case.pk]), {"decision": "approve"}).status_code == 403
    case.refresh_from_db()
    assert case.status == "applied"


def test_lists_need_a_login(client, regions):
    for name in ("resources:checks", "resources:eliminations"):
        assert client.get(reverse(name)).status_code == 302


def test_the_elimination_list_pages_by_key_newest_first(client, official_a, application, monkeypatch):
    household, newest = application
    monkeypatch.setattr("resources.selectors.ELIMINATION_PAGE_SIZE", 2)
    start = newest.applied_at
    older = [
        EliminationCase.objects.create(
            household=household, region_code=household.village_id, method="assisted", visit_date=today(),
            application_reason="x", applied_by=official_a, applied_at=start - dt.timedelta(days=n),
            status=EliminationCase.Status.REJECTED,
        )
        for n in (1, 2, 3)
    ]
    expected = [newest.pk, *(case.pk for case in older)]
    client.force_login(official_a)
    url = reverse("resources:eliminations")

    def ids(response) -> list[int]:
        rows = re.findall(r'data-testid="elimination-row" data-case-id="(\d+)"', response.content.decode())
        return [int(x) for x in rows]

    first = client.get(url, {"status": "all"})
    assert ids(first) == expected[:2]
    after = first.context["page"].next_key
    second = client.get(url, {"status": "all", "after": after})
    assert ids(second) == expected[2:]
    assert second.context["page"].next_key is None
    back = client.get(url, {"status": "all", "before": second.context["page"].previous_key})
    assert ids(back) == expected[:2]
    assert client.get(url, {"status": "all", "after": "not-a-key"}).status_code == 200
