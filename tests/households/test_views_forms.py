"""Officials' forms: edit the household, add / edit / remove members, record income; who may use them."""

import datetime as dt

import pytest
from django.urls import reverse

from households import services
from households.forms import IncomeForm, PersonForm
from households.models import Household, IncomeRecord, Person
from households.page_forms import HouseholdEditForm
from povertycloud.audit.models import AuditEvent
from tests.factories import VILLAGE_B, person_values, resident_id
from tests.households.pages import add_spouse, form_data, make_file, post_data

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(official_a):
    return make_file(official_a, head="王大山", phone="13812345678", bank_account="6222020200112233")


@pytest.fixture
def spouse(official_a, household):
    return add_spouse(official_a, household)


@pytest.fixture
def income(official_a, household):
    return services.record_income(
        by=official_a, household=household, data={"year": 2023, "household_size": 1, "wage_income": 8000}
    )


def url(name: str, *args) -> str:
    return reverse(f"households:{name}", args=args)


def write_urls(household, person, year) -> list[str]:
    return [
        url("edit", household.pk),
        url("member_add", household.pk),
        url("member_edit", household.pk, person.pk),
        url("member_remove", household.pk, person.pk),
        url("income_add", household.pk),
        url("income_edit", household.pk, year),
    ]


def counts() -> dict[str, int]:
    return {model.__name__: model.objects.count() for model in (Household, Person, IncomeRecord, AuditEvent)}


# --- Who may use the forms ---------------------------------------------------------------------------


def test_county_staff_and_auditors_are_forbidden_every_write_url(
    client, county_staff, auditor, household, spouse, income
):
    for user in (county_staff, auditor):
        client.force_login(user)
        for address in [*write_urls(household, spouse, 2023), url("import"), url("import_confirm")]:
            assert client.get(address).status_code in (403, 405), address
            assert client.post(address, {}).status_code == 403, address


def test_official_of_another_township_gets_not_found_on_every_url(
    client, official_b, household, spouse, income
):
    client.force_login(official_b)
    before = counts()
    for address in [url("detail", household.pk), *write_urls(household, spouse, 2023)]:
        assert client.get(address).status_code == 404, address
        assert client.post(address, {"reason": "x", "version": 1}).status_code == 404, address
    reveal = client.post(url("reveal", household.pk), {"field": "phone"})
    assert reveal.status_code == 404
    assert counts() == before


def test_a_member_of_another_household_is_not_found_through_this_one(client, official_a, household):
    other = make_file(official_a, head="别户")
    stranger = other.members.get()
    client.force_login(official_a)
    assert client.get(url("member_edit", household.pk, stranger.pk)).status_code == 404
    assert client.post(url("member_remove", household.pk, stranger.pk), {"reason": "迁出"}).status_code == 404


def test_anonymous_user_is_sent_to_login(client, household):
    response = client.get(url("edit", household.pk))
    assert response.status_code == 302 and reverse("accounts:login") in response["Location"]


def test_admin_may_edit_any_household(client, admin_user, official_b):
    other = make_file(official_b, village=VILLAGE_B)
    client.force_login(admin_user)
    assert client.get(url("edit", other.pk)).status_code == 200


# --- Household facts ---------------------------------------------------------------------------------


def test_edit_household_saves_through_the_service(client, official_a, household):
    client.force_login(official_a)
    data = form_data(HouseholdEditForm(instance=household), group_name="五组")
    response = client.post(url("edit", household.pk), data)
    assert response.status_code == 302
    assert response["Location"] == url("detail", household.pk)
    household.refresh_from_db()
    assert household.group_name == "五组" and household.version == 2
    event = AuditEvent.objects.filter(household_id=household.pk, action="update").get()
    assert event.actor == official_a and event.changes["group_name"] == {"before": "", "after": "五组"}
    assert "户档案已保存" in client.get(response["Location"]).content.decode()


def test_edit_form_never_shows_phone_or_bank_account_and_blank_keeps_them(client, official_a, household):
    client.force_login(official_a)
    html = client.get(url("edit", household.pk)).content.decode()
    assert "13812345678" not in html and "6222020200112233" not in html
    assert "138****5678" in html
    data = form_data(HouseholdEditForm(instance=household), phone="", bank_account="", group_name="一组")
    assert client.post(url("edit", household.pk), data).status_code == 302
    household.refresh_from_db()
    assert household.phone == "13812345678" and household.bank_account == "6222020200112233"


def test_status_change_without_reason_shows_the_error_and_saves_nothing(client, official_a, household):
    client.force_login(official_a)
    before = counts()
    data = form_data(HouseholdEditForm(instance=household), monitoring_type="2", risk_types=["01"])
    response = client.post(url("edit", household.pk), data)
    assert response.status_code == 200
    assert "须填写原因" in response.content.decode()
    household.refresh_from_db()
    assert household.monitoring_type == "" and household.version == 1
    assert counts() == before


def test_invalid_household_input_rerenders_with_field_errors(client, official_a, household):
    client.force_login(official_a)
    data = form_data(HouseholdEditForm(instance=household), phone="12345")
    response = client.post(url("edit", household.pk), data)
    html = response.content.decode()
    assert response.status_code == 200
    assert 'data-testid="form-errors"' in html and 'id="id_phone_error"' in html
    assert "联系电话应为 11 位手机号" in html
    household.refresh_from_db()
    assert household.phone == "13812345678"


def test_stale_household_form_is_refused_and_nothing_is_overwritten(client, official_a, household):
    client.force_login(official_a)
    stale = form_data(HouseholdEditForm(instance=household), group_name="我的修改")
    services.update_household(
        by=official_a, household=household, data={"group_name": "别人的修改"}, expected_version=1
    )
    before = counts()
    response = client.post(url("edit", household.pk), stale)
    assert response.status_code == 200
    html = response.content.decode()
    assert 'data-testid="stale-message"' in html and "已被他人修改" in html
    household.refresh_from_db()
    assert household.group_name == "别人的修改" and household.version == 2
    assert counts() == before


def test_form_without_version_is_refused(client, official_a, household):
    client.force_login(official_a)
    data = form_data(HouseholdEditForm(instance=household), group_name="x")
    data.pop("version")
    response = client.post(url("edit", household.pk), data)
    assert 'data-testid="stale-message"' in response.content.decode()
    household.refresh_from_db()
    assert household.group_name == ""


# --- Members -----------------------------------------------------------------------------------------


TEN_YEARS_AGO = dt.date(dt.date.today().year - 10, 3, 9)


def new_member(**overrides):
    """A ten-year-old son at primary school (小学三年级)."""
    values = person_values(
        name="王小明", relation="03", birth_date=TEN_YEARS_AGO, labour_skill="5", education="",
        school_status="13", months_worked_away=0, public_welfare_months=0,
    )
    values.update(overrides)
    values["id_number"] = overrides.get("id_number", resident_id(values["birth_date"], sex=values["sex"]))
    return post_data(values)


def test_add_member_saves_through_the_service(client, official_a, household):
    client.force_login(official_a)
    response = client.post(url("member_add", household.pk), new_member())
    assert response.status_code == 302
    person = household.members.get(name="王小明")
    events = AuditEvent.objects.filter(entity="households.person", object_pk=str(person.pk), action="create")
    assert events.exists()


def test_bad_id_number_shows_the_chinese_error_and_saves_nothing(client, official_a, household):
    client.force_login(official_a)
    before = counts()
    good = resident_id(TEN_YEARS_AGO)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    response = client.post(url("member_add", household.pk), new_member(id_number=wrong_check))
    assert response.status_code == 200
    html = response.content.decode()
    assert "证件号码校验位错误" in html
    assert 'id="id_id_number_error"' in html and 'data-testid="form-errors"' in html
    assert counts() == before


def test_member_form_shows_field_errors_for_rules_across_the_household(client, official_a, household):
    client.force_login(official_a)
    response = client.post(url("member_add", household.pk), new_member(relation="01"))
    assert "户主" in response.content.decode()
    assert household.members.count() == 1


def test_edit_member_keeps_the_id_number_when_left_blank(client, official_a, household, spouse):
    client.force_login(official_a)
    html = client.get(url("member_edit", household.pk, spouse.pk)).content.decode()
    assert spouse.id_number not in html
    data = form_data(PersonForm(instance=spouse, household=household), id_number="", name="配偶丙")
    response = client.post(url("member_edit", household.pk, spouse.pk), data)
    assert response.status_code == 302
    spouse.refresh_from_db()
    assert spouse.name == "配偶丙" and spouse.version == 2
    assert spouse.id_number == spouse.id_number.strip() and len(spouse.id_number) == 18


def test_stale_member_form_is_refused(client, official_a, household, spouse):
    client.force_login(official_a)
    stale = form_data(PersonForm(instance=spouse, household=household), name="旧表单")
    services.update_person(by=official_a, person=spouse, data={"name": "新名字"}, expected_version=1)
    response = client.post(url("member_edit", household.pk, spouse.pk), stale)
    assert 'data-testid="stale-message"' in response.content.decode()
    spouse.refresh_from_db()
    assert spouse.name == "新名字"


def test_remove_member_needs_a_reason(client, official_a, household, spouse):
    client.force_login(official_a)
    response = client.post(url("member_remove", household.pk, spouse.pk), {"reason": ""})
    assert response.status_code == 200
    assert Person.objects.filter(pk=spouse.pk).exists()
    response = client.post(url("member_remove", household.pk, spouse.pk), {"reason": "婚嫁迁出"})
    assert response.status_code == 302
    assert not Person.objects.filter(pk=spouse.pk).exists()
    event = AuditEvent.objects.get(entity="households.person", object_pk=str(spouse.pk), action="update")
    assert event.note == "婚嫁迁出"
    assert Person.everyone.get(pk=spouse.pk).left_reason == "婚嫁迁出"


def test_removing_the_head_while_others_remain_is_refused(client, official_a, household, spouse):
    head = household.members.get(relation="01")
    client.force_login(official_a)
    response = client.post(url("member_remove", household.pk, head.pk), {"reason": "死亡"})
    assert response.status_code == 200
    assert "户主" in response.content.decode()
    assert Person.objects.filter(pk=head.pk).exists()


# --- Income ------------------------------------------------------------------------------------------


def test_record_a_new_year_of_income(client, official_a, household):
    client.force_login(official_a)
    data = form_data(IncomeForm(initial={"year": 2024, "household_size": 1}), wage_income="15000")
    response = client.post(url("income_add", household.pk), data)
    assert response.status_code == 302
    record = household.incomes.get(year=2024)
    assert record.wage_income == 15000
    assert AuditEvent.objects.filter(entity="households.incomerecord", object_pk=str(record.pk)).exists()


def test_recording_an_existing_year_again_is_refused(client, official_a, household, income):
    client.force_login(official_a)
    data = form_data(IncomeForm(initial={"year": 2023, "household_size": 1}), wage_income="1")
    response = client.post(url("income_add", household.pk), data)
    assert response.status_code == 200
    assert "已录入" in response.content.decode()
    income.refresh_from_db()
    assert income.wage_income == 8000


def test_negative_amount_is_refused(client, official_a, household):
    client.force_login(official_a)
    data = form_data(IncomeForm(initial={"year": 2024, "household_size": 1}), wage_income="-5")
    response = client.post(url("income_add", household.pk), data)
    assert response.status_code == 200
    assert "金额不能为负数" in response.content.decode()
    assert not household.incomes.exists()


def test_edit_income_and_stale_income_form(client, official_a, household, income):
    client.force_login(official_a)
    stale = form_data(IncomeForm(instance=income), wage_income="9000")
    fresh = form_data(IncomeForm(instance=income), wage_income="9500", year="2020")
    assert client.post(url("income_edit", household.pk, 2023), fresh).status_code == 302
    income.refresh_from_db()
    assert income.wage_income == 9500 and income.year == 2023 and income.version == 2
    response = client.post(url("income_edit", household.pk, 2023), stale)
    assert 'data-testid="stale-message"' in response.content.decode()
    income.refresh_from_db()
    assert income.wage_income == 9500


def test_income_of_a_year_not_recorded_is_not_found(client, official_a, household):
    client.force_login(official_a)
    assert client.get(url("income_edit", household.pk, 2019)).status_code == 404


def test_a_suspicious_member_is_saved_and_the_warning_shown(client, official_a, household):
    client.force_login(official_a)
    data = new_member(
        name="王壮", birth_date=dt.date(1990, 6, 1), relation="03", labour_skill="5", education="3",
        school_status="",
    )
    response = client.post(url("member_add", household.pk), data, follow=True)
    assert household.members.filter(name="王壮").exists()
    assert 'data-testid="message-warning"' in response.content.decode()
    assert "请核实" in response.content.decode()


def test_a_removed_member_is_listed_as_left_with_date_and_reason(client, official_a, household, spouse):
    client.force_login(official_a)
    response = client.post(
        url("member_remove", household.pk, spouse.pk), {"reason": "婚嫁迁出", "left_on": "2026-05-01"}
    )
    assert response.status_code == 302
    page = client.get(reverse("households:detail", args=[household.pk])).content.decode()
    assert 'data-testid="member-left-row"' in page
    assert "婚嫁迁出" in page and "2026-05-01" in page
    assert f'id="person-{spouse.pk}"' not in page, "no longer among the members present"
    assert Person.everyone.get(pk=spouse.pk).left_on == dt.date(2026, 5, 1)
