"""Counties' loads of one department run side by side; a load of a region above county level waits for them and
they for it (PostgreSQL advisory locks; SQLite has one writer at a time anyway)."""

import threading

import pytest
from django.db import OperationalError, connection, connections, transaction

from exchange import load
from exchange.declarations import get_department
from exchange.departments import HealthRecord
from exchange.models import ImportBatch
from exchange.pipeline import _lock_department, import_department_file
from tests.exchange.conftest import OTHER_COUNTY
from tests.exchange.files import health_frame
from tests.factories import COUNTY, TOWNSHIP_A
from tests.households.races import TIMEOUT_SECONDS, meeting_before, run_together

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="two concurrent transactions need PostgreSQL"),
]
PREFECTURE = "522600000000"


def takes_the_lock(department: str, region_code: str) -> bool:
    """Whether another connection gets the load lock of (department, region) within a moment."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '300ms'")
                try:
                    _lock_department(get_department(department), region_code)
                    outcome.append(True)
                except OperationalError:  # lock_timeout: it would have waited
                    outcome.append(False)
        finally:
            connections.close_all()

    thread = threading.Thread(target=attempt)
    thread.start()
    thread.join(TIMEOUT_SECONDS)
    return outcome == [True]


def test_a_countys_load_leaves_other_counties_and_departments_free(other_county):
    with transaction.atomic():
        _lock_department(get_department("health"), COUNTY)
        assert takes_the_lock("health", OTHER_COUNTY)  # another county, same department
        assert takes_the_lock("civil_affairs", COUNTY)  # same county, another department
        assert not takes_the_lock("health", COUNTY)  # the same county's next load waits
        assert not takes_the_lock("health", TOWNSHIP_A)  # so does a township's of that county
        assert not takes_the_lock("health", PREFECTURE)  # and the prefecture's, which spans the county
    assert takes_the_lock("health", PREFECTURE)  # free once the load's transaction ended


def test_a_prefectures_load_holds_every_county_of_the_department(other_county):
    with transaction.atomic():
        _lock_department(get_department("health"), PREFECTURE)
        assert not takes_the_lock("health", COUNTY)
        assert not takes_the_lock("health", OTHER_COUNTY)
        assert takes_the_lock("civil_affairs", OTHER_COUNTY)


def test_two_counties_files_of_one_department_load_at_the_same_time(other_county, tmp_path, monkeypatch):
    paths = []
    for seed, region in ((1, COUNTY), (2, OTHER_COUNTY)):
        path = tmp_path / f"health_{region}.csv"
        health_frame(300, seed=seed).to_csv(path, index=False, encoding="utf-8-sig")
        paths.append((path, region))
    # Each load waits, holding its lock and its staged rows, until the other has staged too: were the loads
    # of the department taken in turn, neither would get there (the test would fail on the barrier's timeout).
    finish, _barrier = meeting_before(load.Loader.finish)
    monkeypatch.setattr(load.Loader, "finish", finish)

    outcomes = run_together(
        *(
            (lambda path=path, region=region: import_department_file(
                department="health", path=path, by=None, region_code=region
            ))
            for path, region in paths
        )
    )

    assert [kind for kind, _value in outcomes] == ["ok", "ok"], outcomes
    for (_kind, batch), (_path, region) in zip(outcomes, paths, strict=True):
        batch = ImportBatch.objects.get(pk=batch.pk)
        assert batch.status == ImportBatch.Status.SUCCEEDED and batch.accepted_rows > 250
        mine = HealthRecord.objects.filter(batch=batch)
        assert mine.count() == batch.accepted_rows
        assert not mine.exclude(region_code__startswith=region[:6]).exists()  # each in its own county


def analyzed(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_the_record_table_is_analysed_once_the_load_has_committed(other_county, tmp_path, monkeypatch):
    """The planner's statistics follow a load, refreshed after its commit (not inside it, where the ANALYZE's lock
    would keep another county's load of the department waiting for this one's commit)."""
    table = HealthRecord._meta.db_table
    path = tmp_path / "health.csv"
    health_frame(200, seed=3).to_csv(path, index=False, encoding="utf-8-sig")
    before = analyzed(table)
    inside: list[int] = []
    finish = load.Loader.finish

    def finish_and_count(self):
        counts = finish(self)
        inside.append(analyzed(table))  # still inside the load's transaction
        return counts

    monkeypatch.setattr(load.Loader, "finish", finish_and_count)
    batch = import_department_file(department="health", path=path, by=None, region_code=OTHER_COUNTY)
    assert batch.status == ImportBatch.Status.SUCCEEDED
    assert inside == [before]  # not analysed inside the load
    assert analyzed(table) == before + 1  # analysed once it committed
