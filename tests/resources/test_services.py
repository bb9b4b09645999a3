"""Recording and editing assistance measures: who may, what is refused, optimistic locking, audit trail."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from households.services import StaleEdit
from povertycloud.audit.models import AuditEvent
from resources import services
from resources.models import AssistanceMeasure
from tests.factories import VILLAGE_B, make_person
from tests.resources.builders import monitored, months_ago, today

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(official_a):
    return monitored(risk_types=",02,07,")


def valid(**overrides):
    data = {
        "category": "02",
        "subtype": "0204",
        "amount": "3000",
        "funding_source": "财政衔接资金",
        "start_date": months_ago(2),
        "end_date": today() + dt.timedelta(days=200),
        "responsible_unit": "西江镇人民政府",
        "helper_name": "杨帮扶",
        "helper_unit": "西江镇",
        "helper_phone": "13912345678",
        "risk_types": ",07,",
        "status": "implemented",
    }
    data.update(overrides)
    return data


def counts():
    return AssistanceMeasure.objects.count(), AuditEvent.objects.count()


def test_official_records_a_measure_and_it_is_audited(official_a, household):
    measure = services.record_measure(by=official_a, household=household, data=valid())
    assert measure.amount == Decimal("3000.00")
    assert measure.risk_types == ",07,"
    assert measure.created_by == official_a
    event = AuditEvent.objects.get(entity="resources.assistancemeasure", object_pk=str(measure.pk))
    assert event.action == "create" and event.household_id == household.pk
    assert event.changes["amount"]["after"] == "3000"


def test_a_measure_for_a_member_keeps_the_members_name(official_a, household):
    head = household.members.get()
    measure = services.record_measure(
        by=official_a, household=household, data=valid(subtype="0201", person=head.pk, amount="0")
    )
    assert measure.person == head and measure.person_name == head.name


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"end_date": months_ago(3)}, "end_date", "结束日期不能早于开始日期"),
        ({"amount": "-1"}, "amount", "金额不能为负数"),
        ({"amount": "abc"}, "amount", "不是数字"),
        ({"subtype": "0801"}, "subtype", "不属于“就业帮扶”"),
        ({"subtype": ""}, "subtype", "须选择帮扶子类"),
        ({"category": "99"}, "category", "不在帮扶措施目录中"),
        ({"category": "03", "subtype": "0301", "amount": "50001"}, "amount", "不能超过 50,000 元"),
        (
            {"category": "03", "subtype": "0301", "amount": "50000", "end_date": months_ago(2).replace(day=1)
             + dt.timedelta(days=3 * 366 + 40)},
            "end_date", "期限不能超过 3 年",
        ),
        ({"category": "03", "subtype": "0301", "end_date": None}, "end_date", "须填写结束日期"),
        ({"start_date": today() + dt.timedelta(days=5), "end_date": None}, "status", "只能登记为“尚未实施”"),
        ({"start_date": ""}, "start_date", "请填写开始日期"),
        ({"start_date": "2024-13-01"}, "start_date", "不是有效日期"),
        ({"risk_types": ",09,"}, "risk_types", "该户的风险类型中没有“因安全住房”"),
        ({"risk_types": ",77,"}, "risk_types", "不在数据字典中"),
        ({"helper_phone": "12345"}, "helper_phone", "11 位手机号"),
        ({"subtype": "0201"}, "person", "须选择享受措施的家庭成员"),
        ({"status": "done"}, "status", "实施状态"),
    ],
)
def test_bad_input_is_refused_with_a_chinese_message_and_changes_nothing(
    official_a, household, overrides, field, message
):
    before = counts()
    with pytest.raises(ValidationError) as refused:
        services.record_measure(by=official_a, household=household, data=valid(**overrides))
    assert any(message in text for text in refused.value.message_dict[field])
    assert counts() == before


def test_a_member_of_another_household_is_refused(official_a, household):
    other = monitored(head="邻居")
    neighbour = other.members.get()
    with pytest.raises(ValidationError) as refused:
        services.record_measure(by=official_a, household=household, data=valid(subtype="0201", person=neighbour.pk))
    assert "不是本户的家庭成员" in refused.value.message_dict["person"][0]
    assert AssistanceMeasure.objects.count() == 0


def test_disability_allowances_need_a_disabled_member(official_a, household):
    head = household.members.get()
    data = valid(category="08", subtype="0803", person=head.pk, risk_types=",02,")
    with pytest.raises(ValidationError) as refused:
        services.record_measure(by=official_a, household=household, data=data)
    assert "未登记残疾" in refused.value.message_dict["person"][0]
    disabled = make_person(
        household, name="残疾成员", relation="03", birth_date=dt.date(2000, 1, 1), health=",4,",
        disability_category="4", disability_grade="1",
    )
    measure = services.record_measure(by=official_a, household=household, data={**data, "person": disabled.pk})
    assert measure.person == disabled


def test_county_staff_and_auditors_cannot_record(county_staff, auditor, household):
    for user in (county_staff, auditor):
        with pytest.raises(PermissionDenied):
            services.record_measure(by=user, household=household, data=valid())
    assert AssistanceMeasure.objects.count() == 0


def test_official_of_another_township_cannot_record(official_b, household):
    with pytest.raises(PermissionDenied):
        services.record_measure(by=official_b, household=household, data=valid())


def test_official_b_records_in_own_township(official_b):
    household = monitored(village=VILLAGE_B)
    assert services.record_measure(by=official_b, household=household, data=valid()).pk


def test_update_changes_the_measure_and_audits_the_difference(official_a, household):
    measure = services.record_measure(by=official_a, household=household, data=valid(status="planned"))
    updated = services.update_measure(
        by=official_a, measure=measure, data={"status": "implemented", "amount": "3500"}, expected_version=1
    )
    assert updated.version == 2 and updated.status == "implemented" and updated.amount == Decimal("3500")
    event = AuditEvent.objects.filter(entity="resources.assistancemeasure", action="update").get()
    assert event.changes["status"] == {"before": "planned", "after": "implemented"}


def test_a_stale_edit_is_refused_and_changes_nothing(official_a, household):
    measure = services.record_measure(by=official_a, household=household, data=valid())
    services.update_measure(by=official_a, measure=measure, data={"amount": "100"}, expected_version=1)
    with pytest.raises(StaleEdit):
        services.update_measure(by=official_a, measure=measure, data={"amount": "200"}, expected_version=1)
    measure.refresh_from_db()
    assert measure.amount == Decimal("100") and measure.version == 2


def test_a_bad_update_changes_nothing(official_a, household):
    measure = services.record_measure(by=official_a, household=household, data=valid())
    with pytest.raises(ValidationError):
        services.update_measure(by=official_a, measure=measure, data={"amount": "-5"}, expected_version=1)
    measure.refresh_from_db()
    assert measure.amount == Decimal("3000") and measure.version == 1


def test_auditor_cannot_update_or_remove(official_a, auditor, household):
    measure = services.record_measure(by=official_a, household=household, data=valid())
    with pytest.raises(PermissionDenied):
        services.update_measure(by=auditor, measure=measure, data={"amount": "1"}, expected_version=1)
    with pytest.raises(PermissionDenied):
        services.remove_measure(by=auditor, measure=measure, reason="误录")
    assert AssistanceMeasure.objects.filter(pk=measure.pk, amount=Decimal("3000")).exists()


def test_remove_needs_a_reason_and_the_trail_keeps_the_values(official_a, household):
    measure = services.record_measure(by=official_a, household=household, data=valid())
    with pytest.raises(ValidationError):
        services.remove_measure(by=official_a, measure=measure, reason=" ")
    pk = measure.pk
    services.remove_measure(by=official_a, measure=measure, reason="录入重复")
    assert not AssistanceMeasure.objects.filter(pk=pk).exists()
    event = AuditEvent.objects.get(entity="resources.assistancemeasure", action="delete")
    assert event.note == "录入重复" and event.changes["amount"]["before"] == "3000"
