"""A wrong batch can be undone: its versions void, the versions it closed current again, as if it never came."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import CommandError, call_command
from django.urls import reverse

from exchange.departments import CivilAffairsRecord, HealthRecord
from exchange.history import dibao_on, record_history, records_on
from exchange.models import ImportBatch, LinkCandidate, RejectedRow
from exchange.pipeline import import_department_file
from exchange.rollback import code_prefix, rollback_batch
from povertycloud.audit.models import AuditEvent
from tests.exchange.files import CIVIL_COLUMNS, HEALTH_COLUMNS, bad_check, civil_row, health_row, write_csv
from tests.factories import COUNTY, TOWNSHIP_A, resident_id

pytestmark = pytest.mark.django_db
Status = ImportBatch.Status
A = resident_id(dt.date(1960, 3, 4), sex="2", sequence=41)
B = resident_id(dt.date(1948, 7, 9), sex="1", sequence=42)
C = resident_id(dt.date(1970, 1, 2), sex="1", sequence=43)
D = resident_id(dt.date(1990, 5, 6), sex="2", sequence=44)
DIBAO = {"低保类别": "农村低保", "低保开始日期": "2024-06-01", "低保月保障金额（元）": "330"}


def civil(tmp_path, name, rows, region=COUNTY) -> ImportBatch:
    path = write_csv(tmp_path / name, CIVIL_COLUMNS, rows, encoding="gbk")
    return import_department_file(department="civil_affairs", path=path, by=None, region_code=region)


@pytest.fixture
def two_periods(regions, tmp_path):
    """March: A (低保), B, C. April: A's 低保 stopped, B unchanged, C no longer listed, D new, one bad row."""
    march = civil(tmp_path, "mar.csv", [
        civil_row(A, "龙妹", **DIBAO), civil_row(B, "杨发"), civil_row(C, "吴三"),
    ])
    april = civil(tmp_path, "apr.csv", [
        civil_row(A, "龙妹", 统计期="2025-04", 低保停止日期="2025-03-20", **DIBAO),
        civil_row(B, "杨发", 统计期="2025-04"),
        civil_row(D, "李四", 统计期="2025-04"),
        civil_row(bad_check(C), "吴三", 统计期="2025-04"),
    ])
    assert (april.new_versions, april.closed_versions, april.rejected_rows) == (2, 1, 1)
    return march, april


def current(model=CivilAffairsRecord) -> dict[str, int]:
    return dict(model.objects.filter(valid_to__isnull=True).values_list("id_number", "batch_id"))


def test_rolling_back_voids_what_it_opened_and_reopens_what_it_closed(two_periods, county_staff):
    march, april = two_periods
    result = rollback_batch(batch=april, by=county_staff, reason="民政报错了文件")
    assert (result.voided, result.reopened) == (2, 2)
    assert current() == {A: march.pk, B: march.pk, C: march.pk}
    april.refresh_from_db()
    assert april.status == Status.ROLLED_BACK
    assert (april.rolled_back_by, april.rollback_reason) == (county_staff, "民政报错了文件")
    assert RejectedRow.objects.filter(batch=april).count() == 1  # kept
    # Kept (a warning or the audit trail may name them), but void: an empty interval that no read finds.
    voided = CivilAffairsRecord.all_versions.filter(batch=april)
    assert voided.count() == 2 and all(v.void and v.valid_to == v.valid_from for v in voided)
    assert not CivilAffairsRecord.objects.filter(batch=april).exists()
    assert not CivilAffairsRecord.all_versions.filter(closed_by=april).exists()
    event = AuditEvent.objects.get(object_pk=str(april.pk), changes__voided=2)
    assert "民政报错了文件" in event.note and event.actor == county_staff


def test_history_reads_as_if_the_batch_never_arrived(two_periods, county_staff):
    march, april = two_periods
    before = dibao_on(id_number=A, on=dt.date(2025, 4, 10))
    assert not before.receiving and before.batch == april
    rollback_batch(batch=april, by=county_staff, reason="错误文件")
    after = dibao_on(id_number=A, on=dt.date(2025, 4, 10))
    assert after.receiving and after.batch == march
    [version] = records_on(department="civil_affairs", id_number=A, on=dt.date(2025, 4, 1))
    assert version.batch == march and version.valid_to is None
    assert records_on(department="civil_affairs", id_number=D, on=dt.date(2025, 4, 1)) == []
    assert [v.batch for v in record_history(department="civil_affairs", id_number=A)] == [march]
    [c] = records_on(department="civil_affairs", id_number=C, on=dt.date(2025, 5, 1))
    assert c.batch == march


def test_a_corrected_file_for_the_same_period_is_accepted_afterwards(two_periods, county_staff, tmp_path):
    _march, april = two_periods
    rollback_batch(batch=april, by=county_staff, reason="错误文件")
    again = civil(tmp_path, "apr.csv", [civil_row(A, "龙妹", 统计期="2025-04", **DIBAO)])  # same name, new content
    assert again.status == Status.SUCCEEDED and not again.already_imported
    # The very same file as the rolled-back one is a new import too, not a no-op.
    rollback_batch(batch=again, by=county_staff, reason="再改")
    path = tmp_path / "apr-original.csv"
    write_csv(path, CIVIL_COLUMNS, [
        civil_row(A, "龙妹", 统计期="2025-04", 低保停止日期="2025-03-20", **DIBAO),
        civil_row(B, "杨发", 统计期="2025-04"),
        civil_row(D, "李四", 统计期="2025-04"),
        civil_row(bad_check(C), "吴三", 统计期="2025-04"),
    ], encoding="gbk")
    same = import_department_file(department="civil_affairs", path=path, by=None, region_code=COUNTY)
    assert same.sha256 == april.sha256 and same.pk != april.pk and not same.already_imported
    assert same.status == Status.SUCCEEDED and same.closed_versions == 1


def test_an_earlier_period_is_accepted_once_the_later_batch_is_rolled_back(regions, tmp_path, county_staff):
    civil(tmp_path, "mar.csv", [civil_row(A, "龙妹")])
    may = civil(tmp_path, "may.csv", [civil_row(A, "龙妹", 统计期="2025-05", 性别="女")])
    with pytest.raises(Exception, match="早于本部门已导入的统计期 2025-05"):
        civil(tmp_path, "apr.csv", [civil_row(A, "龙妹", 统计期="2025-04")])
    rollback_batch(batch=may, by=county_staff, reason="统计期写错")
    april = civil(tmp_path, "apr2.csv", [civil_row(A, "龙妹", 统计期="2025-04", 性别="女")])
    assert april.status == Status.SUCCEEDED


def test_only_the_latest_standing_batch_of_the_region_can_be_rolled_back(two_periods, county_staff):
    march, april = two_periods
    with pytest.raises(ValidationError, match=f"#{april.pk}"):
        rollback_batch(batch=march, by=county_staff, reason="x")
    rollback_batch(batch=april, by=county_staff, reason="先撤销四月")
    rollback_batch(batch=march, by=county_staff, reason="再撤销三月")
    assert not CivilAffairsRecord.objects.exists()
    assert CivilAffairsRecord.all_versions.count() == 5


def test_a_later_batch_of_a_township_blocks_the_county_batch_under_it(regions, tmp_path, county_staff):
    county = civil(tmp_path, "county.csv", [civil_row(A, "龙妹")])
    township = civil(tmp_path, "township.csv", [civil_row(B, "杨发", 统计期="2025-04")], region=TOWNSHIP_A)
    with pytest.raises(ValidationError, match=f"#{township.pk}"):
        rollback_batch(batch=county, by=county_staff, reason="x")


def test_a_reason_and_a_standing_batch_are_required(two_periods, county_staff):
    _march, april = two_periods
    with pytest.raises(ValidationError, match="须填写原因"):
        rollback_batch(batch=april, by=county_staff, reason="  ")
    rollback_batch(batch=april, by=county_staff, reason="错误")
    with pytest.raises(ValidationError, match="只有已完成的批次"):
        rollback_batch(batch=april, by=county_staff, reason="错误")


def test_township_officials_auditors_and_other_counties_cannot_roll_back(
    two_periods, official_a, auditor, other_county_staff
):
    _march, april = two_periods
    for user in (official_a, auditor, other_county_staff):
        with pytest.raises(PermissionDenied):
            rollback_batch(batch=april, by=user, reason="x")
    april.refresh_from_db()
    assert april.status == Status.SUCCEEDED


def test_pending_link_candidates_of_the_batch_are_superseded(two_periods, county_staff):
    _march, april = two_periods
    record = CivilAffairsRecord.objects.get(batch=april, id_number=D)
    candidate = LinkCandidate.objects.create(
        department="civil_affairs", id_number=D, record_name="李四", record_id=record.pk, batch=april,
        matches="name_birth", region_code="522634101200",
    )
    rollback_batch(batch=april, by=county_staff, reason="错误")
    candidate.refresh_from_db()
    assert candidate.status == LinkCandidate.Status.SUPERSEDED


def test_the_health_table_rolls_back_the_same_way(regions, tmp_path, admin_user):
    path = write_csv(tmp_path / "h.csv", HEALTH_COLUMNS, [health_row(A, "龙妹")], encoding="utf-8-sig")
    batch = import_department_file(department="health", path=path, by=None, region_code=COUNTY)
    rollback_batch(batch=batch, by=admin_user, reason="测试")
    assert not HealthRecord.objects.exists() and HealthRecord.all_versions.filter(void=True).count() == 1


def test_region_prefixes_are_read_from_the_code():
    assert [code_prefix(c) for c in ("520000000000", "522600000000", "522634000000", "522634101000",
                                      "522634101200")] == ["52", "5226", "522634", "522634101", "522634101200"]


# --- The command ------------------------------------------------------------------------------------------


def test_the_command_is_a_dry_run_unless_applied(two_periods, county_staff):
    _march, april = two_periods
    call_command("rollback_batch", str(april.pk), "--reason", "错误", "--by", county_staff.username)
    april.refresh_from_db()
    assert april.status == Status.SUCCEEDED and current()[D] == april.pk
    call_command("rollback_batch", str(april.pk), "--reason", "错误", "--by", county_staff.username, "--apply")
    april.refresh_from_db()
    assert april.status == Status.ROLLED_BACK and D not in current()


def test_the_command_refuses_a_user_who_may_not(two_periods, auditor):
    _march, april = two_periods
    with pytest.raises(CommandError, match="县级工作人员"):
        call_command("rollback_batch", str(april.pk), "--reason", "x", "--by", auditor.username, "--apply")
    with pytest.raises(CommandError, match="不存在"):
        call_command("rollback_batch", "999999", "--reason", "x", "--by", auditor.username)


# --- The page --------------------------------------------------------------------------------------------


def test_the_batch_page_offers_rollback_with_reason_and_confirmation(client, county_staff, two_periods):
    _march, april = two_periods
    client.force_login(county_staff)
    html = client.get(reverse("exchange:batch", args=[april.pk])).content.decode()
    assert 'data-testid="rollback-form"' in html and 'name="confirm"' in html
    url = reverse("exchange:batch_rollback", args=[april.pk])
    client.post(url, {"reason": "错误文件"})  # not confirmed
    april.refresh_from_db()
    assert april.status == Status.SUCCEEDED
    assert client.post(url, {"reason": "错误文件", "confirm": "on"}).status_code == 302
    april.refresh_from_db()
    assert april.status == Status.ROLLED_BACK
    html = client.get(reverse("exchange:batch", args=[april.pk])).content.decode()
    assert 'data-testid="rollback-facts"' in html and "错误文件" in html


def test_the_page_names_the_later_batch_instead_of_offering_rollback(client, county_staff, two_periods):
    march, _april = two_periods
    client.force_login(county_staff)
    html = client.get(reverse("exchange:batch", args=[march.pk])).content.decode()
    assert 'data-testid="rollback-later"' in html and 'data-testid="rollback-form"' not in html


def test_a_township_official_or_auditor_gets_403_and_another_county_404(
    client, official_a, auditor, other_county_staff, two_periods
):
    _march, april = two_periods
    url = reverse("exchange:batch_rollback", args=[april.pk])
    for user in (official_a, auditor):
        client.force_login(user)
        assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 403
    client.force_login(other_county_staff)
    assert client.post(url, {"reason": "x", "confirm": "on"}).status_code == 404
    april.refresh_from_db()
    assert april.status == Status.SUCCEEDED
