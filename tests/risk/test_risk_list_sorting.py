"""Sorting the risk list by its column headers: whitelisted keys, either direction, a stable tiebreak on id,
the order kept in the pager and header links, and an unknown key the default order without an error."""

import json
from urllib.parse import parse_qs

import pytest
from django.urls import reverse

from risk import list_selectors
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_A2, VILLAGE_B
from tests.risk.review import household, make_run, make_score

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")


def numbers(response) -> list[str]:
    return [row.household.number for row in response.context["page"].rows]


@pytest.fixture
def sortable(regions):
    """Five households: two with the same p_return (the tiebreak), categories and villages mixed."""
    run = make_run()
    made = [
        ("C-3", VILLAGE_B, "", 0.40, 0.10),
        ("C-1", VILLAGE_A2, "2", 0.70, 0.30),
        ("C-5", VILLAGE_A, "1", 0.70, 0.20),
        ("C-2", VILLAGE_A, "", 0.20, 0.90),
        ("C-4", VILLAGE_B, "3", 0.90, 0.05),
    ]
    households = {}
    for number, village, category, p_return, p_poor in made:
        kind = "1" if category == "1" else "2"
        households[number] = household(
            village, number=number, household_type=kind, monitoring_type=category, risk_types=",01," * bool(category)
        )
        make_score(run, households[number], p_return, p_poor=p_poor)
    return households


def test_default_order_is_return_probability_then_the_newer_id_first(client, county_staff, sortable):
    client.force_login(county_staff)
    # C-1 and C-5 tie at 0.70: the higher id (C-5, made later) first, the same on every load.
    assert numbers(client.get(LIST)) == ["C-4", "C-5", "C-1", "C-3", "C-2"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"sort": "p_poor"}, ["C-2", "C-1", "C-5", "C-3", "C-4"]),
        ({"sort": "p_poor", "dir": "asc"}, ["C-4", "C-3", "C-5", "C-1", "C-2"]),
        ({"sort": "p_return", "dir": "asc"}, ["C-2", "C-3", "C-1", "C-5", "C-4"]),
        ({"sort": "household"}, ["C-1", "C-2", "C-3", "C-4", "C-5"]),
        ({"sort": "household", "dir": "desc"}, ["C-5", "C-4", "C-3", "C-2", "C-1"]),
        # by village code (township, then village), highest risk first within a village
        ({"sort": "village"}, ["C-5", "C-2", "C-1", "C-4", "C-3"]),
        ({"sort": "village", "dir": "desc"}, ["C-4", "C-3", "C-1", "C-5", "C-2"]),
        # the monitored first by category code (3, 2, 1), then 非监测对象; highest risk first within each
        ({"sort": "category"}, ["C-4", "C-1", "C-5", "C-3", "C-2"]),
        ({"sort": "category", "dir": "asc"}, ["C-3", "C-2", "C-5", "C-1", "C-4"]),
        ({"sort": "household", "township": TOWNSHIP_A}, ["C-1", "C-2", "C-5"]),
    ],
)
def test_sorts(client, county_staff, sortable, query, expected):
    client.force_login(county_staff)
    assert numbers(client.get(LIST, query)) == expected


@pytest.mark.parametrize(
    "query",
    [
        {"sort": "DROP TABLE"},
        {"sort": "household__number"},  # a lookup, not a key of the whitelist
        {"sort": "-p_return"},
        {"sort": "p_return", "dir": "sideways"},
    ],
)
def test_an_unknown_sort_is_the_default_order_without_an_error(client, county_staff, sortable, query):
    client.force_login(county_staff)
    response = client.get(LIST, query)
    assert response.status_code == 200
    assert numbers(response) == ["C-4", "C-5", "C-1", "C-3", "C-2"]
    assert not response.context["form"].errors
    assert "errorlist" not in response.content.decode()


def test_header_links_keep_the_filters_and_reverse_the_order_now(client, county_staff, sortable):
    client.force_login(county_staff)
    response = client.get(LIST, {"township": TOWNSHIP_A, "sort": "household", "after": '["C-1", 0.7, 1]'})
    links = response.context["sort_links"]
    household_link = parse_qs(links["household"].query)
    assert household_link == {"township": [TOWNSHIP_A], "sort": ["household"], "dir": ["desc"]}  # no page key
    assert links["household"].active and links["household"].aria_sort == "ascending"
    p_poor = parse_qs(links["p_poor"].query)
    assert p_poor == {"township": [TOWNSHIP_A], "sort": ["p_poor"], "dir": ["desc"]}  # its own way first
    assert not links["p_poor"].active and links["p_poor"].aria_sort == "none"
    html = response.content.decode()
    assert 'data-testid="sort-household"' in html and 'aria-sort="ascending"' in html
    assert numbers(client.get(LIST + "?" + links["household"].query)) == ["C-5", "C-2", "C-1"]


def test_pages_keep_the_order_forward_and_back(client, county_staff, sortable, monkeypatch):
    monkeypatch.setattr(list_selectors, "PAGE_SIZE", 2)
    client.force_login(county_staff)
    query = {"sort": "category", "dir": "asc"}
    first = client.get(LIST, query)
    assert numbers(first) == ["C-3", "C-2"]
    html = first.content.decode()
    pager = html[html.index('data-testid="pager"') :]
    assert "sort=category" in pager and "dir=asc" in pager
    second = client.get(LIST, {**query, "after": first.context["page"].next_key})
    assert numbers(second) == ["C-5", "C-1"]
    third = client.get(LIST, {**query, "after": second.context["page"].next_key})
    assert numbers(third) == ["C-4"] and third.context["page"].next_key is None
    back = client.get(LIST, {**query, "before": third.context["page"].previous_key})
    assert numbers(back) == ["C-5", "C-1"]
    again = client.get(LIST, {**query, "before": back.context["page"].previous_key})
    assert numbers(again) == ["C-3", "C-2"] and again.context["page"].is_first


def test_pages_by_household_number_ascending_and_descending(client, county_staff, sortable, monkeypatch):
    monkeypatch.setattr(list_selectors, "PAGE_SIZE", 3)
    client.force_login(county_staff)
    for direction, expected in (
        ("asc", ["C-1", "C-2", "C-3", "C-4", "C-5"]),
        ("desc", ["C-5", "C-4", "C-3", "C-2", "C-1"]),
    ):
        query = {"sort": "household", "dir": direction}
        first = client.get(LIST, query)
        second = client.get(LIST, {**query, "after": first.context["page"].next_key})
        assert numbers(first) + numbers(second) == expected


@pytest.mark.parametrize(
    "key",
    [
        "nonsense",
        "[]",
        '["C-1", 0.7]',
        '["C-1", "0.7", 1]',
        "[1, 0.7, 1]",
        '["C-1", 0.7, true]',
        "{}",
        '["C-1", NaN, 1]',
    ],
)
def test_bad_page_keys_of_a_sort_are_ignored(client, county_staff, sortable, key):
    client.force_login(county_staff)
    response = client.get(LIST, {"sort": "household", "after": key})
    assert response.status_code == 200
    assert numbers(response) == ["C-1", "C-2", "C-3", "C-4", "C-5"]


def test_a_run_without_a_return_model_sorts_its_other_keys_by_poor_now(client, county_staff, regions):
    run = make_run(with_return=False)
    a = household(VILLAGE_A, number="D-1")
    b = household(VILLAGE_A, number="D-2")
    make_score(run, a, None, p_poor=0.2)
    score_b = make_score(run, b, None, p_poor=0.6)
    client.force_login(county_staff)
    assert numbers(client.get(LIST, {"sort": "village"})) == ["D-2", "D-1"]
    assert numbers(client.get(LIST, {"sort": "p_return", "dir": "asc"})) == ["D-1", "D-2"]  # by p_poor
    response = client.get(LIST, {"sort": "category", "after": json.dumps(["", 0.6, score_b.pk])})
    assert numbers(response) == ["D-1"]  # the key: category, p_poor, the score's id


def test_an_official_sorting_sees_only_their_township(client, official_a, sortable):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"sort": "household", "dir": "desc"})) == ["C-5", "C-2", "C-1"]
    assert numbers(client.get(LIST, {"sort": "village", "township": "522634103000"})) == ["C-5", "C-2", "C-1"]
