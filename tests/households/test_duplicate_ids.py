"""An ID number already registered in another household: the message names that household only inside the
user's region; outside it says "该证件号码已在其他地区登记" and whom to ask, and county staff find it (in their
own county only)."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse

from households import services
from households.forms import PersonForm
from households.models import Household, Person
from povertycloud.accounts.models import Role, User
from povertycloud.regions.models import Region
from tests.factories import VILLAGE_A2, VILLAGE_B, household_values, person_values
from tests.households.pages import make_file, post_data
from tests.households.test_import_export import member_row, xlsx

pytestmark = pytest.mark.django_db
ELSEWHERE = "该证件号码已在其他地区登记"
OTHER_COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE = "522635000000", "522635100000", "522635100200"


@pytest.fixture(autouse=True)
def _uploads_in_a_temporary_directory(settings, tmp_path):
    settings.VAR_DIR = tmp_path


@pytest.fixture
def mine(official_a):
    return make_file(official_a, head="王大山", number="A-0001")


@pytest.fixture
def in_township_b(official_b):
    return make_file(official_b, village=VILLAGE_B, head="杨秘密", number="B-SECRET-1")


@pytest.fixture
def other_county(regions):
    Region.objects.create(code=OTHER_COUNTY, name="麻江县", level=3, parent_id="522600000000")
    Region.objects.create(code=OTHER_TOWNSHIP, name="杏山街道", level=4, parent_id=OTHER_COUNTY)
    Region.objects.create(code=OTHER_VILLAGE, name="远方村", level=5, parent_id=OTHER_TOWNSHIP)
    household = Household.objects.create(**household_values(number="M-SECRET-9", village_id=OTHER_VILLAGE))
    Person.objects.create(household=household, **person_values(name="麻远人", birth_date=dt.date(1970, 1, 2)))
    return household


def someone_like(holder: Person) -> dict:
    return person_values(
        name="新成员", relation="17", id_number=holder.id_number, birth_date=holder.birth_date,
        months_worked_away=0, public_welfare_months=0,
    )


def secrets_of(household: Household) -> list[str]:
    head = household.members.get()
    return [household.number, head.name, household.village.name, household.village_id]


def add_member_page(client, user, household, holder):
    client.force_login(user)
    return client.post(reverse("households:member_add", args=[household.pk]), post_data(someone_like(holder)))


def test_inside_the_region_the_message_names_the_household(client, official_a, mine):
    other = make_file(official_a, village=VILLAGE_A2, head="李四", number="A-0002")
    response = add_member_page(client, official_a, other, mine.members.get())
    assert response.status_code == 200
    errors = response.context["form"].errors["id_number"]
    assert errors == [f"证件号码 {mine.members.get().id_number} 已登记在户 A-0001，同一人不能在两户登记。"]


def test_another_townships_household_is_never_named(client, official_a, mine, in_township_b):
    response = add_member_page(client, official_a, mine, in_township_b.members.get())
    assert response.status_code == 200
    errors = response.context["form"].errors["id_number"]
    assert errors == [f"{ELSEWHERE}，同一人不能在两户登记。如需核实，请县级工作人员按完整证件号码查询。"]
    html = response.content.decode()
    assert ELSEWHERE in html
    for secret in secrets_of(in_township_b):
        assert secret not in html
    assert mine.members.count() == 1


def test_county_staff_find_the_number_registered_in_another_township_of_their_county(
    client, official_a, county_staff, mine, in_township_b
):
    number = in_township_b.members.get().id_number
    client.force_login(county_staff)
    page = client.get(reverse("households:list"), {"q": number})
    assert {row.household.number for row in page.context["page"].rows} == {"B-SECRET-1"}


def test_a_number_registered_in_another_county_says_to_ask_county_staff(
    client, official_a, county_staff, mine, other_county
):
    holder = other_county.members.get()
    response = add_member_page(client, official_a, mine, holder)
    message = response.context["form"].errors["id_number"][0]
    assert message.startswith(ELSEWHERE) and "登记地不在本县" in message and "县级工作人员" in message
    html = response.content.decode()
    for secret in secrets_of(other_county):
        assert secret not in html
    # This county's staff cannot see it; the other county's staff find it by the full number.
    client.force_login(county_staff)
    assert not client.get(reverse("households:list"), {"q": holder.id_number}).context["page"].rows
    their_staff = User.objects.create(username="majiang_staff", role=Role.COUNTY_STAFF, region_id=OTHER_COUNTY)
    client.force_login(their_staff)
    page = client.get(reverse("households:list"), {"q": holder.id_number})
    assert {row.household.number for row in page.context["page"].rows} == {"M-SECRET-9"}


def test_the_service_says_the_same_and_without_a_user_names_no_household(official_a, mine, in_township_b):
    holder = in_township_b.members.get()
    with pytest.raises(ValidationError) as refused:
        services.add_person(by=official_a, household=mine, data=someone_like(holder))
    assert all(ELSEWHERE in m and "B-SECRET-1" not in m for m in refused.value.message_dict["id_number"])
    # A form built without a user (as the admin builds it) never names another household, even in region.
    other = make_file(official_a, village=VILLAGE_A2, head="李四", number="A-0002")
    form = PersonForm(post_data(someone_like(mine.members.get())), household=other)
    assert not form.is_valid()
    assert all(ELSEWHERE in m and "A-0001" not in m for m in form.errors["id_number"])


def test_an_administrator_is_told_which_household_it_is(admin_user, mine, in_township_b):
    holder = in_township_b.members.get()
    with pytest.raises(ValidationError) as refused:
        services.add_person(by=admin_user, household=mine, data=someone_like(holder))
    assert any("B-SECRET-1" in m for m in refused.value.message_dict["id_number"])


def test_the_spreadsheet_import_never_names_another_regions_household(client, official_a, in_township_b):
    holder = in_township_b.members.get()
    row = member_row("N-0001", "522634101200", "冒用", 1980, id_number=holder.id_number)
    row[4] = holder.id_number
    client.force_login(official_a)
    response = client.post(reverse("households:import"), {"file": xlsx([row])})
    report = response.context["report"]
    messages = [message for row in report.rows for _column, message in row.errors]
    assert any(ELSEWHERE in message for message in messages)
    html = response.content.decode()
    for secret in secrets_of(in_township_b):
        assert secret not in html
