"""Login, its throttle, the audit of failures, and sessions that end after inactivity."""

import datetime as dt
import time

import pytest
from django.conf import settings
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from povertycloud.accounts import throttle
from povertycloud.audit.models import AuditEvent
from povertycloud.middleware import SessionIdleMiddleware
from tests.conftest import PASSWORD

LOGIN = "/accounts/login/"
LOCKED = "登录失败次数过多"


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """PBKDF2 costs a good part of a second per attempt; these tests make hundreds and do not test it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def attempt(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(LOGIN, {"username": username, "password": password}, REMOTE_ADDR=address)


def logged_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_login_page_is_in_chinese(db):
    response = Client().get(LOGIN)
    assert response.status_code == 200
    assert "登录扶贫云" in response.content.decode()


def test_login_works(official_a):
    client = Client()
    response = attempt(client, "official_a", PASSWORD)
    assert response.status_code == 302
    assert response["Location"] == "/"
    assert logged_in(client)
    assert client.get("/").status_code == 200


def test_wrong_password_is_refused_with_a_chinese_message(official_a):
    client = Client()
    response = attempt(client, "official_a", "wrong-password-1")
    assert response.status_code == 200
    assert "正确的" in response.content.decode()
    assert not logged_in(client)


def test_failed_login_writes_an_audit_row(official_a):
    attempt(Client(), "official_a", "wrong-password-1", address="10.1.2.3")
    event = AuditEvent.objects.get(action="login_failed")
    assert event.object_repr == "official_a"
    assert event.actor is None
    assert "10.1.2.3" in event.note


def test_successful_login_writes_no_failure_row(official_a):
    attempt(Client(), "official_a", PASSWORD)
    assert not AuditEvent.objects.filter(action="login_failed").exists()


def test_sixth_attempt_after_five_failures_is_refused_even_with_the_right_password(official_a):
    client = Client()
    assert settings.LOGIN_THROTTLE_ATTEMPTS == 5
    for _ in range(5):
        assert attempt(client, "official_a", "wrong-password-1").status_code == 200
    response = attempt(client, "official_a", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not logged_in(client)


def test_a_locked_login_does_not_tell_whether_the_password_was_right(official_a):
    client = Client()
    for _ in range(5):
        attempt(client, "official_a", "wrong-password-1")
    right = attempt(client, "official_a", PASSWORD)
    wrong = attempt(client, "official_a", "wrong-password-2")
    assert right.status_code == wrong.status_code == 429
    assert right.context["form"].errors == wrong.context["form"].errors
    assert "正确的" not in right.content.decode()


def test_locked_attempts_are_audited_too(official_a):
    client = Client()
    for _ in range(5):
        attempt(client, "official_a", "wrong-password-1")
    attempt(client, "official_a", PASSWORD)
    assert AuditEvent.objects.filter(action="login_failed", object_repr="official_a").count() == 6


def test_the_lock_counts_a_username_in_any_case(official_a):
    client = Client()
    for number, name in enumerate(["official_a", "OFFICIAL_A", "Official_A", "official_A", "OFFICIAL_a"]):
        attempt(client, name, "wrong-password-1", address=f"10.0.0.{number + 10}")
    assert attempt(client, "official_a", PASSWORD, address="10.9.9.9").status_code == 429


def test_the_lock_counts_failures_from_one_address_across_usernames(official_a, official_b):
    client = Client()
    assert settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS == 50
    for number in range(settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS):
        attempt(client, f"guess{number}", "wrong-password-1", address="10.6.6.6")
    assert attempt(client, "official_b", PASSWORD, address="10.6.6.6").status_code == 429
    assert attempt(client, "official_b", PASSWORD, address="10.7.7.7").status_code == 302


# --- A lock-out hits the one who failed -----------------------------------------------------------------


def test_five_failures_on_one_account_do_not_lock_out_a_colleague_on_the_same_address(official_a, official_b):
    client = Client()
    for _ in range(5):
        attempt(client, "official_a", "wrong-password-1", address="10.8.8.8")
    assert attempt(client, "official_a", PASSWORD, address="10.8.8.8").status_code == 429
    colleague = Client()
    assert attempt(colleague, "official_b", PASSWORD, address="10.8.8.8").status_code == 302
    assert logged_in(colleague)


def test_several_colleagues_typos_on_one_address_do_not_lock_it(official_a, official_b):
    client = Client()
    for number in range(10):  # ten colleagues, four typos each: 40 failures, below the address's 50
        for _ in range(4):
            attempt(client, f"colleague{number}", "wrong-password-1", address="10.8.8.9")
    assert attempt(client, "official_b", PASSWORD, address="10.8.8.9").status_code == 302


def test_the_address_is_locked_only_at_its_own_higher_count(official_b, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 12
    client = Client()
    for number in range(11):
        attempt(client, f"guess{number}", "wrong-password-1", address="10.9.0.1")
    assert attempt(client, "official_b", PASSWORD, address="10.9.0.1").status_code == 302
    client.logout()
    attempt(client, "guess99", "wrong-password-1", address="10.9.0.1")  # the twelfth
    response = attempt(client, "official_b", PASSWORD, address="10.9.0.1")
    assert response.status_code == 429 and LOCKED in response.content.decode()
    assert attempt(Client(), "official_b", PASSWORD, address="10.9.0.2").status_code == 302


def _opens_at(username: str, address: str) -> str:
    from django.utils import formats, translation

    until = throttle.locked_until(username, address)
    assert until is not None
    local = timezone.localtime(until)
    with translation.override(settings.LANGUAGE_CODE):  # the language the pages are in
        if local.date() == timezone.localdate():
            return formats.time_format(local)
        # A lock that ends after midnight (local time) names the day too: "2026年12月7日 00:07", not "00:07".
        return formats.date_format(local, "DATETIME_FORMAT")


def test_a_locked_accounts_login_page_says_when_it_opens_again(official_a):
    client = Client()
    started = timezone.now()
    for _ in range(5):
        attempt(client, "official_a", "wrong-password-1", address="10.8.1.1")
    response = attempt(client, "official_a", PASSWORD, address="10.8.1.1")
    assert response.status_code == 429
    page = response.content.decode()
    until = throttle.locked_until("official_a", "10.8.1.1")
    window = dt.timedelta(seconds=settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    assert started + window <= until <= timezone.now() + window
    assert f"请于 {_opens_at('official_a', '10.8.1.1')} 之后再试" in page
    assert "分钟后" in page


def test_a_lock_that_ends_after_midnight_names_the_day():
    """Locked at 23:55, open at 00:10: "00:10" alone would read as a time already past."""
    from povertycloud.accounts.views import lock_message

    tomorrow = (timezone.localtime() + dt.timedelta(days=1)).replace(hour=0, minute=7, second=0, microsecond=0)
    message = lock_message(tomorrow)
    assert f"请于 {tomorrow.year}年{tomorrow.month}月{tomorrow.day}日 00:07 之后再试" in message


def test_the_failure_that_locks_the_account_already_says_until_when(official_a):
    client = Client()
    for _ in range(4):
        assert LOCKED not in attempt(client, "official_a", "wrong-password-1").content.decode()
    fifth = attempt(client, "official_a", "wrong-password-1").content.decode()
    assert LOCKED in fifth and _opens_at("official_a", "10.0.0.1") in fifth


def test_the_time_is_the_users_local_time(official_a, settings):
    settings.TIME_ZONE = "Asia/Shanghai"
    for _ in range(5):
        attempt(Client(), "official_a", "wrong-password-1")
    until = throttle.locked_until("official_a", "10.0.0.1")
    shanghai = until.astimezone(dt.timezone(dt.timedelta(hours=8)))
    assert f"{shanghai:%H:%M}" in attempt(Client(), "official_a", PASSWORD).content.decode()


def test_attempts_while_locked_do_not_push_the_time_back(official_a):
    client = Client()
    for _ in range(5):
        attempt(client, "official_a", "wrong-password-1")
    first = throttle.locked_until("official_a", "10.0.0.1")
    for _ in range(3):
        assert attempt(client, "official_a", "wrong-password-2").status_code == 429
    assert throttle.locked_until("official_a", "10.0.0.1") == first


def test_an_unlocked_account_has_no_time(official_a):
    attempt(Client(), "official_a", "wrong-password-1")
    assert throttle.locked_until("official_a", "10.0.0.1") is None


def test_a_lock_that_ends_on_another_day_names_the_date_too():
    from django.utils import translation

    from povertycloud.accounts.views import lock_message

    with translation.override("zh-hans"):
        message = lock_message(timezone.now() + dt.timedelta(days=2))
    assert "年" in message and "月" in message


def test_the_time_follows_the_users_language():
    from django.utils import formats, translation

    from povertycloud.accounts.views import lock_message

    until = timezone.now() + dt.timedelta(minutes=15)
    with translation.override("en"):
        english = lock_message(until)
        assert formats.time_format(timezone.localtime(until)) in english
    with translation.override("zh-hans"):
        assert f"{timezone.localtime(until):%H:%M}" in lock_message(until)


@pytest.mark.parametrize(
    "spelling",
    [
        " official_a ",  # the form strips the name
        "ｏｆｆｉｃｉａｌ＿ａ",  # full-width: NFKC gives official_a, which Django then authenticates
        "ＯＦＦＩＣＩＡＬ_A",
    ],
)
def test_the_lock_counts_the_user_name_as_django_authenticates_it(official_a, spelling):
    client = Client()
    for number in range(5):
        attempt(client, spelling, "wrong-password-1", address=f"10.3.0.{number + 10}")
    assert attempt(client, "official_a", PASSWORD, address="10.9.9.9").status_code == 429


def test_a_full_width_user_name_logs_in_as_the_account(official_a):
    """The premise of the test above: these spellings reach the same account."""
    assert attempt(Client(), "ｏｆｆｉｃｉａｌ＿ａ", PASSWORD).status_code == 302


def test_a_success_does_not_clear_other_accounts_failures_from_the_same_address(official_a, official_b, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 5
    client = Client()
    for number in range(4):
        attempt(client, f"guess{number}", "wrong-password-1", address="10.6.6.6")
    assert attempt(client, "official_a", PASSWORD, address="10.6.6.6").status_code == 302
    client.logout()
    attempt(client, "guess9", "wrong-password-1", address="10.6.6.6")  # the fifth failure from this address
    assert attempt(client, "official_b", PASSWORD, address="10.6.6.6").status_code == 429


def test_a_success_forgives_only_its_own_failures_on_the_address(official_a, official_b, settings):
    settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS = 5
    client = Client()
    for _ in range(3):
        attempt(client, "official_a", "wrong-password-1", address="10.6.6.7")
    attempt(client, "guess", "wrong-password-1", address="10.6.6.7")
    assert attempt(client, "official_a", PASSWORD, address="10.6.6.7").status_code == 302
    client.logout()
    # official_a's three typos are forgiven; the stranger's one stays: four more failures lock the address.
    for number in range(3):
        attempt(client, f"other{number}", "wrong-password-1", address="10.6.6.7")
    assert attempt(client, "official_b", PASSWORD, address="10.6.6.7").status_code == 302
    client.logout()
    attempt(client, "other9", "wrong-password-1", address="10.6.6.7")
    assert attempt(client, "official_b", PASSWORD, address="10.6.6.7").status_code == 429


def test_a_successful_login_clears_earlier_failures(official_a):
    client = Client()
    for _ in range(4):
        attempt(client, "official_a", "wrong-password-1")
    assert attempt(client, "official_a", PASSWORD).status_code == 302
    client.logout()
    for _ in range(4):
        assert attempt(client, "official_a", "wrong-password-1").status_code == 200
    assert attempt(client, "official_a", PASSWORD).status_code == 302


def test_an_inactive_user_cannot_log_in(official_a):
    official_a.is_active = False
    official_a.save()
    client = Client()
    assert attempt(client, "official_a", PASSWORD).status_code == 200
    assert not logged_in(client)


# --- Sessions ----------------------------------------------------------------------------------------


def test_sessions_last_thirty_minutes_from_the_last_request():
    assert settings.SESSION_COOKIE_AGE == 30 * 60
    # Counted from the last request to within a minute, without writing the session on every request.
    assert settings.SESSION_TOUCH_SECONDS == 60
    assert "povertycloud.middleware.SessionIdleMiddleware" in settings.MIDDLEWARE
    assert settings.SESSION_COOKIE_HTTPONLY is True


def test_session_cookie_is_http_only_and_not_kept_after_the_browser_closes(official_a):
    response = attempt(Client(), "official_a", PASSWORD)
    cookie = response.cookies[settings.SESSION_COOKIE_NAME]
    assert cookie["httponly"]
    assert cookie["samesite"] == "Lax"
    assert not cookie["max-age"] and not cookie["expires"]


def _stored_session(client: Client) -> Session:
    return Session.objects.get(session_key=client.session.session_key)


def test_session_expires_thirty_minutes_after_login(official_a):
    client = Client()
    attempt(client, "official_a", PASSWORD)
    remaining = _stored_session(client).expire_date - timezone.now()
    assert dt.timedelta(minutes=29) < remaining <= dt.timedelta(minutes=30)


def _age_last_touch(client: Client, seconds: int) -> None:
    """The session as if its expiry had last been pushed forward `seconds` ago, and 5 minutes remained."""
    stored = _stored_session(client)
    data = stored.get_decoded()
    data[SessionIdleMiddleware.KEY] = int(time.time()) - seconds
    Session.objects.filter(pk=stored.pk).update(
        session_data=SessionStore().encode(data), expire_date=timezone.now() + dt.timedelta(minutes=5)
    )


def test_a_request_a_minute_after_the_last_push_pushes_the_expiry_forward(official_a):
    client = Client()
    attempt(client, "official_a", PASSWORD)
    _age_last_touch(client, settings.SESSION_TOUCH_SECONDS)
    assert client.get("/").status_code == 200
    remaining = _stored_session(client).expire_date - timezone.now()
    assert remaining > dt.timedelta(minutes=29)


def test_requests_within_the_minute_do_not_write_the_session(official_a):
    client = Client()
    attempt(client, "official_a", PASSWORD)
    assert client.get("/").status_code == 200
    _age_last_touch(client, 5)
    before = _stored_session(client)
    with CaptureQueriesContext(connection) as queries:
        assert client.get("/").status_code == 200
    assert not [q for q in queries.captured_queries if "django_session" in q["sql"] and "UPDATE" in q["sql"]]
    assert _stored_session(client).expire_date == before.expire_date


def test_after_thirty_idle_minutes_the_user_must_log_in_again(official_a):
    client = Client()
    attempt(client, "official_a", PASSWORD)
    Session.objects.filter(session_key=client.session.session_key).update(
        expire_date=timezone.now() - dt.timedelta(seconds=1)
    )
    response = client.get("/")
    assert response.status_code == 302
    assert response["Location"].startswith(LOGIN)


def test_logout_ends_the_session(official_a):
    client = Client()
    attempt(client, "official_a", PASSWORD)
    assert client.post("/accounts/logout/").status_code == 302
    assert not logged_in(client)
    assert client.get("/").status_code == 302


@pytest.mark.parametrize("path", ["/", "/admin/"])
def test_pages_need_a_login(db, path):
    response = Client().get(path)
    assert response.status_code == 302
    assert "login" in response["Location"]


# --- The admin's login: the same view, throttled and audited the same way ------------------------------

ADMIN_LOGIN = "/admin/login/"


def admin_attempt(client: Client, username: str, password: str, address: str = "10.0.0.1"):
    return client.post(ADMIN_LOGIN, {"username": username, "password": password, "next": "/admin/"},
                       REMOTE_ADDR=address)


def test_admin_login_works_for_staff(admin_user):
    client = Client()
    response = admin_attempt(client, "administrator", PASSWORD)
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200


def test_admin_login_refuses_non_staff_and_counts_it(official_a):
    client = Client()
    response = admin_attempt(client, "official_a", PASSWORD)
    assert response.status_code == 200 and not logged_in(client)
    assert AuditEvent.objects.filter(action="login_failed", object_repr="official_a").count() == 1


def test_admin_login_failure_is_audited(admin_user):
    admin_attempt(Client(), "administrator", "wrong-password-1", address="10.4.4.4")
    event = AuditEvent.objects.get(action="login_failed")
    assert event.object_repr == "administrator" and "10.4.4.4" in event.note and "管理后台" in event.note


def test_admin_login_is_throttled(admin_user):
    client = Client()
    for _ in range(5):
        assert admin_attempt(client, "administrator", "wrong-password-1").status_code == 200
    response = admin_attempt(client, "administrator", PASSWORD)
    assert response.status_code == 429
    assert LOCKED in response.content.decode()
    assert not logged_in(client)


def test_failures_on_either_login_page_count_together(admin_user):
    client = Client()
    for number in range(5):
        login = attempt if number % 2 else admin_attempt
        login(client, "ADMINISTRATOR", "wrong-password-1", address=f"10.5.0.{number}")
    assert attempt(client, "administrator", PASSWORD, address="10.5.1.1").status_code == 429
    assert admin_attempt(client, "administrator", PASSWORD, address="10.5.1.2").status_code == 429


def test_admin_login_page_redirects_a_logged_in_administrator(admin_user):
    client = Client()
    client.force_login(admin_user)
    response = client.get(ADMIN_LOGIN)
    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_admin_login_page_renders(db):
    response = Client().get(ADMIN_LOGIN)
    assert response.status_code == 200
    assert 'name="username"' in response.content.decode()
