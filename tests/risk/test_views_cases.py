"""The case page and its decisions through the web: region (404), role (403), auditors read only."""

import datetime as dt

import pytest
from django.urls import reverse

from households.models import Household, StatusChange
from povertycloud.accounts.models import Role
from risk.models import CaseEvent, RiskCase
from tests.conftest import _user
from tests.factories import VILLAGE_A, VILLAGE_B
from tests.risk.review import household, make_case, make_rule, make_run, make_score, make_warning, today

pytestmark = pytest.mark.django_db
Status = RiskCase.Status


@pytest.fixture
def case(regions):
    made = household(VILLAGE_A, head="王大山", number="A-1", phone="13812345678")
    run = make_run()
    score = make_score(run, made, 0.87, p_poor=0.33)
    rule = make_rule()
    make_warning(rule, made, as_of=today() - dt.timedelta(days=2))
    return make_case(made, score=score, warning_rules=[rule.code], opened_on=today() - dt.timedelta(days=2))


@pytest.fixture
def other_case(regions):
    return make_case(household(VILLAGE_B, head="杨其他", number="B-1"))


def url(name: str, case: RiskCase) -> str:
    return reverse(f"risk:{name}", args=[case.pk])


def to_verifying(case, official, *, visited=True):
    RiskCase.objects.filter(pk=case.pk).update(
        status=Status.VERIFYING,
        assigned_to=official,
        visit_date=today() if visited else None,
        visit_notes="已入户" if visited else "",
        consent_signed=visited,
    )


# --- Reading -----------------------------------------------------------------------------------------


def test_case_page_shows_household_scores_warnings_and_history(client, county_staff, case):
    client.force_login(county_staff)
    response = client.get(url("case", case))
    assert response.status_code == 200
    html = response.content.decode()
    assert "王大山" in html and "西江村" in html
    assert "138****5678" in html and "13812345678" not in html  # the phone is masked
    assert "87.0%" in html and "33.0%" in html and "人均纯收入低于监测线" in html
    assert "医疗自付费用高" in html and "医保-" in html  # the warning, its rule and its source batch
    assert 'data-testid="assign-form"' in html and 'data-testid="exclude-form"' in html
    assert 'data-testid="decision-form"' not in html and 'data-testid="visit-form"' not in html


def test_another_township_gets_404_for_the_page_and_every_action(client, official_b, case):
    client.force_login(official_b)
    assert client.get(url("case", case)).status_code == 404
    to_verifying(case, None, visited=False)
    assert client.post(url("visit", case), {"visit_date": today(), "notes": "x"}).status_code == 404


def test_county_staff_and_auditors_see_the_county(client, county_staff, auditor, case, other_case):
    for user in (county_staff, auditor):
        client.force_login(user)
        assert client.get(url("case", other_case)).status_code == 200


def test_auditor_reads_but_sees_no_forms(client, auditor, case):
    client.force_login(auditor)
    html = client.get(url("case", case)).content.decode()
    assert "王大山" in html and '<form method="post" action="/risk' not in html


@pytest.mark.parametrize("action", ["assign", "visit", "decide", "exclude"])
def test_auditor_gets_403_on_every_post(client, auditor, case, action):
    client.force_login(auditor)
    assert client.post(url(action, case), {"reason": "x"}).status_code == 403
    assert client.post(reverse("risk:activate", args=[case.score.run.return_model_id])).status_code == 403
    case.refresh_from_db()
    assert case.status == Status.WARNED and not CaseEvent.objects.exists()


@pytest.mark.parametrize("action", ["assign", "decide", "exclude"])
def test_township_official_cannot_decide(client, official_a, case, action):
    client.force_login(official_a)
    assert client.post(url(action, case), {"reason": "x", "official": official_a.pk}).status_code == 403


def test_county_staff_cannot_record_a_visit(client, county_staff, official_a, case):
    to_verifying(case, official_a, visited=False)
    client.force_login(county_staff)
    assert client.post(url("visit", case), {"visit_date": today(), "notes": "x"}).status_code == 403


def test_get_on_an_action_url_is_refused(client, county_staff, case):
    client.force_login(county_staff)
    assert client.get(url("decide", case)).status_code == 405


# --- The workflow through the pages ------------------------------------------------------------------


def test_assign_visit_and_decide_through_the_pages(client, county_staff, official_a, case):
    client.force_login(county_staff)
    response = client.post(url("assign", case), {"official": official_a.pk}, follow=True)
    assert "已分派入户核实" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.VERIFYING and case.assigned_to == official_a
    html = response.content.decode()
    assert 'data-testid="visit-missing"' in html  # the decision form says a visit must come first

    client.force_login(official_a)
    page = client.get(url("case", case)).content.decode()
    assert 'data-testid="visit-form"' in page and 'data-testid="decision-form"' not in page
    response = client.post(
        url("visit", case),
        {"visit_date": today().isoformat(), "notes": "家中一人患大病", "consent_signed": "on"},
        follow=True,
    )
    assert "入户核实情况已保存" in response.content.decode()

    client.force_login(county_staff)
    response = client.post(
        url("decide", case),
        {"monitoring_type": "2", "risk_types": ["01"], "reason": "入户核实属实"},
        follow=True,
    )
    assert "已决定纳入监测" in response.content.decode()
    made = Household.objects.get(pk=case.household_id)
    assert made.monitoring_type == "2" and made.risk_types == ",01,"
    assert StatusChange.objects.filter(household=made, event="03").count() == 1
    detail = client.get(reverse("households:detail", args=[made.pk])).content.decode()
    assert "边缘易致贫户" in detail
    history = [(e.from_status, e.to_status) for e in CaseEvent.objects.filter(case=case).order_by("id")]
    assert history == [("warned", "verifying"), ("verifying", "verifying"), ("verifying", "monitored")]


def test_deciding_before_the_visit_is_refused_with_a_message(client, county_staff, official_a, case):
    to_verifying(case, official_a, visited=False)
    client.force_login(county_staff)
    response = client.post(
        url("decide", case), {"monitoring_type": "2", "risk_types": ["01"], "reason": "x"}, follow=True
    )
    assert "尚未录入入户核实情况，不能决定纳入监测" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.VERIFYING


def test_missing_reason_is_shown_on_the_form(client, county_staff, case):
    client.force_login(county_staff)
    response = client.post(url("exclude", case), {"reason": ""})
    assert response.status_code == 200
    assert 'data-testid="form-errors"' in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.WARNED


def test_second_decision_gets_the_already_decided_message(client, county_staff, official_a, case):
    to_verifying(case, official_a)
    other = _user("county_staff_2", Role.COUNTY_STAFF, "522634000000")
    client.force_login(county_staff)
    client.post(url("exclude", case), {"reason": "收入稳定"})
    client.force_login(other)
    response = client.post(
        url("decide", case), {"monitoring_type": "2", "risk_types": ["01"], "reason": "属实"}, follow=True
    )
    assert "该户的核实已由county_staff作出决定（排除），本次操作未保存。" in response.content.decode()
    case.refresh_from_db()
    assert case.status == Status.EXCLUDED and case.decided_by == county_staff
    assert Household.objects.get(pk=case.household_id).monitoring_type == ""


# --- Case lists --------------------------------------------------------------------------------------


def test_officials_list_of_their_cases(client, official_a, case, other_case):
    client.force_login(official_a)
    unassigned = client.get(reverse("risk:cases"), {"mine": "1"})  # in their township but nobody's task yet
    assert unassigned.status_code == 200 and unassigned.context["page"].rows == []
    to_verifying(case, official_a)
    response = client.get(reverse("risk:cases"), {"mine": "1"})
    assert response.status_code == 200
    assert [row.case.pk for row in response.context["page"].rows] == [case.pk]
    assert "B-1" not in response.content.decode()


def test_case_list_marks_overdue_and_filters_by_status(client, county_staff, case, other_case):
    RiskCase.objects.filter(pk=other_case.pk).update(due_on=today() - dt.timedelta(days=1))
    client.force_login(county_staff)
    response = client.get(reverse("risk:cases"))
    rows = response.context["page"].rows
    assert [row.case.pk for row in rows] == [other_case.pk, case.pk]  # nearest deadline first
    assert "已超期" in response.content.decode()
    overdue = client.get(reverse("risk:cases"), {"status": "overdue"}).context["page"].rows
    assert [row.case.pk for row in overdue] == [other_case.pk]
    RiskCase.objects.filter(pk=case.pk).update(status=Status.EXCLUDED)
    assert [r.case.pk for r in client.get(reverse("risk:cases")).context["page"].rows] == [other_case.pk]
    excluded = client.get(reverse("risk:cases"), {"status": "excluded"}).context["page"].rows
    assert [row.case.pk for row in excluded] == [case.pk]


def test_mine_is_only_what_is_assigned_to_the_user(client, county_staff, official_a, case, other_case):
    client.force_login(county_staff)
    client.post(url("assign", case), {"official": official_a.pk})
    assert client.get(reverse("risk:cases"), {"mine": "1"}).context["page"].rows == []  # assigned, not theirs
    client.force_login(official_a)
    rows = client.get(reverse("risk:cases"), {"mine": "1"}).context["page"].rows
    assert [row.case.pk for row in rows] == [case.pk]


def test_nav_links_to_the_risk_pages(client, county_staff, official_a, case):
    client.force_login(county_staff)
    assert reverse("risk:list") in client.get(reverse("home")).content.decode()
    client.force_login(official_a)
    assert reverse("risk:cases") + "?mine=1" in client.get(reverse("home")).content.decode()


def test_warning_shows_its_source_record_and_hides_health_values_from_auditors(client, county_staff, auditor, case):
    from exchange.models import HealthRecord
    from risk.models import Warning

    warning = Warning.objects.get(household_id=case.household_id)
    record = HealthRecord.objects.create(
        batch=warning.batch,
        row_number=3,
        id_number="522634198005170012",
        name="王大山",
        region_code=VILLAGE_A,
        row_hash="x" * 32,
        valid_from=today() - dt.timedelta(days=10),
        period="2025-01",
        out_of_pocket_ytd=8123,
    )
    Warning.objects.filter(pk=warning.pk).update(source_record_id=record.pk, value="8123")
    client.force_login(county_staff)
    html = client.get(url("case", case)).content.decode()
    assert "年度累计自付费用（元）" in html and "8123" in html and warning.batch.file_name in html
    client.force_login(auditor)
    html = client.get(url("case", case)).content.decode()
    assert "年度累计自付费用（元）" in html and "8123" not in html and "（已隐藏）" in html
