"""The risk list: the latest run's scores with their cases, filters, sort, keyset pages, no COUNT."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from risk import list_selectors
from risk.models import ReviewCapacity, RiskCase
from tests.factories import TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A, VILLAGE_A2, VILLAGE_B
from tests.risk.review import counts_over_the_run, household, make_case, make_rule, make_run, make_score, today

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")
Status = RiskCase.Status


def numbers(response) -> list[str]:
    return [row.household.number for row in response.context["page"].rows]


@pytest.fixture
def listed(regions):
    """A finished run over the county: three households in township A, two in township B, with cases."""
    old = make_run(as_of=today() - dt.timedelta(days=40))
    run = make_run()
    rule = make_rule("health-self-pay", risk_type="01", name="医疗自付费用高")
    made = {
        "a1": household(VILLAGE_A, head="王大山", number="A-1"),
        "a2": household(VILLAGE_A2, head="李小红", number="A-2", risk_types=",07,"),
        "a3": household(VILLAGE_A, head="张有田", number="A-3"),
        "b1": household(VILLAGE_B, head="杨其他", number="B-1"),
        "b2": household(VILLAGE_B, head="吴二", number="B-2"),
    }
    scores = {
        "a1": make_score(run, made["a1"], 0.91, p_poor=0.20, level="high"),
        "a2": make_score(run, made["a2"], 0.55, p_poor=0.70, level="high"),
        "a3": make_score(run, made["a3"], 0.10, p_poor=0.05, level="low", factors=[]),
        "b1": make_score(run, made["b1"], 0.60, p_poor=0.10, level="high"),
        "b2": make_score(run, made["b2"], 0.30, p_poor=0.40, level="medium"),
    }
    make_score(old, made["a3"], 0.99)  # an older run is not the list
    cases = {
        "a1": make_case(
            made["a1"],
            opened_on=today() - dt.timedelta(days=20),
            score=scores["a1"],
            warning_rules=[rule.code],
        ),
        "a2": make_case(made["a2"], status=Status.VERIFYING, opened_on=today() - dt.timedelta(days=2)),
        "b1": make_case(made["b1"], status=Status.EXCLUDED, opened_on=today() - dt.timedelta(days=30)),
    }
    ReviewCapacity.objects.create(region_id=TOWNSHIP_A, households=12)
    return {"run": run, "households": made, "scores": scores, "cases": cases, "rule": rule}


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_county_staff_see_the_latest_run_sorted_by_return_probability(client, county_staff, listed):
    client.force_login(county_staff)
    response = client.get(LIST)
    assert response.status_code == 200
    assert numbers(response) == ["A-1", "B-1", "A-2", "B-2", "A-3"]
    html = response.content.decode()
    assert "91.0%" in html and "20.0%" in html  # both probabilities
    assert "人均纯收入低于监测线" in html  # top factors, in words
    assert "医疗自付费用高" in html  # the case's warning rules
    assert "核实中" in html and "排除" in html and "未立核实" in html


def test_sort_by_probability_of_being_poor_now(client, county_staff, listed):
    client.force_login(county_staff)
    assert numbers(client.get(LIST, {"sort": "p_poor"})) == ["A-2", "B-2", "A-1", "B-1", "A-3"]


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"township": TOWNSHIP_A}, ["A-1", "A-2", "A-3"]),
        ({"township": TOWNSHIP_B}, ["B-1", "B-2"]),
        ({"level": "high"}, ["A-1", "B-1", "A-2"]),
        ({"level": "low"}, ["A-3"]),
        ({"risk_type": "07"}, ["A-2"]),  # the household's recorded risk type
        ({"risk_type": "01"}, []),
        ({"rule": "health-self-pay"}, ["A-1"]),
        ({"status": "warned"}, ["A-1"]),
        ({"status": "verifying"}, ["A-2"]),
        ({"status": "open"}, ["A-1", "A-2"]),
        ({"status": "overdue"}, ["A-1"]),
        ({"status": "excluded"}, ["B-1"]),
        ({"status": "monitored"}, []),
        ({"status": "none"}, ["B-2", "A-3"]),
        ({"township": TOWNSHIP_A, "level": "high", "sort": "p_poor"}, ["A-2", "A-1"]),
    ],
)
def test_filters(client, county_staff, listed, query, expected):
    client.force_login(county_staff)
    assert numbers(client.get(LIST, query)) == expected


def test_risk_type_filter_also_finds_warnings_of_that_type(client, county_staff, listed):
    from tests.risk.review import make_warning

    make_warning(listed["rule"], listed["households"]["b2"], as_of=today())
    client.force_login(county_staff)
    assert numbers(client.get(LIST, {"risk_type": "01"})) == ["B-2"]


def test_overdue_cases_stand_out(client, county_staff, listed):
    client.force_login(county_staff)
    html = client.get(LIST).content.decode()
    row_start = html.index(f'data-household-id="{listed["households"]["a1"].pk}"')
    row = html[html.rindex("<tr", 0, row_start) : html.index("</tr>", row_start)]
    assert 'class="overdue"' in row and "已超期" in row and "超期 5 天" in row
    other = html.index(f'data-household-id="{listed["households"]["a2"].pk}"')
    other_row = html[html.rindex("<tr", 0, other) : html.index("</tr>", other)]
    assert "已超期" not in other_row and "剩 13 天" in other_row


def test_township_summary_shows_capacity_open_and_overdue(client, county_staff, listed):
    client.force_login(county_staff)
    summary = {row.township.code: row for row in client.get(LIST).context["summary"]}
    a, b = summary[TOWNSHIP_A], summary[TOWNSHIP_B]
    assert (a.capacity, a.open_cases, a.verifying, a.overdue) == (12, 2, 1, 1)
    assert (b.capacity, b.open_cases, b.overdue) == (30, 0, 0)


def test_township_official_sees_only_their_township(client, official_a, listed):
    client.force_login(official_a)
    response = client.get(LIST)
    assert numbers(response) == ["A-1", "A-2", "A-3"]
    assert [row.township.code for row in response.context["summary"]] == [TOWNSHIP_A]
    assert numbers(client.get(LIST, {"township": TOWNSHIP_B})) == [
        "A-1",
        "A-2",
        "A-3",
    ]  # not a choice: ignored


def test_no_run_yet_says_so(client, county_staff, regions):
    client.force_login(county_staff)
    response = client.get(LIST)
    assert response.status_code == 200
    assert "还没有完成的评分批次" in response.content.decode()


def test_unfinished_runs_are_not_listed(client, county_staff, listed):
    unfinished = make_run(as_of=today() + dt.timedelta(days=1), finished=False)
    make_score(unfinished, listed["households"]["a3"], 0.99)
    client.force_login(county_staff)
    assert client.get(LIST).context["run"] == listed["run"]


def test_keyset_pages_walk_forward_and_back_without_count(client, county_staff, listed, monkeypatch):
    monkeypatch.setattr(list_selectors, "PAGE_SIZE", 2)
    client.force_login(county_staff)
    with CaptureQueriesContext(connection) as captured:
        first = client.get(LIST)
    assert numbers(first) == ["A-1", "B-1"]
    second = client.get(LIST, {"after": first.context["page"].next_key})
    assert numbers(second) == ["A-2", "B-2"]
    third = client.get(LIST, {"after": second.context["page"].next_key})
    assert numbers(third) == ["A-3"] and third.context["page"].next_key is None
    back = client.get(LIST, {"before": third.context["page"].previous_key})
    assert numbers(back) == ["A-2", "B-2"]
    sql = "\n".join(query["sql"] for query in captured.captured_queries).upper()
    assert not counts_over_the_run(sql) and "OFFSET" not in sql


def test_the_list_page_takes_a_fixed_number_of_queries(client, county_staff, listed):
    client.force_login(county_staff)
    client.get(LIST)  # warm the data dictionary cache
    with CaptureQueriesContext(connection) as captured:
        response = client.get(LIST, {"township": TOWNSHIP_A, "status": "open"})
    assert response.status_code == 200
    # 15: the newest risk-list refresh of the region (its state and the reason it failed) is one query more;
    # 16: the township summary reads the county's review quota (ReviewQuota) beside the townships' capacity.
    assert len(captured.captured_queries) <= 16, "\n".join(q["sql"] for q in captured.captured_queries)
    assert not counts_over_the_run("\n".join(q["sql"] for q in captured.captured_queries))


def test_bad_keys_and_filters_are_ignored(client, county_staff, listed):
    client.force_login(county_staff)
    response = client.get(LIST, {"after": "nonsense", "level": "extreme", "sort": "DROP"})
    assert response.status_code == 200
    assert numbers(response) == ["A-1", "B-1", "A-2", "B-2", "A-3"]
