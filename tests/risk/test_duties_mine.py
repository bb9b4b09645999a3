"""我的核实任务 (/risk/cases/?mine=1) lists only the cases assigned to the user: not the unassigned cases of
their township, not a colleague's, not the cases the user assigned or decided."""

import pytest
from django.urls import reverse

from povertycloud.accounts.models import Role
from risk.models import CaseEvent, RiskCase
from tests.conftest import _user
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_B
from tests.risk.review import household, make_case

pytestmark = pytest.mark.django_db
Status = RiskCase.Status


def mine(client, user, **extra) -> list[int]:
    client.force_login(user)
    response = client.get(reverse("risk:cases"), {"mine": "1", **extra})
    assert response.status_code == 200
    return sorted(row.case.pk for row in response.context["page"].rows)


@pytest.fixture
def cases(official_a, official_b, county_staff):
    colleague = _user("colleague_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)
    assigned = make_case(household(VILLAGE_A, number="A-1"), status=Status.VERIFYING, assigned_to=official_a)
    unassigned = make_case(household(VILLAGE_A, number="A-2"))
    colleagues = make_case(household(VILLAGE_A, number="A-3"), status=Status.VERIFYING, assigned_to=colleague)
    decided = make_case(
        household(VILLAGE_A, number="A-4"), status=Status.EXCLUDED, decided_by=county_staff
    )
    CaseEvent.objects.create(case=decided, from_status=Status.VERIFYING, to_status=Status.EXCLUDED, by=county_staff)
    in_b = make_case(household(VILLAGE_B, number="B-1"), status=Status.VERIFYING, assigned_to=official_b)
    return {"assigned": assigned, "unassigned": unassigned, "colleague": colleague, "colleagues": colleagues,
            "decided": decided, "in_b": in_b}


def test_an_official_sees_only_the_cases_assigned_to_them(client, official_a, cases):
    assert mine(client, official_a) == [cases["assigned"].pk]
    assert mine(client, cases["colleague"]) == [cases["colleagues"].pk]


def test_without_mine_the_township_sees_all_its_open_cases(client, official_a, cases):
    client.force_login(official_a)
    rows = client.get(reverse("risk:cases")).context["page"].rows
    assert {row.case.pk for row in rows} == {cases["assigned"].pk, cases["unassigned"].pk, cases["colleagues"].pk}


def test_county_staff_tasks_are_not_what_they_decided(client, county_staff, cases):
    assert mine(client, county_staff, status="all") == []
    RiskCase.objects.filter(pk=cases["unassigned"].pk).update(status=Status.VERIFYING, assigned_to=county_staff)
    assert mine(client, county_staff) == [cases["unassigned"].pk]


def test_bad_filter_input_keeps_only_assigned(client, official_a, cases):
    assert mine(client, official_a, status="nonsense", township="999") == [cases["assigned"].pk]


def test_another_township_s_assigned_case_never_shows(client, official_a, official_b, cases):
    RiskCase.objects.filter(pk=cases["in_b"].pk).update(assigned_to=official_a)  # out of region: still hidden
    assert mine(client, official_a) == [cases["assigned"].pk]
    assert mine(client, official_b) == []


def test_the_page_says_it_lists_only_assigned_tasks(client, official_a, cases):
    client.force_login(official_a)
    html = client.get(reverse("risk:cases"), {"mine": "1"}).content.decode()
    assert "我的核实任务" in html and "只列出分派给你核实的任务。" in html
