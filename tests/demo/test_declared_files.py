"""The declared departments' demo files: written from the generated county with the declared headers, imported by
the real road (declared from fixtures/departments, one department import each), only their planted faults
rejected, and the planted cross-check cases exactly what the data holds."""

import csv
import datetime as dt
import json
import time
from collections import Counter
from pathlib import Path

import pytest
from openpyxl import load_workbook

from demo.county.declared_files import (
    FORMATS,
    PLANTED,
    declared_columns,
    file_name,
    manifest_path,
    write_declared_files,
)
from demo.county.generator import generate_county, load_county
from demo.steps.declared_departments import declare_demo_departments, import_declared_files
from exchange.feeds.models import DeclaredRecord, DepartmentFeed
from exchange.models import ImportBatch, RejectedRow
from households.models import Person

pytestmark = pytest.mark.django_db

PERSONS = 1500
SEED = 11
COUNTY = "522634000000"
PROTECTED = {"members": "protected", "monitored": "monitored"}
EVIDENCE = {  # planted kind: department, field, values (None: any record), who is protected
    "deceased_monitored": ("ps_deaths", None, None, "monitored"),
    "member_vehicle": ("ps_vehicles", "vehicle_type", {"K3", "K2", "H1", "H3"}, "members"),
    "member_company": ("market_entities", "entity_status", {"1"}, "members"),
    "member_public_payroll": ("public_payroll", None, None, "members"),
    "member_property_in_town": ("property_registrations", "location_type", {"1"}, "members"),
}


@pytest.fixture
def county(tmp_path):
    generate_county(persons=PERSONS, seed=SEED, out_dir=tmp_path)
    batch = load_county(summary_or_dir=tmp_path)
    assert batch.rejected_rows == 0
    manifests = write_declared_files(folder=tmp_path, seed=SEED)
    return tmp_path, manifests


@pytest.fixture
def imported(county, admin_user):
    folder, manifests = county
    declare_demo_departments(by=admin_user)
    batches = import_declared_files(folder=folder, region_code=COUNTY, by=None)
    return folder, manifests, {batch.department: batch for batch in batches}


def _header(path: Path, slug: str) -> list[str]:
    if FORMATS[slug] == "xlsx":
        sheet = load_workbook(path, read_only=True).active
        return list(next(sheet.iter_rows(values_only=True)))
    with path.open(encoding=FORMATS[slug], newline="") as handle:
        return next(csv.reader(handle))


def _rows(path: Path, slug: str) -> int:
    if FORMATS[slug] == "xlsx":
        return sum(1 for _ in load_workbook(path, read_only=True).active.iter_rows(values_only=True)) - 1
    with path.open(encoding=FORMATS[slug], newline="") as handle:
        return sum(1 for _ in csv.reader(handle)) - 1


def test_each_declared_department_gets_a_file_with_the_declared_headers_and_a_manifest(county):
    folder, manifests = county
    declared = declared_columns()
    assert set(manifests) == set(declared) == set(FORMATS)
    assert set(FORMATS.values()) == {"gbk", "utf-8-sig", "xlsx"}
    for slug, manifest in manifests.items():
        path = folder / file_name(slug)
        assert _header(path, slug) == [column["column"] for column in declared[slug]] == manifest["columns"]
        assert _rows(path, slug) == manifest["rows"] > 0, slug
        assert json.loads(manifest_path(path).read_text(encoding="utf-8")) == manifest
        assert manifest["period"] == "2025-12" and manifest["faulty_rows_total"] >= 1
    # Rates a county of this size shows: every household appraised, a head paid per household with land.
    households = sum(1 for _ in (folder / "户信息.csv").open(encoding="utf-8-sig")) - 1
    assert manifests["housing_appraisals"]["rows"] == households
    assert 0.003 * PERSONS <= manifests["ps_deaths"]["rows"] <= 0.015 * PERSONS
    assert (
        manifests["subsidy_payments"]["non_registry_rows"]
        == manifests["subsidy_payments"]["planted"]["payment_not_in_registry"]
    )
    planted = Counter()
    for manifest in manifests.values():
        planted.update(manifest["planted"])
    assert set(planted) == set(PLANTED) and all(count >= 3 for count in planted.values())


def test_the_same_seed_writes_the_same_files(county):
    folder, manifests = county
    again = write_declared_files(folder=folder, seed=SEED)
    assert {slug: m["sha256"] for slug, m in again.items()} == {slug: m["sha256"] for slug, m in manifests.items()}


def test_the_files_import_with_only_their_planted_faults_rejected_and_the_rest_linked(imported):
    _folder, manifests, batches = imported
    assert set(batches) == set(FORMATS)
    for slug, batch in batches.items():
        manifest = manifests[slug]
        assert batch.status == ImportBatch.Status.SUCCEEDED, (slug, batch.error)
        assert batch.total_rows == manifest["rows"]
        assert batch.accepted_rows + batch.rejected_rows == batch.total_rows
        faulty = sorted(row for rows in manifest["fault_rows"].values() for row in rows)
        rejected = sorted(RejectedRow.objects.filter(batch=batch).values_list("row_number", flat=True))
        assert rejected == faulty, slug
        # Everybody links to a person of the registry except the payees the registry does not know.
        assert batch.unlinked_rows == manifest["non_registry_rows"], slug
        assert batch.linked_rows == batch.accepted_rows - manifest["non_registry_rows"], slug


def test_the_planted_cases_are_what_the_data_holds(imported):
    _folder, manifests, _batches = imported
    people = {person.id_number: person for person in Person.objects.select_related("household")}
    protected = {
        "members": {i for i, p in people.items() if p.household.household_type == "1" or p.household.monitoring_type},
        "monitored": {i for i, p in people.items() if p.household.monitoring_type},
    }
    current = DeclaredRecord.objects.filter(valid_to__isnull=True, void=False)
    for kind, (slug, field, values, who) in EVIDENCE.items():
        found = sorted(
            record.id_number
            for record in current.filter(department=slug)
            if record.id_number in protected[who] and (field is None or record.data[field] in values)
        )
        assert found == manifests[slug]["planted_ids"].get(kind, []), kind
        assert len(found) == manifests[slug]["planted"][kind] >= 3
    payments = list(current.filter(department="subsidy_payments"))
    strangers = sorted(p.id_number for p in payments if p.person_id is None)
    assert strangers == manifests["subsidy_payments"]["planted_ids"]["payment_not_in_registry"]
    assert not set(strangers) & set(people)
    deaths = {r.id_number: dt.date.fromisoformat(r.data["death_date"]) for r in current.filter(department="ps_deaths")}
    after = sorted(
        p.id_number
        for p in payments
        if p.id_number in deaths and dt.date.fromisoformat(p.data["paid_on"]) > deaths[p.id_number]
    )
    assert after == manifests["subsidy_payments"]["planted_ids"]["subsidy_after_death"]
    assert len(after) >= 3


def test_declaring_and_importing_again_changes_nothing(imported, admin_user):
    folder, _manifests, batches = imported
    versions = dict(DepartmentFeed.objects.values_list("slug", "version"))
    assert set(FORMATS) <= set(versions)
    assert declare_demo_departments(by=admin_user) == []
    assert dict(DepartmentFeed.objects.values_list("slug", "version")) == versions
    again = import_declared_files(folder=folder, region_code=COUNTY, by=None)
    assert all(batch.already_imported for batch in again)
    assert {batch.pk for batch in again} == {batch.pk for batch in batches.values()}


def test_twenty_thousand_people_are_written_in_well_under_ten_seconds(tmp_path):
    generate_county(persons=20_000, seed=3, out_dir=tmp_path)
    started = time.monotonic()
    manifests = write_declared_files(folder=tmp_path, seed=3)
    assert time.monotonic() - started < 10
    assert sum(m["rows"] for m in manifests.values()) > 20_000


def test_the_disability_file_agrees_with_the_registry_and_imports_whole(county):
    """残联 (declared in code) gets its file from the same county: every certificate holder, accepted and linked."""
    from demo.county.disability_file import COLUMNS, write_disability_file
    from exchange.departments import DisabilityRecord
    from exchange.pipeline import import_department_file

    folder, _manifests = county
    manifest = write_disability_file(folder=folder, seed=SEED)
    path = folder / manifest["file"]
    with path.open(encoding="utf-8-sig") as handle:
        rows = list(csv.reader(handle))
    assert tuple(rows[0]) == COLUMNS and len(rows) - 1 == manifest["rows"] > 0

    batch = import_department_file(department="disability", path=path, by=None, region_code=COUNTY)
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (manifest["rows"], manifest["rows"], 0)
    assert batch.linked_rows == manifest["rows"]
    record = DisabilityRecord.objects.select_related("person").first()
    assert record.person.disability_certificate == record.certificate
    assert Person.objects.exclude(disability_certificate="").count() == manifest["rows"]
