"""Two saves at once end in a message, not a 500: two income surveys of the same year for one household,
two members with the same ID number. The database's unique constraints decide; the loser gets the message a
form shows for a duplicate. Deterministic tests force the constraint's path on both databases; threaded
tests race two real transactions on PostgreSQL."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, connection
from django.urls import reverse

from households import services
from households.forms import IncomeForm
from households.models import IncomeRecord, Person
from povertycloud.accounts.models import Role, User
from tests.factories import TOWNSHIP_A, VILLAGE_A2, person_values, resident_id
from tests.households.pages import form_data, make_file, post_data
from tests.households.races import meeting_before, run_together

YEAR_TAKEN = "2023 年的收支已录入，请打开该年度记录修改。"


def income(year: int = 2023) -> dict:
    return {"year": year, "household_size": 1, "wage_income": 8000}


def member(id_number: str, name: str) -> dict:
    return person_values(
        name=name, relation="17", id_number=id_number, birth_date=dt.date(1990, 6, 1),
        months_worked_away=0, public_welfare_months=0,
    )


# --- The constraint's path, forced (both databases) --------------------------------------------------


@pytest.mark.django_db
def test_an_income_year_saved_meanwhile_by_someone_else_is_the_duplicate_year_message(official_a, monkeypatch):
    household = make_file(official_a)
    services.record_income(by=official_a, household=household, data=income())
    # This save looked before the other one was committed: it saw no record of the year.
    monkeypatch.setattr(services, "_income_of", lambda household, year: None)
    with pytest.raises(ValidationError) as refused:
        services.record_income(by=official_a, household=household, data={**income(), "wage_income": 9000})
    assert refused.value.message_dict == {"year": [YEAR_TAKEN]}
    assert IncomeRecord.objects.get(household=household).wage_income == 8000


@pytest.mark.django_db
def test_the_income_page_shows_the_message_when_the_constraint_refuses(client, official_a, monkeypatch):
    household = make_file(official_a)
    services.record_income(by=official_a, household=household, data=income())
    monkeypatch.setattr(services, "_income_of", lambda household, year: None)
    client.force_login(official_a)
    data = form_data(IncomeForm(initial={"year": 2023, "household_size": 1}), wage_income="9000")
    response = client.post(reverse("households:income_add", args=[household.pk]), data)
    assert response.status_code == 200
    assert response.context["form"].errors["year"] == [YEAR_TAKEN]


@pytest.mark.django_db
def test_a_member_added_meanwhile_with_the_same_id_is_the_duplicate_id_message(client, official_a, monkeypatch):
    first = make_file(official_a, number="A-0001")
    second = make_file(official_a, village=VILLAGE_A2, number="A-0002")
    number = resident_id(dt.date(1990, 6, 1))
    services.add_person(by=official_a, household=first, data=member(number, "甲"))
    # This save was checked before the other one was committed: the check found no one.
    monkeypatch.setattr(services, "check_person", lambda *args, **kwargs: [])
    client.force_login(official_a)
    response = client.post(reverse("households:member_add", args=[second.pk]), post_data(member(number, "乙")))
    assert response.status_code == 200
    assert response.context["form"].errors["id_number"] == [
        f"证件号码 {number} 已登记在户 A-0001，同一人不能在两户登记。"
    ]
    assert list(Person.objects.filter(id_number=number).values_list("name", flat=True)) == ["甲"]


@pytest.mark.django_db
def test_another_integrity_error_is_not_mistaken_for_a_duplicate(official_a, monkeypatch):
    household = make_file(official_a)

    def refuse(model, **values):
        raise IntegrityError("something else")

    monkeypatch.setattr(services, "_create", refuse)
    with pytest.raises(IntegrityError):
        services.record_income(by=official_a, household=household, data=income())
    with pytest.raises(IntegrityError):
        services.add_person(by=official_a, household=household, data=member(resident_id(dt.date(1990, 6, 1)), "丙"))


# --- Two real transactions at once (PostgreSQL) ------------------------------------------------------


@pytest.fixture
def two_officials(regions):
    users = []
    for name in ("racer_1", "racer_2"):
        users.append(User.objects.create(username=name, role=Role.TOWNSHIP_OFFICIAL, region_id=TOWNSHIP_A))
    return users


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two concurrent transactions need PostgreSQL")
def test_two_surveys_of_the_same_year_at_once_one_is_saved_the_other_told(two_officials, monkeypatch):
    first, second = two_officials
    household = make_file(first)
    wrapped, _barrier = meeting_before(services._create)
    monkeypatch.setattr(services, "_create", wrapped)
    outcomes = run_together(
        lambda: services.record_income(by=first, household=household, data=income()),
        lambda: services.record_income(by=second, household=household, data={**income(), "wage_income": 9000}),
    )
    kinds = sorted(kind for kind, _value in outcomes)
    assert kinds == ["error", "ok"], outcomes
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, ValidationError) and error.message_dict == {"year": [YEAR_TAKEN]}
    assert IncomeRecord.objects.filter(household=household, year=2023).count() == 1


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two concurrent transactions need PostgreSQL")
def test_two_members_with_the_same_id_at_once_one_is_saved_the_other_told(two_officials, monkeypatch):
    first, second = two_officials
    one = make_file(first, number="A-0001")
    other = make_file(first, village=VILLAGE_A2, number="A-0002")
    number = resident_id(dt.date(1990, 6, 1))
    wrapped, _barrier = meeting_before(services._create)
    monkeypatch.setattr(services, "_create", wrapped)
    outcomes = run_together(
        lambda: services.add_person(by=first, household=one, data=member(number, "甲")),
        lambda: services.add_person(by=second, household=other, data=member(number, "乙")),
    )
    assert sorted(kind for kind, _value in outcomes) == ["error", "ok"], outcomes
    error = next(value for kind, value in outcomes if kind == "error")
    assert isinstance(error, ValidationError)
    assert "已登记在户" in error.message_dict["id_number"][0]
    assert Person.objects.filter(id_number=number).count() == 1
