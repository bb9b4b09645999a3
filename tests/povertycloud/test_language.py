"""The language switch in the header: every role (and the login page) can reach it, and the choice is kept."""

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db


def test_the_login_page_offers_english_and_the_choice_is_remembered(client):
    page = client.get(reverse("accounts:login")).content.decode()
    assert 'data-testid="language-en"' in page
    response = client.post(reverse("set_language"), {"language": "en", "next": reverse("accounts:login")})
    assert response.status_code == 302
    assert response.cookies[settings.LANGUAGE_COOKIE_NAME].value == "en"
    again = client.get(reverse("accounts:login"))
    assert '<html lang="en">' in again.content.decode()
    assert 'data-testid="language-zh-hans"' in again.content.decode()


@pytest.mark.parametrize("who", ["official_a", "county_staff", "auditor", "admin_user"])
def test_every_role_has_the_switch_in_the_header(client, request, who):
    user = request.getfixturevalue(who)
    client.force_login(user)
    page = client.get(reverse("households:list")).content.decode()
    assert 'data-testid="language-switch"' in page and 'data-testid="language-en"' in page


def test_an_unknown_language_changes_nothing(client):
    client.post(reverse("set_language"), {"language": "xx", "next": "/"})
    cookie = client.cookies.get(settings.LANGUAGE_COOKIE_NAME)
    assert cookie is None or cookie.value != "xx"
    assert '<html lang="zh-hans">' in client.get(reverse("accounts:login")).content.decode()


def test_in_english_the_header_and_the_pages_own_text_are_english(client, official_a):
    client.force_login(official_a)
    client.post(reverse("set_language"), {"language": "en", "next": "/"})
    page = client.get(reverse("households:list")).content.decode()
    assert "Household file" in page or "Household files" in page
    assert "户档案</a>" not in page
    client.post(reverse("set_language"), {"language": "zh-hans", "next": "/"})
    assert "户档案</a>" in client.get(reverse("households:list")).content.decode()
