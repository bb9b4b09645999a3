"""The count above the risk list: exact up to a cap read as at most cap + 1 ids, never a COUNT over the run."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from risk import list_selectors
from risk.models import RiskScore
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_B
from tests.risk.review import counts_over_the_run, household, make_run, make_score

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")


@pytest.fixture
def scored(regions):
    run = make_run()
    for i in range(4):
        make_score(run, household(VILLAGE_A, number=f"A-{i}"), 0.9 - i / 10)
    for i in range(3):
        make_score(run, household(VILLAGE_B, number=f"B-{i}"), 0.5 - i / 10)
    return run


def count_text(response) -> str:
    html = response.content.decode()
    start = html.index('data-testid="matching-count"')
    return html[start : html.index("</p>", start)]


def test_the_count_says_how_many_households_match(client, county_staff, scored):
    client.force_login(county_staff)
    assert "符合条件的共 7 户" in count_text(client.get(LIST))
    assert "符合条件的共 4 户" in count_text(client.get(LIST, {"township": TOWNSHIP_A}))


def test_the_count_covers_every_page_not_only_this_one(client, county_staff, scored, monkeypatch):
    monkeypatch.setattr(list_selectors, "PAGE_SIZE", 2)
    client.force_login(county_staff)
    first = client.get(LIST)
    assert len(first.context["page"].rows) == 2 and "符合条件的共 7 户" in count_text(first)
    second = client.get(LIST, {"after": first.context["page"].next_key})
    assert "符合条件的共 7 户" in count_text(second)


def test_beyond_the_cap_the_count_says_more_than(client, county_staff, scored, monkeypatch):
    monkeypatch.setattr(list_selectors, "PAGE_SIZE", 2)
    monkeypatch.setattr(list_selectors, "COUNT_CAP", 5)
    client.force_login(county_staff)
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST)
    assert "符合条件的超过 5 户" in count_text(response)
    sql = "\n".join(query["sql"] for query in captured.captured_queries).upper()
    assert not counts_over_the_run(sql)
    assert "LIMIT 6" in sql  # the cap's ids and one more, no further


def test_capped_count_reads_at_most_cap_plus_one_rows(scored):
    scores = RiskScore.objects.filter(run=scored)
    assert list_selectors.capped_count(scores, 10) == (7, False)
    assert list_selectors.capped_count(scores, 7) == (7, False)
    assert list_selectors.capped_count(scores, 6) == (6, True)
    assert list_selectors.capped_count(scores.none(), 6) == (0, False)


def test_an_official_counts_only_their_township(client, official_a, scored):
    client.force_login(official_a)
    assert "符合条件的共 4 户" in count_text(client.get(LIST))


def test_no_count_when_nothing_matches(client, county_staff, scored):
    client.force_login(county_staff)
    response = client.get(LIST, {"level": "high", "township": TOWNSHIP_A, "monitoring": "3"})
    assert 'data-testid="matching-count"' not in response.content.decode()
    assert "没有符合条件的户" in response.content.decode()
