"""Stored data-quality counts: computed by a job per county, read by the page and the export, kept fresh."""

import datetime as dt

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from exchange import quality
from exchange.models import QualityCount, QualityRun
from exchange.pipeline import import_department_file
from exchange.rollback import rollback_batch
from households.models import Person
from povertycloud.regions.models import Region
from tests.exchange.files import CIVIL_COLUMNS, civil_row, write_csv
from tests.exchange.records import make_batch, make_record
from tests.factories import (
    COUNTY,
    TOWNSHIP_A,
    TOWNSHIP_B,
    VILLAGE_A,
    VILLAGE_B,
    make_household,
    make_person,
    resident_id,
)

pytestmark = pytest.mark.django_db

URL = reverse("exchange:quality")
ON = dt.date(2025, 3, 1)
PERSON_TABLE = Person._meta.db_table


def person(household, sequence, **overrides):
    birth = overrides.pop("birth_date", dt.date(1970, 6, 1))
    overrides.setdefault("relation", "01" if sequence % 10 == 1 else "20")
    return make_person(household, birth_date=birth, id_number=resident_id(birth, sequence=sequence), **overrides)


@pytest.fixture
def county(regions):
    """Issues of several rules in two townships, with records of two departments."""
    in_a = make_household(with_head=False, village_id=VILLAGE_A)
    in_b = make_household(with_head=False, village_id=VILLAGE_B)
    civil = make_batch("civil_affairs", region_code=COUNTY)
    health = make_batch("health", region_code=COUNTY)
    education = make_batch("education", region_code=COUNTY)
    a1 = person(in_a, 11, dibao="")
    make_record("civil_affairs", batch=civil, id_number=a1.id_number, name=a1.name, person=a1, dibao_type="2")
    person(in_a, 12, resident_medical_insurance=False)
    a3 = person(in_a, 13, resident_medical_insurance=True, employee_medical_insurance=True)
    make_record("health", batch=health, id_number=a3.id_number, name=a3.name, person=a3, insured=True)
    child = person(in_a, 14, birth_date=dt.date(2015, 5, 5))  # 9 on ON, no school record
    b1 = person(in_b, 21, tekun=True)
    make_record("civil_affairs", batch=civil, id_number=b1.id_number, name=b1.name, person=b1, tekun=False)
    person(in_b, 22, resident_medical_insurance=False)
    person(in_b, 23, resident_medical_insurance=False)
    return {"child": child, "batches": (civil, health, education)}


def county_region() -> Region:
    return Region.objects.get(code=COUNTY)


def stored(user, on=ON) -> dict[str, dict[str, int]]:
    return quality.stored_counts(county_region(), on, user=user, queue=False).counts


# --- The rule: stored counts equal a fresh computation ---------------------------------------------------


def test_stored_counts_equal_a_fresh_computation(county, county_staff, official_a, official_b):
    quality.refresh_counts(COUNTY, ON)
    for user in (county_staff, official_a, official_b):
        fresh = quality.compute_counts(quality.build_context(user=user, region=county_region(), on=ON))
        assert stored(user) == fresh
    counts = stored(county_staff)
    assert counts[TOWNSHIP_A] == {
        "dibao_department_only": 1,
        "insurance_none_in_file": 1,
        "insurance_two_in_file": 1,
        "education_missing": 1,
    }
    assert counts[TOWNSHIP_B] == {"tekun_file_only": 1, "insurance_none_in_file": 2}


def test_counts_are_one_grouped_query_per_rule_whatever_the_townships(county, django_assert_max_num_queries):
    ctx = quality.county_context(county_region(), ON)
    rules = quality.applicable_rules(ctx)
    with django_assert_max_num_queries(len(rules) + 3):  # and SET LOCAL jit = off on PostgreSQL
        quality.compute_counts(ctx)


def test_a_run_replaces_its_counts_and_says_when(county):
    first = quality.refresh_counts(COUNTY, ON)
    Person.objects.filter(resident_medical_insurance=False).update(resident_medical_insurance=True)
    second = quality.refresh_counts(COUNTY, ON)
    assert first.pk == second.pk and second.computed_at >= first.computed_at and second.seconds >= 0
    assert not QualityCount.objects.filter(run=second, rule="insurance_none_in_file").exists()
    assert QualityRun.objects.count() == 1


def test_the_export_reads_fresh_stored_counts(county, auditor):
    quality.refresh_counts(COUNTY, ON)
    QualityCount.objects.filter(township_code=TOWNSHIP_B, rule="insurance_none_in_file").update(people=99)
    ctx = quality.build_context(user=auditor, region=county_region(), on=ON)
    assert quality.counts_by_township(ctx)[TOWNSHIP_B]["insurance_none_in_file"] == 99  # read, not recomputed


def test_the_export_computes_when_the_stored_counts_are_stale(county, auditor):
    quality.refresh_counts(COUNTY, ON)
    QualityCount.objects.filter(township_code=TOWNSHIP_B, rule="insurance_none_in_file").update(people=99)
    make_batch("health", region_code=COUNTY, finished_at=timezone.now() + dt.timedelta(seconds=1))
    ctx = quality.build_context(user=auditor, region=county_region(), on=ON)
    assert quality.counts_by_township(ctx)[TOWNSHIP_B]["insurance_none_in_file"] == 2


# --- Refresh after an import and a rollback --------------------------------------------------------------


def test_an_import_and_its_rollback_make_the_page_count_again(regions, county_staff, client, tmp_path):
    household = make_household(with_head=False, village_id=VILLAGE_A)
    listed = person(household, 31, dibao="")
    client.force_login(county_staff)

    def dibao_issues() -> str:
        html = client.get(URL + "?period=2025-03").content.decode()
        assert 'data-testid="quality-queued"' not in html  # the test backend runs the job at once
        return html

    assert 'data-township="522634101000"' not in dibao_issues()
    first = QualityRun.objects.get(county_code=COUNTY, as_of=ON)
    path = write_csv(
        tmp_path / "civil.csv",
        CIVIL_COLUMNS,
        [civil_row(listed.id_number, listed.name, 低保类别="农村低保", 低保开始日期="2024-06-01")],
        encoding="gbk",
    )
    batch = import_department_file(department="civil_affairs", path=path, by=None, region_code=COUNTY)
    assert not quality.is_fresh(QualityRun.objects.get(pk=first.pk))  # the import outdated them
    html = dibao_issues()
    assert f'data-township="{TOWNSHIP_A}"' in html
    run = QualityRun.objects.get(pk=first.pk)
    assert quality.is_fresh(run) and run.started_at >= batch.finished_at
    assert QualityCount.objects.get(run=run, township_code=TOWNSHIP_A, rule="dibao_department_only").people == 1

    rollback_batch(batch=batch, by=county_staff, reason="文件有误")
    assert not quality.is_fresh(QualityRun.objects.get(pk=first.pk))
    assert f'data-township="{TOWNSHIP_A}"' not in dibao_issues()
    assert not QualityCount.objects.filter(rule="dibao_department_only").exists()


def test_the_import_job_asks_for_the_counts_of_its_county(regions, monkeypatch):
    asked = []
    monkeypatch.setattr(quality, "request_refresh", lambda code, *args, **kwargs: asked.append(code))
    quality.request_refresh_for("522634101200")
    quality.request_refresh_for("")  # a batch without a region asks nothing
    assert asked == ["522634101200"]


def test_a_request_is_queued_once_until_the_job_starts(regions, monkeypatch, django_capture_on_commit_callbacks):
    queued = []
    monkeypatch.setattr(quality, "enqueue_job", lambda *args: queued.append(args))
    with django_capture_on_commit_callbacks(execute=True):
        assert quality.request_refresh(TOWNSHIP_A, ON) is True
        assert quality.request_refresh(COUNTY, ON) is False  # the same county's run is already waiting
    assert queued == [(COUNTY, ON)]
    quality.refresh_counts(COUNTY, ON)
    with django_capture_on_commit_callbacks(execute=True):
        assert quality.request_refresh(COUNTY, ON) is True  # it has run since: a new change asks again
    assert len(queued) == 2


# --- The page reads stored counts --------------------------------------------------------------------------


def test_the_page_reads_stored_counts_without_scanning_people(county, county_staff, client):
    quality.refresh_counts(COUNTY, ON)
    client.force_login(county_staff)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(URL + "?period=2025-03").content.decode()
    assert f'data-township="{TOWNSHIP_B}"' in html and 'data-testid="quality-freshness"' in html
    assert not [q["sql"] for q in queries.captured_queries if PERSON_TABLE in q["sql"]]


def test_the_page_queues_missing_counts_and_says_so(county, county_staff, client, monkeypatch):
    queued = []
    monkeypatch.setattr(quality, "enqueue_job", lambda *args: queued.append(args))
    client.force_login(county_staff)
    with CaptureQueriesContext(connection) as queries:
        html = client.get(URL + "?period=2025-03").content.decode()
    assert 'data-testid="quality-queued"' in html and 'data-testid="township-row"' not in html
    assert 'data-testid="no-issues"' not in html  # not "no issues": not counted yet
    assert not [q["sql"] for q in queries.captured_queries if PERSON_TABLE in q["sql"]]
    client.get(URL + "?period=2025-03")
    assert queued == [(COUNTY, ON)]  # asked once


def test_the_page_says_when_counts_are_outdated(county, county_staff, client, monkeypatch):
    quality.refresh_counts(COUNTY, ON)
    monkeypatch.setattr(quality, "enqueue_job", lambda *args: None)
    make_batch("health", region_code=COUNTY, finished_at=timezone.now() + dt.timedelta(seconds=1))
    client.force_login(county_staff)
    html = client.get(URL + "?period=2025-03").content.decode()
    assert "此后数据有变化" in html and f'data-township="{TOWNSHIP_B}"' in html  # the counts stay shown


# --- Permission ----------------------------------------------------------------------------------------


def test_an_official_never_sees_another_townships_counts_or_items(county, official_a, client):
    quality.refresh_counts(COUNTY, ON)
    client.force_login(official_a)
    html = client.get(URL + "?period=2025-03").content.decode()
    assert f'data-township="{TOWNSHIP_A}"' in html and f'data-township="{TOWNSHIP_B}"' not in html
    assert 'data-rule="tekun_file_only"' not in html  # township B's issue
    assert client.get(URL + f"?township={TOWNSHIP_B}&period=2025-03").status_code == 404
    ctx = quality.build_context(user=official_a, region=county_region(), on=ON)
    assert set(quality.counts_by_township(ctx)) == {TOWNSHIP_A}
    assert set(stored(official_a)) == {TOWNSHIP_A}


def test_a_user_without_region_sees_no_counts(county, county_staff):
    quality.refresh_counts(COUNTY, ON)
    county_staff.region = None
    assert stored(county_staff) == {}


# --- Bad input -----------------------------------------------------------------------------------------


def test_a_bad_period_or_township_is_answered_not_crashed(county, county_staff, client):
    client.force_login(county_staff)
    response = client.get(URL + "?period=2025-13")
    assert response.status_code == 200 and "统计期应写作 YYYY-MM" in response.content.decode()
    assert client.get(URL + "?township=abc").status_code == 404
    assert client.get(URL + "?township=" + "5" * 300).status_code == 404


def test_the_command_refreshes_and_refuses_bad_arguments(county, capsys):
    call_command("refresh_quality_counts", "--region", COUNTY, "--as-of", "2025-03-01")
    assert QualityRun.objects.get(county_code=COUNTY, as_of=ON).computed_at is not None
    with pytest.raises(CommandError):
        call_command("refresh_quality_counts", "--as-of", "2025-02-30")
    with pytest.raises(CommandError):
        call_command("refresh_quality_counts", "--region", "999999999999")
    with pytest.raises(CommandError):
        call_command("refresh_quality_counts", "--region", TOWNSHIP_A)


def test_walking_every_township_reads_the_same_items_in_one_query_per_rule(county, auditor):
    def ids(found):
        return {code: [item.person.pk for item in items] for code, items in found.items()}

    alone = {
        code: ids(quality.issues_in(quality.build_context(user=auditor, region=county_region(), on=ON),
                                    Region.objects.get(code=code), limit=1))
        for code in (TOWNSHIP_A, TOWNSHIP_B)
    }
    ctx = quality.build_context(user=auditor, region=county_region(), on=ON)
    quality.counts_by_township(ctx)
    walked = {code: ids(quality.issues_in(ctx, Region.objects.get(code=code), limit=1))
              for code in (TOWNSHIP_A, TOWNSHIP_B)}
    assert walked == alone and walked[TOWNSHIP_B]["insurance_none_in_file"]  # limit 1 of B's two
    assert len(walked[TOWNSHIP_B]["insurance_none_in_file"]) == 1
    assert ctx.items  # the second township came from the region-wide read
