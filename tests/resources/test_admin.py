"""The admin of assistance: scoped like every other way in; measures saved through the services; the
catalogue written by administrators only."""

import pytest
from django.contrib.auth.models import Permission

from povertycloud.audit.models import AuditEvent
from resources.models import AssistanceMeasure
from tests.factories import VILLAGE_B
from tests.resources.builders import measure, monitored, months_ago

pytestmark = pytest.mark.django_db
MEASURES = "/admin/resources/assistancemeasure/"


@pytest.fixture
def measures(regions):
    return measure(monitored(head="西江户")), measure(monitored(village=VILLAGE_B, head="郎德户"))


@pytest.fixture
def staff_official(staff_official_a):
    staff_official_a.user_permissions.add(*Permission.objects.filter(content_type__app_label="resources"))
    return staff_official_a


def test_a_staff_official_sees_only_own_township_measures(client, staff_official, measures):
    ours, theirs = measures
    client.force_login(staff_official)
    html = client.get(MEASURES).content.decode()
    assert f"{MEASURES}{ours.pk}/change/" in html and f"{MEASURES}{theirs.pk}/change/" not in html
    assert client.get(f"{MEASURES}{theirs.pk}/change/").status_code == 302  # not found: back to the list


def test_an_admin_change_goes_through_the_service_and_is_audited(client, admin_user, measures):
    ours = measures[0]
    client.force_login(admin_user)
    page = client.get(f"{MEASURES}{ours.pk}/change/")
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {name: form.initial.get(name) or "" for name in form.fields}
    data.update(household=ours.household_id, category="02", subtype="0204", amount="4321",
                start_date=months_ago(2).isoformat(), status="implemented", end_date="", person="")
    response = client.post(f"{MEASURES}{ours.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:2000]
    ours.refresh_from_db()
    assert ours.amount == 4321 and ours.version == 2
    assert AuditEvent.objects.filter(entity="resources.assistancemeasure", action="update").exists()


def test_only_administrators_change_the_catalogue(client, staff_official, admin_user, regions):
    client.force_login(staff_official)
    assert client.get("/admin/resources/assistancecategory/01/change/").status_code in (200, 403)
    response = client.post("/admin/resources/assistancecategory/01/change/", {"name": "改名", "sort_order": 1})
    assert response.status_code == 403
    assert AssistanceMeasure.objects.count() == 0
