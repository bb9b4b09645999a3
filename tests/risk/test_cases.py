"""The review workflow: opening cases from a run, and each transition allowed and refused."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from households.models import Household, StatusChange
from povertycloud.accounts.models import Role
from povertycloud.audit.models import AuditEvent
from risk import services
from risk.list_selectors import case_state
from risk.models import CaseEvent, ReviewCapacity, RiskCase
from tests.conftest import _user
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_A2, VILLAGE_B
from tests.risk.review import (
    household,
    make_case,
    make_rule,
    make_run,
    make_score,
    make_warning,
    today,
)

pytestmark = pytest.mark.django_db
Status = RiskCase.Status


def messages_of(error: ValidationError) -> str:
    return " ".join(error.messages)


@pytest.fixture
def county_staff_2(regions):
    return _user("county_staff_2", Role.COUNTY_STAFF, "522634000000")


@pytest.fixture
def official_a2(regions):
    """A second official of township A."""
    return _user("official_a2", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)


@pytest.fixture
def case(regions):
    return make_case(household(VILLAGE_A, head="王大山"))


def verifying(case, official, *, visited: bool = True, consent: bool = True):
    RiskCase.objects.filter(pk=case.pk).update(
        status=Status.VERIFYING,
        assigned_to=official,
        visit_date=today() if visited else None,
        visit_notes="家中一人长期慢性病，年自付医疗费用约 8000 元。" if visited else "",
        consent_signed=consent,
    )
    case.refresh_from_db()
    return case


# --- Opening cases -----------------------------------------------------------------------------------


def test_run_opens_top_n_per_township_by_p_return(regions):
    ReviewCapacity.objects.create(region_id=TOWNSHIP_A, households=2)
    run = make_run()
    in_a = [household(VILLAGE_A if i % 2 else VILLAGE_A2) for i in range(4)]
    in_b = [household(VILLAGE_B) for _ in range(3)]
    for rank, made in enumerate(in_a):
        make_score(run, made, 0.9 - rank * 0.1)
    for rank, made in enumerate(in_b):
        make_score(run, made, 0.5 - rank * 0.1)

    result = services.open_cases_from_run(run=run)

    opened = set(RiskCase.objects.values_list("household_id", flat=True))
    # Township A verifies two a round; township B has no capacity row, so the default (30) takes all three.
    assert opened == {in_a[0].pk, in_a[1].pk, *(h.pk for h in in_b)}
    assert result.opened == 5 and result.joined == 0
    case = RiskCase.objects.get(household=in_a[0])
    assert case.status == Status.WARNED
    assert case.opened_on == run.as_of and case.due_on == run.as_of + dt.timedelta(days=15)
    assert case.score.run == run and case.region_code == VILLAGE_A2
    assert CaseEvent.objects.filter(case=case, from_status="", to_status=Status.WARNED).count() == 1


def test_every_warned_household_gets_a_case_dated_from_its_first_warning(regions):
    ReviewCapacity.objects.create(region_id=TOWNSHIP_A, households=1)
    run = make_run()
    top = household(VILLAGE_A)
    low = household(VILLAGE_A)
    make_score(run, top, 0.9)
    make_score(run, low, 0.01)
    rule = make_rule()
    first = run.as_of - dt.timedelta(days=4)
    make_warning(rule, low, as_of=first)
    make_warning(rule, low, as_of=run.as_of)

    services.open_cases_from_run(run=run)

    case = RiskCase.objects.get(household=low)
    assert case.warning_rules == [rule.code]
    assert case.opened_on == first
    assert case.due_on == first + dt.timedelta(days=15)
    assert RiskCase.objects.filter(household=top).exists()


def test_a_new_warning_joins_the_open_case_instead_of_opening_another(regions):
    made = household(VILLAGE_A)
    existing = make_case(made, status=Status.VERIFYING, opened_on=today() - dt.timedelta(days=3), warning_rules=["a"])
    run = make_run()
    make_score(run, made, 0.02)
    rule = make_rule("civil-dibao-stopped", risk_type="99", name="低保停止")
    make_warning(rule, made, as_of=run.as_of)

    result = services.open_cases_from_run(run=run)

    assert result.opened == 0 and result.joined == 1
    assert RiskCase.objects.filter(household=made).count() == 1
    existing.refresh_from_db()
    assert existing.warning_rules == ["a", rule.code]
    assert existing.status == Status.VERIFYING
    assert existing.opened_on == today() - dt.timedelta(days=3)


def test_monitored_households_and_cases_decided_since_the_run_are_not_reopened(regions, county_staff):
    run = make_run()
    monitored = household(VILLAGE_A, monitoring_type="2", risk_types=",01,")
    excluded = household(VILLAGE_A)
    make_score(run, monitored, 0.95)
    make_score(run, excluded, 0.9)
    services.open_cases_from_run(run=run)
    assert not RiskCase.objects.filter(household=monitored).exists()
    case = RiskCase.objects.get(household=excluded)
    services.exclude(by=county_staff, case=case, reason="入户核实收入稳定")

    again = services.open_cases_from_run(run=run)

    assert again.opened == 0
    assert RiskCase.objects.filter(household=excluded).count() == 1


def test_the_model_and_the_rules_never_change_a_household_status(regions):
    run = make_run()
    made = household(VILLAGE_A)
    make_score(run, made, 0.99)
    make_warning(make_rule(), made, as_of=run.as_of)
    before = Household.objects.values().get(pk=made.pk)

    services.open_cases_from_run(run=run)

    assert Household.objects.values().get(pk=made.pk) == before
    assert not StatusChange.objects.filter(household=made).exists()


# --- Assigning ---------------------------------------------------------------------------------------


def test_county_staff_assign_a_warned_case_to_an_official_of_its_township(case, county_staff, official_a):
    services.assign_for_verification(by=county_staff, case=case, official=official_a)
    case.refresh_from_db()
    assert case.status == Status.VERIFYING and case.assigned_to == official_a
    event = CaseEvent.objects.get(case=case, to_status=Status.VERIFYING)
    assert event.from_status == Status.WARNED and event.by == county_staff
    audit = AuditEvent.objects.get(action="review", entity="risk.riskcase", object_pk=str(case.pk))
    assert audit.actor == county_staff and audit.household_id == case.household_id


def test_assignment_to_an_official_of_another_township_is_refused(case, county_staff, official_b):
    with pytest.raises(ValidationError) as refused:
        services.assign_for_verification(by=county_staff, case=case, official=official_b)
    assert "所在乡镇的乡镇干部" in messages_of(refused.value)
    case.refresh_from_db()
    assert case.status == Status.WARNED


@pytest.mark.parametrize("actor", ["official_a", "auditor"])
def test_only_county_staff_assign(request, case, official_a, actor):
    with pytest.raises(PermissionDenied):
        services.assign_for_verification(by=request.getfixturevalue(actor), case=case, official=official_a)
    assert not CaseEvent.objects.filter(case=case).exists()


def test_a_case_in_verification_cannot_be_assigned_again(case, county_staff, official_a):
    verifying(case, official_a)
    with pytest.raises(ValidationError) as refused:
        services.assign_for_verification(by=county_staff, case=case, official=official_a)
    assert "“预警”状态" in messages_of(refused.value)


# --- The home visit ----------------------------------------------------------------------------------


@pytest.mark.parametrize("actor", ["official_a", "official_a2"])
def test_the_assigned_or_any_official_of_the_township_records_the_visit(request, case, official_a, actor):
    verifying(case, official_a, visited=False)
    by = request.getfixturevalue(actor)
    services.record_home_visit(by=by, case=case, visit_date=today(), notes="已入户", consent_signed=True)
    case.refresh_from_db()
    assert case.visit_date == today() and case.consent_signed and case.visit_notes == "已入户"
    assert case.status == Status.VERIFYING
    assert CaseEvent.objects.get(case=case).by == by
    assert AuditEvent.objects.filter(action="review", object_pk=str(case.pk), actor=by).exists()


@pytest.mark.parametrize("actor", ["official_b", "county_staff", "auditor"])
def test_others_cannot_record_the_visit(request, case, official_a, actor):
    verifying(case, official_a, visited=False)
    with pytest.raises(PermissionDenied):
        services.record_home_visit(
            by=request.getfixturevalue(actor), case=case, visit_date=today(), notes="x", consent_signed=True
        )


def test_visit_is_refused_before_assignment_and_with_a_future_date_or_no_notes(case, official_a):
    with pytest.raises(ValidationError) as refused:
        services.record_home_visit(by=official_a, case=case, visit_date=today(), notes="x", consent_signed=True)
    assert "“核实中”状态" in messages_of(refused.value)
    verifying(case, official_a, visited=False)
    with pytest.raises(ValidationError) as refused:
        services.record_home_visit(
            by=official_a,
            case=case,
            visit_date=today() + dt.timedelta(days=1),
            notes=" ",
            consent_signed=True,
        )
    assert set(refused.value.message_dict) == {"visit_date", "notes"}


# --- Deciding ----------------------------------------------------------------------------------------


def test_deciding_monitoring_updates_the_household_and_appends_a_status_change(case, county_staff, official_a):
    verifying(case, official_a)
    services.decide_monitoring(
        by=county_staff, case=case, monitoring_type="2", risk_types=["01", "07"], reason="入户核实属实"
    )
    case.refresh_from_db()
    assert case.status == Status.MONITORED and case.decided_by == county_staff and case.decided_at
    assert case.monitoring_type == "2" and case.risk_types == ",01,07,"
    made = Household.objects.get(pk=case.household_id)
    assert made.monitoring_type == "2" and made.risk_types == ",01,07,"
    change = StatusChange.objects.get(household=made)
    assert change.event == "03" and change.effective_date == today()
    assert change.recorded_by == county_staff and change.reason == "入户核实属实"
    assert change.monitoring_type == "2"
    assert AuditEvent.objects.filter(action="review", entity="risk.riskcase", object_pk=str(case.pk)).count() == 1
    assert AuditEvent.objects.filter(action="update", entity="households.household", household_id=made.pk).exists()


def test_monitoring_needs_a_recorded_visit_and_signed_consent(case, county_staff, official_a):
    verifying(case, official_a, visited=False)
    decision = {"monitoring_type": "2", "risk_types": ["01"], "reason": "属实"}
    with pytest.raises(ValidationError) as refused:
        services.decide_monitoring(by=county_staff, case=case, **decision)
    assert "尚未录入入户核实情况" in messages_of(refused.value)
    verifying(case, official_a, consent=False)
    with pytest.raises(ValidationError) as refused:
        services.decide_monitoring(by=county_staff, case=case, **decision)
    assert "授权承诺书" in messages_of(refused.value)
    assert Household.objects.get(pk=case.household_id).monitoring_type == ""


@pytest.mark.parametrize(
    ("monitoring_type", "risk_types", "reason", "field", "message"),
    [
        ("9", ["01"], "属实", "monitoring_type", "不在数据字典中"),
        ("1", ["01"], "属实", "monitoring_type", "不适用于“一般农户”"),
        ("2", ["77"], "属实", "risk_types", "不在数据字典中"),
        ("2", [], "属实", "risk_types", "至少选择一项"),
        ("2", ["01", "02", "03", "05", "06", "07"], "属实", "risk_types", "最多 5 项"),
        ("2", ["04"], "属实", "risk_types", "灾害类型"),
        ("2", ["01"], "  ", "reason", "决定理由"),
    ],
)
def test_invalid_decisions_are_refused_and_change_nothing(
    case, county_staff, official_a, monitoring_type, risk_types, reason, field, message
):
    verifying(case, official_a)
    with pytest.raises(ValidationError) as refused:
        services.decide_monitoring(
            by=county_staff, case=case, monitoring_type=monitoring_type, risk_types=risk_types, reason=reason
        )
    assert message in " ".join(refused.value.message_dict[field])
    case.refresh_from_db()
    assert case.status == Status.VERIFYING
    assert not StatusChange.objects.filter(household_id=case.household_id).exists()


@pytest.mark.parametrize("actor", ["official_a", "auditor"])
def test_only_county_staff_decide(request, case, official_a, actor):
    verifying(case, official_a)
    with pytest.raises(PermissionDenied):
        services.decide_monitoring(
            by=request.getfixturevalue(actor), case=case, monitoring_type="2", risk_types=["01"], reason="x"
        )
    with pytest.raises(PermissionDenied):
        services.exclude(by=request.getfixturevalue(actor), case=case, reason="x")


def test_a_warned_case_cannot_be_decided_for_monitoring_before_verification(case, county_staff):
    with pytest.raises(ValidationError) as refused:
        services.decide_monitoring(by=county_staff, case=case, monitoring_type="2", risk_types=["01"], reason="x")
    assert "“核实中”状态" in messages_of(refused.value)


@pytest.mark.parametrize("status", [Status.WARNED, Status.VERIFYING])
def test_county_staff_exclude_an_open_case_with_a_reason(case, county_staff, official_a, status):
    if status == Status.VERIFYING:
        verifying(case, official_a)
    with pytest.raises(ValidationError) as refused:
        services.exclude(by=county_staff, case=case, reason="")
    assert "排除须填写理由" in " ".join(refused.value.message_dict["reason"])
    services.exclude(by=county_staff, case=case, reason="收入稳定高于监测线")
    case.refresh_from_db()
    assert case.status == Status.EXCLUDED and case.decision_reason == "收入稳定高于监测线"
    assert case.decided_by == county_staff
    assert CaseEvent.objects.filter(case=case, from_status=status, to_status=Status.EXCLUDED).count() == 1
    assert AuditEvent.objects.filter(action="review", object_pk=str(case.pk)).count() == 1
    assert Household.objects.get(pk=case.household_id).monitoring_type == ""


def test_a_decided_case_cannot_be_excluded(case, county_staff):
    RiskCase.objects.filter(pk=case.pk).update(status=Status.MONITORED, decided_by=county_staff)
    case.refresh_from_db()
    with pytest.raises(ValidationError) as refused:
        services.exclude(by=county_staff, case=case, reason="x")
    assert "已由" in messages_of(refused.value) and "作出决定" in messages_of(refused.value)


def test_of_two_people_deciding_at_once_the_second_is_told_and_nothing_changes(
    case, county_staff, county_staff_2, official_a
):
    verifying(case, official_a)
    first_view = RiskCase.objects.get(pk=case.pk)
    second_view = RiskCase.objects.get(pk=case.pk)  # opened at the same time, before the first decided

    services.decide_monitoring(by=county_staff, case=first_view, monitoring_type="2", risk_types=["01"], reason="属实")
    for late in (
        lambda: services.exclude(by=county_staff_2, case=second_view, reason="不属实"),
        lambda: services.decide_monitoring(
            by=county_staff_2,
            case=RiskCase.objects.get(pk=case.pk),
            monitoring_type="3",
            risk_types=["05"],
            reason="另一决定",
        ),
    ):
        with pytest.raises(ValidationError) as refused:
            late()
        assert "该户的核实已由county_staff作出决定（纳入监测），本次操作未保存。" in messages_of(refused.value)

    case.refresh_from_db()
    assert case.status == Status.MONITORED and case.decided_by == county_staff and case.decision_reason == "属实"
    assert StatusChange.objects.filter(household_id=case.household_id).count() == 1
    assert Household.objects.get(pk=case.household_id).monitoring_type == "2"
    assert CaseEvent.objects.filter(case=case, to_status__in=[Status.MONITORED, Status.EXCLUDED]).count() == 1
    assert AuditEvent.objects.filter(action="review", object_pk=str(case.pk)).count() == 1


def test_a_stale_assignment_is_refused_when_someone_else_assigned_first(case, county_staff, county_staff_2, official_a):
    stale = RiskCase.objects.get(pk=case.pk)
    services.assign_for_verification(by=county_staff, case=case, official=official_a)
    with pytest.raises(ValidationError) as refused:
        services.assign_for_verification(by=county_staff_2, case=stale, official=official_a)
    assert "已被他人改为“核实中”" in messages_of(refused.value)
    assert CaseEvent.objects.filter(case=case).count() == 1


# --- The 15-day limit --------------------------------------------------------------------------------


def test_due_date_is_fifteen_days_after_the_first_clue_and_overdue_after_it(regions):
    opened = dt.date(2025, 3, 1)
    case = make_case(household(VILLAGE_A), opened_on=opened)
    assert case.due_on == dt.date(2025, 3, 16)
    on_time = case_state(case, dt.date(2025, 3, 16))
    assert on_time.days_left == 0 and not on_time.overdue
    late = case_state(case, dt.date(2025, 3, 18))
    assert late.overdue and late.overdue_days == 2
    case.status = Status.EXCLUDED
    decided = case_state(case, dt.date(2025, 3, 18))
    assert not decided.overdue and decided.decided
