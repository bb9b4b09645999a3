"""The county's review quota: county staff of the county change it on a page; evaluation and case opening
read it."""

from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from povertycloud.accounts.models import Role
from povertycloud.audit.models import AuditEvent
from povertycloud.regions.models import Region
from risk import services
from risk.capacity import set_review_quota
from risk.evaluation import evaluate, review_capacity
from risk.models import ReviewCapacity, ReviewQuota, RiskCase
from tests.conftest import PASSWORD, _user
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A, VILLAGE_B
from tests.risk.review import household, make_run, make_score

pytestmark = pytest.mark.django_db
OTHER_COUNTY = "522635000000"


@pytest.fixture
def other_staff(regions):
    Region.objects.create(code=OTHER_COUNTY, name="台江县", level=Region.Level.COUNTY, parent_id="522600000000")
    return _user("other_county_staff", Role.COUNTY_STAFF, OTHER_COUNTY)


def page(code: str = COUNTY) -> str:
    return reverse("risk:quota", args=[code])


def test_county_staff_set_their_countys_quota_and_it_is_audited(client, county_staff):
    client.login(username="county_staff", password=PASSWORD)
    assert client.get(reverse("risk:quota_home")).url == page()
    response = client.post(page(), {"households": "", "share_percent": "12.5"}, follow=True)
    assert "核实名额已保存" in response.content.decode()
    quota = ReviewQuota.objects.get(region_id=COUNTY)
    assert quota.households is None and quota.share == Decimal("0.125") and quota.updated_by == county_staff
    event = AuditEvent.objects.get(entity="risk.reviewquota")
    assert event.actor == county_staff and event.region_code == COUNTY
    assert event.changes["share"] == {"before": None, "after": "0.125"}
    client.post(page(), {"households": "25", "share_percent": ""})
    assert ReviewQuota.objects.get(region_id=COUNTY).households == 25


def test_another_countys_staff_cannot_see_or_change_the_quota(client, other_staff):
    client.login(username="other_county_staff", password=PASSWORD)
    assert client.get(page()).status_code == 404
    assert client.post(page(), {"households": "5"}).status_code == 404
    assert not ReviewQuota.objects.exists()
    with pytest.raises(PermissionDenied):
        set_review_quota(by=other_staff, county=Region.objects.get(code=COUNTY), households=5, share=None)


def test_a_township_official_cannot_change_the_quota(client, official_a):
    client.login(username="official_a", password=PASSWORD)
    assert client.post(page(), {"households": "5"}).status_code in {403, 404}
    assert not ReviewQuota.objects.exists()
    with pytest.raises(PermissionDenied):
        set_review_quota(by=official_a, county=Region.objects.get(code=COUNTY), households=5, share=None)


def test_an_auditor_sees_the_quota_but_cannot_change_it(client, auditor):
    client.login(username="auditor", password=PASSWORD)
    response = client.get(page())
    assert response.status_code == 200 and 'data-testid="quota-form"' not in response.content.decode()
    assert client.post(page(), {"households": "5"}).status_code == 403
    assert not ReviewQuota.objects.exists()


def test_a_quota_needs_a_number_or_a_share_in_range(client, county_staff):
    client.login(username="county_staff", password=PASSWORD)
    assert "请填写" in client.post(page(), {"households": "", "share_percent": ""}).content.decode()
    client.post(page(), {"households": "", "share_percent": "150"})
    assert not ReviewQuota.objects.exists()


def test_evaluation_reads_the_county_quota_where_a_township_sets_nothing(county_staff):
    townships = pd.Series([TOWNSHIP_A] * 10 + [TOWNSHIP_B] * 20)
    y = np.r_[np.ones(5), np.zeros(5), np.ones(2), np.zeros(18)]
    p = np.linspace(1, 0, 30)
    metrics, _ = evaluate(y, p, townships, review_capacity([TOWNSHIP_A, TOWNSHIP_B]))
    assert metrics["flagged"] == 1 + 2  # 10% of each township, the built-in default
    county = Region.objects.get(code=COUNTY)
    set_review_quota(by=county_staff, county=county, households=None, share="0.5")
    metrics, _ = evaluate(y, p, townships, review_capacity([TOWNSHIP_A, TOWNSHIP_B]))
    assert metrics["flagged"] == 5 + 10 and "ReviewQuota" in metrics["capacity"]
    ReviewCapacity.objects.create(region_id=TOWNSHIP_A, households=2)
    set_review_quota(by=county_staff, county=county, households=4, share=None)
    metrics, evaluation = evaluate(y, p, townships, review_capacity([TOWNSHIP_A, TOWNSHIP_B]))
    assert evaluation["townships"][TOWNSHIP_A]["flagged"] == 2  # the township's own capacity wins
    assert evaluation["townships"][TOWNSHIP_B]["flagged"] == 4


def test_case_opening_reads_the_county_quota(county_staff):
    set_review_quota(by=county_staff, county=Region.objects.get(code=COUNTY), households=2, share=None)
    run = make_run()
    for village in (VILLAGE_A, VILLAGE_B):
        for rank in range(4):
            make_score(run, household(village), 0.9 - rank * 0.1)
    services.open_cases_from_run(run=run)
    opened = RiskCase.objects.values_list("region_code", flat=True)
    assert sorted(opened) == [VILLAGE_A, VILLAGE_A, VILLAGE_B, VILLAGE_B]


def test_case_opening_with_a_share_counts_the_runs_households(county_staff):
    set_review_quota(by=county_staff, county=Region.objects.get(code=COUNTY), households=None, share="0.25")
    run = make_run()
    for rank in range(8):
        make_score(run, household(VILLAGE_A), 0.9 - rank * 0.1)
    services.open_cases_from_run(run=run)
    assert RiskCase.objects.count() == 2
