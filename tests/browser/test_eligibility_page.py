"""An official on a phone opens the cross-check hits of their township, opens one, dismisses it with a reason and
sees it dismissed (issue 17, item 4)."""

import re

import pytest
from playwright.sync_api import expect

from eligibility.models import CrossCheckHit
from tests.browser.test_phone_layout import assert_fits_the_screen
from tests.eligibility.page_builders import cross_check_world

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def world(county_staff, official_b, tmp_path):
    return cross_check_world(by=county_staff, tmp_path=tmp_path)


def test_an_official_dismisses_a_hit_on_a_phone(phone_page, sign_in, world, official_a):
    page = phone_page
    sign_in(page, official_a)
    page.goto("/eligibility/hits/")
    rows = page.get_by_test_id("hit-row")
    # Their township's two hits; 郎德镇's is not listed.
    expect(rows).to_have_count(2)
    expect(page.locator(f"[data-hit-id='{world.deceased_b.pk}']")).to_have_count(0)
    assert_fits_the_screen(page)

    row = page.locator(f"[data-testid=hit-row][data-hit-id='{world.payment_a.pk}']")
    expect(row.get_by_test_id("hit-status")).to_have_text("待核实")
    expect(row.get_by_test_id("hit-id-number")).to_have_text(re.compile(r"^\d{10}\*{8}$"))
    expect(row.get_by_test_id("evidence-facts")).to_contain_text("死亡日期：2025-02-14")
    row.get_by_test_id("hit-link").click()

    expect(page).to_have_url(re.compile(rf"/eligibility/hits/{world.payment_a.pk}/$"))
    expect(page.get_by_test_id("hit-amount")).to_have_text("1200.50")
    assert_fits_the_screen(page)
    page.fill("#id_reason", "补贴为死亡前应发的月份，已核对发放清单")
    page.get_by_test_id("dismiss-hit").click()

    expect(page.get_by_test_id("message-success")).to_have_text("已排除这条疑点。")
    expect(page.get_by_test_id("hit-status")).to_have_text("核实排除")
    expect(page.get_by_test_id("hit-reason")).to_have_text("补贴为死亡前应发的月份，已核对发放清单")
    expect(page.get_by_test_id("decided-by")).to_have_text(official_a.get_full_name())
    expect(page.get_by_test_id("dismiss-form")).to_have_count(0)
    hit = CrossCheckHit.objects.get(pk=world.payment_a.pk)
    assert (hit.status, hit.decided_by_id) == ("dismissed", official_a.pk)

    page.get_by_test_id("tab-hits").click()
    expect(page.locator(f"[data-testid=hit-row][data-hit-id='{world.payment_a.pk}']")).to_have_attribute(
        "data-status", "dismissed"
    )
