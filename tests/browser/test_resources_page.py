"""A township official records an assistance measure on a household's 帮扶与成效 page (issue 6)."""

import re

import pytest
from playwright.sync_api import expect

from resources.catalogue import load_catalogue
from resources.models import AssistanceMeasure
from tests.browser.conftest import log_in_as
from tests.conftest import PASSWORD
from tests.resources.builders import monitored, months_ago

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def household(regions):
    load_catalogue()  # the flush after transactional tests empties what the data migration loaded
    return monitored(risk_types=",07,09,", head="王建国")


def test_official_records_a_measure_and_sees_it_listed(page, official_a, household):
    log_in_as(page, official_a, PASSWORD)
    page.goto(f"/households/{household.pk}/")
    page.get_by_test_id("resources-link").click()
    expect(page).to_have_url(re.compile(rf"/resources/households/{household.pk}/$"))
    expect(page.get_by_test_id("no-measures")).to_be_visible()
    expect(page.locator("[data-testid=expectation-row][data-state=missing]")).to_have_count(3)

    page.get_by_test_id("add-measure").click()
    page.select_option("#id_category", "09")
    page.select_option("#id_subtype", "0901")
    page.fill("#id_amount", "25000")
    page.select_option("#id_funding_source", "中央财政衔接资金")
    page.fill("#id_start_date", months_ago(1).isoformat())
    page.fill("#id_responsible_unit", "县住房和城乡建设局")
    page.fill("#id_helper_name", "杨帮扶")
    page.fill("#id_helper_phone", "13912345678")
    page.check("input[name=risk_types][value='09']")
    page.check("input[name=status][value=implemented]")
    page.get_by_test_id("measure-submit").click()

    expect(page).to_have_url(re.compile(rf"/resources/households/{household.pk}/#measures$"))
    rows = page.get_by_test_id("measure-row")
    expect(rows).to_have_count(1)
    expect(rows.first.get_by_test_id("measure-subtype")).to_have_text("危房改造")
    expect(rows.first.get_by_test_id("measure-amount")).to_have_text("25000.00")
    expect(rows.first.get_by_test_id("measure-status")).to_have_text("已实施")
    expect(rows.first.get_by_test_id("helper-phone")).to_have_text("139****5678")
    expect(page.locator("[data-testid=expectation-row][data-state=implemented]")).to_have_count(1)
    assert AssistanceMeasure.objects.get(household=household).helper_phone == "13912345678"
