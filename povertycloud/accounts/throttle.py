"""Login throttling: after N failed attempts for one username or one address, refuse for a while."""

from django.conf import settings
from django.core.cache import cache


def _keys(username: str, address: str) -> list[str]:
    return [f"login-fail:user:{username.lower()}", f"login-fail:ip:{address}"]


def is_locked(username: str, address: str) -> bool:
    limit = settings.LOGIN_THROTTLE_ATTEMPTS
    return any((cache.get(key) or 0) >= limit for key in _keys(username, address))


def note_failure(username: str, address: str) -> None:
    for key in _keys(username, address):
        cache.add(key, 0, settings.LOGIN_THROTTLE_WINDOW_SECONDS)
        try:
            cache.incr(key)
        except ValueError:
            cache.set(key, 1, settings.LOGIN_THROTTLE_WINDOW_SECONDS)


def clear(username: str, address: str) -> None:
    cache.delete_many(_keys(username, address))
