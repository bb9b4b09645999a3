"""The demo generator's three department files import with exactly the rejections their manifests declare."""

import json

import pytest

from demo.county.department_files import CIVIL_AFFAIRS, EDUCATION, HEALTH
from demo.county.generator import generate_county, load_county
from exchange.models import ImportBatch, RejectedRow
from exchange.pipeline import import_department_file
from tests.factories import COUNTY

pytestmark = pytest.mark.django_db

# Faults that make a row invalid; a date written another way (mixed_date_format) and a valid ID number of
# nobody in the household file (unknown_id) are accepted, the latter left unlinked.
REJECTING = ("bad_check_character", "blank_required", "unknown_code", "duplicate_row")


@pytest.fixture
def demo_county(regions, tmp_path):
    generate_county(persons=500, seed=4, out_dir=tmp_path)
    load_county(summary_or_dir=tmp_path)
    return tmp_path


@pytest.mark.parametrize("spec", [CIVIL_AFFAIRS, HEALTH, EDUCATION], ids=lambda s: s.key)
def test_a_demo_department_file_is_rejected_exactly_where_its_manifest_says(demo_county, spec):
    manifest = json.loads((demo_county / f"{spec.filename}.manifest.json").read_text(encoding="utf-8"))
    batch = import_department_file(
        department=spec.key, path=demo_county / spec.filename, by=None, region_code=COUNTY
    )
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert batch.total_rows == manifest["rows"]
    assert batch.rejected_rows == sum(manifest["faults"][kind] for kind in REJECTING)
    assert batch.accepted_rows + batch.rejected_rows == batch.total_rows
    rejected = set(RejectedRow.objects.filter(batch=batch).values_list("row_number", flat=True))
    assert rejected == {row for kind in REJECTING for row in manifest["fault_rows"][kind]}
    assert not rejected & set(manifest["fault_rows"]["mixed_date_format"])
    assert batch.unlinked_rows == manifest["faults"]["unknown_id"]
    assert batch.linked_rows == batch.accepted_rows - manifest["faults"]["unknown_id"]


def test_all_three_demo_files_import_side_by_side(demo_county):
    batches = [
        import_department_file(
            department=spec.key, path=demo_county / spec.filename, by=None, region_code=COUNTY
        )
        for spec in (CIVIL_AFFAIRS, HEALTH, EDUCATION)
    ]
    assert [(b.file_format, b.encoding) for b in batches] == [
        ("csv", "gb18030"),
        ("csv", "utf-8-sig"),
        ("xlsx", ""),
    ]
    assert all(b.period == batches[0].period for b in batches)
