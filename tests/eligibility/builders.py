"""The departments of the cross-checks declared from their fixtures, and their files imported through the pipeline,
for the eligibility tests."""

import datetime as dt
import itertools
from pathlib import Path

from django.conf import settings

from eligibility.services import load_cross_checks
from exchange.feeds.declare import declare_from_file, read_declaration_file
from exchange.pipeline import import_department_file
from povertycloud.regions.models import Region
from tests.exchange.files import write_csv
from tests.factories import COUNTY

FIXTURES = Path(settings.BASE_DIR) / "fixtures"
OTHER_COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE = "522635000000", "522635101000", "522635101200"
_files = itertools.count(1)


def declare_departments(by) -> None:
    for path in sorted((FIXTURES / "departments").glob("*.json")):
        declare_from_file(path=path, by=by)


def load_checks(by):
    return load_cross_checks(path=FIXTURES / "cross_checks.json", by=by)


def columns_of(slug: str) -> list[dict]:
    for path in sorted((FIXTURES / "departments").glob("*.json")):
        for declaration in read_declaration_file(path):
            if declaration["slug"] == slug:
                return declaration["columns"]
    raise LookupError(slug)


def import_rows(slug: str, rows: list[dict], tmp_path: Path, *, region: str = COUNTY, period: str = "2025-10", by=None):
    """A department file of these rows (each a dict by field key; period filled in), imported for `region`."""
    columns = columns_of(slug)
    body = [[row.get(c["key"], period if c["key"] == "period" else "") for c in columns] for row in rows]
    path = write_csv(tmp_path / f"{slug}-{next(_files)}.csv", [c["column"] for c in columns], body)
    batch = import_department_file(department=slug, path=path, by=by, region_code=region)
    assert batch.rejected_rows == 0, list(batch.rejected.values_list("reasons", flat=True))
    return batch


def other_county() -> None:
    """A second county (with a township and a village) beside the demo county."""
    Region.objects.get_or_create(
        code=OTHER_COUNTY, defaults={"name": "台江县", "level": 3, "parent_id": "522600000000"}
    )
    Region.objects.get_or_create(
        code=OTHER_TOWNSHIP, defaults={"name": "台拱镇", "level": 4, "parent_id": OTHER_COUNTY}
    )
    Region.objects.get_or_create(
        code=OTHER_VILLAGE, defaults={"name": "红阳村", "level": 5, "parent_id": OTHER_TOWNSHIP}
    )


def day(text: str) -> dt.date:
    return dt.date.fromisoformat(text)
