"""The risk list's filters by risk type, warning rule and case status read stored tags (risk.list_tags):
the same households as asked of the source tables, kept current through decisions, and limited to the
user's region (another township's or county's warnings never count)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.models import Household
from risk import list_selectors, list_tags, services
from risk.models import RiskCase, RiskListTag, RiskScore
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A, VILLAGE_A2, VILLAGE_B
from tests.risk.review import household, make_case, make_rule, make_run, make_score, make_warning, today

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")
Status = RiskCase.Status
OTHER_COUNTY_VILLAGE = "522635101200"  # a warning raised where the household lived before


@pytest.fixture
def county(regions):
    run = make_run(as_of=today() - dt.timedelta(days=1))
    health = make_rule("health-self-pay", risk_type="01", name="医疗自付费用高")
    school = make_rule("school-dropout", risk_type="03", name="辍学")
    made = {
        "a1": household(VILLAGE_A, number="A-1"),
        "a2": household(VILLAGE_A2, number="A-2", risk_types=",07,"),
        "a3": household(VILLAGE_A, number="A-3", monitoring_type="2", household_type="2", risk_types=",01,03,"),
        "a4": household(VILLAGE_A, number="A-4"),
        "b1": household(VILLAGE_B, number="B-1"),
        "b2": household(VILLAGE_B, number="B-2"),
        "b3": household(VILLAGE_B, number="B-3"),
    }
    # Warnings before the scores (as scoring meets them) and after (the signals keep them).
    make_warning(health, made["b1"], as_of=run.as_of)
    for i, key in enumerate(made):
        make_score(run, made[key], 0.9 - i * 0.1, p_poor=0.1 + i * 0.05)
    make_warning(school, made["a1"], as_of=run.as_of - dt.timedelta(days=3))
    make_warning(health, made["a4"], as_of=today() + dt.timedelta(days=5))  # after the run's date: not counted
    warning = make_warning(school, made["b2"], as_of=run.as_of)
    warning.__class__.objects.filter(pk=warning.pk).update(region_code=OTHER_COUNTY_VILLAGE)
    list_tags.refresh_households([made["b2"].pk])  # (an update sends no signal)
    make_case(made["a1"], opened_on=today() - dt.timedelta(days=20), warning_rules=[school.code])
    make_case(made["a2"], status=Status.VERIFYING, opened_on=today() - dt.timedelta(days=2))
    make_case(made["a3"], status=Status.EXCLUDED, warning_rules=[health.code])
    make_case(made["a3"], status=Status.MONITORED)
    make_case(made["b1"], status=Status.MONITORED, warning_rules=[health.code])
    make_case(made["b1"], status=Status.WARNED, opened_on=today(), warning_rules=[school.code])
    return {"run": run, "households": made, "health": health, "school": school}


def listed(user, run, filters) -> list[str]:
    scores = list_selectors.filter_scores(list_selectors.scores_for(user, run), filters, run=run, user=user)
    return sorted(scores.values_list("household__number", flat=True))


def numbers(response) -> list[str]:
    return sorted(row.household.number for row in response.context["page"].rows)


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"risk_type": "01"}, ["A-3", "B-1"]),  # the household's own, and a warning's
        ({"risk_type": "03"}, ["A-1", "A-3"]),  # B-2's warning was raised in another county
        ({"risk_type": "07"}, ["A-2"]),
        ({"risk_type": "05"}, []),
        ({"rule": "health-self-pay"}, ["A-3", "B-1"]),  # any case of the household named it
        ({"rule": "school-dropout"}, ["A-1", "B-1"]),
        ({"status": "none"}, ["A-4", "B-2", "B-3"]),
        ({"status": "open"}, ["A-1", "A-2", "B-1"]),
        ({"status": "overdue"}, ["A-1"]),
        ({"status": "warned"}, ["A-1", "B-1"]),
        ({"status": "verifying"}, ["A-2"]),
        ({"status": "monitored"}, ["A-3"]),  # B-1 was monitored once but has an open case now
        ({"status": "excluded"}, ["A-3"]),
        ({"township": TOWNSHIP_A, "risk_type": "01"}, ["A-3"]),
        ({"township": TOWNSHIP_B, "status": "open", "rule": "school-dropout"}, ["B-1"]),
        ({"township": TOWNSHIP_A, "level": "high", "status": "none"}, ["A-4"]),
    ],
)
def test_each_stored_filter_finds_the_households_the_sources_say(county_staff, county, filters, expected):
    for key, score in zip(county["households"], RiskScore.objects.order_by("id"), strict=True):
        RiskScore.objects.filter(pk=score.pk).update(level="high" if key in ("a4", "b1") else "low")
    assert listed(county_staff, county["run"], filters) == expected


def test_scoring_builds_the_same_tags_as_the_single_saves(county):
    run = county["run"]
    saved = set(RiskListTag.objects.filter(run=run).values_list("score_id", "tag", "due_on", "region_code"))
    assert saved
    list_tags.build_run(run)
    assert set(RiskListTag.objects.filter(run=run).values_list("score_id", "tag", "due_on", "region_code")) == saved


def test_an_older_run_follows_a_case_too(county_staff, county):
    older = make_run(as_of=today() - dt.timedelta(days=60))
    make_score(older, county["households"]["b3"], 0.5)
    make_case(county["households"]["b3"])
    assert listed(county_staff, older, {"status": "open"}) == ["B-3"]
    assert listed(county_staff, county["run"], {"status": "open"}) == ["A-1", "A-2", "B-1", "B-3"]


def test_the_list_follows_each_decision(county_staff, official_a, county):
    run, a1 = county["run"], county["households"]["a1"]
    case = RiskCase.objects.get(household=a1)
    assert listed(county_staff, run, {"status": "warned"}) == ["A-1", "B-1"]
    case = services.assign_for_verification(by=county_staff, case=case, official=official_a)
    assert listed(county_staff, run, {"status": "verifying"}) == ["A-1", "A-2"]
    case = services.record_home_visit(
        by=official_a, case=case, visit_date=today(), notes="收入中断", consent_signed=True
    )
    Household.objects.filter(pk=a1.pk).update(household_type="2")
    services.decide_monitoring(
        by=county_staff, case=case, monitoring_type="2", risk_types=["07"], reason="务工收入中断"
    )
    assert listed(county_staff, run, {"status": "monitored"}) == ["A-1", "A-3"]
    assert "A-1" not in listed(county_staff, run, {"status": "open"})
    assert listed(county_staff, run, {"risk_type": "07"}) == ["A-1", "A-2"]  # the decision's risk type
    assert listed(county_staff, run, {"risk_type": "03"}) == ["A-1", "A-3"]  # its warning's type stays


def test_an_exclusion_is_followed(county_staff, county):
    case = RiskCase.objects.get(household=county["households"]["a2"])
    services.exclude(by=county_staff, case=case, reason="核实后收入稳定")
    assert listed(county_staff, county["run"], {"status": "excluded"}) == ["A-2", "A-3"]
    assert listed(county_staff, county["run"], {"status": "verifying"}) == []


def test_opening_cases_from_a_run_stores_their_status_and_rules(county_staff, county):
    run, b3 = county["run"], county["households"]["b3"]
    make_warning(county["school"], b3, as_of=run.as_of)
    services.open_cases_from_run(run=run, by=county_staff)
    assert "B-3" in listed(county_staff, run, {"status": "warned"})
    assert "B-3" in listed(county_staff, run, {"rule": "school-dropout"})
    assert "B-3" in listed(county_staff, run, {"risk_type": "03"})


def test_a_township_officials_filter_reads_its_townships_tags_only(official_a, county):
    run = county["run"]
    assert listed(official_a, run, {"risk_type": "01"}) == ["A-3"]
    assert listed(official_a, run, {"status": "open"}) == ["A-1", "A-2"]
    assert listed(official_a, run, {"township": TOWNSHIP_B, "status": "open"}) == []
    with CaptureQueriesContext(connection) as captured:
        listed(official_a, run, {"rule": "school-dropout"})
    sql = captured.captured_queries[-1]["sql"]
    tags_part = sql[sql.index(RiskListTag._meta.db_table) :]
    assert "522634101000" in tags_part and "522634101999" in tags_part  # the township's range, not the county's
    assert COUNTY not in tags_part


def test_the_page_filters_through_the_tags_for_an_official(client, official_a, county):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"rule": "school-dropout"})) == ["A-1"]
    assert numbers(client.get(LIST, {"risk_type": "01"})) == ["A-3"]


@pytest.mark.parametrize(
    "query", [{"risk_type": "zz"}, {"rule": "no-such-rule"}, {"status": "closed"}, {"risk_type": "01' OR 1=1"}]
)
def test_bad_filter_values_leave_the_list_unfiltered(client, county_staff, county, query):
    client.force_login(county_staff)
    response = client.get(LIST, query)
    assert response.status_code == 200
    assert numbers(response) == ["A-1", "A-2", "A-3", "A-4", "B-1", "B-2", "B-3"]


def test_a_user_without_a_region_finds_nothing(county):
    from types import SimpleNamespace

    nobody = SimpleNamespace(role="county_staff", region=None, is_superuser=False)
    bounds = list_selectors.tag_bounds(county["run"], nobody)
    assert not RiskListTag.objects.filter(region_code__gte=bounds[0], region_code__lte=bounds[1]).exists()


@pytest.mark.parametrize("descending", [True, False])
def test_pages_by_category_read_one_category_at_a_time_in_the_same_order(county_staff, county, descending):
    Household.objects.filter(number__in=["A-4", "B-2"]).update(monitoring_type="1", household_type="1")
    Household.objects.filter(number="B-3").update(monitoring_type="3")
    run = county["run"]
    scores = list_selectors.scores_for(county_staff, run)
    columns = list_selectors.sort_columns("category", descending, "p_return")
    whole = list_selectors.ordered_page(scores, columns=columns, after=None, before=None, size=100)
    expected = [score.pk for score in whole.rows]
    walked, key, pages = [], None, []
    while True:
        page = list_selectors.category_page(scores, columns=columns, after=key, before=None, size=2)
        walked += [score.pk for score in page.rows]
        pages.append(page)
        key = page.next_key
        if key is None:
            break
    assert walked == expected and len(pages) == 4
    back = list_selectors.category_page(scores, columns=columns, after=None, before=pages[2].previous_key, size=2)
    assert [score.pk for score in back.rows] == [score.pk for score in pages[1].rows]


# --- Pages read from the tags (tagged_rows): the same rows, in the same order, as read from the scores ------


def _walk(scores, tags, *, sort: str, descending: bool) -> tuple[list[str], list]:
    """Every page of size 1 forward, then back from the last one: the household numbers in order (the walk
    back holds every row before the last page)."""
    walked, pages, key = [], [], None
    while True:
        page = list_selectors.risk_page(scores, tags=tags, sort=sort, descending=descending, after=key, size=1)
        walked += [row.household.number for row in page.rows]
        pages.append(page)
        key = page.next_key
        if key is None:
            break
    back, key = [], pages[-1].previous_key
    while key is not None:
        page = list_selectors.risk_page(scores, tags=tags, sort=sort, descending=descending, before=key, size=1)
        back = [row.household.number for row in page.rows] + back
        key = page.previous_key
    return walked, back


@pytest.mark.parametrize(
    "filters",
    [
        {"risk_type": "01"},
        {"risk_type": "03", "hide_monitored": True},
        {"rule": "school-dropout", "status": "open"},
        {"status": "open", "level": "high"},
        {"status": "overdue"},
        {"status": "monitored", "monitoring": "any"},
        {"risk_type": "01", "status": "none"},
        {"township": TOWNSHIP_A, "status": "open", "hide_monitored": True},
    ],
)
@pytest.mark.parametrize(("sort", "descending"), [("p_return", True), ("p_return", False), ("p_poor", True)])
def test_tag_pages_hold_the_rows_of_the_score_pages_in_their_order(county_staff, county, filters, sort, descending):
    RiskScore.objects.filter(household__number__in=["A-1", "A-2", "B-1"]).update(level="high")
    run = county["run"]
    scores = list_selectors.filter_scores(list_selectors.scores_for(county_staff, run), filters, run=run)
    tags = list_selectors.tagged_rows(county_staff, run, filters)
    assert tags is not None
    from_tags, back = _walk(scores, tags, sort=sort, descending=descending)
    from_scores, _ = _walk(scores, None, sort=sort, descending=descending)
    assert from_tags == from_scores
    assert back == from_tags[:-1]
    assert sorted(from_tags) == listed(county_staff, run, filters)


def test_a_filter_without_a_stored_tag_reads_the_scores(county_staff, county):
    run = county["run"]
    assert list_selectors.tagged_rows(county_staff, run, {"level": "high"}) is None
    assert list_selectors.tagged_rows(county_staff, run, {"status": "none"}) is None  # an absence drives nothing


def test_tag_rows_carry_their_scores_probabilities(county):
    run = county["run"]
    scores = RiskScore.objects.values_list("pk", "p_poor", "p_return")
    expected = {pk: (p_poor, p_return) for pk, p_poor, p_return in scores}
    saved = list(RiskListTag.objects.filter(run=run).values_list("score_id", "p_poor", "p_return"))
    assert saved and all(expected[score] == (p_poor, p_return) for score, p_poor, p_return in saved)
    list_tags.build_run(run)
    rebuilt = RiskListTag.objects.filter(run=run).values_list("score_id", "p_poor", "p_return")
    assert all(expected[score] == (p_poor, p_return) for score, p_poor, p_return in rebuilt)


def test_an_officials_tag_page_holds_its_township_only(client, official_a, county):
    client.force_login(official_a)
    response = client.get(LIST, {"status": "open", "sort": "p_poor"})
    assert numbers(response) == ["A-1", "A-2"]
    assert response.context["matching"] == 2
    # Another township is no choice of the form (the filter is dropped: the official's own rows), and asked of
    # the selector directly it reads nothing.
    assert numbers(client.get(LIST, {"status": "open", "township": TOWNSHIP_B})) == ["A-1", "A-2"]
    tags = list_selectors.tagged_rows(official_a, county["run"], {"status": "open", "township": TOWNSHIP_B})
    assert not tags.exists()


@pytest.mark.parametrize("key", ["garbage", "0.5", "nan:1", "inf:2", "0.5:x", '[1, 2]'])
def test_a_bad_page_key_on_a_tag_page_gives_the_first_page(client, county_staff, county, key):
    client.force_login(county_staff)
    for direction in ("after", "before"):
        response = client.get(LIST, {"status": "open", direction: key})
        assert response.status_code == 200
        assert numbers(response) == ["A-1", "A-2", "B-1"]


@pytest.mark.parametrize("descending", [True, False])
def test_an_officials_list_by_household_number_walks_in_number_order(official_a, county_staff, county, descending):
    run = county["run"]
    assert list_selectors.reads_part_of_run(official_a, run, {})
    assert not list_selectors.reads_part_of_run(county_staff, run, {})
    assert list_selectors.reads_part_of_run(county_staff, run, {"township": TOWNSHIP_A})
    scores = list_selectors.scores_for(official_a, run)
    walked, pages, key = [], 0, None
    while True:
        page = list_selectors.risk_page(
            scores, sort="household", descending=descending, part_of_run=True, after=key, size=2
        )
        walked += [row.household.number for row in page.rows]
        pages += 1
        key = page.next_key
        if key is None:
            break
    assert walked == sorted(["A-1", "A-2", "A-3", "A-4"], reverse=descending) and pages == 2
    back = list_selectors.risk_page(
        scores, sort="household", descending=descending, part_of_run=True, before=page.previous_key, size=2
    )
    assert [row.household.number for row in back.rows] == walked[:2]


def test_the_township_counts_follow_each_case_change_though_kept_in_the_cache(county_staff, official_a, county):
    def open_cases(user) -> dict[str, int]:
        summary = list_selectors.township_summary(user, run=county["run"])
        return {row.township.code: row.open_cases for row in summary if row.open_cases}

    assert open_cases(county_staff) == {TOWNSHIP_A: 2, TOWNSHIP_B: 1}
    assert open_cases(official_a) == {TOWNSHIP_A: 2}  # kept apart from the county's counts
    with CaptureQueriesContext(connection) as captured:
        open_cases(county_staff)
    assert not any(RiskCase._meta.db_table in query["sql"] for query in captured.captured_queries)
    make_case(county["households"]["b3"])  # a case opened: counted on the next request
    assert open_cases(county_staff) == {TOWNSHIP_A: 2, TOWNSHIP_B: 2}
    services.exclude(
        by=county_staff, case=RiskCase.objects.get(household=county["households"]["a1"]), reason="已核实无风险"
    )
    assert open_cases(county_staff) == {TOWNSHIP_A: 1, TOWNSHIP_B: 2}
    assert open_cases(official_a) == {TOWNSHIP_A: 1}
