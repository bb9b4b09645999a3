"""The risk list says who is already monitored: a 监测对象类别 column, a filter on it, and a toggle that hides the
households in monitoring (a category set; a risk elimination clears it)."""

from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from households.models import Household
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_A2, VILLAGE_B
from tests.risk.review import household, make_run, make_score

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")


def numbers(response) -> list[str]:
    return [row.household.number for row in response.context["page"].rows]


@pytest.fixture
def monitored(regions):
    """Five scored households: two monitored (脱贫不稳定户, 边缘易致贫户), one in the other township monitored as
    突发严重困难户, one never monitored, one whose risk was eliminated (category cleared)."""
    run = make_run()
    made = {
        "unstable": household(VILLAGE_A, number="M-1", household_type="1", monitoring_type="1", risk_types=",01,"),
        "edge": household(VILLAGE_A2, number="M-2", household_type="2", monitoring_type="2", risk_types=",02,"),
        "hardship": household(VILLAGE_B, number="M-3", household_type="2", monitoring_type="3", risk_types=",05,"),
        "never": household(VILLAGE_A, number="N-1", household_type="2"),
        "eliminated": household(VILLAGE_B, number="N-2", household_type="1"),
    }
    for p_return, key in zip([0.9, 0.8, 0.7, 0.6, 0.5], made, strict=True):
        make_score(run, made[key], p_return)
    return made


def test_each_row_shows_the_households_monitoring_category(client, county_staff, monitored):
    client.force_login(county_staff)
    response = client.get(LIST)
    labels = {row.household.number: row.monitoring_label for row in response.context["page"].rows}
    assert labels == {
        "M-1": "脱贫不稳定户",
        "M-2": "边缘易致贫户",
        "M-3": "突发严重困难户",
        "N-1": "非监测对象",
        "N-2": "非监测对象",
    }
    html = response.content.decode()
    assert "监测对象类别" in html and html.count('data-testid="monitoring"') == 5


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"monitoring": "1"}, ["M-1"]),
        ({"monitoring": "3"}, ["M-3"]),
        ({"monitoring": "any"}, ["M-1", "M-2", "M-3"]),
        ({"monitoring": "none"}, ["N-1", "N-2"]),
        ({"hide_monitored": "on"}, ["N-1", "N-2"]),
        ({"hide_monitored": "on", "township": TOWNSHIP_A}, ["N-1"]),
        ({"hide_monitored": "on", "monitoring": "2"}, []),  # both asked: nothing is left
        ({"hide_monitored": ""}, ["M-1", "M-2", "M-3", "N-1", "N-2"]),  # the box unticked hides nothing
    ],
)
def test_filter_and_hide_the_monitored(client, county_staff, monitored, query, expected):
    client.force_login(county_staff)
    assert numbers(client.get(LIST, query)) == expected


def test_a_household_whose_risk_was_eliminated_is_not_hidden(client, county_staff, monitored):
    Household.objects.filter(pk=monitored["unstable"].pk).update(monitoring_type="")  # as county_decision does
    client.force_login(county_staff)
    assert "M-1" in numbers(client.get(LIST, {"hide_monitored": "on"}))


def test_an_unknown_category_is_refused_and_the_list_left_unfiltered(client, county_staff, monitored):
    client.force_login(county_staff)
    response = client.get(LIST, {"monitoring": "9"})
    assert response.status_code == 200
    assert "monitoring" in response.context["form"].errors
    assert numbers(response) == ["M-1", "M-2", "M-3", "N-1", "N-2"]


def test_the_filter_stays_within_the_users_region(client, official_a, monitored):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"monitoring": "any"})) == ["M-1", "M-2"]
    assert numbers(client.get(LIST, {"monitoring": "3"})) == []  # 突发严重困难户 M-3 lies in township B
    assert numbers(client.get(LIST, {"hide_monitored": "on"})) == ["N-1"]


def test_a_link_above_the_list_hides_the_monitored_and_shows_them_again(client, county_staff, monitored):
    client.force_login(county_staff)
    response = client.get(LIST, {"township": TOWNSHIP_A, "sort": "household", "after": '["M-1", 1]', "level": ""})
    toggle = response.context["hide_monitored_toggle"]
    assert parse_qs(toggle) == {"township": [TOWNSHIP_A], "sort": ["household"], "hide_monitored": ["on"]}
    assert 'data-testid="hide-monitored"' in response.content.decode()
    hidden = client.get(LIST + "?" + toggle)
    assert numbers(hidden) == ["N-1"]
    assert parse_qs(hidden.context["hide_monitored_toggle"]) == {"township": [TOWNSHIP_A], "sort": ["household"]}
    assert 'data-testid="show-monitored"' in hidden.content.decode()


def test_when_hiding_leaves_nothing_the_page_offers_to_show_them_again(client, official_a, monitored):
    Household.objects.filter(pk=monitored["never"].pk).update(monitoring_type="2", risk_types=",01,")
    client.force_login(official_a)
    html = client.get(LIST, {"hide_monitored": "on"}).content.decode()
    assert "没有符合条件的户" in html and 'data-testid="show-monitored"' in html
