"""The department data pages for a department declared as data: upload, batch page, rejected rows and their
download, the linkage review and the household page's department records, with the declared labels (English
ones on English pages), sensitive columns hidden like health details, and the region scope."""

import datetime as dt
import io

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import load_workbook

from exchange.feeds.declare import declare_feed
from exchange.feeds.models import DeclaredRecord, DepartmentFeed
from exchange.models import ImportBatch
from tests.exchange.files import write_csv
from tests.factories import COUNTY, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db

HOUSE_CHECKS = {
    "slug": "house_checks",
    "name": "住建 农房核查",
    "name_en": "Housing: house checks",
    "description": "农村住房安全核查，每期全量报送。",
    "full_snapshot": True,
    "columns": [
        {"column": "统计期", "label_en": "Period", "key": "period", "kind": "period", "required": True},
        {"column": "证件号码", "label_en": "ID number", "key": "id_number", "kind": "id_number", "required": True},
        {"column": "姓名", "label_en": "Name", "key": "name", "kind": "text", "max_length": 50},
        {"column": "核查等级", "label_en": "Check grade", "key": "grade", "kind": "code", "codeset": "housing_grade",
         "required": True},
        {"column": "核查日期", "label_en": "Checked on", "key": "checked_on", "kind": "date"},
        {"column": "改造补助（元）", "label_en": "Repair subsidy (yuan)", "key": "subsidy", "kind": "amount",
         "max_value": 100000},
        {"column": "病残情况", "label_en": "Illness or disability", "key": "condition", "kind": "text",
         "sensitive": True},
    ],
}
COLUMNS = [c["column"] for c in HOUSE_CHECKS["columns"]]
HEAD = resident_id(dt.date(1970, 1, 2), sequence=31)
STRANGER = resident_id(dt.date(1982, 8, 9), sequence=32)


@pytest.fixture(autouse=True)
def var_dir(settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    return settings.VAR_DIR


@pytest.fixture
def house_checks(admin_user):
    return declare_feed(declaration=HOUSE_CHECKS, by=admin_user)


def upload(client, path, *, department="house_checks", region=COUNTY):
    return client.post(
        reverse("exchange:upload"),
        {"department": department, "region": region, "encoding": "",
         "file": SimpleUploadedFile(path.name, path.read_bytes(), content_type="text/csv")},
    )


@pytest.fixture
def imported(house_checks, client, county_staff, tmp_path, django_capture_on_commit_callbacks):
    """The county's file, uploaded through the page: the head of a household of township A (linked), someone
    in no household (unlinked) and a row with a grade not in the code table (rejected)."""
    household = make_household(with_head=False)
    head = make_person(household, name="王大山", birth_date=dt.date(1970, 1, 2), id_number=HEAD)
    rows = [
        ["2025-03", HEAD, "王大山", "D", "2025/2/1", "35000", "慢性病"],
        ["2025-03", STRANGER, "陌生人", "C", "", "", ""],
        ["2025-03", resident_id(dt.date(1990, 1, 1), sequence=33), "李四", "E", "", "", "尘肺病"],
    ]
    path = write_csv(tmp_path / "住建-2025-03.csv", COLUMNS, rows, encoding="gbk")
    client.force_login(county_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(client, path)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302 and response.url == reverse("exchange:batch", args=[batch.pk])
    return batch, household, head


def test_the_upload_page_offers_a_declared_department_and_its_columns(client, county_staff, house_checks):
    client.force_login(county_staff)
    html = client.get(reverse("exchange:upload")).content.decode()
    assert '<option value="house_checks">住建 农房核查</option>' in html
    assert 'data-testid="department-house_checks"' in html and "核查等级" in html
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(reverse("exchange:upload")).content.decode()
    assert '<option value="house_checks">Housing: house checks</option>' in html


def test_a_declared_department_file_uploaded_by_county_staff_is_imported_and_counted(client, imported):
    batch, _household, head = imported
    assert batch.status == "succeeded", batch.error
    assert (batch.total_rows, batch.accepted_rows, batch.rejected_rows) == (3, 2, 1)
    assert (batch.linked_rows, batch.unlinked_rows) == (1, 1)
    assert DeclaredRecord.objects.get(id_number=HEAD).person == head
    page = client.get(reverse("exchange:batch", args=[batch.pk])).content.decode()
    assert "接收 2 + 拒收 1 = 总计 3" in page
    assert "住建 农房核查数据 · 批次" in page and 'data-testid="batch-department">住建 农房核查<' in page
    assert "核查等级“E”不在数据字典中" in page
    listing = client.get(reverse("exchange:batches")).content.decode()
    assert "住建 农房核查" in listing and "住建-2025-03.csv" in listing


def test_the_rejected_rows_download_has_the_declared_columns_and_the_reasons(client, imported):
    batch, *_ = imported
    response = client.post(reverse("exchange:rejected_download", args=[batch.pk]))
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [[cell.value for cell in row] for row in sheet.iter_rows()]
    assert rows[0][1:-1] == COLUMNS and rows[0][-1] == "拒收原因"
    assert rows[1][0] == 3 and rows[1][4] == "E" and "*" in rows[1][2]  # the ID number masked
    assert rows[1][-1].startswith("核查等级“E”不在数据字典中")


def test_the_household_page_shows_the_declared_record_with_its_labels(client, imported, official_a):
    _batch, household, _head = imported
    client.force_login(official_a)
    url = reverse("households:detail", args=[household.pk])
    html = client.get(url).content.decode()
    assert html.count('data-department="house_checks"') == 1
    assert "住建 农房核查" in html and "核查等级" in html and "D 级" in html
    assert "核查日期" in html and "2025-02-01" in html and "35,000.00" in html
    assert "慢性病" in html  # a township official sees health details
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = client.get(url).content.decode()
    assert "Housing: house checks" in html and "Check grade" in html and "Checked on" in html
    assert "Illness or disability" in html


def test_a_sensitive_declared_column_is_hidden_like_health_details(client, imported, auditor):
    batch, household, _head = imported
    client.force_login(auditor)  # an auditor without sensitive data access
    html = client.get(reverse("households:detail", args=[household.pk])).content.decode()
    assert "核查等级" in html and "D 级" in html
    assert "病残情况" in html and "已隐藏" in html and "慢性病" not in html
    page = client.get(reverse("exchange:batch", args=[batch.pk])).content.decode()
    assert "核查等级“E”不在数据字典中" in page and "尘肺病" not in page and "已隐藏" in page
    download = client.post(reverse("exchange:rejected_download", args=[batch.pk]))
    cells = [cell.value for row in load_workbook(io.BytesIO(download.content)).active.iter_rows() for cell in row]
    assert "尘肺病" not in cells and "（已隐藏）" in cells


def test_county_staff_see_a_rejected_rows_sensitive_value(client, imported):
    batch, *_ = imported
    assert "尘肺病" in client.get(reverse("exchange:batch", args=[batch.pk])).content.decode()


def test_an_official_of_another_township_does_not_see_the_record(client, imported, official_b):
    _batch, household, _head = imported
    in_b = make_household(with_head=False, village_id=VILLAGE_B)
    make_person(in_b, name="郎德人", birth_date=dt.date(1990, 3, 3))
    client.force_login(official_b)
    assert client.get(reverse("households:detail", args=[household.pk])).status_code == 404
    html = client.get(reverse("households:detail", args=[in_b.pk])).content.decode()
    assert 'data-department="house_checks"' not in html and "王大山" not in html
    linkage = client.get(reverse("exchange:linkage"), {"department": "house_checks"}).content.decode()
    assert "王大山" not in linkage


def test_the_linkage_review_lists_the_declared_departments_unlinked_records(client, imported):
    batch, *_ = imported
    html = client.get(reverse("exchange:linkage"), {"department": "house_checks"}).content.decode()
    assert 'data-testid="tab-house_checks"' in html
    assert html.count('data-testid="unlinked-row"') == 1 and "陌生人" in html
    by_batch = client.get(reverse("exchange:linkage"), {"batch": batch.pk}).content.decode()
    assert "陌生人" in by_batch


def test_the_pages_of_a_deactivated_department_still_show_its_batches(client, imported, admin_user):
    batch, *_ = imported
    DepartmentFeed.objects.filter(slug="house_checks").update(active=False)
    assert client.get(reverse("exchange:batch", args=[batch.pk])).status_code == 200
    assert "住建 农房核查" in client.get(reverse("exchange:batches")).content.decode()
    assert client.post(reverse("exchange:rejected_download", args=[batch.pk])).status_code == 200
    assert client.get(reverse("exchange:linkage"), {"batch": batch.pk}).status_code == 200


def test_the_upload_page_refuses_a_deactivated_declared_department(
    client, county_staff, house_checks, tmp_path, var_dir
):
    DepartmentFeed.objects.filter(pk=house_checks.pk).update(active=False)
    path = write_csv(tmp_path / "住建.csv", COLUMNS, [["2025-03", STRANGER, "陌生人", "C", "", "", ""]])
    client.force_login(county_staff)
    response = upload(client, path)
    assert response.status_code == 200
    assert 'data-testid="error-department"' in response.content.decode()
    assert not ImportBatch.objects.exists() and not DeclaredRecord.objects.exists()
    assert not (var_dir / "uploads").exists() or not any((var_dir / "uploads").rglob("*.csv"))


def test_a_township_official_cannot_upload_a_declared_departments_file(client, official_a, house_checks, tmp_path):
    path = write_csv(tmp_path / "住建.csv", COLUMNS, [["2025-03", STRANGER, "陌生人", "C", "", "", ""]])
    client.force_login(official_a)
    assert upload(client, path).status_code == 403
    assert not ImportBatch.objects.exists()
