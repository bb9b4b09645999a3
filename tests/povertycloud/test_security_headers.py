"""A Content-Security-Policy on every response, and no caching of pages that show personal data."""

import re
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from django.urls import reverse

from tests.households.pages import make_file

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)


def policy(response) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {part.split()[0]: part.split()[1:] for part in header.split(";") if part.strip()}


def test_login_page_has_a_content_security_policy_of_own_files_only(db):
    directives = policy(Client().get("/accounts/login/"))
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]  # no 'unsafe-inline', no 'unsafe-eval'
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"] and directives["frame-ancestors"] == ["'none'"]
    assert directives["base-uri"] == ["'none'"] and directives["form-action"] == ["'self'"]


def test_every_kind_of_response_has_the_policy(client, official_a):
    client.force_login(official_a)
    for path in ("/", "/households/", "/no-such-page/", "/admin/login/"):
        assert "Content-Security-Policy" in client.get(path), path


def test_pages_of_a_logged_in_user_are_never_stored(client, official_a):
    household = make_file(official_a, head="王大山")
    client.force_login(official_a)
    for path in (
        "/",
        reverse("households:list"),
        reverse("households:detail", args=[household.pk]),
        "/risk/cases/?mine=1",
        reverse("resources:checks"),
        reverse("reports:dashboard"),
        reverse("exchange:batches"),
    ):
        response = client.get(path)
        assert response.status_code == 200, path
        assert response["Cache-Control"] == "no-store", path


def test_admin_pages_of_a_logged_in_user_are_not_cached(client, admin_user):
    client.force_login(admin_user)
    for path in ("/admin/", "/admin/households/household/", "/admin/audit/auditevent/"):
        response = client.get(path)
        assert response.status_code == 200 and response["Cache-Control"] == "no-store", path


TEMPLATE_DIRS = ["povertycloud/templates", "households/templates", "exchange/templates", "risk/templates",
                 "resources/templates", "reports/templates"]


@pytest.mark.parametrize("folder", TEMPLATE_DIRS)
def test_no_template_has_an_inline_script_or_style(folder):
    """What the policy refuses: an inline <script>, a <style> block, a style="" attribute, an on…="" handler."""
    found = []
    for path in (ROOT / folder).rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        for pattern in (r"<script(?![^>]*\bsrc=)[^>]*>", r"<style\b", r"\sstyle=", r"\son[a-z]+=", r"javascript:"):
            if re.search(pattern, text):
                found.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert found == []
