"""A refusal speaks: a 403 is the site's page, with its navigation and the reason the code gave, and it is
logged as one warning line, never as a traceback. A refused form post (CSRF) gets the same page."""

import logging
import sys

import pytest
from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.test import Client

from povertycloud.logs import RefusalWithoutTraceback

AUDITOR_REASON = "审计人员只能查看，不能操作。"


def client_of(user, **kwargs) -> Client:
    client = Client(**kwargs)
    client.force_login(user)
    return client


def no_traceback(caplog) -> bool:
    return all(record.exc_info is None for record in caplog.records) and "Traceback" not in caplog.text


def test_an_auditor_posting_to_a_write_url_gets_the_reason_on_the_sites_page(auditor, caplog):
    with caplog.at_level(logging.WARNING):
        response = client_of(auditor).post("/risk/refresh/")
    assert response.status_code == 403
    page = response.content.decode()
    assert AUDITOR_REASON in page
    assert 'data-testid="nav"' in page and 'data-testid="current-user"' in page
    assert 'data-testid="forbidden"' in page
    assert "403.html" in [template.name for template in response.templates]


def test_a_refusal_is_logged_as_one_line_without_a_traceback(auditor, caplog):
    with caplog.at_level(logging.WARNING):
        client_of(auditor).post("/risk/refresh/")
    refusals = [record for record in caplog.records if record.name == "django.request"]
    assert len(refusals) == 1
    assert refusals[0].levelno == logging.WARNING
    assert "/risk/refresh/" in refusals[0].getMessage() and AUDITOR_REASON in refusals[0].getMessage()
    assert no_traceback(caplog)


def test_another_roles_refusal_gives_its_own_reason(official_a, caplog):
    with caplog.at_level(logging.WARNING):
        response = client_of(official_a).post("/risk/refresh/")
    assert response.status_code == 403
    assert "只有县级工作人员可以更新风险名单。" in response.content.decode()
    assert no_traceback(caplog)


def test_a_refusal_in_the_resources_pages_speaks_too(auditor):
    response = client_of(auditor).post("/resources/households/1/observe/")
    assert response.status_code == 403 and AUDITOR_REASON in response.content.decode()


def test_a_refusal_without_a_reason_says_the_user_may_not(rf, official_a):
    from django.views.defaults import permission_denied

    request = rf.get("/")
    request.user = official_a
    response = permission_denied(request, PermissionDenied())
    page = response.content.decode()
    assert response.status_code == 403 and "您没有权限执行此操作。" in page


def test_the_refused_request_changed_nothing(auditor):
    from risk.models import Job

    client_of(auditor).post("/risk/refresh/")
    assert not Job.objects.exists()


# --- CSRF ----------------------------------------------------------------------------------------------


def test_a_form_post_without_its_csrf_token_gets_the_sites_page(official_a, caplog):
    client = client_of(official_a, enforce_csrf_checks=True)
    with caplog.at_level(logging.WARNING):
        response = client.post("/accounts/logout/")
    assert response.status_code == 403
    page = response.content.decode()
    assert "CSRF" in page and "请求未通过安全校验" in page
    assert 'data-testid="nav"' in page
    assert "_auth_user_id" in client.session  # not logged out
    assert no_traceback(caplog)
    assert any(record.name.startswith("django.security.csrf") for record in caplog.records)


def test_a_login_post_without_a_csrf_cookie_asks_for_cookies_and_offers_the_login_page(db):
    response = Client(enforce_csrf_checks=True).post("/accounts/login/", {"username": "x", "password": "y"})
    assert response.status_code == 403
    page = response.content.decode()
    assert "Cookie" in page and 'href="/accounts/login/"' in page
    assert 'data-testid="nav"' not in page


def test_the_csrf_failure_view_is_the_sites():
    assert settings.CSRF_FAILURE_VIEW == "povertycloud.views.csrf_failure"


# --- The logging filter --------------------------------------------------------------------------------


def _record(status: int, exc: BaseException) -> logging.LogRecord:
    try:
        raise exc
    except BaseException:
        info = sys.exc_info()
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Forbidden: %s", ("/x/",), info)
    record.status_code = status
    return record


def test_the_filter_drops_the_traceback_of_a_client_error_and_keeps_its_reason():
    record = _record(403, PermissionDenied("不行。"))
    assert RefusalWithoutTraceback().filter(record)
    assert record.exc_info is None
    assert record.getMessage() == "Forbidden: /x/ — 不行。"


def test_the_filter_keeps_the_traceback_of_a_server_error():
    record = _record(500, RuntimeError("boom"))
    assert RefusalWithoutTraceback().filter(record)
    assert record.exc_info is not None


def test_the_filter_is_on_the_request_logger():
    assert "refusal_without_traceback" in settings.LOGGING["loggers"]["django.request"]["filters"]
    assert any(isinstance(f, RefusalWithoutTraceback) for f in logging.getLogger("django.request").filters)


@pytest.mark.parametrize("path", ["/risk/refresh/"])
def test_an_anonymous_post_is_sent_to_log_in_not_refused(db, path):
    response = Client().post(path)
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
