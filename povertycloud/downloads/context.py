"""The header's badge: how many finished downloads the user has not fetched yet (cached, see services)."""

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from povertycloud.downloads.services import ready_count


def downloads(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {"downloads_ready": SimpleLazyObject(lambda: ready_count(user))}
