"""The one place where a queryset is narrowed to what a user may see.

Every model that reaches a user names, in `region_lookup`, the path from it to a 12-digit region code
(``"village_id"`` for a household, ``"household__village_id"`` for a person). A user sees the objects
whose code starts with the prefix of their own region (asked as a range of codes); administrators see
everything; a user with no region sees nothing. Objects outside the user's region answer 404, never 403, so
their existence leaks nothing.
"""

from typing import Any, TypeVar

from django.db.models import Model, QuerySet
from django.http import Http404

M = TypeVar("M", bound=Model)


def sees_everything(user: Any) -> bool:
    return bool(getattr(user, "is_superuser", False)) or getattr(user, "role", None) == "admin"


def region_prefix_of(user: Any) -> str | None:
    region = getattr(user, "region", None)
    return region.prefix if region is not None else None


def scope_for_user(queryset: QuerySet[M], user: Any) -> QuerySet[M]:
    if not is_active_user(user):
        return queryset.none()
    if sees_everything(user):
        return queryset
    prefix = region_prefix_of(user)
    if prefix is None:
        return queryset.none()
    lookup = getattr(queryset.model, "region_lookup", None)
    if lookup is None:
        raise TypeError(f"{queryset.model.__name__} declares no region_lookup and cannot be shown to users")
    # The codes under the prefix as a range of 12-digit codes: the same rows as LIKE 'prefix%', but a plain
    # index seeks a range whatever the collation, and the planner estimates a range well (a LIKE is guessed
    # at a fixed share, which made a township look like 2% of a county instead of 15%).
    first, last = code_range(prefix)
    return queryset.filter(**{f"{lookup}__gte": first, f"{lookup}__lte": last})


def code_range(prefix: str) -> tuple[str, str]:
    """A region prefix as the first and last 12-digit code under it."""
    return prefix.ljust(12, "0"), prefix.ljust(12, "9")


def get_for_user_or_404(queryset: QuerySet[M], user: Any, **lookup: Any) -> M:
    try:
        return scope_for_user(queryset, user).get(**lookup)
    except (queryset.model.DoesNotExist, ValueError) as exc:
        raise Http404 from exc


def is_active_user(user: Any) -> bool:
    return (
        user is not None
        and bool(getattr(user, "is_authenticated", False))
        and bool(getattr(user, "is_active", False))
    )


def user_may_see_code(user: Any, code: str) -> bool:
    if not is_active_user(user):
        return False
    if sees_everything(user):
        return True
    prefix = region_prefix_of(user)
    return prefix is not None and code.startswith(prefix)
