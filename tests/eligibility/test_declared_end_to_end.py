"""A department declared as data, end to end: an administrator declares 住建 and 公安's vehicle register (no code,
no migration), their files come in through the department import and link to the registry's people, the
warning rule written against the declared grade column fires for the monitored household, and the vehicle
cross-check lists its hit for the township with the record and batch as evidence, for an official to verify."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings

from eligibility.models import CrossCheckHit
from eligibility.services import confirm_hit, load_cross_checks, run_cross_checks
from exchange.declarations import get_department
from exchange.feeds.declare import declare_from_file
from exchange.pipeline import import_department_file
from risk.models import Warning
from risk.rules import run_warning_rules
from tests.exchange.files import write_csv
from tests.factories import COUNTY, TOWNSHIP_A, make_household, make_person
from tests.risk.modelling import load_reference_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("regions")]
DEPARTMENTS = Path(settings.BASE_DIR) / "fixtures" / "departments"
AS_OF = dt.date(2025, 12, 31)


def test_declare_import_link_warn_and_cross_check(admin_user, official_a, tmp_path):
    load_reference_data()
    for declarations in sorted(DEPARTMENTS.glob("*.json")):  # the checks of the fixture name all of them
        declare_from_file(path=declarations, by=admin_user)
    assert get_department("housing_appraisals").declared_as_data

    monitored = make_household(household_type="1", monitoring_type="1")
    head = monitored.members.get()
    car_owner = make_person(monitored, name="王二", birth_date=dt.date(1990, 3, 4))
    housing = import_department_file(
        department="housing_appraisals",
        path=write_csv(
            tmp_path / "housing.csv",
            ["统计期", "证件号码", "姓名", "鉴定日期", "鉴定等级", "列入改造计划", "改造补助（元）"],
            [["2025-12", head.id_number, head.name, "2025-11-02", "D 级", "是", "35000"]],
        ),
        by=None,
        region_code=COUNTY,
    )
    vehicles = import_department_file(
        department="ps_vehicles",
        path=write_csv(
            tmp_path / "vehicles.csv",
            ["统计期", "证件号码", "姓名", "号牌号码", "车辆类型", "初次登记日期", "车辆状态"],
            [
                ["2025-12", car_owner.id_number, car_owner.name, "贵H12345", "小型汽车", "2024-05-01", "正常"],
                ["2025-12", head.id_number, head.name, "贵H54321", "拖拉机", "2019-05-01", "正常"],
            ],
        ),
        by=None,
        region_code=COUNTY,
    )
    assert (housing.accepted_rows, housing.linked_rows) == (1, 1)
    assert (vehicles.accepted_rows, vehicles.linked_rows) == (2, 2)

    run_warning_rules(as_of=AS_OF, region_code=COUNTY)
    warning = Warning.objects.get(rule__code="housing-grade-cd-monitored")
    assert warning.person_id == head.pk and warning.batch_id == housing.pk

    load_cross_checks(path=Path(settings.BASE_DIR) / "fixtures" / "cross_checks.json", by=admin_user)
    run_cross_checks(county_code=COUNTY, as_of=AS_OF, by=admin_user)
    hit = CrossCheckHit.objects.get(cross_check__code="member_vehicle")  # the car, not the tractor
    assert (hit.person_id, hit.township_code, hit.evidence_batch_id) == (car_owner.pk, TOWNSHIP_A, vehicles.pk)
    assert hit.status == CrossCheckHit.Status.PENDING  # never acted on by itself

    confirmed = confirm_hit(hit=hit, by=official_a, note="入户核实属实")
    assert (confirmed.status, confirmed.outcome, confirmed.decided_by) == ("confirmed", "exit_review", official_a)
    monitored.refresh_from_db()
    assert monitored.monitoring_type == "1"  # the household file is for people to change
