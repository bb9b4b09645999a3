"""The measure form helps: 资金来源 is a coded choice (the data dictionary's list, or the built-in one), a value
stored before stays on its measure; the sub-type select follows the category (each option names its
category for the page's script) and the server refuses a sub-type of another category."""

import pytest
from django.urls import reverse

from households.codes import forget_codebook
from households.models import Code, CodeSet
from resources.forms import DEFAULT_FUNDING_SOURCES, MeasureForm
from resources.models import AssistanceMeasure
from tests.resources.builders import measure, monitored, months_ago, set_thresholds

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(regions):
    set_thresholds()
    return monitored(risk_types=",07,09,", housing_grade="D")


def add_url(household) -> str:
    return reverse("resources:measure_add", args=[household.pk])


def form_data(**overrides):
    data = {
        "category": "09", "subtype": "0901", "amount": "20000", "funding_source": "中央财政衔接资金",
        "start_date": months_ago(1).isoformat(), "end_date": "", "responsible_unit": "县住建局",
        "helper_name": "王帮扶", "helper_unit": "县住建局", "helper_phone": "13800001111",
        "risk_types": ["09"], "status": "implemented", "note": "",
    }
    data.update(overrides)
    return data


# --- 资金来源 ------------------------------------------------------------------------------------------------


def test_funding_source_is_a_select_of_the_listed_sources(client, official_a, household):
    client.force_login(official_a)
    html = client.get(add_url(household)).content.decode()
    assert '<select name="funding_source"' in html
    for source in DEFAULT_FUNDING_SOURCES:
        assert f'<option value="{source}"' in html


def test_a_listed_source_is_saved_as_its_label(client, official_a, household):
    client.force_login(official_a)
    assert client.post(add_url(household), form_data(funding_source="社会帮扶资金")).status_code == 302
    assert AssistanceMeasure.objects.get(household=household).funding_source == "社会帮扶资金"


def test_a_source_outside_the_list_is_refused_and_nothing_is_saved(client, official_a, household):
    client.force_login(official_a)
    response = client.post(add_url(household), form_data(funding_source="随便写的钱"))
    assert response.status_code == 200
    assert "funding_source" in response.context["form"].errors
    assert not AssistanceMeasure.objects.exists()


def test_a_source_stored_before_the_list_stays_on_its_measure(client, official_a, household):
    existing = measure(household, category="09", subtype="0901", funding_source="危改资金")
    form = MeasureForm(household=household, measure=existing)
    assert ("危改资金", "危改资金") in form.fields["funding_source"].choices
    other = MeasureForm(household=household)
    assert "危改资金" not in dict(other.fields["funding_source"].choices)
    client.force_login(official_a)
    url = reverse("resources:measure_edit", args=[household.pk, existing.pk])
    data = form_data(funding_source="危改资金", amount="18000", version=str(existing.version))
    assert client.post(url, data).status_code == 302
    existing.refresh_from_db()
    assert existing.funding_source == "危改资金" and existing.amount == 18000


def test_the_data_dictionary_list_replaces_the_built_in_one(household):
    codeset = CodeSet.objects.create(slug="funding_source", name="资金来源")
    Code.objects.create(codeset=codeset, code="01", label="县级统筹资金", sort_order=1)
    Code.objects.create(codeset=codeset, code="02", label="对口帮扶资金", sort_order=2)
    forget_codebook()
    form = MeasureForm(household=household)
    assert [value for value, _label in form.fields["funding_source"].choices] == ["", "县级统筹资金", "对口帮扶资金"]


# --- The sub-type follows the category ---------------------------------------------------------------------


def test_sub_type_options_name_their_category_and_the_page_loads_the_script(client, official_a, household):
    client.force_login(official_a)
    html = client.get(add_url(household)).content.decode()
    assert 'value="0901" data-category="09"' in html and 'value="0204" data-category="02"' in html
    assert 'data-follows="id_category"' in html
    assert "resources/js/measure_form.js" in html and "<script>" not in html


def test_a_sub_type_of_another_category_is_refused_and_nothing_is_saved(client, official_a, household):
    client.force_login(official_a)
    response = client.post(add_url(household), form_data(category="09", subtype="0204"))
    assert response.status_code == 200
    assert response.context["form"].errors["subtype"] == ["帮扶子类“就业奖补”不属于“住房安全保障”。"]
    assert not AssistanceMeasure.objects.exists()


def test_a_category_with_sub_types_needs_one(household):
    form = MeasureForm(form_data(subtype=""), household=household)
    assert not form.is_valid() and "须选择帮扶子类" in form.errors["subtype"][0]


def test_a_consistent_pair_is_valid(household):
    form = MeasureForm(form_data(category="02", subtype="0204", risk_types=["07"]), household=household)
    assert form.is_valid(), form.errors


# --- Permissions -------------------------------------------------------------------------------------------


def test_auditor_and_county_staff_cannot_post_the_form(client, auditor, county_staff, household):
    for user in (auditor, county_staff):
        client.force_login(user)
        assert client.post(add_url(household), form_data()).status_code == 403
    assert not AssistanceMeasure.objects.exists()


def test_another_township_gets_404(client, official_b, household):
    client.force_login(official_b)
    assert client.get(add_url(household)).status_code == 404
    assert client.post(add_url(household), form_data()).status_code == 404
    assert not AssistanceMeasure.objects.exists()
