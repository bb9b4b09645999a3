"""The auditors' export of the eligibility cross-check hits: one row per hit with its evidence and verification,
ID numbers masked unless the role may reveal them, formulas neutralised, the region's hits only."""

import io

import pytest
from django.urls import reverse
from openpyxl import load_workbook

from eligibility.models import CrossCheckHit
from exchange.models import ImportBatch
from povertycloud.audit.models import AuditEvent
from tests.download_helpers import export_file
from tests.factories import COUNTY, TOWNSHIP_A
from tests.reports.builders import END, START
from tests.reports.cross_check_builders import DISMISS_REASON, DISMISSED_ID, FORMULA_NAME, cross_check_hits

pytestmark = pytest.mark.django_db
SHEET = "资格比对疑点"


@pytest.fixture
def hits(regions, admin_user):
    return cross_check_hits(admin_user)


def export(client, user, *, region: str = COUNTY, sensitive: bool = False) -> list[dict]:
    client.force_login(user)
    data = {"region": region, "start": START.isoformat(), "end": END.isoformat(), "kind": "cross_checks"}
    if sensitive:
        data["include_sensitive"] = "on"
    book = load_workbook(io.BytesIO(export_file(client, reverse("reports:exports"), data)))
    values = list(book[SHEET].iter_rows(values_only=True))
    return [dict(zip(values[0], row, strict=True)) for row in values[1:]]


def test_the_export_lists_each_hit_found_in_the_period_with_its_evidence_and_verification(client, hits, auditor):
    rows = export(client, auditor)
    by_id = {row["疑点编号"]: row for row in rows}
    found = {hits.hits[key].pk for key in ("h1", "h2", "h3", "h4", "h5")}
    assert set(by_id) == found  # not h6 (found in 2023) nor h7 (another county)
    dismissed = by_id[hits.hits["h4"].pk]
    assert (dismissed["比对规则"], dismissed["乡镇"], dismissed["村"]) == (
        "死亡后仍发放补贴（测试）",
        "郎德镇",
        "郎德上寨",
    )
    assert (dismissed["姓名"], dismissed["证据部门"], dismissed["证据批次"]) == ("赵四", "公安 死亡注销", hits.batch.pk)
    assert dismissed["批次文件"] == "公安死亡注销-2024-02.csv"
    assert dismissed["证据记录"] == hits.hits["h4"].evidence_record_id
    assert (dismissed["发放日期"].date().isoformat(), dismissed["金额（元）"]) == ("2024-02-20", 800)
    assert (dismissed["核实状态"], dismissed["核实人"]) == ("核实排除", "administrator")
    assert dismissed["核实时间"].startswith("2024-08-01")
    confirmed = by_id[hits.hits["h3"].pk]
    assert (confirmed["核实状态"], confirmed["后续处理"], confirmed["金额（元）"]) == (
        "核实属实",
        "转入资金追回",
        1200.5,
    )
    pending = by_id[hits.hits["h1"].pk]
    assert pending["核实状态"] == "待核实"
    assert (pending["后续处理"], pending["核实人"], pending["发放日期"]) == (None, None, None)


def test_id_numbers_are_masked_for_an_auditor_and_in_the_reasons(client, hits, auditor):
    rows = export(client, auditor, sensitive=True)  # asked for, but the auditor's role does not grant it
    ids = {row["证件号码"] for row in rows}
    assert all("*" in value for value in ids)
    assert not ids & set(CrossCheckHit.objects.values_list("id_number", flat=True))
    reason = next(row["核实说明"] for row in rows if row["疑点编号"] == hits.hits["h4"].pk)
    assert "同名不同人" in reason and DISMISSED_ID not in reason


def test_an_auditor_granted_sensitive_access_gets_full_id_numbers_only_when_asking(client, hits, auditor):
    auditor.sensitive_data_access = True
    auditor.save()
    assert all("*" in row["证件号码"] for row in export(client, auditor))
    rows = export(client, auditor, sensitive=True)
    h4 = next(row for row in rows if row["疑点编号"] == hits.hits["h4"].pk)
    assert (h4["证件号码"], h4["核实说明"]) == (hits.hits["h4"].id_number, DISMISS_REASON)


def test_spreadsheet_formulas_in_the_cells_are_neutralised(client, hits, auditor):
    ImportBatch.objects.filter(pk=hits.batch.pk).update(file_name="+cmd|' /C calc'!A0.csv")
    rows = export(client, auditor)
    h3 = next(row for row in rows if row["疑点编号"] == hits.hits["h3"].pk)
    assert h3["姓名"] == "'" + FORMULA_NAME
    assert h3["批次文件"] == "'+cmd|' /C calc'!A0.csv"


def test_a_township_export_holds_only_that_townships_hits(client, hits, county_staff):
    rows = export(client, county_staff, region=TOWNSHIP_A)
    assert {row["疑点编号"] for row in rows} == {hits.hits[key].pk for key in ("h1", "h2", "h3")}


def test_another_countys_hits_never_appear_even_for_an_administrator_of_everything(client, hits, admin_user):
    rows = export(client, admin_user)
    assert hits.hits["h7"].pk not in {row["疑点编号"] for row in rows}
    assert len(rows) == 5


def test_the_export_is_recorded_in_the_audit_trail(client, hits, auditor):
    export(client, auditor)
    event = AuditEvent.objects.filter(action="export", entity="eligibility.crosscheckhit").get()
    assert (event.actor, event.region_code, event.changes["export"], event.changes["rows"]) == (
        auditor,
        COUNTY,
        "cross_checks",
        5,
    )
    assert "敏感信息已脱敏" in event.note


def test_a_township_official_may_not_export(client, hits, official_a):
    client.force_login(official_a)
    data = {"region": TOWNSHIP_A, "start": START.isoformat(), "end": END.isoformat(), "kind": "cross_checks"}
    assert client.post(reverse("reports:exports"), data).status_code == 403


def test_county_staff_of_one_county_may_not_export_another_region(client, hits, county_staff):
    client.force_login(county_staff)
    data = {"region": "522601000000", "start": START.isoformat(), "end": END.isoformat(), "kind": "cross_checks"}
    response = client.post(reverse("reports:exports"), data)
    assert response.status_code == 200  # the form says what is wrong; nothing is queued
    assert not AuditEvent.objects.filter(action="export").exists()
