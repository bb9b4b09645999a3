"""Who is acting, for audit records written where no caller passes the user (a model's own save).

A request sets it (povertycloud.middleware.AuditActorMiddleware); a command or a service may set it with
acting_as(user). Outside both it is nobody, and the record says "system".
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_actor: ContextVar[Callable[[], Any] | None] = ContextVar("audit_actor", default=None)


def current_actor() -> Any:
    getter = _actor.get()
    if getter is None:
        return None
    actor = getter()
    return actor if getattr(actor, "is_authenticated", False) else None


@contextmanager
def acting_as(user_or_getter: Any) -> Iterator[None]:
    getter = user_or_getter if callable(user_or_getter) else (lambda: user_or_getter)
    token = _actor.set(getter)
    try:
        yield
    finally:
        _actor.reset(token)
