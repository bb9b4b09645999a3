"""A county writes only its own records: people registered elsewhere are rejected; a move keeps both histories."""

import datetime as dt

import pytest

from exchange.departments import HealthRecord
from exchange.history import records_on
from exchange.models import ImportBatch, RejectedRow
from exchange.pipeline import import_department_file
from tests.exchange.conftest import OTHER_COUNTY, OTHER_VILLAGE
from tests.exchange.files import HEALTH_COLUMNS, health_row, write_csv
from tests.factories import COUNTY, TOWNSHIP_A, VILLAGE_A, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db
Status = ImportBatch.Status
P = resident_id(dt.date(1981, 2, 3), sex="1", sequence=51)
Q = resident_id(dt.date(1982, 3, 4), sex="2", sequence=52)
R = resident_id(dt.date(1983, 4, 5), sex="1", sequence=53)
REASON = "此人已在其他地区登记，不属于本批次的地区。"


def run(tmp_path, name, rows, region) -> ImportBatch:
    path = write_csv(tmp_path / name, HEALTH_COLUMNS, rows, encoding="utf-8-sig")
    return import_department_file(department="health", path=path, by=None, region_code=region)


def versions(id_number: str) -> list[tuple]:
    return list(
        HealthRecord.objects.filter(id_number=id_number)
        .order_by("valid_from", "id")
        .values_list("batch_id", "region_code", "valid_from", "valid_to")
    )


def test_a_row_for_a_person_registered_in_another_county_is_rejected(other_county, tmp_path):
    household = make_household(with_head=False, village_id=OTHER_VILLAGE)
    make_person(household, id_number=P, name="外县人")
    theirs = run(tmp_path, "kaili.csv", [health_row(P, "外县人")], OTHER_COUNTY)
    assert theirs.accepted_rows == 1
    mine = run(tmp_path, "leishan.csv", [health_row(P, "外县人", 大病保险="否"), health_row(Q, "本县人")], COUNTY)
    assert (mine.total_rows, mine.accepted_rows, mine.rejected_rows) == (2, 1, 1)
    rejected = RejectedRow.objects.get(batch=mine)
    assert rejected.reasons == [REASON]
    assert "凯里" not in REASON and "外县" not in "".join(rejected.reasons)
    # The other county's record is neither replaced nor closed nor linked anew.
    assert versions(P) == [(theirs.pk, OTHER_VILLAGE, dt.date(2025, 3, 1), None)]
    assert "1 行的人员已在其他地区登记" in mine.note


def test_a_township_batch_rejects_people_of_another_township(regions, tmp_path):
    make_person(make_household(with_head=False, village_id=VILLAGE_B), id_number=P)
    make_person(make_household(with_head=False, village_id=VILLAGE_A), id_number=Q, relation="01")
    batch = run(tmp_path, "t.csv", [health_row(P, "甲"), health_row(Q, "乙"), health_row(R, "丙")], TOWNSHIP_A)
    assert (batch.accepted_rows, batch.rejected_rows) == (2, 1)
    assert set(HealthRecord.objects.values_list("id_number", flat=True)) == {Q, R}


def test_a_household_that_moves_between_counties_keeps_both_histories(other_county, tmp_path):
    household = make_household(with_head=False, village_id=VILLAGE_A)
    make_person(household, id_number=P, name="搬迁人")
    make_person(make_household(with_head=False, village_id=VILLAGE_A), id_number=Q, relation="01")
    a_march = run(tmp_path, "a-mar.csv", [health_row(P, "搬迁人"), health_row(Q, "留下")], COUNTY)
    # The household moves to the other county.
    household.village_id = OTHER_VILLAGE
    household.save()
    b_april = run(tmp_path, "b-apr.csv", [health_row(P, "搬迁人", 统计期="2025-04")], OTHER_COUNTY)
    assert b_april.accepted_rows == 1 and b_april.closed_versions == 0
    # Until A's next file, each county has its own current version.
    assert versions(P) == [
        (a_march.pk, VILLAGE_A, dt.date(2025, 3, 1), None),
        (b_april.pk, OTHER_VILLAGE, dt.date(2025, 4, 1), None),
    ]
    # A's next file no longer lists them: A closes its own version only.
    a_april = run(tmp_path, "a-apr.csv", [health_row(Q, "留下", 统计期="2025-04")], COUNTY)
    assert a_april.closed_versions == 1
    assert versions(P) == [
        (a_march.pk, VILLAGE_A, dt.date(2025, 3, 1), dt.date(2025, 4, 1)),
        (b_april.pk, OTHER_VILLAGE, dt.date(2025, 4, 1), None),
    ]
    [now] = records_on(department="health", id_number=P, on=dt.date(2025, 4, 15))
    assert now.batch_id == b_april.pk
    [then] = records_on(department="health", id_number=P, on=dt.date(2025, 3, 15))
    assert then.batch_id == a_march.pk
    # A file of A that still lists them is refused for that row, and touches nothing of B's.
    may_rows = [health_row(P, "搬迁人", 统计期="2025-05"), health_row(Q, "留下", 统计期="2025-05")]
    a_may = run(tmp_path, "a-may.csv", may_rows, COUNTY)
    assert (a_may.accepted_rows, a_may.rejected_rows) == (1, 1)
    assert versions(P)[-1] == (b_april.pk, OTHER_VILLAGE, dt.date(2025, 4, 1), None)
    # And B's next file, without them, closes B's version (not A's past one).
    b_may = run(tmp_path, "b-may.csv", [health_row(R, "新人", 统计期="2025-05")], OTHER_COUNTY)
    assert b_may.closed_versions == 1
    assert versions(P)[-1] == (b_april.pk, OTHER_VILLAGE, dt.date(2025, 4, 1), dt.date(2025, 5, 1))


def test_an_unlinked_record_is_linked_only_in_its_own_county(other_county, tmp_path):
    """A record the county received before the person was registered elsewhere stays the county's own."""
    a_march = run(tmp_path, "a.csv", [health_row(P, "某")], COUNTY)
    make_person(make_household(with_head=False, village_id=OTHER_VILLAGE), id_number=P)
    b_april = run(tmp_path, "b.csv", [health_row(P, "某", 统计期="2025-04")], OTHER_COUNTY)
    assert b_april.linked_rows == 1
    rows = versions(P)
    assert (a_march.pk, COUNTY, dt.date(2025, 3, 1), None) in rows  # unlinked, still in its county
    assert (b_april.pk, OTHER_VILLAGE, dt.date(2025, 4, 1), None) in rows
    assert HealthRecord.objects.get(batch=a_march).person_id is None
