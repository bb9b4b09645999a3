"""Writes to the region tree: any county's official statistical code list (统计用区划代码).

A list is rows of a 12-digit code and a name, as the National Bureau of Statistics publishes them; a level
and a parent code may be given, and are otherwise read from the code itself (the last non-zero segment of
2 + 2 + 2 + 3 + 3 digits is the level; the parent is the code with that segment zeroed). A 城乡分类代码
column is accepted and ignored. Headers may be English (code, name, level, parent_code) or Chinese
(统计用区划代码 / 区划代码 / 代码, 名称, 层级, 上级代码). CSV in UTF-8 (with or without BOM) or GBK.

The whole list is checked before anything is written: 12-digit codes, no code twice, a level that agrees
with the code, a parent whose code is a prefix of the child's and that exists (in the list or already in the
tree), a name. Any fault refuses the list with every fault listed by row; otherwise regions are created or
renamed in one transaction (a region is never deleted here: households and users point at them).
"""

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from povertycloud.regions.models import PREFIX_LENGTH, Region

SEGMENTS = ((0, 2), (2, 4), (4, 6), (6, 9), (9, 12))
HEADERS = {
    "code": "code",
    "统计用区划代码": "code",
    "区划代码": "code",
    "代码": "code",
    "name": "name",
    "名称": "name",
    "区划名称": "name",
    "level": "level",
    "层级": "level",
    "级别": "level",
    "parent_code": "parent_code",
    "上级代码": "parent_code",
    "上级区划代码": "parent_code",
}
MAX_ERRORS_SHOWN = 50


@dataclass(frozen=True)
class RegionRow:
    line: int
    code: str
    name: str
    level: int
    parent_code: str


def level_of(code: str) -> int:
    """The level a 12-digit code says: the last segment that is not all zeros (0 if none)."""
    level = 0
    for index, (start, end) in enumerate(SEGMENTS, start=1):
        if code[start:end].strip("0"):
            level = index
    return level


def parent_of(code: str, level: int) -> str:
    return code[: PREFIX_LENGTH[level - 1]].ljust(12, "0") if level > 1 else ""


def _check(rows: list[dict[str, str]]) -> tuple[list[RegionRow], list[str]]:
    errors: list[str] = []
    parsed: list[RegionRow] = []
    seen: dict[str, int] = {}
    for line, row in enumerate(rows, start=2):
        code = (row.get("code") or "").strip()
        name = (row.get("name") or "").strip()
        if len(code) != 12 or not (code.isascii() and code.isdigit()):
            errors.append(_("第 %(line)s 行：区划代码“%(code)s”必须是 12 位数字。") % {"line": line, "code": code})
            continue
        if code in seen:
            errors.append(
                _("第 %(line)s 行：区划代码 %(code)s 与第 %(first)s 行重复。")
                % {"line": line, "code": code, "first": seen[code]}
            )
            continue
        seen[code] = line
        if not name:
            errors.append(_("第 %(line)s 行：区划 %(code)s 没有名称。") % {"line": line, "code": code})
        implied = level_of(code)
        if implied == 0:
            errors.append(_("第 %(line)s 行：区划代码 %(code)s 全为 0。") % {"line": line, "code": code})
            continue
        given = (row.get("level") or "").strip()
        if given:
            if not given.isdigit() or int(given) not in PREFIX_LENGTH:
                errors.append(_("第 %(line)s 行：层级“%(level)s”应为 1–5。") % {"line": line, "level": given})
                continue
            if int(given) != implied:
                errors.append(
                    _("第 %(line)s 行：区划 %(code)s 的层级写作 %(given)s，但代码表明是第 %(implied)s 级。")
                    % {"line": line, "code": code, "given": given, "implied": implied}
                )
                continue
        parent = (row.get("parent_code") or "").strip() or parent_of(code, implied)
        if implied > 1 and not code.startswith(parent[: PREFIX_LENGTH[level_of(parent) or 1]]):
            errors.append(
                _("第 %(line)s 行：区划 %(code)s 不在上级 %(parent)s 之下（代码前缀不符）。")
                % {"line": line, "code": code, "parent": parent}
            )
            continue
        if implied > 1 and level_of(parent) != implied - 1:
            errors.append(
                _("第 %(line)s 行：区划 %(code)s 的上级 %(parent)s 不是第 %(level)s 级。")
                % {"line": line, "code": code, "parent": parent, "level": implied - 1}
            )
            continue
        parsed.append(RegionRow(line, code, name, implied, parent))
    listed = {row.code for row in parsed}
    existing = set(
        Region.objects.filter(code__in={row.parent_code for row in parsed if row.parent_code}).values_list(
            "code", flat=True
        )
    )
    for row in parsed:
        if row.parent_code and row.parent_code not in listed and row.parent_code not in existing:
            errors.append(
                _("第 %(line)s 行：区划 %(code)s 的上级 %(parent)s 既不在本表中，也不在已载入的区划中。")
                % {"line": row.line, "code": row.code, "parent": row.parent_code}
            )
    return parsed, errors


@transaction.atomic
def load_regions(rows: list[dict[str, str]]) -> int:
    """Create or rename regions from rows (code, name, and optionally level and parent_code), parents first.

    Raises ValidationError listing every fault; nothing is written then."""
    parsed, errors = _check(rows)
    if errors:
        shown = errors[:MAX_ERRORS_SHOWN]
        more = len(errors) - len(shown)
        if more:
            shown.append(_("……另有 %(count)s 处错误。") % {"count": more})
        raise ValidationError(shown)
    for row in sorted(parsed, key=lambda r: r.level):
        Region.objects.update_or_create(
            code=row.code, defaults={"name": row.name, "level": row.level, "parent_id": row.parent_code or None}
        )
    return len(parsed)


def read_region_rows(content: bytes) -> list[dict[str, str]]:
    """The rows of a code list file, with its headers mapped to code, name, level, parent_code."""
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            text = content.decode(encoding)
            break
        except UnicodeDecodeError:
            continue
    else:  # pragma: no cover - gb18030 decodes any bytes
        raise ValidationError(_("区划代码表无法按 UTF-8 或 GBK 读出。"))
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        raise ValidationError(_("区划代码表是空的。"))
    keys = [HEADERS.get("".join(h.split()).lower(), HEADERS.get("".join(h.split()), "")) for h in header]
    if "code" not in keys or "name" not in keys:
        raise ValidationError(
            _("区划代码表的表头须包含代码和名称两列（code,name 或 统计用区划代码,名称），实际为：%(header)s。")
            % {"header": "、".join(header)}
        )
    return [{key: value for key, value in zip(keys, row, strict=False) if key} for row in reader if any(row)]


def load_regions_csv(path: Path) -> int:
    return load_regions(read_region_rows(Path(path).read_bytes()))
