"""The household-list export as a background download (povertycloud.downloads, kind "households.list").

The page (households.views.export) checks the filters at request time and records them with whether the
user asked for full sensitive values and, optionally, the file format ("xlsx", the default, or "csv"); the
job reads the same households, as the same user, and writes them row by row (spreadsheets.write_workbook:
stored values read as tuples per chunk of households, each column's distinct values made cells once, rows
written straight to disk, so memory does not grow with rows; a county of 1,000,000 people takes well under the
minute, see tests/benchmarks/bench_exports.py).
"""

from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from households import selectors, spreadsheets

DOWNLOAD_KIND = "households.list"
DEFAULT_FORMAT = "xlsx"


def file_format_of(parameters: dict) -> str:
    """The format asked for; downloads asked for before there was a choice have none: XLSX."""
    found = parameters.get("format") or DEFAULT_FORMAT
    return found if found in spreadsheets.EXPORT_FORMATS else DEFAULT_FORMAT


def produce_download(download: Any, path: Path, progress: Callable[[int, str], None]) -> str:
    user = download.requested_by
    parameters = download.parameters
    file_format = file_format_of(parameters)
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
        file_format=file_format,
    )
    stamp = timezone.localtime(download.created_at).strftime("%Y%m%d-%H%M")
    return f"households-{stamp}.{file_format}"


def describe_download(parameters: dict) -> str:
    filters = parameters.get("filters") or {}
    if file_format_of(parameters) == "csv":
        return _("户档案 CSV（按条件筛选）") if filters else _("户档案 CSV（全部）")
    if not filters:
        return _("户档案 Excel（全部）")
    return _("户档案 Excel（按条件筛选）")
