"""One full working day per role, in a real browser, in both languages, on a desktop and on a phone.

Each walk logs in through the login form (switching the language first through the header's language switch
when the walk is in English, as a user would), goes through the role's day by clicking links and filling
forms, and fails on any response of status 400 or more, any console error and any page error.

The day's data (tests/browser/day_data.py) is built once per module through the services and written back
before each walk, so that every walk starts from the same morning.
"""

import datetime as dt
import re
from dataclasses import dataclass, field

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from households.models import Household, IncomeRecord, Person
from povertycloud.accounts.models import User
from resources.models import AssistanceMeasure, EliminationCase
from risk.models import RiskCase
from tests.browser.conftest import log_in_as
from tests.browser.day_data import DayData, build_snapshot, restore
from tests.conftest import PASSWORD
from tests.factories import resident_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

VIEWPORTS = {
    "desktop": {"viewport": {"width": 1280, "height": 800}, "is_mobile": False},
    "phone": {"viewport": {"width": 390, "height": 844}, "is_mobile": True},
}
DEFAULT_LANGUAGE = "zh-hans"
SETLANG = re.compile(r"/i18n/setlang/$")
LANGUAGES = (DEFAULT_LANGUAGE, "en")


# --- Fixtures ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def day_snapshot(django_db_setup, django_db_blocker, tmp_path_factory):
    with django_db_blocker.unblock():
        return build_snapshot(tmp_path_factory.mktemp("full-day-var"))


@pytest.fixture
def day(day_snapshot, transactional_db, settings) -> DayData:
    settings.VAR_DIR = day_snapshot.data.var_dir
    restore(day_snapshot)
    return day_snapshot.data


@dataclass
class Problems:
    """What the browser reported that a working page never does."""

    items: list[str] = field(default_factory=list)
    language: str = "zh-hans"  # every page answers in it (Content-Language), the language switch's own answer aside

    def watch(self, page) -> None:
        page.on("response", self._response)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.items.append(f"page error: {error}"))

    def _response(self, response) -> None:
        if response.status >= 400:
            self.items.append(f"HTTP {response.status} {response.request.method} {response.url}")
        if response.request.resource_type == "document" and not SETLANG.search(response.url):
            answered_in = response.headers.get("content-language")
            if answered_in != self.language:
                self.items.append(f"{response.url} answered in {answered_in!r}, not {self.language!r}")

    def _console(self, message) -> None:
        if message.type == "error":
            self.items.append(f"console error: {message.text} ({message.location})")

    def check(self) -> None:
        assert not self.items, "\n".join(self.items)


@dataclass
class Walker:
    page: object
    problems: Problems

    def walk(self, day_of_work) -> None:
        """Runs the walk; a failure reports what the browser saw go wrong first, and so does a success."""
        try:
            day_of_work()
        except Exception:
            self.problems.check()
            raise
        self.problems.check()


@pytest.fixture(params=LANGUAGES)
def language(request) -> str:
    return request.param


@pytest.fixture(params=list(VIEWPORTS))
def walker(request, new_page, live_server):
    """A fresh page at the viewport's size, watched for errors; the test fails on anything it saw."""
    page = new_page(**VIEWPORTS[request.param])
    problems = Problems()
    problems.watch(page)
    return Walker(page, problems)


def switch_language(walker: Walker, language: str) -> None:
    """Through the header's language switch (a POST to /i18n/setlang/ that comes back to the same page)."""
    page = walker.page
    here = re.sub(r"#.*$", "", page.url)
    walker.problems.language = language
    with page.expect_response(SETLANG) as answered, page.expect_navigation():
        page.get_by_test_id(f"language-{language}").click()
    assert answered.value.status == 302
    expect(page).to_have_url(here)
    expect(page.locator("html")).to_have_attribute("lang", language)
    expect(page.get_by_test_id(f"language-{language}")).to_have_count(0)


def start_the_day(walker: Walker, username: str, language: str) -> User:
    """Opens the login page, switches its language through the header unless the walk is in the default
    language, and logs in."""
    page = walker.page
    user = User.objects.get(username=username)
    page.goto("/accounts/login/")
    expect(page.locator("html")).to_have_attribute("lang", DEFAULT_LANGUAGE)
    if language != DEFAULT_LANGUAGE:
        switch_language(walker, language)
    log_in_as(page, user, PASSWORD)
    expect(page.locator("html")).to_have_attribute("lang", language)
    return user


def end_the_day(walker: Walker, language: str) -> None:
    """Every page of the walk answered in its language (Problems checks each one); a walk in English switches
    back to Chinese at the end, from the page where it ended (logged in)."""
    expect(walker.page.locator("html")).to_have_attribute("lang", language)
    if language != DEFAULT_LANGUAGE:
        switch_language(walker, DEFAULT_LANGUAGE)


def follow(page, link) -> None:
    """Clicks a link and waits for the page it opens."""
    with page.expect_navigation():
        link.click()


def submit(page, button) -> None:
    with page.expect_navigation():
        button.click()
    expect(page.get_by_test_id("message-success")).to_be_visible()


# --- The township official ---------------------------------------------------------------------------


def official_day(page, day: DayData) -> None:
    follow(page, page.get_by_test_id("nav-households"))
    page.fill("#id_q", day.head_name)
    follow(page, page.get_by_test_id("search-submit"))
    rows = page.get_by_test_id("household-row")
    expect(rows).to_have_count(1)
    expect(rows.first).to_have_attribute("data-household-id", str(day.home))
    follow(page, rows.first.get_by_test_id("household-link"))
    expect(page).to_have_url(re.compile(rf"/households/{day.home}/$"))
    expect(page.get_by_test_id("household-number")).to_have_text(day.home_number)

    # The household file: the cultivated land was measured again.
    follow(page, page.get_by_test_id("edit-household"))
    page.fill("#id_cultivated_land_mu", "3.5")
    submit(page, page.get_by_test_id("household-submit"))
    expect(page).to_have_url(re.compile(rf"/households/{day.home}/$"))
    assert str(Household.objects.get(pk=day.home).cultivated_land_mu) in {"3.5", "3.50"}

    # A daughter came back: her ID number fills her birth date and sex.
    birth = dt.date(2001, 4, 23)
    id_number = resident_id(birth, sex="2", sequence=38)
    follow(page, page.get_by_test_id("add-member"))
    page.fill("#id_id_number", id_number)
    expect(page.locator("#id_birth_date")).to_have_value(birth.isoformat())
    expect(page.locator("#id_sex")).to_have_value("2")
    page.fill("#id_name", "王小梅")
    page.select_option("#id_ethnicity", "06")
    page.select_option("#id_relation", "04")
    page.check("#id_health input[value='1']")
    page.select_option("#id_labour_skill", "1")
    page.select_option("#id_education", "4")
    page.select_option("#id_school_status", "")
    page.check("#id_resident_medical_insurance")
    submit(page, page.get_by_test_id("member-submit"))
    added = Person.objects.get(household_id=day.home, id_number=id_number)
    assert (added.birth_date, added.sex) == (birth, "2")
    expect(page.locator(f"#person-{added.pk}")).to_be_visible()

    # Last year's income survey.
    follow(page, page.get_by_test_id("add-income"))
    page.fill("#id_household_size", "3")
    page.fill("#id_wage_income", "36000")
    page.fill("#id_farming_income", "4200")
    page.fill("#id_production_cost", "1500")
    page.fill("#id_survey_date", timezone.localdate().isoformat())
    submit(page, page.get_by_test_id("income-submit"))
    record = IncomeRecord.objects.get(household_id=day.home)
    expect(page.locator(f"[data-testid=income-row][data-year='{record.year}']")).to_be_visible()

    # An assistance measure on the resources page.
    follow(page, page.get_by_test_id("resources-link"))
    expect(page).to_have_url(re.compile(rf"/resources/households/{day.home}/$"))
    follow(page, page.get_by_test_id("add-measure"))
    page.select_option("#id_category", "09")
    page.select_option("#id_subtype", "0901")
    page.fill("#id_amount", "25000")
    page.select_option("#id_funding_source", "中央财政衔接资金")
    page.fill("#id_start_date", timezone.localdate().isoformat())
    page.fill("#id_responsible_unit", "县住房和城乡建设局")
    page.fill("#id_helper_name", "杨帮扶")
    page.fill("#id_helper_phone", "13912345678")
    page.check("input[name=risk_types][value='09']")
    page.check("input[name=status][value=planned]")
    with page.expect_navigation():
        page.get_by_test_id("measure-submit").click()
    expect(page).to_have_url(re.compile(rf"/resources/households/{day.home}/#measures$"))
    expect(page.get_by_test_id("measure-row")).to_have_count(1)
    assert AssistanceMeasure.objects.get(household_id=day.home).subtype_id == "0901"


# --- County staff ------------------------------------------------------------------------------------


def county_day(page, day: DayData) -> None:
    follow(page, page.get_by_test_id("nav-risk"))
    expect(page).to_have_url(re.compile(r"/risk/$"))
    row = page.locator(f"[data-testid=risk-row][data-household-id='{day.risk_household}']")
    follow(page, row.get_by_test_id("case-link"))
    expect(page).to_have_url(re.compile(rf"/risk/cases/{day.risk_case}/$"))

    form = page.get_by_test_id("decision-form")
    form.locator("select[name=monitoring_type]").select_option("2")
    form.locator("input[name=risk_types][value='01']").check()
    form.locator("textarea[name=reason]").fill("入户核实属实，县级审定纳入监测。")
    submit(page, page.get_by_test_id("decide-submit"))
    assert RiskCase.objects.get(pk=day.risk_case).status == RiskCase.Status.MONITORED

    # The elimination the township passed: approved at county level.
    follow(page, page.get_by_test_id("nav-eliminations"))
    row = page.locator(f"[data-testid=elimination-row][data-case-id='{day.elimination_case}']")
    expect(row).to_have_attribute("data-status", EliminationCase.Status.TOWNSHIP_APPROVED)
    follow(page, row.get_by_role("link"))
    expect(page).to_have_url(re.compile(rf"/resources/households/{day.elimination_household}/#elimination$"))
    form = page.get_by_test_id("county-form")
    form.locator("input[name=decision][value=approve]").check()
    form.locator("textarea[name=reason]").fill("材料齐全，同意风险消除。")
    submit(page, page.get_by_test_id("county-submit"))
    expect(
        page.locator(f"[data-testid=elimination-case][data-status={EliminationCase.Status.APPROVED}]")
    ).to_have_count(1)
    assert EliminationCase.objects.get(pk=day.elimination_case).status == EliminationCase.Status.APPROVED


# --- The auditor -------------------------------------------------------------------------------------


def download(page, trigger, tmp_path) -> int:
    """Clicks what starts a download; returns the size of the file that came."""
    with page.expect_download() as started:
        trigger()
    saved = tmp_path / started.value.suggested_filename
    started.value.save_as(saved)
    assert started.value.failure() is None
    return saved.stat().st_size


def auditor_day(page, day: DayData, tmp_path) -> None:
    follow(page, page.get_by_test_id("nav-reports"))
    follow(page, page.get_by_test_id("subnav-reports"))
    row = page.locator(f"[data-testid=report-row][data-report-id='{day.report}']")
    follow(page, row.get_by_role("link"))
    expect(page).to_have_url(re.compile(rf"/reports/performance/{day.report}/$"))
    expect(page.get_by_test_id("report-status")).to_have_class(re.compile(r"\bstatus-succeeded\b"))
    files = page.locator("[data-testid=report-files] [data-testid^=file-]")
    names = [files.nth(i).get_attribute("data-testid") for i in range(files.count())]
    assert {"file-performance.xlsx", "file-performance.pdf"} <= set(names), names
    for name in names:
        size = download(page, lambda name=name: page.get_by_test_id(name).click(), tmp_path)
        assert size > 0, name

    # The audit exports, each kind for the report's period: prepared in the background, fetched from 我的下载.
    follow(page, page.get_by_test_id("subnav-exports"))
    kinds = page.locator("#id_kind option").evaluate_all("options => options.map(o => o.value)")
    assert kinds, "no export kinds offered"
    for kind in kinds:
        page.select_option("#id_kind", kind)
        page.fill("#id_start", f"{timezone.localdate().year - 1}-01-01")
        page.fill("#id_end", timezone.localdate().isoformat())
        submit(page, page.get_by_test_id("export-submit"))
        expect(page).to_have_url(re.compile(r"/downloads/$"))
        newest = page.get_by_test_id("download-row").first
        expect(newest).to_have_attribute("data-status", "succeeded", timeout=60_000)
        size = download(page, lambda newest=newest: newest.get_by_test_id("download-link").click(), tmp_path)
        assert size > 0, kind
        follow(page, page.get_by_test_id("nav-reports"))
        follow(page, page.get_by_test_id("subnav-exports"))


# --- The walks ---------------------------------------------------------------------------------------


def test_a_township_officials_day(walker, language, day):
    def walk():
        start_the_day(walker, day.official, language)
        official_day(walker.page, day)
        end_the_day(walker, language)

    walker.walk(walk)


def test_a_county_staff_members_day(walker, language, day):
    def walk():
        start_the_day(walker, day.county_staff, language)
        county_day(walker.page, day)
        end_the_day(walker, language)

    walker.walk(walk)


def test_an_auditors_day(walker, language, day, tmp_path):
    def walk():
        start_the_day(walker, day.auditor, language)
        auditor_day(walker.page, day, tmp_path)
        end_the_day(walker, language)

    walker.walk(walk)
