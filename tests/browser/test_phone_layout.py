"""The household list and file page on a phone-sized screen (390×844): nothing wider than the screen."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from households import services
from tests.factories import make_income, person_values

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCREENSHOTS = {"list": "/tmp/phone-list.png", "file": "/tmp/phone-file.png"}


def page_widths(page) -> dict[str, int]:
    return page.evaluate(
        "() => ({scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth})"
    )


def wider_than(page, width: int) -> list[str]:
    """The first elements that stick out to the right of a screen this wide, for the failure message."""
    return page.evaluate(
        """(width) => [...document.querySelectorAll('body *')]
            .filter(el => el.getBoundingClientRect().right > width + 1)
            .slice(0, 10)
            .map(el => `${el.tagName.toLowerCase()}#${el.id}.${el.getAttribute('class') || ''}`
                 + ` right=${Math.round(el.getBoundingClientRect().right)}`)""",
        width,
    )


def assert_fits_the_screen(page) -> None:
    """No horizontal overflow: scrollWidth <= innerWidth + 1, and innerWidth still the phone's width.

    The second half matters: a mobile Chromium shows a page wider than the screen zoomed out, which makes
    innerWidth grow with the page (to 608 for a 600px-wide block on a 390px screen) and the first half hold.
    """
    screen = page.viewport_size["width"]
    widths = page_widths(page)
    fits = widths["scrollWidth"] <= widths["innerWidth"] + 1 and widths["innerWidth"] <= screen
    assert fits, f"wider than the {screen}px screen: {widths}; sticking out: {wider_than(page, screen)}"


@pytest.fixture
def busy_file(official_a, township_files):
    """The 西江镇 household with what makes a file page long and wide: a monitoring category and risk
    types, two years of income (table and chart), and a member added through the service (audit rows)."""
    home = township_files.home
    home.monitoring_type = "2"
    home.risk_types = ",01,07,"
    home.phone = "13812345678"
    home.save()
    make_income(home, 2023, household_size=3, wage_income=9800, production_cost=1200)
    make_income(home, 2024, household_size=3, wage_income=21500, farming_income=3600, production_cost=2400)
    child = person_values(
        name="王小梅", sex="2", birth_date=dt.date(2012, 9, 1), relation="04", education="",
        school_status="21", labour_skill="5",
    )
    services.add_person(by=official_a, household=home, data=child)
    return township_files


def test_household_list_and_file_fit_a_phone(phone_page, sign_in, official_a, busy_file):
    page = phone_page
    home = busy_file.home
    sign_in(page, official_a)

    page.goto("/households/")
    search = page.locator("#id_q")
    expect(search).to_be_visible()
    expect(search).to_be_in_viewport()
    expect(page.locator("#search-submit")).to_be_in_viewport()
    expect(page.get_by_test_id("household-row")).to_have_count(2)
    assert_fits_the_screen(page)
    # A row's cells stack: the household link is on screen, not scrolled off to the side.
    expect(page.get_by_test_id("household-link").first).to_be_in_viewport()
    page.screenshot(path=SCREENSHOTS["list"], full_page=True)

    # Searching opens the filter panel above the results; it still fits.
    search.fill("王建国")
    page.click("#search-submit")
    expect(page.get_by_test_id("household-row")).to_have_count(1)
    expect(page.locator("#id_q")).to_have_value("王建国")
    expect(page.locator("#id_q")).to_be_in_viewport()
    assert_fits_the_screen(page)

    page.get_by_test_id("household-link").click()
    expect(page.get_by_test_id("household-number")).to_have_text(home.number)
    expect(page.get_by_test_id("member-row")).to_have_count(3)
    expect(page.get_by_test_id("income-row")).to_have_count(2)
    expect(page.locator("#audit-trail [data-testid=audit-row]")).to_have_count(1)
    assert_fits_the_screen(page)
    # The member's edit link and the reveal button can be reached without sideways scrolling.
    row = page.locator(f"#person-{busy_file.head.pk}")
    row.get_by_test_id("edit-member").scroll_into_view_if_needed()
    expect(row.get_by_test_id("edit-member")).to_be_in_viewport()
    reveal = page.get_by_test_id(f"reveal-id_number-{busy_file.head.pk}")
    reveal.scroll_into_view_if_needed()
    expect(reveal).to_be_in_viewport()
    page.screenshot(path=SCREENSHOTS["file"], full_page=True)

    # Back to the list and its search box from the file.
    page.get_by_test_id("nav-households").click()
    expect(page.locator("#id_q")).to_be_in_viewport()
