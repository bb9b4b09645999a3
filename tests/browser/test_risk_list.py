"""From the risk list to a monitoring decision in a real browser: county staff, township official, county."""

import re

import pytest

from households.models import Household
from risk import services
from risk.models import RiskCase
from tests.browser.conftest import log_in
from tests.conftest import PASSWORD
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_B
from tests.risk.review import household, make_run, make_score

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def risk_list(regions):
    """The latest run with a high-risk household in each of two townships, and their cases opened."""
    run = make_run()
    ours = household(VILLAGE_A, head="王大山", number="A-0001")
    theirs = household(VILLAGE_B, head="杨其他", number="B-0001")
    make_score(run, ours, 0.82, p_poor=0.31)
    make_score(run, theirs, 0.91, p_poor=0.12)
    services.open_cases_from_run(run=run)
    return {"ours": ours, "theirs": theirs, "case": RiskCase.objects.get(household=ours)}


def log_out(page) -> None:
    page.click("[data-testid=logout]")
    page.wait_for_url("**/accounts/login/**")


def test_from_the_risk_list_to_monitoring(page, county_staff, official_a, risk_list):
    case = risk_list["case"]

    # County staff open the risk list, filter by township and open the case.
    log_in(page, county_staff.username, PASSWORD)
    page.wait_for_url("**/")
    page.click("[data-testid=nav-risk]")
    page.wait_for_url("**/risk/")
    assert page.locator("[data-testid=risk-row]").count() == 2
    page.click("[data-testid=filter-toggle]")
    page.select_option("[data-testid=filter-township]", TOWNSHIP_A)
    page.click("[data-testid=risk-filter] [data-testid=filter-submit]")
    page.wait_for_url(re.compile(r".*township=" + TOWNSHIP_A))
    rows = page.locator("[data-testid=risk-row]")
    assert rows.count() == 1
    assert "王大山" in rows.first.inner_text() and "82.0%" in rows.first.inner_text()
    rows.first.locator("[data-testid=case-link]").click()
    page.wait_for_url(f"**/risk/cases/{case.pk}/")

    # ... and assign it to the township official.
    page.select_option("[data-testid=assign-form] select[name=official]", str(official_a.pk))
    page.click("[data-testid=assign-submit]")
    page.wait_for_selector("[data-testid=message-success]")
    assert "核实中" in page.inner_text("[data-testid=case-summary]")
    assert page.locator("[data-testid=visit-missing]").is_visible()
    log_out(page)

    # The township official finds it among their cases and records the home visit.
    log_in(page, official_a.username, PASSWORD)
    page.wait_for_url("**/")
    page.click("[data-testid=nav-risk]")
    page.wait_for_url("**/risk/cases/?mine=1")
    page.click(f"[data-case-id='{case.pk}'] [data-testid=case-link]")
    page.wait_for_url(f"**/risk/cases/{case.pk}/")
    assert page.locator("[data-testid=decision-form]").count() == 0
    page.fill("[data-testid=visit-form] textarea[name=notes]", "户主患大病，年自付医疗费用约 8000 元。")
    page.check("[data-testid=visit-form] input[name=consent_signed]")
    page.click("[data-testid=visit-submit]")
    page.wait_for_selector("[data-testid=message-success]")
    assert "户主患大病" in page.inner_text("[data-testid=visit-notes]")
    log_out(page)

    # County staff decide 纳入监测.
    log_in(page, county_staff.username, PASSWORD)
    page.wait_for_url("**/")
    page.goto(f"/risk/cases/{case.pk}/")
    page.select_option("[data-testid=decision-form] select[name=monitoring_type]", "2")
    page.check("[data-testid=decision-form] input[name=risk_types][value='01']")
    page.fill("[data-testid=decision-form] textarea[name=reason]", "入户核实属实，县级审定纳入监测。")
    page.click("[data-testid=decide-submit]")
    page.wait_for_selector("[data-testid=message-success]")
    assert "纳入监测" in page.inner_text("[data-testid=case-summary]")

    # The household file now shows the new monitoring type.
    page.click("[data-testid=household-link]")
    page.wait_for_url(f"**/households/{risk_list['ours'].pk}/")
    assert "边缘易致贫户" in page.inner_text("[data-testid=household-facts]")
    assert "纳入监测" in page.inner_text("[data-testid=status-history]")
    assert Household.objects.get(pk=risk_list["ours"].pk).monitoring_type == "2"


def test_risk_list_reads_on_a_phone(phone_page, county_staff, risk_list):
    log_in(phone_page, county_staff.username, PASSWORD)
    phone_page.wait_for_url("**/")
    phone_page.goto("/risk/")
    row = phone_page.locator("[data-testid=risk-row]").first
    assert row.is_visible()
    width = phone_page.evaluate("document.documentElement.scrollWidth")
    assert width <= 400, f"the page scrolls sideways on a phone ({width}px)"
