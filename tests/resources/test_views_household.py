"""The household's 帮扶与成效 page and its measure forms: what each role sees and may do, 404 outside."""

import datetime as dt

import pytest
from django.urls import reverse

from povertycloud.audit.models import AuditEvent
from resources.models import AssistanceMeasure, OutcomeObservation
from tests.factories import VILLAGE_B, make_person
from tests.resources.builders import income, measure, monitored, months_ago, set_thresholds, today

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(regions):
    set_thresholds()
    household = monitored(risk_types=",07,09,", housing_grade="D")
    income(household, today().year - 2, 6000)
    income(household, today().year - 1, 9000)
    measure(household, category="02", subtype="0204", helper_name="杨帮扶", helper_phone="13912345678")
    return household


def page_url(household) -> str:
    return reverse("resources:household", args=[household.pk])


def form_data(**overrides):
    data = {
        "category": "09", "subtype": "0901", "amount": "20000", "funding_source": "中央财政衔接资金",
        "start_date": months_ago(1).isoformat(), "end_date": "", "responsible_unit": "县住建局",
        "helper_name": "王帮扶", "helper_unit": "县住建局", "helper_phone": "13800001111",
        "risk_types": ["09"], "status": "implemented", "note": "",
    }
    data.update(overrides)
    return data


def test_page_shows_matching_measures_outcomes_and_elimination(client, official_a, household):
    client.force_login(official_a)
    html = client.get(page_url(household)).content.decode()
    assert "住房安全保障" in html and 'data-state="missing"' in html  # mandatory for 因安全住房, not in place
    assert 'data-state="implemented"' in html  # 就业帮扶 for 因务工就业不稳
    assert html.count('data-testid="measure-row"') == 1
    assert 'data-testid="conditions"' in html
    assert 'data-testid="add-measure"' in html


def test_helper_phone_is_masked_on_the_page(client, official_a, household):
    client.force_login(official_a)
    html = client.get(page_url(household)).content.decode()
    assert "139****5678" in html
    assert "13912345678" not in html


def test_outcome_charts_show_after_observing_with_measures_marked(client, official_a, household):
    client.force_login(official_a)
    response = client.post(reverse("resources:observe", args=[household.pk]))
    assert response.status_code == 302
    assert OutcomeObservation.objects.filter(household=household).count() >= 5
    html = client.get(page_url(household)).content.decode()
    assert 'data-testid="income-timeline"' in html and 'data-testid="indicator-strips"' in html
    assert html.count('data-testid="income-point"') == 2
    assert 'data-testid="measure-marker"' in html
    assert 'data-indicator="housing_safe"' in html


def test_official_records_a_measure_through_the_form(client, official_a, household):
    client.force_login(official_a)
    response = client.post(reverse("resources:measure_add", args=[household.pk]), form_data())
    assert response.status_code == 302
    created = AssistanceMeasure.objects.get(household=household, category_id="09")
    assert created.helper_phone == "13800001111" and created.created_by == official_a
    html = client.get(page_url(household)).content.decode()
    assert html.count('data-testid="measure-row"') == 2


def test_bad_form_input_shows_the_message_and_saves_nothing(client, official_a, household):
    client.force_login(official_a)
    before = AssistanceMeasure.objects.count()
    response = client.post(
        reverse("resources:measure_add", args=[household.pk]),
        form_data(end_date=months_ago(3).isoformat()),
    )
    assert response.status_code == 200
    assert "结束日期不能早于开始日期" in response.content.decode()
    assert AssistanceMeasure.objects.count() == before


def test_editing_keeps_a_blank_phone_and_refuses_a_stale_form(client, official_a, household):
    client.force_login(official_a)
    existing = AssistanceMeasure.objects.get(household=household)
    url = reverse("resources:measure_edit", args=[household.pk, existing.pk])
    html = client.get(url).content.decode()
    assert "13912345678" not in html and "139****5678" in html
    data = form_data(category="02", subtype="0204", helper_phone="", risk_types=["07"], amount="1500", version="1")
    assert client.post(url, data).status_code == 302
    existing.refresh_from_db()
    assert existing.helper_phone == "13912345678" and existing.version == 2
    stale = client.post(url, {**data, "amount": "9"})
    assert stale.status_code == 200 and 'data-testid="stale-message"' in stale.content.decode()
    existing.refresh_from_db()
    assert existing.amount == 1500


def test_removing_a_measure_needs_a_reason(client, official_a, household):
    client.force_login(official_a)
    existing = AssistanceMeasure.objects.get(household=household)
    url = reverse("resources:measure_remove", args=[household.pk, existing.pk])
    client.post(url, {"reason": ""})
    assert AssistanceMeasure.objects.filter(pk=existing.pk).exists()
    client.post(url, {"reason": "录入重复"})
    assert not AssistanceMeasure.objects.filter(pk=existing.pk).exists()


def test_county_staff_see_the_page_but_cannot_record(client, county_staff, household):
    client.force_login(county_staff)
    html = client.get(page_url(household)).content.decode()
    assert 'data-testid="add-measure"' not in html
    assert client.post(reverse("resources:measure_add", args=[household.pk]), form_data()).status_code == 403


def test_auditor_sees_the_page_but_writes_nothing(client, auditor, household):
    client.force_login(auditor)
    assert client.get(page_url(household)).status_code == 200
    existing = AssistanceMeasure.objects.get(household=household)
    before = AuditEvent.objects.count()
    for url in (
        reverse("resources:measure_add", args=[household.pk]),
        reverse("resources:measure_edit", args=[household.pk, existing.pk]),
        reverse("resources:measure_remove", args=[household.pk, existing.pk]),
        reverse("resources:observe", args=[household.pk]),
        reverse("resources:elimination_apply", args=[household.pk]),
    ):
        assert client.post(url, form_data()).status_code == 403
    assert AssistanceMeasure.objects.count() == 1 and not OutcomeObservation.objects.exists()
    assert AuditEvent.objects.count() == before


def test_another_township_gets_404_on_every_household_view(client, official_b, household):
    client.force_login(official_b)
    existing = AssistanceMeasure.objects.get(household=household)
    assert client.get(page_url(household)).status_code == 404
    assert client.get(reverse("resources:measure_add", args=[household.pk])).status_code == 404
    assert client.post(reverse("resources:measure_add", args=[household.pk]), form_data()).status_code == 404
    edit = reverse("resources:measure_edit", args=[household.pk, existing.pk])
    assert client.get(edit).status_code == 404
    remove = reverse("resources:measure_remove", args=[household.pk, existing.pk])
    assert client.post(remove, {"reason": "x"}).status_code == 404
    assert client.post(reverse("resources:observe", args=[household.pk])).status_code == 404
    assert client.post(reverse("resources:elimination_apply", args=[household.pk]), {}).status_code == 404
    assert AssistanceMeasure.objects.filter(pk=existing.pk).exists()


def test_a_measure_of_another_household_is_404_under_this_household(client, official_a, household):
    other = monitored(head="邻居")
    theirs = measure(other)
    client.force_login(official_a)
    assert client.get(reverse("resources:measure_edit", args=[household.pk, theirs.pk])).status_code == 404


def test_official_b_sees_own_township_household(client, official_b):
    household = monitored(village=VILLAGE_B)
    make_person(household, name="成员", relation="02", sex="2", birth_date=dt.date(1985, 1, 1))
    client.force_login(official_b)
    assert client.get(page_url(household)).status_code == 200
