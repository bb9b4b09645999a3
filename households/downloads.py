"""The household-list export as a background download (povertycloud.downloads, kind "households.list").

The page (households.views.export) checks the filters at request time and records them with whether the
user asked for full sensitive values; the job reads the same households, as the same user, and writes them
row by row (spreadsheets.write_workbook).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from households import selectors, spreadsheets

DOWNLOAD_KIND = "households.list"


def produce_download(download: Any, path: Path, progress: Callable[[int, str], None]) -> str:
    user = download.requested_by
    parameters = download.parameters
    households = selectors.filter_households(selectors.households_for(user), parameters.get("filters") or {}, user=user)
    progress(2, _("统计户数"))
    expected = households.count()
    spreadsheets.write_workbook(
        path,
        user=user,
        households=households,
        include_sensitive=bool(parameters.get("include_sensitive")),
        progress=progress,
        expected_households=expected,
    )
    stamp = timezone.localtime(download.created_at).strftime("%Y%m%d-%H%M")
    return f"households-{stamp}.xlsx"


def describe_download(parameters: dict) -> str:
    filters = parameters.get("filters") or {}
    if not filters:
        return _("户档案 Excel（全部）")
    return _("户档案 Excel（按条件筛选）")
