"""The registry batch page in a browser: county staff see what undoing would do, confirm, and read the outcome;
the page fits a phone with the undo section open."""

import datetime as dt

import pytest
from playwright.sync_api import expect

from exchange.models import ImportBatch
from exchange.registry.service import import_registry
from households.models import Household
from tests.browser.test_phone_layout import assert_fits_the_screen
from tests.exchange.registry_files import small_export
from tests.factories import COUNTY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def imported(regions, tmp_path) -> ImportBatch:
    batch = import_registry(region_code=COUNTY, paths=small_export(tmp_path), by=None, as_of=dt.date(2025, 12, 31))
    assert batch.status == ImportBatch.Status.SUCCEEDED
    return batch


def test_county_staff_undo_a_registry_batch_from_its_page(page, sign_in, county_staff, imported):
    sign_in(page, county_staff)
    page.goto(f"/departments/registry/{imported.pk}/")
    page.get_by_text("撤销本批次…").click()
    page.get_by_test_id("undo-check").click()
    preview = page.get_by_test_id("undo-deleted")
    expect(preview).to_contain_text("3")
    page.get_by_label("撤销原因").fill("导入了错误的文件")
    page.get_by_test_id("undo-submit").click()  # not confirmed: the browser does not send it
    expect(page.get_by_test_id("undo-form")).to_be_visible()
    assert ImportBatch.objects.get(pk=imported.pk).status == ImportBatch.Status.SUCCEEDED
    page.locator("input[name=confirm]").check()
    page.get_by_test_id("undo-submit").click()
    expect(page.get_by_test_id("rollback-facts")).to_be_visible()
    expect(page.get_by_text("批次已撤销")).to_be_visible()
    assert not Household.objects.exists()


def test_the_undo_preview_fits_a_phone(phone_page, sign_in, county_staff, imported):
    sign_in(phone_page, county_staff)
    phone_page.goto(f"/departments/registry/{imported.pk}/?undo=1#undo")
    expect(phone_page.get_by_test_id("undo-preview")).to_be_visible()
    assert_fits_the_screen(phone_page)
    phone_page.screenshot(path="/tmp/phone-registry-undo.png", full_page=True)
