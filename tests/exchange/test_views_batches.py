"""Upload, batch list and batch page, progress, rejected rows and their download; department records on
the household page."""

import datetime as dt
import io
from pathlib import Path

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from openpyxl import load_workbook

from exchange import forms as feed_forms
from exchange.departments import CivilAffairsRecord
from exchange.models import ImportBatch, RejectedRow
from povertycloud.audit.models import AuditEvent
from tests.exchange.files import CIVIL_COLUMNS, civil_row, write_csv
from tests.exchange.records import make_batch, make_record
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


def uploads(var_dir: Path) -> list[Path]:
    root = var_dir / "uploads"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def batch_url(batch) -> str:
    return reverse("exchange:batch", args=[batch.pk])


# --- Upload ----------------------------------------------------------------------------------------------


def civil_csv(tmp_path, rows) -> SimpleUploadedFile:
    path = write_csv(tmp_path / "民政-2025-03.csv", CIVIL_COLUMNS, rows)
    return SimpleUploadedFile("民政-2025-03.csv", path.read_bytes(), content_type="text/csv")


def test_county_staff_upload_imports_in_the_background(
    client, county_staff, tmp_path, var_dir, django_capture_on_commit_callbacks
):
    birth = dt.date(1970, 4, 4)
    household = make_household(with_head=False)
    known = make_person(household, name="王大山", birth_date=birth, id_number=resident_id(birth, sequence=3))
    rows = [
        civil_row(known.id_number, "王大山", 低保类别="农村低保", 低保开始日期="2024-01-01"),
        civil_row(resident_id(dt.date(1980, 1, 1), sequence=9), "陌生人"),
        civil_row("123", "坏号码"),
    ]
    client.force_login(county_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("exchange:upload"),
            {"department": "civil_affairs", "region": COUNTY, "file": civil_csv(tmp_path, rows),
             "encoding": ""},
        )
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response.url == batch_url(batch)
    assert batch.uploaded_by == county_staff and batch.file_name == "民政-2025-03.csv"
    assert Path(batch.stored_file).is_relative_to(var_dir / "uploads")
    assert batch.status == "succeeded", batch.error
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (3, 2, 1)
    assert (batch.linked_rows, batch.unlinked_rows) == (1, 1)
    assert CivilAffairsRecord.objects.get(id_number=known.id_number).person == known
    page = client.get(batch_url(batch)).content.decode()
    assert "接收 2 + 拒收 1 = 总计 3" in page


def test_uploading_the_same_file_again_imports_nothing(
    client, county_staff, tmp_path, django_capture_on_commit_callbacks
):
    rows = [civil_row(resident_id(dt.date(1980, 1, 1), sequence=9), "陌生人")]
    client.force_login(county_staff)
    for _ in range(2):
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                reverse("exchange:upload"),
                {"department": "civil_affairs", "region": COUNTY, "file": civil_csv(tmp_path, rows)},
                follow=True,
            )
    assert ImportBatch.objects.count() == 1
    assert "没有重复导入" in response.content.decode()


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("名单.txt", b"a,b\n1,2\n", "只能上传 .csv 或 .xlsx 文件"),
        ("名单.xls", b"\xd0\xcf\x11\xe0old excel", "只能上传 .csv 或 .xlsx 文件"),
        ("名单.xlsx", "证件号码,姓名\n".encode(), "内容不是 Excel 工作簿"),
        ("名单.csv", b"PK\x03\x04zipped", "内容不是文本表格"),
        ("名单.csv", "证件号码,姓名\n522634197001010011,张三\n".encode(), "缺少民政数据的必填列"),
    ],
)
def test_upload_refuses_bad_files_and_keeps_nothing(client, county_staff, var_dir, name, content, message):
    client.force_login(county_staff)
    response = client.post(
        reverse("exchange:upload"),
        {"department": "civil_affairs", "region": COUNTY, "file": SimpleUploadedFile(name, content)},
    )
    assert response.status_code == 200
    assert message in response.content.decode()
    assert ImportBatch.objects.count() == 0
    assert uploads(var_dir) == []


def test_an_oversized_upload_is_refused_and_nothing_kept(
    client, county_staff, var_dir, monkeypatch, tmp_path
):
    monkeypatch.setattr(feed_forms, "MAX_UPLOAD_BYTES", 1000)
    rows = [civil_row(resident_id(dt.date(1980, 1, 1), sequence=i), f"人{i}") for i in range(40)]
    client.force_login(county_staff)
    response = client.post(
        reverse("exchange:upload"),
        {"department": "civil_affairs", "region": COUNTY, "file": civil_csv(tmp_path, rows)},
    )
    assert response.status_code == 200
    assert "文件过大" in response.content.decode()
    assert ImportBatch.objects.count() == 0
    assert uploads(var_dir) == []


def test_township_officials_may_view_the_upload_page_but_not_upload(client, official_a, tmp_path):
    client.force_login(official_a)
    page = client.get(reverse("exchange:upload"))
    assert page.status_code == 200 and 'data-testid="upload-view-only"' in page.content.decode()
    response = client.post(
        reverse("exchange:upload"),
        {"department": "civil_affairs", "region": TOWNSHIP_A, "file": civil_csv(tmp_path, [])},
    )
    assert response.status_code == 403
    assert ImportBatch.objects.count() == 0


def test_an_auditor_cannot_upload(client, auditor, tmp_path, var_dir):
    client.force_login(auditor)
    response = client.post(
        reverse("exchange:upload"),
        {"department": "civil_affairs", "region": COUNTY, "file": civil_csv(tmp_path, [])},
    )
    assert response.status_code == 403
    assert ImportBatch.objects.count() == 0 and uploads(var_dir) == []


def test_county_staff_cannot_upload_for_a_region_outside_theirs(client, county_staff, tmp_path):
    client.force_login(county_staff)
    response = client.post(
        reverse("exchange:upload"),
        {"department": "civil_affairs", "region": "520000000000", "file": civil_csv(tmp_path, [])},
    )
    assert response.status_code == 200 and ImportBatch.objects.count() == 0


# --- Batch list and page -------------------------------------------------------------------------------


def test_batch_list_is_scoped_to_the_region(client, official_a, county_staff):
    in_a = make_batch(region_code=TOWNSHIP_A, file_name="西江.csv")
    in_b = make_batch(region_code=TOWNSHIP_B, file_name="郎德.csv")
    county = make_batch(region_code=COUNTY, file_name="全县.csv")
    client.force_login(official_a)
    html = client.get(reverse("exchange:batches")).content.decode()
    assert "西江.csv" in html and "郎德.csv" not in html and "全县.csv" not in html
    assert client.get(batch_url(in_b)).status_code == 404
    assert client.get(batch_url(county)).status_code == 404
    assert client.get(batch_url(in_a)).status_code == 200
    client.force_login(county_staff)
    html = client.get(reverse("exchange:batches")).content.decode()
    assert all(name in html for name in ("西江.csv", "郎德.csv", "全县.csv"))


def rejected_batch(count: int, **overrides) -> ImportBatch:
    batch = make_batch(
        total_rows=count + 3, accepted_rows=3, rejected_rows=count, linked_rows=2, unlinked_rows=1,
        **overrides,
    )
    RejectedRow.objects.bulk_create(
        RejectedRow(
            batch=batch, row_number=i + 1,
            values={"证件号码": f"52263419800517{i:04d}", "姓名": f"=HYPERLINK(\"http://x\",\"{i}\")",
                    "低保类别": "@SUM(1)", "备注": f"+86 522634199001011234 第{i}行"},
            reasons=["证件号码校验位不正确。", "-1 不是有效金额"],
        )
        for i in range(count)
    )
    return batch


def test_batch_page_shows_the_file_and_counts_that_add_up(client, county_staff):
    batch = rejected_batch(2, by=county_staff)
    client.force_login(county_staff)
    html = client.get(batch_url(batch)).content.decode()
    assert batch.sha256 in html and batch.file_name in html and "county_staff" in html
    assert 'data-testid="count-total">5<' in html
    assert 'data-testid="count-accepted">3<' in html and 'data-testid="count-rejected">2<' in html
    assert 'data-testid="count-linked">2<' in html and 'data-testid="count-unlinked">1<' in html
    assert "接收 3 + 拒收 2 = 总计 5" in html
    assert html.count('data-testid="rejected-row"') == 2
    assert "5226341980********" in html and "52263419800517" not in html  # IDs masked on the page
    assert "522634199001011234" not in html


def test_rejected_rows_are_paged_without_counting_the_table(client, county_staff):
    batch = rejected_batch(120)
    client.force_login(county_staff)
    with CaptureQueriesContext(connection) as captured:
        first = client.get(batch_url(batch)).content.decode()
    assert first.count('data-testid="rejected-row"') == 50
    assert "?after=50#rejected" in first
    sql = [q["sql"] for q in captured.captured_queries]
    assert not any("COUNT(" in text.upper() and "rejectedrow" in text for text in sql)
    last = client.get(batch_url(batch) + "?after=100").content.decode()
    assert last.count('data-testid="rejected-row"') == 20 and 'data-testid="rejected-next"' not in last


def test_the_progress_endpoint_reads_the_cache(client, county_staff, official_b):
    batch = make_batch(status=ImportBatch.Status.RUNNING)
    cache.set(f"import-progress:{batch.pk}", {"done": 250, "total": 1000, "stage": "validating"})
    client.force_login(county_staff)
    data = client.get(reverse("exchange:batch_progress", args=[batch.pk])).json()
    assert data["percent"] == 25 and data["finished"] is False and "250 / 1000" in data["label"]
    page = client.get(batch_url(batch)).content.decode()
    assert "data-progress-url" in page and "js/progress.js" in page
    client.force_login(official_b)
    assert client.get(reverse("exchange:batch_progress", args=[batch.pk])).status_code == 404


def download(client, batch, **data):
    response = client.post(reverse("exchange:rejected_download", args=[batch.pk]), data)
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    return [list(row) for row in sheet.iter_rows(values_only=True)]


def test_rejected_download_is_masked_formula_safe_and_audited(client, county_staff):
    batch = rejected_batch(3)
    client.force_login(county_staff)
    rows = download(client, batch)
    header, first = rows[0], rows[1]
    assert header[0] == "行号" and header[-1] == "拒收原因" and "证件号码" in header
    cells = dict(zip(header, first, strict=True))
    assert cells["证件号码"] == "5226341980********"
    assert cells["姓名"].startswith("'=HYPERLINK")
    assert cells["低保类别"] == "'@SUM(1)"
    assert cells["备注"].startswith("'+86") and "522634199001011234" not in cells["备注"]
    assert cells["拒收原因"].startswith("证件号码校验位不正确")
    assert len(rows) == 4
    event = AuditEvent.objects.get(action="export", entity="exchange.rejectedrow")
    assert event.actor == county_staff and event.changes["rows"] == 3 and event.changes["full_ids"] is False


def test_full_ids_only_for_a_role_that_may_reveal(client, county_staff, auditor):
    batch = rejected_batch(1)
    client.force_login(county_staff)
    rows = download(client, batch, full_ids="1")
    assert dict(zip(rows[0], rows[1], strict=True))["证件号码"] == "522634198005170000"
    client.force_login(auditor)
    rows = download(client, batch, full_ids="1")
    assert dict(zip(rows[0], rows[1], strict=True))["证件号码"] == "5226341980********"


def test_rejected_download_of_another_region_is_not_found(client, official_a):
    batch = rejected_batch(1, region_code=TOWNSHIP_B)
    client.force_login(official_a)
    assert client.post(reverse("exchange:rejected_download", args=[batch.pk])).status_code == 404
    assert not AuditEvent.objects.filter(action="export").exists()


def test_batch_pages_query_counts(client, county_staff, django_assert_max_num_queries):
    for _ in range(3):
        rejected_batch(60)
    batch = ImportBatch.objects.first()
    client.force_login(county_staff)
    client.get(batch_url(batch))
    with django_assert_max_num_queries(10):
        client.get(reverse("exchange:batches"))
    with django_assert_max_num_queries(10):
        client.get(batch_url(batch))


# --- The household page ----------------------------------------------------------------------------------


def test_household_page_shows_each_members_current_department_records(client, official_a):
    household = make_household(with_head=False)
    head = make_person(household, name="户主甲", birth_date=dt.date(1970, 1, 1),
                       id_number=resident_id(dt.date(1970, 1, 1), sequence=1))
    child = make_person(household, name="孩子乙", relation="03", birth_date=dt.date(2014, 5, 5),
                        id_number=resident_id(dt.date(2014, 5, 5), sequence=2), education="",
                        school_status="15")
    own = make_batch("civil_affairs", region_code=TOWNSHIP_A, file_name="西江民政.csv")
    county = make_batch("education", region_code=COUNTY, file_name="全县教育.csv")
    make_record("civil_affairs", batch=own, id_number=head.id_number, name=head.name, person=head,
                dibao_type="2", dibao_monthly_amount="350.00")
    make_record("civil_affairs", batch=own, id_number=head.id_number, name=head.name, person=head,
                dibao_type="1", valid_to=dt.date(2025, 3, 1), row_hash="old")
    make_record("education", batch=county, id_number=child.id_number, name=child.name, person=child,
                school_name="西江小学", stage="2", grade="五年级")
    client.force_login(official_a)
    html = client.get(reverse("households:detail", args=[household.pk])).content.decode()
    assert html.count('data-testid="department-record"') == 2  # current versions only
    assert "农村低保" in html and "城市低保" not in html and "350.00" in html
    assert "西江小学" in html and "五年级" in html
    assert f'href="{batch_url(own)}"' in html  # the township's batch is linked
    assert f'href="{batch_url(county)}"' not in html and f"批次 #{county.pk}" in html  # the county's is named
    assert "2025-03" in html
