"""One shape for every error the API answers: ``{"code", "message", "field", "errors"}``.

``code`` is stable (for programs), ``message`` is in the caller's language (Accept-Language), ``field`` names the
input at fault when there is one, ``errors`` lists every fault of a bad request. A 404 says only that nothing was
found: whether an object exists in another region is never told.
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler


class ApiError(exceptions.APIException):
    """An error a view raises with its code, message, field and status."""

    def __init__(self, message: str, *, code: str, field: str | None = None, status_code: int = 400):
        super().__init__(detail=message, code=code)
        self.status_code, self.field, self.error_code = status_code, field, code


GENERIC_CODES = {
    status.HTTP_400_BAD_REQUEST: "invalid",
    status.HTTP_401_UNAUTHORIZED: "not_authenticated",
    status.HTTP_403_FORBIDDEN: "permission_denied",
    status.HTTP_404_NOT_FOUND: "not_found",
    status.HTTP_405_METHOD_NOT_ALLOWED: "method_not_allowed",
    status.HTTP_406_NOT_ACCEPTABLE: "not_acceptable",
    status.HTTP_409_CONFLICT: "conflict",
    status.HTTP_413_REQUEST_ENTITY_TOO_LARGE: "too_large",
    status.HTTP_415_UNSUPPORTED_MEDIA_TYPE: "unsupported_media_type",
    status.HTTP_429_TOO_MANY_REQUESTS: "throttled",
}


def _flatten(detail: Any, field: str | None = None) -> list[dict[str, Any]]:
    """DRF's nested validation details as a flat list of {field, code, message}."""
    if isinstance(detail, dict):
        out = []
        for key, value in detail.items():
            name = None if key in ("non_field_errors", "detail") else (f"{field}.{key}" if field else str(key))
            out.extend(_flatten(value, name if name is not None else field))
        return out
    if isinstance(detail, list):
        out = []
        for index, value in enumerate(detail):
            nested = isinstance(value, dict | list)
            out.extend(_flatten(value, f"{field}[{index}]" if nested and field else field))
        return out
    code = getattr(detail, "code", None) or "invalid"
    return [{"field": field, "code": str(code), "message": str(detail)}]


def handle_exception(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(_("未找到。"), code="not_found")
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or _("没有权限。"), code="permission_denied")
    response = exception_handler(exc, context)
    if response is None:
        return None  # a server error: Django's 500 handling (logged); the schema test proves there are none
    if isinstance(exc, ApiError):
        errors = [{"field": exc.field, "code": exc.error_code, "message": str(exc.detail)}]
    else:
        errors = _flatten(exc.detail) if isinstance(exc, exceptions.APIException) else []
    if isinstance(exc, exceptions.Throttled):
        wait = int(exc.wait or 0) + (1 if exc.wait and exc.wait % 1 else 0)
        errors = [{"field": None, "code": "throttled", "message": _("请求过于频繁，请在 %(seconds)s 秒后重试。") % {
            "seconds": wait}}]
    first = errors[0] if errors else {"field": None, "code": GENERIC_CODES.get(response.status_code, "error"),
                                      "message": str(getattr(exc, "detail", exc))}
    code = first["code"]
    if isinstance(exc, exceptions.ValidationError):
        code = "invalid"
    response.data = {"code": code, "message": first["message"], "field": first["field"], "errors": errors}
    return response
