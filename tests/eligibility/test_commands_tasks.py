"""The checks loaded and run from the command line, and a run queued as a background task (what the page does)."""

import datetime as dt
import io

import pytest
from django.core.management import CommandError, call_command

from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from eligibility.services import read_progress
from eligibility.tasks import enqueue_cross_checks
from tests.eligibility.builders import declare_departments, import_rows, load_checks
from tests.factories import COUNTY, VILLAGE_A, make_household, make_person

pytestmark = pytest.mark.django_db


@pytest.fixture
def car_owner(admin_user, tmp_path):
    declare_departments(admin_user)
    owner = make_person(make_household(with_head=False, village_id=VILLAGE_A, household_type="1"), name="李四")
    row = {"id_number": owner.id_number, "name": "李四", "plate": "黔H12345", "vehicle_type": "K3"}
    import_rows("ps_vehicles", [row], tmp_path)
    return owner


def test_the_load_command_creates_the_checks_of_the_fixture_and_the_run_command_prints_hits_per_check(
    car_owner, admin_user
):
    out = io.StringIO()
    call_command("load_cross_checks", "--user", admin_user.username, stdout=out)
    assert CrossCheck.objects.count() == 9 and "已载入 9 条比对规则。" in out.getvalue()

    out, err = io.StringIO(), io.StringIO()
    call_command("run_cross_checks", "--region", COUNTY, "--as-of", "2025-12-31", stdout=out, stderr=err)

    text = out.getvalue()
    assert "发现疑点 1 条，新增 1 条" in text
    assert "member_vehicle（家庭成员名下有机动车）：1 条，新增 1 条，未再发现 0 条" in text
    assert CrossCheckRun.objects.get().as_of == dt.date(2025, 12, 31)


def test_the_run_command_refuses_a_region_that_is_not_a_county(car_owner):
    with pytest.raises(CommandError, match="不是一个县"):
        call_command("run_cross_checks", "--region", "522634101000", stdout=io.StringIO(), stderr=io.StringIO())


def test_the_load_command_refuses_a_bad_file_and_saves_nothing(car_owner, tmp_path):
    bad = tmp_path / "checks.json"
    bad.write_text('{"cross_checks": [{"code": "a", "name": "甲", "subject": "members", "department": "nowhere", '
                   '"condition": "has_record", "outcome": "exit_review"}]}', encoding="utf-8")
    with pytest.raises(CommandError, match="nowhere"):
        call_command("load_cross_checks", str(bad), stdout=io.StringIO())
    assert not CrossCheck.objects.exists()


def test_a_queued_run_returns_its_id_runs_in_the_background_and_reports_its_progress(
    car_owner, admin_user, county_staff
):
    load_checks(admin_user)

    run_id = enqueue_cross_checks(county_code=COUNTY, as_of=dt.date(2025, 12, 31), by=county_staff)

    run = CrossCheckRun.objects.get(pk=run_id)
    assert run.finished_at is not None and run.started_by == county_staff and run.hits_found == 1
    assert read_progress(run_id) == {"done": 9, "total": 9, "stage": "succeeded", "check": ""}
    assert CrossCheckHit.objects.get().first_run_id == run_id


@pytest.mark.django_db
def test_only_county_staff_of_the_county_or_an_administrator_start_a_run(official_a, auditor, county_staff):
    from django.core.exceptions import PermissionDenied

    from eligibility.services import start_run

    for user in (official_a, auditor):
        with pytest.raises(PermissionDenied):
            start_run(county_code=COUNTY, as_of=dt.date(2025, 12, 31), by=user)
    assert not CrossCheckRun.objects.exists()
    assert start_run(county_code=COUNTY, as_of=dt.date(2025, 12, 31), by=county_staff).started_by == county_staff
    assert start_run(county_code=COUNTY, as_of=dt.date(2025, 12, 31), by=None).started_by is None  # a command
