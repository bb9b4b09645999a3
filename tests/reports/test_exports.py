"""Auditors' exports: what each holds, masking unless the role allows, formulas neutralised, each one audited."""

import datetime as dt
import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from households.models import Household, Person
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import record_event
from resources.models import AssistanceMeasure
from risk.models import CaseEvent, RiskCase
from tests.download_helpers import export_file
from tests.factories import COUNTY
from tests.reports.builders import END, START, aware, small_county
from tests.resources.builders import civil_affairs

pytestmark = pytest.mark.django_db
PHONE, ACCOUNT = "13812345678", "6222020200112233445"


@pytest.fixture
def county(regions):
    county = small_county()
    Household.objects.filter(pk=county.h1.pk).update(phone=PHONE, bank_account=ACCOUNT)
    head = Person.objects.get(household=county.h1, relation="01")
    Person.objects.filter(pk=head.pk).update(name="@SUM(A1:A9)")
    Person.objects.filter(household=county.h1, relation="03").update(
        health=",4,", disability_category="4", disability_grade="2"
    )
    AssistanceMeasure.objects.filter(household=county.h1).update(helper_phone="13912345678")
    AssistanceMeasure.objects.filter(household=county.h1, amount=6000).update(funding_source="=1+2")
    case = RiskCase.objects.get(household=county.h1)
    RiskCase.objects.filter(pk=case.pk).update(decision_reason="务工收入中断", risk_types=",07,", monitoring_type="2")
    CaseEvent.objects.create(case=case, from_status="verifying", to_status="monitored", note="决定纳入监测")
    return county


def export(client, user, kind: str, *, sensitive: bool = False):
    client.force_login(user)
    data = {"region": COUNTY, "start": START.isoformat(), "end": END.isoformat(), "kind": kind}
    if sensitive:
        data["include_sensitive"] = "on"
    return load_workbook(io.BytesIO(export_file(client, reverse("reports:exports"), data)))


def rows(book, sheet: str) -> list[dict]:
    values = list(book[sheet].iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_household_and_member_lists_hide_ids_phones_accounts_and_health_from_an_auditor(client, county, auditor):
    book = export(client, auditor, "households")
    households = {row["户编号"]: row for row in rows(book, "户")}
    assert len(households) == 5
    h1 = households[county.h1.number]
    assert (h1["联系电话"], h1["银行账号"]) == ("138****5678", "****3445")
    assert h1["最近纳入监测日期（截止日前）"].date() == dt.date(2024, 3, 11)
    assert households[county.h3.number]["最近风险消除日期（截止日前）"].date() == dt.date(2024, 8, 1)
    members = rows(book, "家庭成员")
    assert len(members) == 12
    child = next(m for m in members if m["户编号"] == county.h1.number and m["与户主关系"] == "之子")
    assert (child["健康状况"], child["残疾类别"], child["残疾等级"]) == ("（已隐藏）",) * 3
    ids = {m["证件号码"] for m in members}
    assert all("*" in value for value in ids)
    assert not ids & set(Person.objects.values_list("id_number", flat=True))


def test_an_auditor_granted_sensitive_access_gets_full_values_only_when_asking(client, county, auditor):
    auditor.sensitive_data_access = True
    auditor.save()
    masked = next(row for row in rows(export(client, auditor, "households"), "户") if row["户编号"] == county.h1.number)
    assert masked["联系电话"] == "138****5678"
    full = export(client, auditor, "households", sensitive=True)
    h1 = next(row for row in rows(full, "户") if row["户编号"] == county.h1.number)
    assert (h1["联系电话"], h1["银行账号"]) == (PHONE, ACCOUNT)
    child = next(m for m in rows(full, "家庭成员") if m["户编号"] == county.h1.number and m["与户主关系"] == "之子")
    assert child["健康状况"] == "残疾"
    event = AuditEvent.objects.filter(action="export").exclude(entity="downloads.download").latest("pk")
    assert event.changes["sensitive"] is True and "含完整敏感信息" in event.note


def test_an_auditor_without_sensitive_access_asking_for_full_values_still_gets_them_masked(client, county, auditor):
    book = export(client, auditor, "households", sensitive=True)
    h1 = next(row for row in rows(book, "户") if row["户编号"] == county.h1.number)
    assert h1["联系电话"] == "138****5678"
    assert AuditEvent.objects.exclude(entity="downloads.download").get(action="export").changes["sensitive"] is False


def test_the_assistance_ledger_lists_amounts_and_payees_with_formulas_neutralised(client, county, auditor):
    ledger = rows(export(client, auditor, "assistance"), "帮扶资金台账")
    assert [(row["户编号"], row["金额（元）"], row["实施状态"]) for row in ledger] == [
        (county.h1.number, 3000, "已实施"),
        (county.h2.number, 20000, "尚未实施"),
        (county.h1.number, 6000, "已实施"),
    ]
    first, _, second = ledger
    assert first["收款户户主"] == "'@SUM(A1:A9)"
    assert first["收款银行账号"] == "****3445"
    assert first["帮扶责任人电话"] == "139****5678"
    assert isinstance(first["金额（元）"], int | float)
    assert second["资金来源"] == "'=1+2"
    assert (first["帮扶类别"], first["帮扶子类"], first["实施状态"]) == ("就业帮扶", "就业奖补", "已实施")


def test_department_comparison_results_are_exported_by_township_and_person(client, county, auditor):
    member = Person.objects.get(household=county.h5, relation="01")
    civil_affairs(member, dibao_type="2")
    book = export(client, auditor, "quality")
    found = rows(book, "比对结果")
    assert [(row["户编号"], row["问题"], row["部门"]) for row in found] == [
        (county.h5.number, "民政有低保，户档案无", "民政")
    ]
    assert "*" in found[0]["证件号码"]
    counts = {row["乡镇"]: row["民政有低保，户档案无"] for row in rows(book, "分乡镇问题数")}
    assert counts["西江镇"] == 1 and counts["郎德镇"] == 0


def test_risk_decisions_are_exported_with_their_events(client, county, auditor):
    book = export(client, auditor, "decisions")
    decisions = rows(book, "风险核实决定")
    assert [(row["户编号"], row["决定"]) for row in decisions] == [
        (county.h1.number, "纳入监测"),
        (county.h2.number, "纳入监测"),
    ]
    assert decisions[0]["决定理由"] == "务工收入中断"
    assert decisions[0]["风险类型"] == "因务工就业不稳"
    events = rows(book, "办理记录")
    assert [(e["原状态"], e["新状态"], e["说明"]) for e in events] == [("核实中", "纳入监测", "决定纳入监测")]


def test_the_audit_trail_export_masks_sensitive_values_in_the_changes(client, county, auditor, official_a):
    AuditEvent(
        at=aware(dt.date(2024, 5, 2)),
        actor=official_a,
        actor_username="official_a",
        action="update",
        entity="households.household",
        object_pk=str(county.h1.pk),
        region_code=county.h1.village_id,
        household_id=county.h1.pk,
        changes={
            "phone": {"before": "13800000000", "after": PHONE},
            "group_name": {"before": "一组", "after": "=二组"},
        },
        note="修改电话",
    ).save()
    trail = rows(export(client, auditor, "audit"), "审计日志")
    change = next(row for row in trail if row["说明"] == "修改电话")
    assert PHONE not in change["变更内容"] and "138****5678" in change["变更内容"]
    assert change["操作人"] == "official_a"
    assert "=二组" in change["变更内容"]


def _audit_row(county, official_a, *, changes, note, object_repr=""):
    AuditEvent(
        at=aware(dt.date(2024, 5, 3)), actor=official_a, actor_username="official_a", action="update",
        entity="resources.assistancemeasure", object_repr=object_repr, region_code=county.h1.village_id,
        household_id=county.h1.pk, changes=changes, note=note,
    ).save()


def test_the_audit_trail_export_masks_helpers_phones(client, county, auditor, official_a):
    """帮扶责任人电话 is in the one list of sensitive fields: masked in the audit export as everywhere."""
    _audit_row(county, official_a, changes={"helper_phone": {"before": "", "after": "13987654321"}}, note="改电话")
    change = next(row for row in rows(export(client, auditor, "audit"), "审计日志") if row["说明"] == "改电话")
    assert "13987654321" not in change["变更内容"] and "139****4321" in change["变更内容"]


def test_the_audit_trail_export_masks_every_sensitive_field_and_ids_in_text(client, county, auditor, official_a):
    person = Person.objects.get(household=county.h1, relation="01")
    _audit_row(
        county, official_a,
        changes={
            "id_number": {"before": None, "after": person.id_number},
            "disability_certificate": {"after": person.id_number + "42"},
            "certificate": person.id_number + "42",
            "bank_account": {"before": ACCOUNT, "after": ""},
            "values": {"身份证号": person.id_number, "备注": f"电话 {PHONE}"},
        },
        note=f"核对 {person.id_number}",
        object_repr=f"民政 {person.id_number}",
    )
    change = next(row for row in rows(export(client, auditor, "audit"), "审计日志") if row["说明"].startswith("核对"))
    text = change["变更内容"] + change["说明"] + change["对象"]
    assert person.id_number not in text and person.id_number[10:] not in text
    assert ACCOUNT not in text and PHONE not in text
    assert person.id_number[:10] + "********" in change["说明"]


def test_the_audit_trail_export_hides_health_details_from_an_auditor(client, county, auditor, official_a):
    _audit_row(county, official_a, changes={"health": {"before": ",1,", "after": ",4,"}}, note="改健康")
    change = next(row for row in rows(export(client, auditor, "audit"), "审计日志") if row["说明"] == "改健康")
    assert ",4," not in change["变更内容"] and "（已隐藏）" in change["变更内容"]


def test_the_audit_trail_export_with_full_values_for_a_role_that_may(client, county, auditor, official_a):
    auditor.sensitive_data_access = True
    auditor.save()
    _audit_row(county, official_a, changes={"helper_phone": {"after": "13987654321"}}, note="改电话")
    book = export(client, auditor, "audit", sensitive=True)
    change = next(row for row in rows(book, "审计日志") if row["说明"] == "改电话")
    assert "13987654321" in change["变更内容"]


def test_the_audit_trail_export_covers_only_the_period(client, county, auditor, official_a):
    record_event(actor=official_a, action="update", entity="x", region_code=county.h1.village_id, note="今天的记录")
    AuditEvent(
        at=aware(dt.date(2023, 6, 1)),
        actor_username="official_a",
        action="update",
        entity="x",
        region_code=county.h1.village_id,
        note="2023 年的记录",
    ).save()
    AuditEvent(
        at=aware(dt.date(2024, 6, 1)),
        actor_username="official_a",
        action="update",
        entity="x",
        region_code=county.h1.village_id,
        note="2024 年的记录",
    ).save()
    notes = [row["说明"] for row in rows(export(client, auditor, "audit"), "审计日志")]
    assert "2024 年的记录" in notes
    assert "2023 年的记录" not in notes and "今天的记录" not in notes


@pytest.mark.parametrize("kind", ["households", "assistance", "quality", "cross_checks", "decisions", "audit"])
def test_every_export_is_itself_recorded_in_the_audit_trail(client, county, auditor, kind):
    before = AuditEvent.objects.count()
    export(client, auditor, kind)
    assert AuditEvent.objects.count() == before + 2  # the export, and the download of its file
    assert AuditEvent.objects.filter(action="export", entity="downloads.download").count() == 1
    event = AuditEvent.objects.filter(action="export").exclude(entity="downloads.download").latest("pk")
    assert (event.actor, event.actor_username, event.region_code) == (auditor, "auditor", COUNTY)
    assert event.changes["export"] == kind
    assert (event.changes["start"], event.changes["end"]) == ("2024-01-01", "2024-12-31")
    assert isinstance(event.changes["rows"], int)
    assert "敏感信息已脱敏" in event.note
