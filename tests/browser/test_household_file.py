"""A township official at work on the household file, in a real browser (issue 3, item 7)."""

import datetime as dt
import re
from urllib.parse import urlencode

import pytest
from playwright.sync_api import expect

from households.models import Person
from households.sensitive import mask_id_number
from povertycloud.audit.models import AuditEvent
from tests.browser.conftest import log_in_as, make_official
from tests.conftest import PASSWORD
from tests.factories import resident_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def household_rows(page):
    return page.get_by_test_id("household-row")


def search(page, text: str) -> None:
    page.fill("#id_q", text)
    page.click("#search-submit")
    # Wait for the list answering this search, not the page the search was typed into.
    expect(page).to_have_url(re.compile(rf"/households/\?{re.escape(urlencode({'q': text}))}(&|$)"))
    expect(page.locator("#id_q")).to_have_value(text)


def file_url(household) -> str:
    return f"/households/{household.pk}/"


def member_edit_url(person) -> str:
    return f"/households/{person.household_id}/members/{person.pk}/edit/"


def test_official_searches_by_name_and_number_and_opens_the_file(page, official_a, township_files):
    files = township_files
    log_in_as(page, official_a, PASSWORD)
    page.get_by_test_id("nav-households").click()
    expect(household_rows(page)).to_have_count(2)  # the two households of 西江镇, not 郎德镇's

    # By a member's name: 李秀英 is the wife in a 西江镇 household and the head of a 郎德镇 one.
    search(page, "李秀英")
    expect(household_rows(page)).to_have_count(1)
    row = household_rows(page).first
    expect(row).to_have_attribute("data-household-id", str(files.home.pk))
    expect(row.get_by_test_id("head-name")).to_have_text("王建国")
    expect(row.get_by_test_id("household-link")).to_have_text(files.home.number)
    expect(page.locator(f"tr[data-household-id='{files.elsewhere.pk}']")).to_have_count(0)
    expect(page.get_by_test_id("household-table")).not_to_contain_text(files.elsewhere.number)

    # By household number: the neighbour's, then 郎德镇's (found nowhere for this official).
    search(page, files.neighbour.number)
    expect(household_rows(page)).to_have_count(1)
    expect(household_rows(page).get_by_test_id("head-name")).to_have_text("张三")
    search(page, files.elsewhere.number)
    expect(household_rows(page)).to_have_count(0)
    expect(page.get_by_test_id("no-results")).to_be_visible()

    search(page, files.home.number)
    expect(household_rows(page)).to_have_count(1)
    household_rows(page).get_by_test_id("household-link").click()
    expect(page).to_have_url(re.compile(rf"/households/{files.home.pk}/$"))
    expect(page.get_by_test_id("household-number")).to_have_text(files.home.number)
    members = page.get_by_test_id("member-row")
    expect(members).to_have_count(2)
    expect(page.get_by_test_id("members-table")).to_contain_text("王建国")
    expect(page.get_by_test_id("members-table")).to_contain_text("李秀英")


def fill_member_form(page, *, id_number: str, name: str, birth_date: dt.date) -> None:
    page.fill("#id_id_number", id_number)
    page.fill("#id_name", name)
    page.select_option("#id_sex", "2")
    page.fill("#id_birth_date", birth_date.isoformat())
    page.select_option("#id_ethnicity", "06")  # 苗族
    page.select_option("#id_relation", "04")  # 之女
    page.check("#id_health input[value='1']")  # 健康
    page.select_option("#id_labour_skill", "1")
    page.select_option("#id_education", "4")  # 高中
    page.select_option("#id_school_status", "")
    page.check("#id_resident_medical_insurance")


def test_adding_a_member_with_a_bad_id_shows_the_error_and_saves_nothing_until_corrected(
    page, sign_in, official_a, township_files
):
    household = township_files.home
    birth = dt.date(2001, 4, 23)
    good_id = resident_id(birth, sex="2", sequence=38)
    wrong_check = "0" if good_id[-1] != "0" else "1"
    bad_id = good_id[:-1] + wrong_check
    sign_in(page, official_a)
    page.goto(file_url(household))
    page.get_by_test_id("add-member").click()
    expect(page.locator("#member-form")).to_be_visible()

    fill_member_form(page, id_number=bad_id, name="王小梅", birth_date=birth)
    page.click("#member-submit")

    error = page.locator("#id_id_number_error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("证件号码校验位错误")
    expect(error).to_contain_text(f"最后一位应为 {good_id[-1]}")
    expect(page.locator("#form-errors")).to_contain_text("证件号码")
    # The error sits with the ID field: in its field group, right above the input, and tied to it.
    expect(page.locator("[data-field=id_number]")).to_have_class(re.compile(r"\bhas-error\b"))
    expect(page.locator("[data-field=id_number] #id_id_number_error")).to_have_count(1)
    id_input = page.locator("#id_id_number")
    expect(id_input).to_have_attribute("aria-invalid", "true")
    expect(id_input).to_have_attribute("aria-describedby", re.compile(r"\bid_id_number_error\b"))
    error_box, input_box = error.bounding_box(), id_input.bounding_box()
    assert 0 <= input_box["y"] - (error_box["y"] + error_box["height"]) < 24, (error_box, input_box)
    expect(page.locator("[data-field]:not([data-field=id_number]) .errorlist")).to_have_count(0)
    assert Person.objects.filter(household=household).count() == 2
    assert not Person.objects.filter(name="王小梅").exists()
    # What was typed is still there, to be corrected rather than retyped.
    expect(page.locator("#id_name")).to_have_value("王小梅")

    page.fill("#id_id_number", good_id)
    page.click("#member-submit")

    expect(page.get_by_test_id("message-success")).to_contain_text("已添加家庭成员 王小梅")
    expect(page).to_have_url(re.compile(rf"/households/{household.pk}/$"))
    added = Person.objects.get(household=household, name="王小梅")
    assert added.id_number == good_id
    row = page.locator(f"#person-{added.pk}")
    expect(row).to_contain_text("王小梅")
    expect(row.get_by_test_id("id-number")).to_have_text(mask_id_number(good_id))
    expect(page.locator("#members")).not_to_contain_text(good_id)

    created = page.locator("#audit-trail [data-testid=audit-row][data-action=create]")
    expect(created).to_have_count(1)
    expect(created).to_contain_text("official_a")
    expect(created).to_contain_text("王小梅")
    assert AuditEvent.objects.filter(action="create", actor=official_a, object_pk=str(added.pk)).count() == 1


def test_the_second_of_two_officials_saving_the_same_member_is_told_the_form_is_stale(
    new_page, sign_in, official_a, township_files
):
    colleague = make_official("official_a2")
    wife = township_files.wife
    first, second = new_page(), new_page()
    sign_in(first, official_a)
    sign_in(second, colleague)
    for page, user in ((first, official_a), (second, colleague)):
        page.goto(member_edit_url(wife))
        expect(page.get_by_test_id("current-user")).to_contain_text(user.username)
        expect(page.locator("#id_name")).to_have_value("李秀英")

    first.fill("#id_name", "李秀瑛")
    first.click("#member-submit")
    expect(first.get_by_test_id("message-success")).to_contain_text("李秀瑛 的信息已保存")

    second.fill("#id_name", "李秀云")
    second.select_option("#id_labour_skill", "3")
    second.click("#member-submit")
    stale = second.locator("#stale-message")
    expect(stale).to_be_visible()
    expect(stale).to_contain_text("已被他人修改")
    expect(stale).to_contain_text("本次修改未保存")
    expect(second.get_by_test_id("message-success")).to_have_count(0)
    expect(second).to_have_url(re.compile(re.escape(member_edit_url(wife)) + "$"))

    stored = Person.objects.get(pk=wife.pk)
    assert stored.name == "李秀瑛"
    assert stored.labour_skill == wife.labour_skill
    assert stored.version == wife.version + 1
    assert not AuditEvent.objects.filter(actor=colleague).exists()

    # Saving the stale form again does not push it through either.
    expect(second.locator("#id_name")).to_have_value("李秀云")
    with second.expect_navigation():
        second.click("#member-submit")
    expect(second.locator("#stale-message")).to_be_visible()
    assert Person.objects.get(pk=wife.pk).name == "李秀瑛"

    # Reopening the latest version shows the first official's value.
    second.get_by_test_id("stale-reload").click()
    expect(second.locator("#id_name")).to_have_value("李秀瑛")


def test_an_id_number_is_masked_until_revealed_and_the_reveal_is_audited(
    page, sign_in, official_a, township_files
):
    head = township_files.head
    sign_in(page, official_a)
    page.goto(file_url(township_files.home))
    value = page.locator(f"#value-person-{head.pk}-id_number")
    expect(value).to_have_text(mask_id_number(head.id_number))
    assert head.id_number not in page.content()
    assert not AuditEvent.objects.filter(action="reveal").exists()

    page.get_by_test_id(f"reveal-id_number-{head.pk}").click()

    expect(value).to_have_text(head.id_number)
    expect(page.get_by_test_id(f"reveal-id_number-{head.pk}")).to_have_count(0)
    event = AuditEvent.objects.get(action="reveal")
    assert event.actor == official_a
    assert event.entity == "households.person"
    assert event.object_pk == str(head.pk)
    assert event.household_id == township_files.home.pk
    assert event.changes == {"field": "id_number"}
    # The other member's number stayed masked; after a reload the number is masked again and the audit
    # trail on the page lists the reveal.
    wife = township_files.wife
    expect(page.locator(f"#value-person-{wife.pk}-id_number")).to_have_text(mask_id_number(wife.id_number))
    page.reload()
    expect(value).to_have_text(mask_id_number(head.id_number))
    expect(page.locator("#audit-trail [data-action=reveal]")).to_contain_text("official_a")


def test_another_townships_household_typed_in_answers_404(page, sign_in, official_a, township_files):
    elsewhere = township_files.elsewhere
    head = elsewhere.members.get()
    sign_in(page, official_a)
    for address in (
        file_url(elsewhere),
        f"/households/{elsewhere.pk}/edit/",
        member_edit_url(head),
        f"/households/{elsewhere.pk}/members/add/",
    ):
        response = page.goto(address)
        assert response.status == 404, address
        expect(page.get_by_test_id("not-found")).to_contain_text("页面不存在")
        body = page.locator("body")
        expect(body).not_to_contain_text(elsewhere.number)
        expect(body).not_to_contain_text("李秀英")
    # The official's own household opens as usual.
    assert page.goto(file_url(township_files.home)).status == 200


def test_a_member_who_leaves_is_closed_and_listed_with_date_and_reason(page, sign_in, official_a, township_files):
    household = township_files.home
    leaving = Person.objects.filter(household=household).exclude(relation="01").first()
    sign_in(page, official_a)
    page.goto(file_url(household))
    page.locator(f"#person-{leaving.pk}").get_by_test_id("remove-member").click()
    expect(page.get_by_test_id("member-remove-form")).to_be_visible()
    page.fill("#id_left_on", "2026-06-30")
    page.fill("#id_reason", "婚嫁迁出")
    page.get_by_test_id("member-remove-submit").click()

    expect(page.get_by_test_id("message-success")).to_contain_text(leaving.name)
    expect(page.locator(f"#person-{leaving.pk}")).to_have_count(0)
    left = page.get_by_test_id("member-left-row")
    expect(left).to_have_count(1)
    expect(left).to_contain_text(leaving.name)
    expect(left).to_contain_text("2026-06-30")
    expect(left).to_contain_text("婚嫁迁出")
    kept = Person.everyone.get(pk=leaving.pk)
    assert (kept.left_on, kept.left_reason) == (dt.date(2026, 6, 30), "婚嫁迁出")
