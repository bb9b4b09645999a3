"""Refusals in the browser: a 403 is the site's page with its navigation and the reason; a stale form gets
the same page; a lock-out says until when; the browser's /favicon.ico request finds the icon."""

import re

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

POST_TO = """([action, token]) => {
    const form = document.createElement("form");
    form.method = "post";
    form.action = action;
    const input = document.createElement("input");
    input.type = "hidden";
    input.name = "csrfmiddlewaretoken";
    input.value = token;
    form.appendChild(input);
    document.body.appendChild(form);
    form.submit();
}"""


def _token(page) -> str:
    return page.locator("form.logout input[name=csrfmiddlewaretoken]").input_value()


def test_an_auditor_who_posts_to_a_write_url_sees_why_on_the_sites_page(page, sign_in, auditor):
    sign_in(page, auditor)
    page.goto("/")
    with page.expect_navigation() as navigation:
        page.evaluate(POST_TO, ["/risk/refresh/", _token(page)])
    assert navigation.value.status == 403
    expect(page.get_by_test_id("forbidden-reason")).to_have_text("审计人员只能查看，不能操作。")
    expect(page.get_by_test_id("nav")).to_be_visible()
    expect(page.get_by_test_id("current-user")).to_contain_text("审计人员")
    expect(page).to_have_title(re.compile("无权操作"))
    page.get_by_test_id("forbidden-home").click()
    expect(page).to_have_url(re.compile(r"/$"))


def test_a_form_with_a_stale_token_gets_the_sites_page_and_changes_nothing(page, sign_in, official_a):
    sign_in(page, official_a)
    page.goto("/")
    page.locator("form.logout input[name=csrfmiddlewaretoken]").evaluate("input => { input.value = 'x'.repeat(64); }")
    with page.expect_navigation() as navigation:
        page.get_by_test_id("logout").click()
    assert navigation.value.status == 403
    expect(page.get_by_test_id("forbidden")).to_contain_text("请求未通过安全校验")
    expect(page.get_by_test_id("nav")).to_be_visible()
    page.goto("/")
    expect(page.get_by_test_id("current-user")).to_be_visible()  # still logged in: the post did nothing


def test_a_locked_account_is_told_when_it_opens_and_a_colleague_still_logs_in(new_page, official_a, official_b):
    page = new_page()
    for _ in range(5):
        log_in(page, official_a.username, "wrong-password")
    log_in(page, official_a.username, PASSWORD)
    error = page.get_by_test_id("login-error")
    expect(error).to_contain_text("登录失败次数过多")
    # The time the lock ends; with its date when that is after midnight (2026年12月7日 00:07).
    expect(error).to_contain_text(re.compile(r"请于 (\d{4}年\d{1,2}月\d{1,2}日 )?\d{1,2}:\d{2} 之后再试"))
    colleague = new_page()  # the same address (127.0.0.1), another account
    log_in(colleague, official_b.username, PASSWORD)
    expect(colleague.get_by_test_id("current-user")).to_be_visible()


def test_the_browsers_favicon_request_finds_the_icon(page):
    response = page.goto("/favicon.ico")
    assert response is not None and response.ok
    assert response.headers["content-type"] in {"image/x-icon", "image/vnd.microsoft.icon"}
