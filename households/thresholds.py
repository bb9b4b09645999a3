"""Loading a county's monitoring thresholds (监测范围, domain.md §4) from a file: the table keyed by (region,
year) that training, scoring and the reports read (households.monitoring.MonitoringThreshold).

A file is CSV (UTF-8, UTF-8 with BOM or GBK) with the columns region_code, year, amount and optionally source
(or their Chinese names 区划代码, 年度, 监测标准, 来源). The whole file is checked first — a loaded region, a year
from 2014, a positive amount, no (region, year) twice — and any fault refuses it with every fault listed;
otherwise the rows are created or updated in one transaction and audited. A year a county has no row for
stays without a threshold: nothing falls back to another province's or the demo county's values.
"""

import csv
import io
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _

from households.monitoring import MonitoringThreshold
from povertycloud.audit.services import record_event
from povertycloud.regions.models import Region

FIRST_YEAR = 2014  # the registry (建档立卡) began in 2014
LAST_YEAR = 2100
HEADERS = {
    "region_code": "region_code",
    "区划代码": "region_code",
    "统计用区划代码": "region_code",
    "year": "year",
    "年度": "year",
    "amount": "amount",
    "监测标准": "amount",
    "监测范围": "amount",
    "source": "source",
    "来源": "source",
}
REQUIRED = ("region_code", "year", "amount")


@dataclass(frozen=True)
class ThresholdRow:
    line: int
    region_code: str
    year: int
    amount: Decimal
    source: str


def _text(content: bytes) -> str:
    for encoding in ("utf-8-sig", "gb18030"):
        try:
            return content.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise ValidationError(_("监测标准表无法按 UTF-8 或 GBK 读出。"))  # pragma: no cover - gb18030 reads any bytes


def read_threshold_rows(content: bytes) -> list[dict[str, str]]:
    reader = csv.reader(io.StringIO(_text(content)))
    header = next(reader, None)
    if not header:
        raise ValidationError(_("监测标准表是空的。"))
    keys = [HEADERS.get("".join(h.split()).lower(), HEADERS.get("".join(h.split()), "")) for h in header]
    missing = [name for name in REQUIRED if name not in keys]
    if missing:
        raise ValidationError(
            _("监测标准表的表头须包含 region_code、year、amount（或 区划代码、年度、监测标准），实际为：%(header)s。")
            % {"header": "、".join(header)}
        )
    return [{key: value.strip() for key, value in zip(keys, row, strict=False) if key} for row in reader if any(row)]


def check_threshold_rows(rows: list[dict[str, str]]) -> tuple[list[ThresholdRow], list[str]]:
    errors: list[str] = []
    parsed: list[ThresholdRow] = []
    seen: dict[tuple[str, int], int] = {}
    codes = {row.get("region_code", "") for row in rows}
    known = set(Region.objects.filter(code__in=codes).values_list("code", flat=True))
    for line, row in enumerate(rows, start=2):
        code, year_text, amount_text = row.get("region_code", ""), row.get("year", ""), row.get("amount", "")
        if code not in known:
            errors.append(
                _("第 %(line)s 行：区划 %(code)s 尚未载入（先用 load_regions 载入本县的区划代码表）。")
                % {"line": line, "code": code or _("（空）")}
            )
            continue
        if not year_text.isdigit() or not FIRST_YEAR <= int(year_text) <= LAST_YEAR:
            errors.append(
                _("第 %(line)s 行：年度“%(year)s”应为 %(first)s 年及以后的四位年份。")
                % {"line": line, "year": year_text, "first": FIRST_YEAR}
            )
            continue
        try:
            amount = Decimal(amount_text.replace(",", ""))
        except InvalidOperation:
            amount = Decimal(0)
        if not amount.is_finite() or amount <= 0:
            errors.append(
                _("第 %(line)s 行：监测标准“%(amount)s”应为大于 0 的金额（元/人·年）。")
                % {"line": line, "amount": amount_text}
            )
            continue
        key = (code, int(year_text))
        if key in seen:
            errors.append(
                _("第 %(line)s 行：区划 %(code)s 的 %(year)s 年标准与第 %(first)s 行重复。")
                % {"line": line, "code": code, "year": year_text, "first": seen[key]}
            )
            continue
        seen[key] = line
        parsed.append(ThresholdRow(line, code, int(year_text), amount.quantize(Decimal("0.01")), row.get("source", "")))
    return parsed, errors


@transaction.atomic
def load_thresholds(*, path: Path, by: Any = None) -> int:
    """Create or update the thresholds of a file; ValidationError listing every fault, nothing written."""
    rows, errors = check_threshold_rows(read_threshold_rows(Path(path).read_bytes()))
    if errors:
        raise ValidationError(errors)
    changes = {}
    for row in rows:
        MonitoringThreshold.objects.update_or_create(
            region_id=row.region_code, year=row.year, defaults={"amount": row.amount, "source": row.source[:200]}
        )
        changes[f"{row.region_code}/{row.year}"] = str(row.amount)
    regions = sorted({row.region_code for row in rows})
    record_event(
        actor=by,
        action="update",
        entity="households.monitoringthreshold",
        object_repr=Path(path).name,
        region_code=regions[0] if len(regions) == 1 else "",
        changes=changes,
        note=_("载入监测标准 %(n)s 条（%(file)s）") % {"n": len(rows), "file": Path(path).name},
    )
    return len(rows)
