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


# --- Every main page of each role ----------------------------------------------------------------------

MAIN_LINKS = "nav.nav a[href^='/'], nav.subnav a[href^='/']"
NOT_PAGES = ("/accounts/logout", "/admin", "/files/", "/download", "/i18n/")


def overflow_of(page) -> str | None:
    """None when the page fits a 390 px screen (scrollWidth <= 390), else what sticks out."""
    widths = page_widths(page)
    if widths["scrollWidth"] <= 390 and widths["innerWidth"] <= 390:
        return None
    return f"{widths}; sticking out: {wider_than(page, 390)}"


def main_pages(page, start: str, extra: list[str]) -> list[str]:
    """The pages the navigation and the sections' sub-navigation lead to (two steps from the start), and the
    detail pages given."""
    seen: list[str] = []
    queue = [start, *extra]
    while queue and len(seen) < 40:
        path = queue.pop(0)
        if path in seen or any(part in path for part in NOT_PAGES):
            continue
        seen.append(path)
        if path in extra:
            continue
        page.goto(path)
        for href in page.eval_on_selector_all(MAIN_LINKS, "links => links.map(a => a.getAttribute('href'))"):
            if href not in seen and href not in queue:
                queue.append(href)
    return seen


@pytest.fixture
def county_with_everything(official_a, county_staff, township_files):
    """The report tests' small county (households, cases, measures, incomes, thresholds), a department batch
    and a registry batch, a generated report: every page has rows, tables and charts to lay out."""
    from exchange.models import ImportBatch
    from reports.models import Report
    from resources.catalogue import load_catalogue
    from tests.exchange.records import make_batch
    from tests.reports.builders import small_county

    load_catalogue()  # the flush after transactional tests empties what the data migration loaded
    county = small_county()
    batch = make_batch("civil_affairs", by=county_staff, total_rows=3, accepted_rows=2, rejected_rows=1)
    registry = make_batch("registry", by=county_staff, status=ImportBatch.Status.SUCCEEDED)
    report = Report.objects.create(
        region_id=county_staff.region_id, requested_by=county_staff, period_start=dt.date(2024, 1, 1),
        period_end=dt.date(2024, 12, 31),
    )
    return {"county": county, "batch": batch, "registry": registry, "report": report, "files": township_files}


@pytest.mark.parametrize("role", ["official_a", "county_staff", "auditor", "admin_user"])
def test_every_main_page_of_each_role_fits_a_phone(phone_page, sign_in, request, role, county_with_everything):
    user = request.getfixturevalue(role)
    data = county_with_everything
    home = data["files"].home
    extra = [f"/households/{home.pk}/", f"/resources/households/{home.pk}/"]
    if role != "official_a":
        extra += [
            f"/departments/batches/{data['batch'].pk}/",
            f"/departments/registry/{data['registry'].pk}/",
            f"/reports/performance/{data['report'].pk}/",
            "/reports/?region=522634000000&start=2024-01-01&end=2024-12-31",
        ]
    page = phone_page
    sign_in(page, user)
    paths = main_pages(page, "/households/", extra)
    assert len(paths) >= 8, paths
    faults = {}
    for path in paths:
        response = page.goto(path)
        assert response.status < 500, path
        if response.status >= 400:
            continue
        fault = overflow_of(page)
        if fault:
            faults[path] = fault
            page.screenshot(path=f"/tmp/phone-overflow-{role}-{len(faults)}.png", full_page=True)
    assert not faults, faults


def test_a_running_import_shows_one_stage_in_its_status_bar_and_counts(phone_page, sign_in, county_staff):
    """The poll moves the status tag, the bar, its text and the running counts together; writing records is
    an indeterminate bar, not a full one; the finished page shows the final counts."""
    from django.core.cache import cache

    from exchange.models import ImportBatch
    from tests.exchange.records import make_batch

    batch = make_batch("health", by=county_staff, status=ImportBatch.Status.RUNNING)
    key = f"import-progress:{batch.pk}"
    cache.set(key, {"done": 300, "total": 1000, "stage": "validating"})
    page = phone_page
    sign_in(page, county_staff)
    page.goto(f"/departments/batches/{batch.pk}/")
    status, text, counts = (page.get_by_test_id(t) for t in ("batch-status", "progress-text", "count-running"))
    expect(status).to_have_text("正在读取和校验")
    expect(text).to_have_text("正在读取和校验：300 / 1000 行")
    expect(counts).to_contain_text("已读取 300 / 1000 行")
    expect(page.get_by_test_id("progress-bar")).to_have_attribute("value", "30")
    assert_fits_the_screen(page)

    cache.set(key, {"done": 1000, "total": 1000, "stage": "merging"})
    expect(status).to_have_text("正在写入记录", timeout=6000)
    expect(text).to_have_text("正在写入记录：已校验 1000 行")
    expect(counts).to_contain_text("已读取并校验 1000 行")
    assert page.get_by_test_id("progress-bar").evaluate("bar => bar.hasAttribute('value')") is False

    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.SUCCEEDED, total_rows=1000, accepted_rows=990, rejected_rows=10
    )
    expect(status).to_have_text("已完成", timeout=8000)
    expect(page.get_by_test_id("count-check")).to_contain_text("接收 990 + 拒收 10 = 总计 1000")
    expect(page.get_by_test_id("progress-bar")).to_have_attribute("value", "100")
    assert_fits_the_screen(page)


def test_the_outcome_chart_on_a_phone_names_its_measures_below_it(phone_page, sign_in, official_a):
    """Measures that start close together: the chart shows their numbers on separate rows, the list under it
    names them, and the page fits the phone."""
    from resources.catalogue import load_catalogue
    from resources.outcomes import observe_outcomes
    from tests.resources.builders import income, measure, monitored, months_ago, set_thresholds, today

    load_catalogue()  # the flush after transactional tests empties what the data migration loaded
    set_thresholds()
    household = monitored(risk_types=",07,09,", housing_grade="D")
    income(household, today().year - 2, 6000)
    income(household, today().year - 1, 9000)
    for days in (0, 5, 10):
        measure(household, start_date=months_ago(3) + dt.timedelta(days=days), helper_name=f"帮扶{days}")
    observe_outcomes(household=household, as_of=today(), by=official_a)
    page = phone_page
    sign_in(page, official_a)
    page.goto(f"/resources/households/{household.pk}/")
    expect(page.get_by_test_id("income-timeline")).to_be_visible()
    expect(page.get_by_test_id("measure-marker-item")).to_have_count(3)
    rows = page.eval_on_selector_all("[data-testid=measure-number]", "texts => texts.map(t => t.getAttribute('dy'))")
    assert len(set(rows)) == 3, rows
    assert_fits_the_screen(page)
    page.get_by_test_id("income-timeline").screenshot(path="/tmp/phone-outcome-chart.png")
