"""The household file page: facts, members, income table and chart, status history, audit trail."""

from decimal import Decimal

import pytest
from django.urls import reverse

from exchange.declarations import REGISTRY
from households import services
from households.monitoring import MonitoringThreshold
from households.selectors import monitoring_thresholds_of
from tests.factories import COUNTY, VILLAGE_A, VILLAGE_B
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db


def detail_url(household) -> str:
    return reverse("households:detail", args=[household.pk])


@pytest.fixture
def household(official_a):
    household = make_file(
        official_a, head="王大山", phone="13812345678", bank_account="6222020200112233",
        monitoring_type="2", risk_types=",01,05,", housing_grade="C",
    )
    add_spouse(official_a, household, health=",2,")
    services.record_income(
        by=official_a, household=household,
        data={"year": 2023, "household_size": 2, "wage_income": 9000, "farming_income": 3000,
              "production_cost": 1000},
    )
    services.record_income(
        by=official_a, household=household,
        data={"year": 2024, "household_size": 2, "wage_income": 20000, "dibao_income": 2000},
    )
    household.refresh_from_db()
    return household


def test_file_page_shows_facts_as_labels(client, official_a, household):
    client.force_login(official_a)
    response = client.get(detail_url(household))
    assert response.status_code == 200
    html = response.content.decode()
    assert household.number in html
    assert "边缘易致贫户" in html  # monitoring type code 2
    assert "因病" in html  # risk type 01
    assert "雷山县西江镇西江村" in html


def test_file_page_lists_members_with_labels(client, official_a, household):
    client.force_login(official_a)
    html = client.get(detail_url(household)).content.decode()
    assert html.count('data-testid="member-row"') == 2
    assert "王大山" in html and "配偶乙" in html
    assert "长期慢性病" in html


@pytest.fixture
def thresholds(regions):
    """The county's threshold table: 2023 set for the province, 2024 set by the county itself."""
    MonitoringThreshold.objects.create(region_id="520000000000", year=2023, amount=Decimal("7300"))
    MonitoringThreshold.objects.create(region_id="520000000000", year=2024, amount=Decimal("7600"))
    MonitoringThreshold.objects.create(region_id=COUNTY, year=2024, amount=Decimal("7800"))


def test_income_is_shown_as_a_table_and_a_chart_with_the_threshold(client, official_a, household, thresholds):
    client.force_login(official_a)
    response = client.get(detail_url(household))
    html = response.content.decode()
    rows = response.context["incomes"]
    assert [row.record.year for row in rows] == [2023, 2024]
    assert rows[0].per_capita == Decimal("5500")  # (9000 + 3000 - 1000) / 2
    assert rows[0].threshold == Decimal("7300") and rows[0].below_threshold
    assert rows[1].per_capita == Decimal("11000") and not rows[1].below_threshold
    assert '<svg class="chart"' in html and 'data-testid="threshold-line"' in html
    assert html.count('<rect class="bar') == 2
    assert 'class="bar below"' in html
    assert "<script src=\"http" not in html  # no external assets


def test_thresholds_come_from_the_countys_table_and_a_missing_year_says_so(
    client, official_a, household, thresholds
):
    MonitoringThreshold.objects.filter(year=2023).delete()
    client.force_login(official_a)
    response = client.get(detail_url(household))
    rows = {row.record.year: row for row in response.context["incomes"]}
    assert rows[2024].threshold == Decimal("7800")  # the county's own value wins over the province's
    assert rows[2023].threshold is None and not rows[2023].below_threshold
    assert 'data-testid="no-threshold"' in response.content.decode()
    assert monitoring_thresholds_of(VILLAGE_A) == {2024: Decimal("7800")}


def test_status_history_is_shown(client, official_a, household):
    services.update_household(
        by=official_a, household=household, data={"monitoring_type": "", "risk_types": ""},
        expected_version=household.version, reason="风险已消除",
    )
    client.force_login(official_a)
    html = client.get(detail_url(household)).content.decode()
    assert html.count('data-testid="status-row"') == 2
    assert "风险已消除" in html


def test_audit_trail_shows_who_when_what_and_changed_fields(client, official_a, household):
    services.update_household(
        by=official_a, household=household, data={"group_name": "三组"}, expected_version=household.version
    )
    client.force_login(official_a)
    response = client.get(detail_url(household))
    html = response.content.decode()
    section = html.split("<section class=\"card\" id=\"audit-trail\"")[1]
    assert 'data-testid="audit-row"' in section
    assert "official_a" in section
    assert "村民小组" in section and "三组" in section
    actions = {entry.event.action for entry in response.context["audit"]}
    assert {"create", "update"} <= actions
    # members and income records of this household are in its trail too
    entities = {entry.event.entity for entry in response.context["audit"]}
    assert {"households.household", "households.person", "households.incomerecord"} <= entities


def test_audit_trail_masks_sensitive_values(client, official_a, household):
    client.force_login(official_a)
    html = client.get(detail_url(household)).content.decode()
    head = household.members.get(relation="01")
    assert head.id_number not in html
    assert "13812345678" not in html
    assert "6222020200112233" not in html


def test_county_staff_and_auditors_see_the_page_without_edit_links(client, county_staff, auditor, household):
    for user in (county_staff, auditor):
        client.force_login(user)
        response = client.get(detail_url(household))
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="edit-household"' not in html
        assert 'data-testid="add-member"' not in html


def test_official_sees_edit_links(client, official_a, household):
    client.force_login(official_a)
    html = client.get(detail_url(household)).content.decode()
    for hook in ("edit-household", "add-member", "edit-member", "remove-member", "add-income", "edit-income"):
        assert f'data-testid="{hook}"' in html


def test_other_township_household_is_not_found(client, official_a, official_b):
    other = make_file(official_b, village=VILLAGE_B)
    client.force_login(official_a)
    assert client.get(detail_url(other)).status_code == 404
    assert client.get(reverse("households:detail", args=[999999])).status_code == 404


def test_detail_page_query_count_is_bounded(client, official_a, household, django_assert_max_num_queries):
    client.force_login(official_a)
    client.get(detail_url(household))  # warm the data dictionary cache
    # One more per declared department: the members' current department records.
    with django_assert_max_num_queries(15 + len(REGISTRY)):  # 15: the members who left are one query
        client.get(detail_url(household))


def test_the_audit_trail_names_the_person_family_name_first(client, official_a, household):
    official_a.last_name, official_a.first_name = "杨", "秀英"
    official_a.save()
    services.update_household(
        by=official_a, household=household, data={"group_name": "二组"}, expected_version=household.version
    )
    client.force_login(official_a)
    page = client.get(detail_url(household)).content.decode()
    assert "杨秀英（official_a）" in page


def test_each_income_year_names_its_source(client, official_a, household):
    from households.models import IncomeRecord

    record = IncomeRecord.objects.filter(household=household).first() or services.record_income(
        by=official_a, household=household, data={"year": 2024, "household_size": 1}
    )
    client.force_login(official_a)
    assert "系统中录入" in client.get(detail_url(household)).content.decode()
    IncomeRecord.objects.filter(pk=record.pk).update(source_batch=42)
    assert "户档案导入 #42" in client.get(detail_url(household)).content.decode()
