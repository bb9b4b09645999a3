"""The cross-checks run over a county: each condition hits the people it should and only them, per subject; runs
again keep hits and their decisions; a check that cannot run is skipped with its reasons; a county's run never
reads another county's records."""

import datetime as dt
from decimal import Decimal

import pytest

from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from eligibility.services import dismiss_hit, not_seen_again, run_cross_checks
from exchange.feeds.models import DeclaredRecord
from households.models import Household, Person
from povertycloud.audit.models import AuditEvent
from tests.eligibility.builders import (
    OTHER_COUNTY,
    OTHER_VILLAGE,
    declare_departments,
    import_rows,
    load_checks,
    other_county,
)
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
from tests.resources.builders import measure

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2025, 12, 31)


@pytest.fixture
def checks(admin_user):
    declare_departments(admin_user)
    load_checks(admin_user)


def lifted(village: str = VILLAGE_A, **overrides) -> Household:
    return make_household(with_head=False, village_id=village, household_type="1", **overrides)


def ordinary(village: str = VILLAGE_A) -> Household:
    return make_household(with_head=False, village_id=village, household_type="2")


def monitored(village: str = VILLAGE_A) -> Household:
    return make_household(with_head=False, village_id=village, household_type="2", monitoring_type="2")


def member(household: Household, name: str = "张三", **overrides) -> Person:
    return make_person(household, name=name, **overrides)


def run(by=None, county: str = COUNTY) -> CrossCheckRun:
    return run_cross_checks(county_code=county, as_of=AS_OF, by=by)


def hits(code: str) -> list[CrossCheckHit]:
    return list(CrossCheckHit.objects.filter(cross_check__code=code).order_by("id"))


def people(code: str) -> set[str]:
    return {hit.id_number for hit in hits(code)}


def death(person_or_id, name: str = "张三", died: str = "2025-08-03") -> dict:
    number = getattr(person_or_id, "id_number", person_or_id)
    return {"id_number": number, "name": getattr(person_or_id, "name", name), "death_date": died}


# --- Deaths ------------------------------------------------------------------------------------------------


def test_a_monitored_member_with_a_death_record_is_a_hit_and_an_unmonitored_one_is_not(checks, tmp_path, admin_user):
    watched = member(monitored(), name="李四")
    unwatched = member(ordinary(), name="王五")
    batch = import_rows("ps_deaths", [death(watched), death(unwatched)], tmp_path)

    result = run(admin_user)

    [hit] = hits("deceased_monitored")
    record = DeclaredRecord.objects.get(department="ps_deaths", id_number=watched.id_number)
    assert (hit.id_number, hit.person_id, hit.household_id) == (watched.id_number, watched.pk, watched.household_id)
    assert (hit.region_code, hit.township_code, hit.name) == (VILLAGE_A, TOWNSHIP_A, "李四")
    assert (hit.evidence_department, hit.evidence_record_id) == ("ps_deaths", record.pk)
    assert hit.evidence_batch_id == batch.pk
    assert (hit.payment_kind, hit.payment_id, hit.status, hit.first_run, hit.last_run) == (
        "", 0, "pending", result, result
    )
    assert hit.detail.startswith("公安 死亡注销：死亡日期 2025-08-03")
    assert result.by_check["deceased_monitored"] == {
        "name": "监测对象家庭成员已死亡", "found": 1, "new": 1, "not_seen": 0, "not_seen_ids": []
    }
    assert AuditEvent.objects.filter(entity="eligibility.crosscheckrun", object_pk=str(result.pk)).exists()


def test_a_member_of_an_assisted_household_who_died_is_a_hit(checks, tmp_path):
    household = ordinary()
    dead, alive = member(household, name="李四"), member(household, name="李五", birth_date=dt.date(1990, 1, 1))
    measure(household, start_date=dt.date(2025, 3, 1))
    later = ordinary()
    member_later = member(later, name="赵六")
    measure(later, start_date=dt.date(2026, 3, 1))  # not started by the run's date: not assisted yet
    import_rows("ps_deaths", [death(dead), death(member_later)], tmp_path)

    run()

    assert people("deceased_assisted") == {dead.id_number}
    assert alive.id_number not in people("deceased_assisted")


def test_a_measure_started_after_the_death_date_is_a_hit_with_its_amount(checks, tmp_path):
    household = lifted()
    dead = member(household, name="李四")
    after = measure(household, person=dead, start_date=dt.date(2025, 10, 1), amount=Decimal("1200"))
    measure(household, person=dead, start_date=dt.date(2025, 7, 1), amount=Decimal("800"))  # before the death
    measure(household, person=dead, start_date=dt.date(2025, 11, 1), amount=Decimal("0"))  # no money
    import_rows("ps_deaths", [death(dead)], tmp_path)

    run()

    [hit] = hits("measure_after_death")
    assert (hit.payment_kind, hit.payment_id, hit.payment_date, hit.amount) == (
        "measure", after.pk, dt.date(2025, 10, 1), Decimal("1200.00")
    )
    assert hit.detail == "死亡日期 2025-08-03，帮扶措施开始于 2025-10-01"
    assert hit.household_id == household.pk and hit.township_code == TOWNSHIP_A


def test_a_measure_to_a_member_who_has_left_the_file_is_still_checked(checks, tmp_path):
    household = lifted()
    dead = member(household, name="李四")
    paid = measure(household, person=dead, start_date=dt.date(2025, 9, 1), amount=Decimal("500"))
    Person.everyone.filter(pk=dead.pk).update(left_on=dt.date(2025, 8, 3), left_reason="死亡")
    import_rows("ps_deaths", [death(dead)], tmp_path)

    run()

    assert [hit.payment_id for hit in hits("measure_after_death")] == [paid.pk]
    assert hits("deceased_assisted") == []  # no longer a present member


def test_a_subsidy_paid_after_death_is_a_hit_and_one_paid_before_is_not(checks, tmp_path):
    dead = member(lifted(village=VILLAGE_B), name="李四")
    earlier = member(lifted(), name="王五", birth_date=dt.date(1960, 2, 2))
    import_rows("ps_deaths", [death(dead), death(earlier, died="2025-10-20")], tmp_path)
    batch = import_rows(
        "subsidy_payments",
        [
            {"id_number": dead.id_number, "name": dead.name, "item": "耕地地力保护补贴", "amount": "356.5",
             "paid_on": "2025-09-10"},
            {"id_number": earlier.id_number, "name": earlier.name, "item": "耕地地力保护补贴", "amount": "300",
             "paid_on": "2025-09-10"},
        ],
        tmp_path,
        period="2025-09",
    )

    run()

    [hit] = hits("subsidy_after_death")
    payment = DeclaredRecord.objects.get(department="subsidy_payments", id_number=dead.id_number)
    assert (hit.id_number, hit.payment_kind, hit.payment_id, hit.amount) == (
        dead.id_number, "payment_list", payment.pk, Decimal("356.50")
    )
    assert (hit.payment_date, hit.region_code, hit.township_code) == (dt.date(2025, 9, 10), VILLAGE_B, TOWNSHIP_B)
    assert hit.evidence_department == "ps_deaths" and hit.evidence_batch_id != batch.pk
    assert hit.detail == "死亡日期 2025-08-03，财政 惠民惠农补贴发放的发放日期为 2025-09-10"


def test_each_period_paid_after_death_is_its_own_hit(checks, tmp_path):
    dead = member(lifted(), name="李四")
    import_rows("ps_deaths", [death(dead)], tmp_path)
    for period, paid_on in (("2025-09", "2025-09-10"), ("2025-10", "2025-10-10")):
        row = {"id_number": dead.id_number, "name": dead.name, "item": "补贴", "amount": "100", "paid_on": paid_on}
        import_rows("subsidy_payments", [row], tmp_path, period=period)

    run()

    paid = sorted(hit.payment_date for hit in hits("subsidy_after_death"))
    assert paid == [dt.date(2025, 9, 10), dt.date(2025, 10, 10)]


# --- Vehicles, companies, payroll, property --------------------------------------------------------------------


def vehicle(person: Person, kind: str, plate: str) -> dict:
    return {"id_number": person.id_number, "name": person.name, "plate": plate, "vehicle_type": kind}


def test_a_car_hits_and_a_tractor_does_not(checks, tmp_path):
    car_owner = member(lifted(), name="李四")
    tractor_owner = member(lifted(), name="王五", birth_date=dt.date(1961, 3, 3))
    ordinary_owner = member(ordinary(), name="赵六", birth_date=dt.date(1962, 4, 4))
    import_rows(
        "ps_vehicles",
        [vehicle(car_owner, "K3", "黔H12345"), vehicle(tractor_owner, "T1", "黔H00001"),
         vehicle(ordinary_owner, "K3", "黔H54321")],
        tmp_path,
    )

    run()

    [hit] = hits("member_vehicle")
    assert hit.id_number == car_owner.id_number
    assert hit.detail == "公安 机动车登记：车辆类型 小型汽车（K3），号牌号码 黔H12345"


def test_a_company_still_in_business_hits_and_a_deregistered_one_does_not(checks, tmp_path):
    open_company = member(monitored(), name="李四")
    closed = member(lifted(), name="王五", birth_date=dt.date(1963, 5, 5))
    rows = [
        {"id_number": open_company.id_number, "name": "李四", "credit_code": "92522634MA6H000001",
         "entity_name": "雷山县李四茶叶店", "entity_type": "4", "entity_status": "1"},
        {"id_number": closed.id_number, "name": "王五", "credit_code": "92522634MA6H000002",
         "entity_name": "雷山县王五农家乐", "entity_type": "4", "entity_status": "2"},
    ]
    import_rows("market_entities", rows, tmp_path)

    run()

    assert people("member_company") == {open_company.id_number}
    assert "存续" in hits("member_company")[0].detail


def test_a_member_on_the_public_payroll_is_a_hit(checks, tmp_path):
    teacher = member(lifted(), name="李四")
    outsider = resident_id(dt.date(1970, 1, 1), sequence=77)
    rows = [
        {"id_number": teacher.id_number, "name": "李四", "employer": "雷山县第一中学", "staff_type": "2",
         "monthly_pay": "5200"},
        {"id_number": outsider, "name": "钱七", "employer": "雷山县财政局", "staff_type": "1"},
    ]
    import_rows("public_payroll", rows, tmp_path)

    run()

    assert people("member_public_payroll") == {teacher.id_number}


def test_property_in_town_hits_and_rural_property_does_not(checks, tmp_path):
    town, village = member(lifted(), name="李四"), member(lifted(), name="王五", birth_date=dt.date(1964, 6, 6))
    rows = [
        {"id_number": town.id_number, "name": "李四", "unit_number": "黔(2024)雷山县不动产权第0000001号",
         "location": "丹江镇龙头街 8 号", "location_type": "1", "use": "1", "floor_area": "98.5"},
        {"id_number": village.id_number, "name": "王五", "unit_number": "黔(2024)雷山县不动产权第0000002号",
         "location": "西江镇西江村", "location_type": "2", "use": "1", "floor_area": "120"},
    ]
    import_rows("property_registrations", rows, tmp_path)

    run()

    assert people("member_property_in_town") == {town.id_number}


# --- Payments to people outside the registry -------------------------------------------------------------------


def test_a_payment_to_an_id_number_outside_the_registry_is_a_hit(checks, tmp_path):
    registered = member(ordinary(VILLAGE_B), name="李四")
    stranger = resident_id(dt.date(1975, 7, 7), sequence=88)
    rows = [
        {"id_number": registered.id_number, "name": "李四", "item": "补贴", "amount": "200", "paid_on": "2025-09-10"},
        {"id_number": stranger, "name": "孙八", "item": "补贴", "amount": "450", "paid_on": "2025-09-12"},
    ]
    batch = import_rows("subsidy_payments", rows, tmp_path, region=TOWNSHIP_B, period="2025-09")

    run()

    [hit] = hits("payment_not_in_registry")
    record = DeclaredRecord.objects.get(department="subsidy_payments", id_number=stranger)
    assert (hit.id_number, hit.name, hit.person_id, hit.household_id) == (stranger, "孙八", None, None)
    assert (hit.evidence_record_id, hit.evidence_batch_id, hit.payment_id) == (record.pk, batch.pk, record.pk)
    assert (hit.region_code, hit.township_code, hit.amount) == (TOWNSHIP_B, TOWNSHIP_B, Decimal("450.00"))
    assert hit.detail == "户档案中没有此人；财政 惠民惠农补贴发放的发放日期为 2025-09-12，金额 450 元"


# --- Runs again, skipped checks, other counties -----------------------------------------------------------------


def test_a_second_run_finds_the_same_hits_without_duplicates_and_a_dismissed_hit_stays_dismissed(
    checks, tmp_path, county_staff
):
    car, tractor = member(lifted(), name="李四"), member(lifted(), name="王五", birth_date=dt.date(1965, 1, 1))
    import_rows("ps_vehicles", [vehicle(car, "K3", "黔H12345"), vehicle(tractor, "K2", "黔H00002")], tmp_path)
    first = run(county_staff)
    kept, other = hits("member_vehicle")
    dismiss_hit(hit=kept, by=county_staff, reason="车辆已于 2025 年转让，已核对转让合同")

    second = run(county_staff)

    assert CrossCheckHit.objects.filter(cross_check__code="member_vehicle").count() == 2
    kept.refresh_from_db()
    other.refresh_from_db()
    assert (kept.status, kept.first_run, kept.last_run) == ("dismissed", first, second)
    assert (other.status, other.last_run) == ("pending", second)
    assert (second.hits_found, second.hits_new) == (2, 0)
    assert second.by_check["member_vehicle"]["new"] == 0

    # The next file no longer lists the second vehicle: its hit stays, as history, not seen again.
    import_rows("ps_vehicles", [vehicle(car, "K3", "黔H12345")], tmp_path, period="2025-11")
    third = run(county_staff)
    other.refresh_from_db()
    assert other.last_run == second
    assert third.by_check["member_vehicle"]["not_seen"] == 1
    assert third.by_check["member_vehicle"]["not_seen_ids"] == [other.pk]
    assert list(not_seen_again(third)) == [other]


def test_a_check_of_an_undeclared_department_is_skipped_with_its_reason(checks, tmp_path):
    CrossCheck.objects.create(
        code="member_boat", name="家庭成员名下有船舶", subject="members", department="maritime",
        condition="has_record", outcome="exit_review",
    )
    member(lifted())

    result = run()

    assert result.by_check["member_boat"] == {"name": "家庭成员名下有船舶", "skipped": ["部门“maritime”没有声明。"]}
    assert result.finished_at is not None and "member_vehicle" in result.by_check


def test_an_inactive_check_does_not_run(checks):
    CrossCheck.objects.filter(code="member_vehicle").update(active=False)
    assert "member_vehicle" not in run().by_check


def test_another_countys_records_never_produce_hits_in_this_county(checks, tmp_path):
    other_county()
    number = resident_id(dt.date(1970, 1, 1), region="522635")
    there = member(lifted(village=OTHER_VILLAGE), name="李四", id_number=number)
    here = member(lifted(), name="王五", birth_date=dt.date(1966, 1, 1))
    import_rows("ps_vehicles", [vehicle(there, "K3", "黔H88888")], tmp_path, region=OTHER_COUNTY)
    stranger = resident_id(dt.date(1975, 7, 7), sequence=89)
    row = {"id_number": stranger, "name": "孙八", "item": "补贴", "amount": "450", "paid_on": "2025-09-12"}
    import_rows("subsidy_payments", [row], tmp_path, region=OTHER_COUNTY, period="2025-09")

    result = run()

    assert CrossCheckHit.objects.count() == 0 and result.hits_found == 0
    assert here.id_number not in people("member_vehicle")
    theirs = run(county=OTHER_COUNTY)
    assert people("member_vehicle") == {there.id_number} and theirs.hits_found == 2
    assert {hit.township_code for hit in CrossCheckHit.objects.all()} == {"522635101000", OTHER_COUNTY}


def test_a_region_that_is_not_a_county_is_refused(checks):
    with pytest.raises(ValueError, match="不是一个县"):
        run(county=TOWNSHIP_A)
