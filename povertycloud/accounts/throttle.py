"""Login throttling: too many failed attempts for one account, or from one address, refuse for a while.

An account is the user name as Django authenticates it: the form strips it and applies the user model's
Unicode normalisation (NFKC, AbstractBaseUser.normalize_username), so " ｏｆｆｉｃｉａｌ_a " logs in as
official_a and must count against official_a. It is case-folded too, so that no spelling of a name escapes
its count, whatever the database's collation.

An account is locked after settings.LOGIN_THROTTLE_ATTEMPTS (5) failures; an address only after
settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS (50 by default), so that the colleagues of one who mistyped, behind the
same office address, can still log in, while one address trying many accounts is stopped. A lock ends
LOGIN_THROTTLE_WINDOW_SECONDS after the last failure that counted; locked_until() says when, so that the login
page can tell the user.

A successful login clears its own account's failures and takes that account's failures off its address's
count; failures of other accounts from the same address stay counted.
"""

import datetime as dt
import hashlib
import time
import unicodedata

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache


def normalise_username(raw: str | None) -> str:
    """The user name as authentication sees it (forms.UsernameField, the user model), case-folded."""
    value = (raw or "").strip()
    value = get_user_model().normalize_username(value) if value else value
    return unicodedata.normalize("NFKC", value.casefold())


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def _account_key(username: str) -> str:
    return f"login-fail:user:{_digest(normalise_username(username))}"


def _address_key(address: str) -> str:
    return f"login-fail:ip:{_digest(address)}"


def _pair_key(username: str, address: str) -> str:
    return f"login-fail:pair:{_digest(normalise_username(username) + chr(0) + address)}"


def _count(key: str) -> int:
    return int(cache.get(key) or 0)


def _until_key(key: str) -> str:
    return f"{key}:until"


def locked_until(username: str, address: str) -> dt.datetime | None:
    """When the lock on this account or this address ends (the later of the two), or None if neither is locked."""
    ends = []
    for key, limit in (
        (_account_key(username), settings.LOGIN_THROTTLE_ATTEMPTS),
        (_address_key(address), settings.LOGIN_THROTTLE_ADDRESS_ATTEMPTS),
    ):
        if _count(key) >= limit:
            ends.append(cache.get(_until_key(key)) or time.time() + settings.LOGIN_THROTTLE_WINDOW_SECONDS)
    return dt.datetime.fromtimestamp(max(ends), tz=dt.UTC) if ends else None


def is_locked(username: str, address: str) -> bool:
    return locked_until(username, address) is not None


def _increment(key: str, *, locks: bool = True) -> None:
    window = settings.LOGIN_THROTTLE_WINDOW_SECONDS
    cache.add(key, 0, window)
    try:
        cache.incr(key)
    except ValueError:
        cache.set(key, 1, window)
    # Some backends' incr() stores the value with the default timeout: the window runs from the last failure.
    cache.touch(key, window)
    if locks:  # when a lock by this count would end
        cache.set(_until_key(key), time.time() + window, window)


def note_failure(username: str, address: str) -> None:
    _increment(_account_key(username))
    _increment(_address_key(address))
    _increment(_pair_key(username, address), locks=False)


def clear(username: str, address: str) -> None:
    """After a successful login: this account's failures are forgiven, other accounts' are not."""
    own = _count(_pair_key(username, address))
    if own:
        try:
            remaining = cache.decr(_address_key(address), own)
            if remaining <= 0:
                cache.delete(_address_key(address))
            else:
                cache.touch(_address_key(address), settings.LOGIN_THROTTLE_WINDOW_SECONDS)
        except ValueError:
            pass
    account = _account_key(username)
    cache.delete_many([account, _until_key(account), _pair_key(username, address)])
