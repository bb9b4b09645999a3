"""The household list: region scope, search, filters, and keyset pagination without COUNT(*)."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households.models import Household
from households.selectors import PAGE_SIZE
from tests.factories import VILLAGE_A, VILLAGE_A2, VILLAGE_B, make_household, make_person, resident_id
from tests.households.pages import add_spouse, make_file, sql_of

pytestmark = pytest.mark.django_db
LIST = reverse("households:list")


def numbers(response) -> set[str]:
    return {row.household.number for row in response.context["page"].rows}


@pytest.fixture
def files(official_a, official_b):
    """Three households in township A (two villages) and one in township B."""
    plain = make_file(official_a, head="王大山", number="A-0001")
    monitored = make_file(
        official_a, village=VILLAGE_A2, head="李小红", number="A-0002", monitoring_type="2",
        risk_types=",01,05,",
    )
    lifted = make_file(
        official_a, head="张有田", number="A-0003", household_type="1", poverty_attribute="1",
        lifted_year=2018, main_poverty_cause="01", risk_types=",10,",
    )
    other = make_file(official_b, village=VILLAGE_B, head="杨其他", number="B-0001")
    return {"plain": plain, "monitored": monitored, "lifted": lifted, "other": other}


def test_anonymous_user_is_sent_to_login(client):
    response = client.get(LIST)
    assert response.status_code == 302
    assert reverse("accounts:login") in response["Location"]


def test_township_official_sees_only_own_township(client, official_a, files):
    client.force_login(official_a)
    response = client.get(LIST)
    assert response.status_code == 200
    assert numbers(response) == {"A-0001", "A-0002", "A-0003"}
    assert "B-0001" not in response.content.decode()


def test_county_staff_and_auditors_see_their_county(client, county_staff, auditor, files):
    for user in (county_staff, auditor):
        client.force_login(user)
        assert numbers(client.get(LIST)) == {"A-0001", "A-0002", "A-0003", "B-0001"}


def test_row_shows_head_village_type_monitoring_type_and_risk_tags(client, official_a, files):
    client.force_login(official_a)
    html = client.get(LIST).content.decode()
    assert "李小红" in html and "麻料村" in html
    assert "一般农户" in html and "脱贫户" in html
    assert "边缘易致贫户" in html
    assert 'class="tag risk"' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("王大山", {"A-0001"}),
        ("小红", {"A-0002"}),
        ("A-0003", {"A-0003"}),
        ("麻料", {"A-0002"}),
        ("B-0001", set()),  # another township's household is not found by search either
    ],
)
def test_search_by_name_household_number_and_village(client, official_a, files, query, expected):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": query})) == expected


def test_search_by_any_member_name_and_by_id_number(client, official_a, files):
    spouse = add_spouse(official_a, files["plain"], name="赵春花")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "赵春花"})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": spouse.id_number})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": spouse.id_number.lower()})) == {"A-0001"}  # a lower-case x


@pytest.mark.parametrize("length", [6, 10, 14, 16, 17])
def test_township_official_cannot_search_by_id_number_prefix(client, official_a, files, length):
    """A prefix would give back the hidden digits one at a time (the masked number shows the first ten)."""
    spouse = add_spouse(official_a, files["plain"], name="赵春花")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": spouse.id_number[:length]})) == set()


def test_search_by_last_four_of_the_id_number_with_the_full_name(client, official_a, files):
    spouse = add_spouse(official_a, files["plain"], name="赵春花")
    client.force_login(official_a)
    tail = spouse.id_number[-4:]
    assert numbers(client.get(LIST, {"q": f"赵春花 {tail}"})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": f"赵春花{tail.lower()}"})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": f"{tail} 赵春花"})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": f"赵 {tail}"})) == set()  # the full name, not a part of it
    assert numbers(client.get(LIST, {"q": tail})) == set()  # four characters alone find no ID number
    wrong = "0000" if tail != "0000" else "1111"
    assert numbers(client.get(LIST, {"q": f"赵春花 {wrong}"})) == set()


def test_id_number_search_is_not_offered_to_an_auditor_who_sees_only_masked_numbers(client, auditor, files):
    """Full-number guesses would undo the mask for a role that may not reveal: 5226341980 + 8 guessed."""
    head = files["plain"].members.get(relation="01")
    client.force_login(auditor)
    assert numbers(client.get(LIST, {"q": head.id_number})) == set()
    assert numbers(client.get(LIST, {"q": f"{head.name} {head.id_number[-4:]}"})) == set()
    auditor.sensitive_data_access = True
    auditor.save()
    client.force_login(auditor)
    assert numbers(client.get(LIST, {"q": head.id_number})) == {"A-0001"}


def test_id_number_of_another_township_is_not_found(client, official_a, files):
    other_head = files["other"].members.get(relation="01")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": other_head.id_number})) == set()


def test_digits_still_find_household_numbers_by_prefix(client, official_a):
    make_file(official_a, head="钱多多", number="522634101200777001")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "5226341012007770"})) == {"522634101200777001"}


def test_filter_by_village(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"village": VILLAGE_A2})) == {"A-0002"}


def test_filter_by_village_of_another_township_is_refused_not_applied(client, official_a, files):
    client.force_login(official_a)
    response = client.get(LIST, {"village": VILLAGE_B})
    assert response.context["form"].errors["village"]
    assert "B-0001" not in numbers(response)


def test_filter_by_household_type(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"household_type": "1"})) == {"A-0003"}
    assert numbers(client.get(LIST, {"household_type": "2"})) == {"A-0001", "A-0002"}


def test_filter_by_monitoring_type(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"monitoring_type": "2"})) == {"A-0002"}
    assert numbers(client.get(LIST, {"monitoring_type": "1"})) == set()
    assert numbers(client.get(LIST, {"monitoring_type": "any"})) == {"A-0002"}
    assert numbers(client.get(LIST, {"monitoring_type": "none"})) == {"A-0001", "A-0003"}


def test_filter_by_risk_type_matches_one_code_exactly(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"risk_type": "05"})) == {"A-0002"}
    assert numbers(client.get(LIST, {"risk_type": "01"})) == {"A-0002"}
    assert numbers(client.get(LIST, {"risk_type": "10"})) == {"A-0003"}
    assert numbers(client.get(LIST, {"risk_type": "03"})) == set()


def test_search_and_filters_combine(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "A-000", "household_type": "1"})) == {"A-0003"}


def bulk_households(count: int) -> list[Household]:
    made = []
    for index in range(count):
        village = VILLAGE_A if index % 2 else VILLAGE_A2
        household = make_household(number=f"P-{index:04d}", village_id=village, with_head=False)
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=index)
        make_person(household, name=f"户主{index}", id_number=resident_id(birth), birth_date=birth)
        made.append(household)
    return made


def test_pages_follow_village_and_number_order_without_count(client, official_a):
    made = bulk_households(PAGE_SIZE + 5)
    expected = [h.number for h in sorted(made, key=lambda h: (h.village_id, h.number))]
    client.force_login(official_a)
    with CaptureQueriesContext(connection) as captured:
        first = client.get(LIST)
    assert "COUNT(" not in sql_of(captured).upper()
    page = first.context["page"]
    assert [row.household.number for row in page.rows] == expected[:PAGE_SIZE]
    assert page.next_key and page.previous_key is None
    assert 'data-testid="next-page"' in first.content.decode()

    with CaptureQueriesContext(connection) as captured:
        second = client.get(LIST, {"after": page.next_key})
    assert "COUNT(" not in sql_of(captured).upper()
    page2 = second.context["page"]
    assert [row.household.number for row in page2.rows] == expected[PAGE_SIZE:]
    assert page2.next_key is None and page2.previous_key

    back = client.get(LIST, {"before": page2.previous_key}).context["page"]
    assert [row.household.number for row in back.rows] == expected[:PAGE_SIZE]
    assert back.is_first and back.previous_key is None


def test_next_page_keeps_the_filters(client, official_a):
    bulk_households(PAGE_SIZE + 5)
    client.force_login(official_a)
    response = client.get(LIST, {"household_type": "2", "q": "P-"})
    pager = response.content.decode().split('data-testid="pager"')[1]
    assert "household_type=2" in pager and "q=P-" in pager and "after=" in pager


def test_list_query_count_does_not_grow_with_the_page(client, official_a, django_assert_max_num_queries):
    bulk_households(3)
    client.force_login(official_a)
    client.get(LIST)  # warm the data dictionary cache
    with CaptureQueriesContext(connection) as small:
        client.get(LIST)
    for index in range(3, PAGE_SIZE):
        household = make_household(number=f"Q-{index:04d}", with_head=False)
        birth = dt.date(1960, 1, 1) + dt.timedelta(days=index)
        make_person(household, name=f"户主{index}", id_number=resident_id(birth), birth_date=birth)
    with django_assert_max_num_queries(len(small.captured_queries)):
        response = client.get(LIST)
    assert len(response.context["page"].rows) == PAGE_SIZE
    assert all(row.head_name for row in response.context["page"].rows)


def test_a_malformed_page_key_is_ignored(client, official_a, files):
    client.force_login(official_a)
    response = client.get(LIST, {"after": "nonsense"})
    assert response.status_code == 200
    assert numbers(response) == {"A-0001", "A-0002", "A-0003"}
