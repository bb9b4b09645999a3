"""The Content-Security-Policy breaks no page: a real browser reports no violation, and the pages' scripts run."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def watch_violations(page) -> list[str]:
    found: list[str] = []
    page.on("console", lambda message: found.append(message.text) if "Content Security Policy" in message.text
            else None)
    return found


def test_pages_of_an_official_load_without_a_policy_violation(page, sign_in, official_a, township_files):
    violations = watch_violations(page)
    sign_in(page, official_a)
    for path in ("/", "/households/", f"/households/{township_files.home.pk}/", "/resources/checks/",
                 "/reports/", "/departments/", "/risk/cases/?mine=1"):
        response = page.goto(path)
        assert response.status == 200, path
        assert "default-src 'self'" in response.headers["content-security-policy"]
        page.wait_for_load_state("load")
    assert violations == []


def test_the_reveal_script_runs_under_the_policy(page, sign_in, official_a, township_files):
    violations = watch_violations(page)
    sign_in(page, official_a)
    page.goto(f"/households/{township_files.home.pk}/")
    head = township_files.head
    page.get_by_test_id(f"reveal-id_number-{head.pk}").click()
    expect(page.get_by_test_id(f"reveal-id_number-{head.pk}")).to_have_count(0)  # the script replaced it
    assert violations == []


def test_the_admin_loads_without_a_policy_violation(page, sign_in, admin_user, township_files):
    violations = watch_violations(page)
    sign_in(page, admin_user)
    person = f"/admin/households/person/{township_files.head.pk}/change/"
    for path in ("/admin/", "/admin/households/household/", person):
        assert page.goto(path).status == 200, path
        page.wait_for_load_state("load")
    assert violations == []
