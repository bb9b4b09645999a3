"""The forms help in a real browser (issue 14, item 9): the member form fills birth date and sex from the ID
number as it is typed; the measure form offers only the sub-types of the chosen category. Both scripts are
static files under the Content-Security-Policy (no inline script)."""

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from resources.catalogue import load_catalogue
from resources.models import AssistanceMeasure
from tests.factories import make_household, make_person, resident_id
from tests.resources.builders import monitored, months_ago

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TEN_YEARS_AGO = dt.date(dt.date.today().year - 10, 3, 9)


def watch_console(page) -> list[str]:
    """Console errors of the page (a script refused by the CSP, a script error) collected as they come."""
    errors: list[str] = []
    page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))
    return errors


def offered_subtypes(page) -> list[str]:
    return page.eval_on_selector(
        "#id_subtype",
        "s => Array.from(s.options).filter(o => o.value && !o.hidden && !o.disabled).map(o => o.value)",
    )


def test_the_id_number_fills_birth_date_and_sex(page, sign_in, official_a):
    household = make_household(with_head=False)
    make_person(household, name="王大山")
    sign_in(page, official_a)
    errors = watch_console(page)
    page.goto(f"/households/{household.pk}/members/add/")
    expect(page.locator("#id_sex")).to_have_value("")
    expect(page.locator("#id_birth_date")).to_have_value("")

    daughter = resident_id(TEN_YEARS_AGO, sex="2")
    page.fill("#id_id_number", daughter)
    expect(page.locator("#id_birth_date")).to_have_value(TEN_YEARS_AGO.isoformat())
    expect(page.locator("#id_sex")).to_have_value("2")

    # A corrected number replaces what the script filled in ...
    son = resident_id(TEN_YEARS_AGO.replace(month=4), sex="1")
    page.fill("#id_id_number", son)
    expect(page.locator("#id_birth_date")).to_have_value(TEN_YEARS_AGO.replace(month=4).isoformat())
    expect(page.locator("#id_sex")).to_have_value("1")
    # ... an incomplete or wrong one changes nothing
    page.fill("#id_id_number", son[:17] + ("0" if son[17] != "0" else "1"))
    expect(page.locator("#id_sex")).to_have_value("1")
    page.fill("#id_id_number", daughter)
    expect(page.locator("#id_sex")).to_have_value("2")

    page.fill("#id_name", "王小红")
    page.select_option("#id_relation", "04")
    page.select_option("#id_labour_skill", "5")
    page.select_option("#id_school_status", "13")
    page.check("input[name=health][value='1']")
    page.check("#id_resident_medical_insurance")
    page.get_by_test_id("member-submit").click()
    expect(page).to_have_url(re.compile(rf"/households/{household.pk}/$"))
    person = household.members.get(name="王小红")
    assert (person.birth_date, person.sex) == (TEN_YEARS_AGO, "2")
    assert errors == []


def test_a_value_the_user_typed_is_not_overwritten(page, sign_in, official_a):
    household = make_household(with_head=False)
    make_person(household, name="王大山")
    sign_in(page, official_a)
    page.goto(f"/households/{household.pk}/members/add/")
    page.fill("#id_birth_date", "2001-02-03")
    page.fill("#id_id_number", resident_id(TEN_YEARS_AGO, sex="2"))
    expect(page.locator("#id_sex")).to_have_value("2")
    expect(page.locator("#id_birth_date")).to_have_value("2001-02-03")  # the server will say it disagrees


@pytest.fixture
def monitored_household(regions):
    load_catalogue()  # the flush after transactional tests empties what the data migration loaded
    return monitored(risk_types=",07,09,", head="王建国")


def test_the_sub_type_list_follows_the_category(page, sign_in, official_a, monitored_household):
    household = monitored_household
    sign_in(page, official_a)
    errors = watch_console(page)
    page.goto(f"/resources/households/{household.pk}/measures/add/")
    everything = offered_subtypes(page)
    assert {"0204", "0901", "0902"} <= set(everything)

    page.select_option("#id_category", "09")
    assert offered_subtypes(page) == ["0901", "0902"]
    page.select_option("#id_subtype", "0901")

    page.select_option("#id_category", "02")
    expect(page.locator("#id_subtype")).to_have_value("")  # 危房改造 is not a 就业帮扶 sub-type
    assert "0901" not in offered_subtypes(page) and "0204" in offered_subtypes(page)

    page.select_option("#id_category", "09")
    page.select_option("#id_subtype", "0901")
    page.fill("#id_amount", "25000")
    page.select_option("#id_funding_source", "中央财政衔接资金")
    page.fill("#id_start_date", months_ago(1).isoformat())
    page.check("input[name=risk_types][value='09']")
    page.check("input[name=status][value=implemented]")
    page.get_by_test_id("measure-submit").click()
    expect(page).to_have_url(re.compile(rf"/resources/households/{household.pk}/#measures$"))
    saved = AssistanceMeasure.objects.get(household=household)
    assert (saved.category_id, saved.subtype_id, saved.funding_source) == ("09", "0901", "中央财政衔接资金")
    assert errors == []


def test_a_mismatched_pair_forced_past_the_script_is_refused(page, sign_in, official_a, monitored_household):
    household = monitored_household
    sign_in(page, official_a)
    page.goto(f"/resources/households/{household.pk}/measures/add/")
    page.select_option("#id_category", "09")
    # what a page without the script (or a crafted post) sends: a sub-type of another category
    page.eval_on_selector("#id_subtype", "s => { s.querySelector('option[value=\"0204\"]').disabled = false; }")
    page.select_option("#id_subtype", "0204")
    page.fill("#id_start_date", months_ago(1).isoformat())
    page.get_by_test_id("measure-submit").click()
    expect(page.get_by_test_id("form-errors")).to_contain_text("不属于")
    assert not AssistanceMeasure.objects.exists()


def test_the_disaster_type_shows_only_with_the_natural_disaster_risk(page, sign_in, official_a, monitored_household):
    household = monitored_household
    sign_in(page, official_a)
    errors = watch_console(page)
    page.goto(f"/households/{household.pk}/edit/")
    disaster = page.locator("[data-field=disaster_subtype]")
    expect(disaster).to_be_hidden()  # the household's risks are 07 and 09

    page.check("input[name=risk_types][value='04']")
    expect(disaster).to_be_visible()
    page.select_option("#id_disaster_subtype", "1")
    page.uncheck("input[name=risk_types][value='04']")
    expect(disaster).to_be_hidden()
    expect(page.locator("#id_disaster_subtype")).to_have_value("")  # nothing left to send apart from its risk

    page.check("input[name=risk_types][value='04']")
    page.select_option("#id_disaster_subtype", "2")
    page.fill("#id_reason", "山洪冲毁房屋")
    page.get_by_test_id("household-submit").click()
    expect(page).to_have_url(re.compile(rf"/households/{household.pk}/$"))
    household.refresh_from_db()
    assert "04" in household.risk_types.split(",") and household.disaster_subtype == "2"
    assert errors == []
