"""The member and income forms help: birth date and sex follow from the ID number (the page's script fills
them; without it the server takes them from the number when left blank), and a new income survey defaults to
the first year the household has no record for."""

import datetime as dt

import pytest
from django.urls import reverse

from households import services
from households.forms import IncomeForm, PersonForm, first_unrecorded_year
from households.models import Person
from tests.factories import person_values, resident_id
from tests.households.pages import form_data, make_file, post_data

pytestmark = pytest.mark.django_db
TEN_YEARS_AGO = dt.date(dt.date.today().year - 10, 3, 9)


@pytest.fixture
def household(official_a):
    return make_file(official_a, head="王大山")


def url(name: str, *args) -> str:
    return reverse(f"households:{name}", args=args)


def son(**overrides):
    """A ten-year-old son at primary school, as a browser without JavaScript posts him: no birth date, no sex."""
    values = person_values(
        name="王小明", relation="03", birth_date=TEN_YEARS_AGO, labour_skill="5", education="",
        school_status="13", months_worked_away=0, public_welfare_months=0,
    )
    values["id_number"] = resident_id(TEN_YEARS_AGO, sex="1")
    values.update(birth_date=None, sex="")
    values.update(overrides)
    return post_data(values)


# --- Birth date and sex from the ID number -----------------------------------------------------------------


def test_blank_birth_date_and_sex_are_taken_from_the_id_number(client, official_a, household):
    client.force_login(official_a)
    data = son()
    response = client.post(url("member_add", household.pk), data)
    assert response.status_code == 302, response.context["form"].errors
    person = household.members.get(name="王小明")
    assert person.birth_date == TEN_YEARS_AGO and person.sex == "1"


def test_a_woman_is_recognised_from_the_even_seventeenth_digit(household):
    number = resident_id(TEN_YEARS_AGO, sex="2")
    form = PersonForm(son(id_number=number, name="王小红", relation="04"), household=household)
    assert form.is_valid(), form.errors
    assert form.cleaned_data["sex"] == "2" and form.cleaned_data["birth_date"] == TEN_YEARS_AGO


def test_given_values_are_kept_and_checked_against_the_number(client, official_a, household):
    client.force_login(official_a)
    response = client.post(url("member_add", household.pk), son(sex="2", birth_date=TEN_YEARS_AGO))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert errors["sex"] == ["性别与证件号码第 17 位不符：号码表明是男性。"]
    response = client.post(url("member_add", household.pk), son(sex="1", birth_date=dt.date(2000, 1, 1)))
    assert "出生日期与证件号码不符" in response.context["form"].errors["birth_date"][0]
    assert not household.members.filter(name="王小明").exists()


def test_a_bad_id_number_with_blank_fields_shows_the_ids_error_and_saves_nothing(client, official_a, household):
    good = resident_id(TEN_YEARS_AGO)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    client.force_login(official_a)
    response = client.post(url("member_add", household.pk), son(id_number=wrong_check))
    assert response.status_code == 200
    errors = response.context["form"].errors
    assert "校验位错误" in errors["id_number"][0]
    assert errors["birth_date"] == ["出生日期不能为空。"] and errors["sex"] == ["性别不能为空。"]
    assert household.members.count() == 1


def test_without_a_household_the_form_itself_asks_for_what_it_cannot_derive():
    form = PersonForm(son(id_number="123"))
    assert not form.is_valid()
    assert "不能为空" in form.errors["birth_date"][0] and "不能为空" in form.errors["sex"][0]


def test_the_member_page_offers_a_blank_sex_and_loads_the_script(client, official_a, household):
    client.force_login(official_a)
    html = client.get(url("member_add", household.pk)).content.decode()
    assert 'data-derive-birth="id_birth_date"' in html and 'data-derive-sex="id_sex"' in html
    assert "households/js/member_form.js" in html and "<script>" not in html
    assert '<option value="" selected>—</option>' in html  # the sex select starts blank
    assert "留空则按证件号码自动填写" in html


def test_the_edit_page_keeps_the_helper_on_the_masked_id_field(client, official_a, household):
    client.force_login(official_a)
    head = household.members.get()
    html = client.get(url("member_edit", household.pk, head.pk)).content.decode()
    assert 'data-derive-birth="id_birth_date"' in html and head.id_number not in html


def test_member_forms_are_refused_to_other_roles_and_regions(client, auditor, county_staff, official_b, household):
    for user in (auditor, county_staff):
        client.force_login(user)
        assert client.get(url("member_add", household.pk)).status_code == 403
        assert client.post(url("member_add", household.pk), son()).status_code == 403
    client.force_login(official_b)
    assert client.post(url("member_add", household.pk), son()).status_code == 404
    assert not Person.objects.filter(name="王小明").exists()


# --- The year of a new income survey -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("recorded", "expected"),
    [
        (set(), 2025),  # none: last year
        ({2022, 2023, 2024}, 2025),  # the year after the last
        ({2021, 2023, 2024}, 2022),  # a gap first
        ({2024, 2025}, 2026),  # every year to last year: this year
        ({2026}, 2025),
        ({2019, 2020, 2021, 2022, 2023, 2024, 2025, 2026}, 2026),  # all taken: the form says so
    ],
)
def test_first_unrecorded_year(recorded, expected):
    assert first_unrecorded_year(recorded, today=dt.date(2026, 12, 4)) == expected


def _record(by, household, year):
    services.record_income(by=by, household=household, data={"year": year, "household_size": 1, "wage_income": 8000})


def test_a_new_survey_defaults_to_the_first_year_not_recorded(client, official_a, household):
    last_year = dt.date.today().year - 1
    client.force_login(official_a)
    assert client.get(url("income_add", household.pk)).context["form"].initial["year"] == last_year
    _record(official_a, household, last_year - 2)
    _record(official_a, household, last_year)
    response = client.get(url("income_add", household.pk))
    assert response.context["form"].initial["year"] == last_year - 1
    assert f'name="year" value="{last_year - 1}"' in response.content.decode()


def test_posting_a_year_already_recorded_is_refused(client, official_a, household):
    last_year = dt.date.today().year - 1
    _record(official_a, household, last_year)
    client.force_login(official_a)
    data = form_data(IncomeForm(initial={"year": last_year, "household_size": 1}), wage_income="1")
    response = client.post(url("income_add", household.pk), data)
    assert response.status_code == 200
    assert response.context["form"].errors["year"] == [f"{last_year} 年的收支已录入，请打开该年度记录修改。"]
    assert household.incomes.get().wage_income == 8000


def test_income_form_is_refused_to_other_roles_and_regions(client, auditor, official_b, household):
    client.force_login(auditor)
    assert client.get(url("income_add", household.pk)).status_code == 403
    client.force_login(official_b)
    assert client.get(url("income_add", household.pk)).status_code == 404
