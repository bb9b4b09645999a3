"""The API's documentation page works in a real browser from this site's own files: no CDN, no policy violation."""

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_documentation_page_shows_every_operation_from_local_files(page, live_server):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    violations: list[str] = []
    page.on("console", lambda m: violations.append(m.text) if "Content Security Policy" in m.text else None)
    assert page.goto("/api/docs/").status == 200
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("povertycloud API")
    for path in ("/api/v1/batches/", "/api/v1/pull/{dataset}/", "/api/v1/me/"):
        expect(page.locator(".opblock-summary-path", has_text=path).first).to_be_visible()
    page.locator(".opblock-summary-path", has_text="/api/v1/me/").first.click()
    expect(page.locator(".opblock-body").first).to_be_visible()
    assert requested and all(url.startswith(live_server.url) or url.startswith("data:") for url in requested), requested
    assert violations == []
