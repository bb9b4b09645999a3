"""The department data pages in a browser: they fit a phone; the batch page follows an import's progress."""

import datetime as dt

import pytest
from django.core.cache import cache
from playwright.sync_api import expect

from exchange.linkage import find_candidates
from exchange.models import ImportBatch, RejectedRow
from tests.browser.test_phone_layout import assert_fits_the_screen
from tests.exchange.records import make_batch, make_record, substitute
from tests.factories import TOWNSHIP_A, VILLAGE_A, make_household, make_person, resident_id

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def department_data(regions, county_staff):
    batch = make_batch("civil_affairs", by=county_staff, total_rows=5, accepted_rows=3, rejected_rows=2,
                       linked_rows=1, unlinked_rows=2)
    RejectedRow.objects.bulk_create(
        RejectedRow(
            batch=batch, row_number=n, values={"证件号码": "52263419800517001X", "姓名": "=HYPERLINK()"},
            reasons=["证件号码校验位不正确，请核对后重新报送。"],
        )
        for n in (2, 4)
    )
    birth = dt.date(1966, 6, 6)
    household = make_household(with_head=False, village_id=VILLAGE_A)
    person = make_person(
        household, name="王大山", birth_date=birth, id_number=resident_id(birth, sequence=11), dibao=""
    )
    make_record("civil_affairs", batch=batch, id_number=person.id_number, name="王大山", person=person,
                dibao_type="2")
    make_record("civil_affairs", batch=batch, id_number=substitute(person.id_number, 11, "9"), name="王大三")
    make_record("civil_affairs", batch=batch, id_number=resident_id(dt.date(1950, 5, 5)), name="陌生人")
    find_candidates(region_code=batch.region_code, batch=batch)
    return batch


def test_department_pages_fit_a_phone(phone_page, sign_in, county_staff, department_data):
    page = phone_page
    sign_in(page, county_staff)
    for path, shot in (
        ("/departments/", "batches"),
        (f"/departments/batches/{department_data.pk}/", "batch"),
        ("/departments/upload/", "upload"),
        ("/departments/linkage/", "linkage"),
        (f"/departments/quality/?township={TOWNSHIP_A}", "quality"),
    ):
        page.goto(path)
        expect(page.get_by_test_id("feeds-subnav")).to_be_visible()
        assert_fits_the_screen(page)
        page.screenshot(path=f"/tmp/phone-departments-{shot}.png", full_page=True)


def test_the_batch_page_follows_the_import_and_reloads_when_done(
    page, sign_in, county_staff, department_data
):
    batch = make_batch("health", by=county_staff, status=ImportBatch.Status.RUNNING)
    cache.set(f"import-progress:{batch.pk}", {"done": 300, "total": 1000, "stage": "validating"})
    sign_in(page, county_staff)
    page.goto(f"/departments/batches/{batch.pk}/")
    expect(page.get_by_test_id("progress-text")).to_contain_text("300 / 1000", timeout=5000)
    ImportBatch.objects.filter(pk=batch.pk).update(
        status=ImportBatch.Status.SUCCEEDED, total_rows=10, accepted_rows=9, rejected_rows=1
    )
    expect(page.get_by_test_id("batch-status")).to_have_text("已完成", timeout=8000)
    expect(page.get_by_test_id("count-check")).to_contain_text("接收 9 + 拒收 1 = 总计 10")


def test_a_candidate_is_confirmed_from_the_review_page(page, sign_in, official_a, department_data):
    sign_in(page, official_a)
    page.goto("/departments/linkage/")
    expect(page.get_by_test_id("unlinked-row")).to_have_count(1)
    page.get_by_role("button", name="确认是同一人").click()
    expect(page.get_by_test_id("messages")).to_contain_text("已确认关联")
    expect(page.get_by_test_id("no-unlinked")).to_be_visible()
