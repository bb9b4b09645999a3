"""Playwright driving Debian's Chromium, headless, against Django's live server.

One browser per session; each test gets fresh browser contexts (cookies, storage), closed after it.
"""

import datetime as dt
import os
import shutil
from dataclasses import dataclass
from typing import Any

import pytest
from django.conf import settings
from playwright.sync_api import expect

from tests.conftest import PASSWORD
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_A2, VILLAGE_B, make_household, make_person

# Playwright's sync API runs an event loop in the test thread; the ORM calls the tests make are still
# synchronous and safe there.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.fail("Chromium is not installed: run scripts/install-system-deps.sh (make test does).")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """The default PBKDF2 costs most of a second per user created and per login; the tests do not test it."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def new_page(browser, live_server):
    """Opens a page in a browser context of its own (its own cookies: its own login)."""
    contexts = []

    def open_page(*, viewport: dict | None = None, is_mobile: bool = False):
        context = browser.new_context(
            base_url=live_server.url, locale="zh-CN", viewport=viewport or DESKTOP,
            is_mobile=is_mobile, has_touch=is_mobile,
        )
        context.set_default_timeout(10_000)
        contexts.append(context)
        return context.new_page()

    yield open_page
    for context in contexts:
        context.close()


@pytest.fixture
def page(new_page):
    return new_page()


@pytest.fixture
def phone_page(new_page):
    return new_page(viewport=PHONE, is_mobile=True)


def log_in(page, username: str, password: str) -> None:
    """Submits the login form; the caller checks the outcome (see log_in_as for a login that must work)."""
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", password)
    page.click("#login-submit")
    page.wait_for_load_state()


def log_in_as(page, user, password: str) -> None:
    """Logs in through the login form and waits until the page shows this user logged in."""
    log_in(page, user.username, password)
    expect(page.get_by_test_id("current-user")).to_contain_text(user.get_full_name() or user.username)


@pytest.fixture
def sign_in(live_server):
    """sign_in(page, user): gives the page's browser context a logged-in session cookie, as the test client's
    force_login() does, without the two page loads of the login form (whose own tests go through it)."""
    from django.test import Client

    def give_session(page, user) -> None:
        client = Client()
        client.force_login(user)
        cookie = client.cookies[settings.SESSION_COOKIE_NAME]
        page.context.add_cookies(
            [{"name": cookie.key, "value": cookie.value, "url": live_server.url, "httpOnly": True}]
        )

    return give_session


@dataclass
class TownshipFiles:
    """Three household files: two in official A's township (西江镇), one in official B's (郎德镇).

    The wife in A's first household and the head of B's household share a name, so that a search by
    that name would find both were it not scoped to the township.
    """

    home: Any  # 西江村: head 王建国, wife 李秀英
    head: Any
    wife: Any
    neighbour: Any  # 麻料村: head 张三
    elsewhere: Any  # 郎德上寨 (郎德镇): head 李秀英


@pytest.fixture
def township_files(official_a, official_b) -> TownshipFiles:
    home = make_household(number="522634101200000101", village_id=VILLAGE_A, with_head=False)
    head = make_person(home, name="王建国", sex="1", birth_date=dt.date(1975, 3, 8), relation="01")
    wife = make_person(home, name="李秀英", sex="2", birth_date=dt.date(1978, 11, 2), relation="02")
    neighbour = make_household(number="522634101201000202", village_id=VILLAGE_A2, with_head=False)
    make_person(neighbour, name="张三", sex="1", birth_date=dt.date(1968, 1, 20), relation="01")
    elsewhere = make_household(number="522634103200000301", village_id=VILLAGE_B, with_head=False)
    make_person(elsewhere, name="李秀英", sex="2", birth_date=dt.date(1971, 6, 9), relation="01")
    return TownshipFiles(home=home, head=head, wife=wife, neighbour=neighbour, elsewhere=elsewhere)


def make_official(username: str, township: str = TOWNSHIP_A):
    """A further township official (the shared fixtures have one per township)."""
    from povertycloud.accounts.models import Role, User

    user = User(username=username, role=Role.TOWNSHIP_OFFICIAL, region_id=township, first_name=username)
    user.set_password(PASSWORD)
    user.save()
    return user
