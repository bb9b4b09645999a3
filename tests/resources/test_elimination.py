"""Risk elimination: each condition failing alone blocks it; the review chain (application → township →
county) with conditional state changes and audit; the household's status change; returns afterwards."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from households.models import StatusChange
from povertycloud.accounts.models import Role
from povertycloud.audit.models import AuditEvent
from resources import elimination
from resources.elimination import apply_for_elimination, county_decision, record_returns, township_review
from resources.models import AssistanceMeasure, EliminationCase, EliminationEvent, MonitoringReturn
from risk import services as risk_services
from risk.models import RiskCase, Warning, WarningRule
from tests.conftest import _user
from tests.factories import TOWNSHIP_A
from tests.resources.builders import batch, income, months_ago, today
from tests.resources.eligible import eligible_household

pytestmark = pytest.mark.django_db


def failing(household) -> list[str]:
    return [c.code for c in elimination.elimination_conditions(household) if not c.met]


def apply(by, household, **overrides):
    values = {"method": "assisted", "visit_date": today() - dt.timedelta(days=14), "reason": "收入稳定，三保障无虞"}
    values.update(overrides)
    return apply_for_elimination(by=by, household=household, **values)


def approve_in_township(by, case):
    return township_review(
        by=by, case=case, approve=True, reason="公示无异议",
        notice_from=today() - dt.timedelta(days=12), notice_to=today() - dt.timedelta(days=6),
    )


@pytest.fixture
def household(regions):
    return eligible_household()


@pytest.fixture
def reviewer_a(regions):
    """A second official of township A: the one who applied cannot also pass the township review."""
    return _user("reviewer_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)


def test_an_eligible_household_meets_every_condition(household):
    assert failing(household) == []


def test_fewer_than_six_months_of_monitoring_blocks(regions):
    household = eligible_household()
    household.status_history.update(effective_date=months_ago(4))
    assert failing(household) == ["months"]


def test_no_implemented_measure_blocks(household):
    AssistanceMeasure.objects.update(status="planned")
    assert failing(household) == ["measure"]


def test_a_measure_ended_before_this_monitoring_period_does_not_count(household):
    AssistanceMeasure.objects.update(start_date=months_ago(30), end_date=months_ago(20))
    assert failing(household) == ["measure"]


def test_income_below_the_threshold_blocks(household):
    household.incomes.filter(year=today().year - 1).update(wage_income=6000)
    assert failing(household) == ["income", "rigid_spending"]


def test_income_above_for_less_than_half_a_year_blocks(household):
    household.incomes.filter(year=today().year - 2).update(wage_income=5000)
    household.incomes.filter(year=today().year - 1).update(survey_date=months_ago(2))
    assert failing(household) == ["income"]


def test_large_rigid_spending_blocks(household):
    household.incomes.filter(year=today().year - 1).update(compliant_medical_spending=5000)
    assert failing(household) == ["rigid_spending"]


def test_unsafe_housing_blocks(household):
    household.housing_grade = "D"
    household.save()
    assert failing(household) == ["security"]


def test_unsafe_water_blocks(household):
    household.safe_drinking_water = False
    household.save()
    assert failing(household) == ["security"]


def test_an_open_risk_case_blocks(household):
    RiskCase.objects.create(household=household, region_code=household.village_id, opened_on=today(), due_on=today())
    assert failing(household) == ["no_new_risk"]


def test_a_recent_department_warning_blocks(household):
    rule = WarningRule.objects.first() or WarningRule.objects.create(
        code="t", name="大额自付", department="health", field="out_of_pocket_ytd", operator="gte", phrase="x"
    )
    Warning.objects.create(rule=rule, household=household, value="9000", department="health", source_record_id=1,
                           batch=batch("health"), as_of=months_ago(1), region_code=household.village_id)
    assert failing(household) == ["no_new_risk"]


def test_a_household_unable_to_work_as_a_whole_cannot_be_eliminated(official_a, household):
    household.whole_household_unable_to_work = True
    household.save()
    assert failing(household) == ["able_to_work"]
    with pytest.raises(ValidationError) as refused:
        apply(official_a, household)
    assert "整户无劳动能力" in str(refused.value)
    assert not EliminationCase.objects.exists()


def test_an_application_that_fails_a_condition_changes_nothing(official_a, household):
    household.incomes.all().delete()
    before = AuditEvent.objects.count()
    with pytest.raises(ValidationError) as refused:
        apply(official_a, household)
    assert "没有收支调查记录" in str(refused.value)
    assert not EliminationCase.objects.exists() and AuditEvent.objects.count() == before


def test_the_whole_chain_eliminates_the_risk_through_a_status_change(official_a, reviewer_a, county_staff, household):
    case = apply(official_a, household)
    case = approve_in_township(reviewer_a, case)
    assert case.status == "township_approved" and case.notice_to == today() - dt.timedelta(days=6)
    case = county_decision(by=county_staff, case=case, approve=True, reason="同意")
    household.refresh_from_db()
    assert case.status == "approved" and case.decided_by == county_staff
    assert household.monitoring_type == ""
    entry = StatusChange.objects.get(household=household, event="05")
    assert case.status_change == entry and entry.recorded_by == county_staff
    steps = [e.to_status for e in EliminationEvent.objects.filter(case=case)]
    assert steps == ["applied", "township_approved", "approved"]
    reviews = AuditEvent.objects.filter(entity="resources.eliminationcase", action="review")
    assert reviews.count() == 3 and {e.actor_username for e in reviews} == {"official_a", "reviewer_a", "county_staff"}
    assert all(c["met"] for c in case.conditions)
    assert StatusChange.objects.filter(household=household).count() == 2  # nothing deleted


def test_a_second_decision_on_the_same_case_is_refused(official_a, reviewer_a, county_staff, household):
    case = approve_in_township(reviewer_a, apply(official_a, household))
    seen_by_other = EliminationCase.objects.get(pk=case.pk)
    county_decision(by=county_staff, case=case, approve=True, reason="同意")
    with pytest.raises(ValidationError) as refused:
        county_decision(by=county_staff, case=seen_by_other, approve=False, reason="不同意")
    assert "已办结" in str(refused.value)
    assert StatusChange.objects.filter(household=household, event="05").count() == 1


def test_a_stale_township_review_is_refused(official_a, reviewer_a, household):
    case = apply(official_a, household)
    other = EliminationCase.objects.get(pk=case.pk)
    township_review(by=reviewer_a, case=case, approve=False, reason="收入核实有误")
    with pytest.raises(ValidationError):
        approve_in_township(reviewer_a, other)
    assert EliminationCase.objects.get(pk=case.pk).status == "rejected"


def test_only_one_open_application_per_household(official_a, household):
    apply(official_a, household)
    with pytest.raises(ValidationError) as refused:
        apply(official_a, household)
    assert "未办结" in str(refused.value)


def test_after_a_rejection_a_new_application_is_possible(official_a, reviewer_a, county_staff, household):
    case = approve_in_township(reviewer_a, apply(official_a, household))
    county_decision(by=county_staff, case=case, approve=False, reason="收入不稳定")
    assert apply(official_a, household).status == "applied"
    assert EliminationCase.objects.count() == 2


def test_public_notice_of_fewer_than_five_days_is_refused(official_a, reviewer_a, household):
    case = apply(official_a, household)
    with pytest.raises(ValidationError) as refused:
        township_review(by=reviewer_a, case=case, approve=True, reason="x",
                        notice_from=today() - dt.timedelta(days=5), notice_to=today() - dt.timedelta(days=2))
    assert "不少于 5 天" in str(refused.value)
    assert EliminationCase.objects.get(pk=case.pk).status == "applied"


def test_bad_application_input_is_refused(official_a, household):
    for overrides, field in (
        ({"method": "x"}, "method"), ({"visit_date": None}, "visit_date"),
        ({"visit_date": today() + dt.timedelta(days=1)}, "visit_date"), ({"reason": " "}, "reason"),
    ):
        with pytest.raises(ValidationError) as refused:
            apply(official_a, household, **overrides)
        assert field in refused.value.message_dict
    assert not EliminationCase.objects.exists()


def test_roles_each_take_only_their_own_step(official_a, reviewer_a, official_b, county_staff, auditor, household):
    for user in (county_staff, auditor, official_b):
        with pytest.raises(PermissionDenied):
            apply(user, household)
    case = apply(official_a, household)
    for user in (county_staff, auditor, official_b):
        with pytest.raises(PermissionDenied):
            approve_in_township(user, case)
    case = approve_in_township(reviewer_a, case)
    for user in (official_a, auditor):
        with pytest.raises(PermissionDenied):
            county_decision(by=user, case=case, approve=True, reason="同意")
    assert EliminationCase.objects.get(pk=case.pk).status == "township_approved"


def test_a_household_back_in_monitoring_after_elimination_is_recorded_as_a_return(
    official_a, reviewer_a, county_staff, household
):
    case = county_decision(by=county_staff, case=approve_in_township(reviewer_a, apply(official_a, household)),
                           approve=True, reason="同意")
    household.refresh_from_db()
    assert record_returns(households=household.__class__.objects.filter(pk=household.pk)) == 0
    risk_case = RiskCase.objects.create(
        household=household, region_code=household.village_id, status="verifying", opened_on=today(),
        due_on=today(), visit_date=today(), consent_signed=True, visit_notes="再次因病",
    )
    risk_services.decide_monitoring(by=county_staff, case=risk_case, monitoring_type="2", risk_types=",07,",
                                    reason="务工中断，收入骤降")
    households = household.__class__.objects.filter(pk=household.pk)
    assert record_returns(households=households) == 1
    assert record_returns(households=households) == 0
    back = MonitoringReturn.objects.get()
    assert back.elimination == case and back.returned_on == today()
    assert back.status_change.event == "03"


def test_conditions_need_an_income_survey_of_last_year_or_later(household):
    household.incomes.filter(year=today().year - 1).delete()
    income(household, today().year - 3, 9000)
    assert failing(household) == ["income"]
