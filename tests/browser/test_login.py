import pytest

from tests.browser.conftest import log_in
from tests.conftest import PASSWORD

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_official_logs_in_and_sees_their_township(page, official_a):
    log_in(page, official_a.username, PASSWORD)
    page.wait_for_url("**/")
    assert "西江镇" in page.content()
    assert "乡镇干部" in page.inner_text("header")


def test_wrong_password_shows_a_chinese_error_and_stays_logged_out(page, official_a):
    log_in(page, official_a.username, "wrong-password")
    assert page.locator(".errors").is_visible()
    assert "/accounts/login/" in page.url
