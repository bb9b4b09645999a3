"""Writes to the region tree."""

import csv
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from povertycloud.regions.models import PREFIX_LENGTH, Region


def _validate_row(code: str, level: int, parent_code: str) -> None:
    if len(code) != 12 or not (code.isascii() and code.isdigit()):
        raise ValidationError(f"区划代码 {code!r} 必须是 12 位数字")
    if level not in PREFIX_LENGTH:
        raise ValidationError(f"区划 {code} 的层级 {level} 不在 1–5 之间")
    if code[PREFIX_LENGTH[level] :].strip("0"):
        raise ValidationError(f"区划代码 {code} 在第 {level} 级之后应全为 0")
    if level > 1 and not code.startswith(parent_code[: PREFIX_LENGTH[level - 1]]):
        raise ValidationError(f"区划 {code} 不在上级 {parent_code} 之下")


@transaction.atomic
def load_regions(rows: list[dict[str, str]]) -> int:
    """Create or update regions from rows with code, name, level and parent_code, parents first."""
    count = 0
    for row in sorted(rows, key=lambda r: int(r["level"])):
        code, level = row["code"].strip(), int(row["level"])
        parent_code = (row.get("parent_code") or "").strip()
        _validate_row(code, level, parent_code)
        Region.objects.update_or_create(
            code=code,
            defaults={"name": row["name"].strip(), "level": level, "parent_id": parent_code or None},
        )
        count += 1
    return count


def load_regions_csv(path: Path) -> int:
    with path.open(encoding="utf-8") as handle:
        return load_regions(list(csv.DictReader(handle)))
