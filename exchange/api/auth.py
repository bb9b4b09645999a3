"""Who is calling the API, what it may do, and how often.

TokenAuthentication reads ``Authorization: Bearer <token>`` and makes the token's client the request's user, so
the scoping helper narrows every read to the client's region as it does a user's. A missing, unknown, expired or
revoked token, or a disabled client, is a 401 with its own code; a scope the client lacks is a 403.
"""

from typing import Any

from django.core.cache import cache
from django.utils.translation import gettext as _
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions, throttling

from exchange.api.models import ApiClient
from exchange.api.services import find_token, note_use


class TokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request) -> tuple[ApiClient, Any] | None:
        header = authentication.get_authorization_header(request).split()
        if not header:
            return None
        if header[0].decode("latin-1").lower() != self.keyword.lower() or len(header) != 2:
            raise NotAuthenticated(_("请在 Authorization 头中提供令牌：Bearer <令牌>。"), code="token_missing")
        try:
            secret = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise NotAuthenticated(_("令牌无效。"), code="token_invalid") from exc
        token = find_token(secret)
        if token is None:
            raise NotAuthenticated(_("令牌无效。"), code="token_invalid")
        if token.revoked_at is not None:
            raise NotAuthenticated(_("令牌已被吊销，请联系系统管理员签发新令牌。"), code="token_revoked")
        if not token.usable:
            raise NotAuthenticated(_("令牌已过期，请联系系统管理员签发新令牌。"), code="token_expired")
        if not token.client.active:
            raise NotAuthenticated(_("接口客户端已停用。"), code="client_disabled")
        note_use(token)
        return token.client, token

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="api"'


class NotAuthenticated(exceptions.AuthenticationFailed):
    """A 401 whose code tells the caller what to fix (token_missing, token_invalid, token_expired …)."""


class IsActiveClient(permissions.BasePermission):
    def has_permission(self, request, view) -> bool:
        client = request.user
        if not isinstance(client, ApiClient):
            raise exceptions.NotAuthenticated(
                _("请在 Authorization 头中提供令牌：Bearer <令牌>。"), code="token_missing"
            )
        return client.active


def require_scope(client: ApiClient, scope: str) -> None:
    if not client.has_scope(scope):
        raise exceptions.PermissionDenied(
            _("此客户端没有权限范围“%(scope)s”。") % {"scope": scope}, code="scope_missing"
        )


class ClientRateThrottle(throttling.SimpleRateThrottle):
    """Requests per minute per client (ApiClient.rate_per_minute); unauthenticated calls per address."""

    cache = cache
    scope = "api"

    def get_rate(self) -> str:
        return "60/min"

    def allow_request(self, request, view) -> bool:
        client = request.user if isinstance(request.user, ApiClient) else None
        if client is not None:
            self.num_requests, self.duration = client.rate_per_minute, 60
        return super().allow_request(request, view)

    def get_cache_key(self, request, view) -> str:
        if isinstance(request.user, ApiClient):
            return f"api-throttle:client:{request.user.pk}"
        return f"api-throttle:address:{self.get_ident(request)}"


class TokenScheme(OpenApiAuthenticationExtension):
    target_class = "exchange.api.auth.TokenAuthentication"
    name = "bearerToken"

    def get_security_definition(self, auto_schema) -> dict:
        return {
            "type": "http",
            "scheme": "bearer",
            "description": _("接口客户端的令牌，由系统管理员签发，只显示一次。"),
        }
