"""Cross-cutting response headers and the audit actor.

SecurityHeadersMiddleware: a Content-Security-Policy on every response (settings.CONTENT_SECURITY_POLICY:
only the project's own scripts, styles, images and fonts; no inline script or style, no plugins, no
framing, forms post to this site only), and `Cache-Control: no-store` on every response to a logged-in
user, since nearly every page they see names people (households, risk, resources, reports, departments,
the admin); a shared or back-button cache must not keep them.

SessionIdleMiddleware: a session lasts SESSION_COOKIE_AGE from the user's last request, to within
SESSION_TOUCH_SECONDS: its expiry is pushed forward when the last push is that old, not on every request, so a
page view does not write (and flush to disk) the session row each time.

AuditActorMiddleware: the request's user is the actor of audit records written where no caller passes one
(povertycloud.audit.context).
"""

import time
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from povertycloud.audit.context import acting_as


def content_security_policy(directives: dict[str, list[str]]) -> str:
    return "; ".join(f"{name} {' '.join(values)}".strip() for name, values in directives.items())


class SecurityHeadersMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.policy = content_security_policy(settings.CONTENT_SECURITY_POLICY)
        self.header = (
            "Content-Security-Policy-Report-Only"
            if getattr(settings, "CONTENT_SECURITY_POLICY_REPORT_ONLY", False)
            else "Content-Security-Policy"
        )

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if self.policy and self.header not in response:
            response[self.header] = self.policy
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            response["Cache-Control"] = "no-store"
            response.headers.pop("Expires", None)
        return response


class AuditActorMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        with acting_as(lambda: getattr(request, "user", None)):
            return self.get_response(request)


class SessionIdleMiddleware:
    """Pushes a logged-in session's expiry forward at most once per SESSION_TOUCH_SECONDS (after
    SessionMiddleware, which saves a modified session with a new expiry of SESSION_COOKIE_AGE)."""

    KEY = "_last_touch"

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]):
        self.get_response = get_response
        self.every = getattr(settings, "SESSION_TOUCH_SECONDS", 60)

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        session = getattr(request, "session", None)
        user = getattr(request, "user", None)
        if session is not None and user is not None and user.is_authenticated and session.session_key:
            now = int(time.time())
            last = session.get(self.KEY)
            if not isinstance(last, int) or now - last >= self.every:
                session[self.KEY] = now
        return response
