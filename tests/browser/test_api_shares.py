"""Where the data went, in a browser: an auditor opens a department client's shares, a share's persons (IDs
masked) and the share section of a household page, on a desktop and on a phone, with no policy violation."""

import datetime as dt

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from exchange.api.models import Share, SharedPerson
from exchange.api.services import create_client, issue_token
from povertycloud.regions.models import Region
from tests.browser.test_content_security_policy import watch_violations
from tests.browser.test_phone_layout import assert_fits_the_screen
from tests.factories import COUNTY

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def shares(admin_user, township_files):
    client = create_client(
        name="县医保局", department="health", region=Region.objects.get(code=COUNTY), by=admin_user,
        scopes=["pull:health_premium"],
    )
    token = issue_token(client=client, by=admin_user).token
    head, wife = township_files.head, township_files.wife
    found = []
    for hours, persons in ((30, [head]), (2, [head, wife])):
        share = Share.objects.create(
            client=client, token=token, at=timezone.now() - dt.timedelta(hours=hours),
            endpoint="/api/v1/pull/health_premium/", dataset="health_premium", purpose="落实城乡居民医保参保资助",
            fields=["id_number", "name", "premium_category"], person_count=len(persons), region_code=COUNTY,
        )
        SharedPerson.objects.bulk_create(
            SharedPerson(share=share, person_id=p.pk, household_id=p.household_id, region_code=p.household.village_id)
            for p in persons
        )
        found.append(share)
    return client, found


def test_an_auditor_follows_a_client_s_shares_to_the_persons_and_the_household(
    page, sign_in, auditor, township_files, shares
):
    _client, (_older, newer) = shares
    violations = watch_violations(page)
    sign_in(page, auditor)
    page.goto("/departments/api/")
    row = page.get_by_test_id("client-row").filter(has_text="县医保局")
    expect(row.get_by_test_id("share-count")).to_have_text("2")
    expect(row.get_by_test_id("persons-shared")).to_have_text("3")
    row.get_by_test_id("client-link").click()

    expect(page.get_by_test_id("share-row")).to_have_count(2)
    expect(page.get_by_test_id("share-row").first).to_have_attribute("data-share-id", str(newer.pk))
    expect(page.get_by_test_id("share-row").first).to_contain_text("证件号码、姓名、资助类别")
    page.get_by_test_id("share-row").first.get_by_test_id("share-link").click()

    expect(page.get_by_test_id("share-purpose")).to_have_text("落实城乡居民医保参保资助")
    persons = page.get_by_test_id("person-row")
    expect(persons).to_have_count(2)
    head = township_files.head
    head_row = persons.filter(has_text="王建国")
    expect(head_row.get_by_test_id("person-id-number")).to_have_text(head.id_number[:10] + "********")
    expect(page.locator("body")).not_to_contain_text(head.id_number)

    page.goto(f"/households/{township_files.home.pk}/")
    section = page.get_by_test_id("api-shares")
    expect(section.get_by_test_id("api-share")).to_have_count(3)
    expect(section.get_by_test_id("api-share").first).to_contain_text("县医保局")
    section.locator(f'[data-testid="api-share-more"][data-person-id="{head.pk}"] a').click()
    expect(page.get_by_test_id("share-row")).to_have_count(2)
    assert violations == []


def test_the_share_pages_fit_a_phone(phone_page, sign_in, auditor, township_files, shares):
    client, (_older, newer) = shares
    page = phone_page
    sign_in(page, auditor)
    for path in (
        "/departments/api/",
        f"/departments/api/clients/{client.pk}/",
        f"/departments/api/shares/{newer.pk}/",
        f"/departments/api/persons/{township_files.head.pk}/shares/",
        f"/households/{township_files.home.pk}/",
    ):
        page.goto(path)
        assert_fits_the_screen(page)
