"""The risk list's rows are written by risk.list_html: the same markup the case state and days-left partials
give (risk/_case_state.html, risk/_days_left.html), every value escaped, in the user's language."""

import datetime as dt
import re

import pytest
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import translation

from households.models import Person
from risk.models import RiskCase
from tests.factories import VILLAGE_A, VILLAGE_B
from tests.risk.review import household, make_case, make_run, make_score, today

pytestmark = pytest.mark.django_db
LIST = reverse("risk:list")
Status = RiskCase.Status


@pytest.fixture
def listed(regions):
    run = make_run(as_of=today() - dt.timedelta(days=1))
    made = {
        "overdue": household(VILLAGE_A, number="A-1"),
        "open": household(VILLAGE_A, number="A-2", monitoring_type="1"),
        "decided": household(VILLAGE_A, number="A-3"),
        "none": household(VILLAGE_A, number="A-4"),
        "other": household(VILLAGE_B, number="B-1"),
    }
    for i, key in enumerate(made):
        make_score(run, made[key], 0.9 - i * 0.1, factors=[{"phrase": "<b>收入</b>"}])
    make_case(made["overdue"], opened_on=today() - dt.timedelta(days=60))
    make_case(made["open"], status=Status.VERIFYING)
    make_case(made["decided"], status=Status.EXCLUDED)
    Person.objects.filter(household=made["none"]).update(name="<script>x</script>")
    return made


def rows(response) -> dict[str, str]:
    html = response.content.decode()
    found = re.findall(r'<tr data-testid="risk-row" data-household-id="(\d+)".*?</tr>', html, flags=re.S)
    bodies = re.findall(r'(<tr data-testid="risk-row".*?</tr>)', html, flags=re.S)
    return dict(zip(found, bodies, strict=True))


def test_each_row_says_its_case_state_as_the_partials_do(client, county_staff, listed):
    client.force_login(county_staff)
    response = client.get(LIST)
    found = rows(response)
    by_household = {row.household.pk: row for row in response.context["page"].rows}
    for key in ("overdue", "open", "decided", "none"):
        pk = listed[key].pk
        state = by_household[pk].state
        for partial in ("risk/_case_state.html", "risk/_days_left.html"):
            assert render_to_string(partial, {"state": state}).strip() in found[str(pk)]
    assert 'class="overdue"' in found[str(listed["overdue"].pk)]
    assert 'data-testid="case-link"' in found[str(listed["overdue"].pk)]
    assert 'data-testid="household-link"' in found[str(listed["none"].pk)]
    assert "超期" in found[str(listed["overdue"].pk)] and "已办结" in found[str(listed["decided"].pk)]


def test_values_are_escaped(client, county_staff, listed):
    client.force_login(county_staff)
    html = client.get(LIST).content.decode()
    assert "<script>x</script>" not in html and "&lt;script&gt;x&lt;/script&gt;" in html
    assert "<b>收入</b>" not in html and "&lt;b&gt;收入&lt;/b&gt;" in html  # the factor is shown, escaped


def test_rows_speak_the_users_language(client, county_staff, listed):
    client.force_login(county_staff)
    with translation.override("en"):
        html = client.get(LIST, HTTP_ACCEPT_LANGUAGE="en").content.decode()
    body = "".join(re.findall(r'<tr data-testid="risk-row".*?</tr>', html, flags=re.S))
    assert "data-label=" in body
    assert not re.search(r'data-label="[^"]*[\u4e00-\u9fff]', body)  # every column name in English


def test_an_official_gets_no_row_of_another_township(client, official_a, listed):
    client.force_login(official_a)
    found = rows(client.get(LIST))
    assert str(listed["other"].pk) not in found and len(found) == 4
