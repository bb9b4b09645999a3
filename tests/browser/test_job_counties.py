"""A prefecture's job in a real browser: the risk list and the model page show each county's finished steps while
the job runs, to the prefecture's staff (training: to administrators), and nothing of it to a county's staff."""

import pytest
from playwright.sync_api import expect

from povertycloud.accounts.models import Role
from povertycloud.regions.services import load_regions_csv
from risk.jobs import CountyTracker
from risk.models import Job
from tests.conftest import _user
from tests.factories import COUNTY, VILLAGE_A, make_household
from tests.risk.counties import PREFECTURE, county_code, regions_file_of

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]
OTHER_COUNTY = county_code(0)


@pytest.fixture
def prefecture(regions, tmp_path):
    load_regions_csv(regions_file_of(0, tmp_path))
    make_household(village_id=VILLAGE_A)
    make_household(village_id=OTHER_COUNTY[:6] + VILLAGE_A[6:])


@pytest.fixture
def prefecture_staff(prefecture):
    return _user("prefecture_staff", Role.COUNTY_STAFF, PREFECTURE)


def county_row(page, code: str):
    return page.locator(f"[data-testid=job-counties] tr[data-county='{code}']")


def test_the_risk_list_follows_a_prefecture_refresh_county_by_county(
    page, new_page, sign_in, prefecture_staff, county_staff
):
    job = Job.objects.create(kind=Job.Kind.REFRESH, region_code=PREFECTURE, status=Job.Status.RUNNING)
    track = CountyTracker(job.pk, PREFECTURE)
    track(COUNTY, "rules")
    track(COUNTY, "scored")

    sign_in(page, prefecture_staff)
    page.goto("/risk/")
    expect(page.get_by_test_id("job-state")).to_have_attribute("data-status", "running")
    expect(page.get_by_test_id("job-counties")).to_be_visible()
    expect(county_row(page, COUNTY)).to_contain_text("预警规则、特征与概率")
    expect(county_row(page, OTHER_COUNTY)).to_contain_text("等待中")

    track(OTHER_COUNTY, "rules")  # the other county's rules end while the page is open
    page.reload()
    expect(county_row(page, OTHER_COUNTY)).to_contain_text("预警规则")
    expect(county_row(page, OTHER_COUNTY)).not_to_contain_text("等待中")

    Job.objects.filter(pk=job.pk).update(status=Job.Status.SUCCEEDED)
    page.reload()
    expect(page.get_by_test_id("job-counties")).to_have_count(0)

    # A county's staff see neither the prefecture's job nor its counties.
    Job.objects.filter(pk=job.pk).update(status=Job.Status.RUNNING)
    staff_page = new_page()
    sign_in(staff_page, county_staff)
    staff_page.goto("/risk/")
    expect(staff_page.get_by_test_id("models-link")).to_be_visible()
    expect(staff_page.get_by_test_id("job-counties")).to_have_count(0)
    page.reload()  # while the prefecture's staff still see it
    expect(page.get_by_test_id("job-counties")).to_be_visible()


def test_the_model_page_follows_a_prefecture_training(page, sign_in, prefecture, admin_user):
    """Training is the administrators' (the model page shows them the latest training job)."""
    job = Job.objects.create(kind=Job.Kind.TRAIN, region_code=PREFECTURE, status=Job.Status.RUNNING)
    CountyTracker(job.pk, PREFECTURE)(OTHER_COUNTY, "prepared")

    sign_in(page, admin_user)
    page.goto("/risk/models/")
    expect(page.get_by_test_id("job-counties")).to_be_visible()
    expect(county_row(page, OTHER_COUNTY)).to_contain_text("训练数据")
    expect(county_row(page, COUNTY)).to_contain_text("等待中")
