"""The household list's search and filters read the user's region only (issue #15, items 3 and 6).

A member's name is searched among the name pieces of the user's region (PersonNameGram, keyed by the
household's village); another region's people are never found, and the SQL of a township official's search
names the township's code range. (tests/households/test_name_grams.py: the pieces themselves.)
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from households import selectors, services
from households.models import Household, Person, PersonNameGram
from tests.factories import VILLAGE_A, VILLAGE_A2, VILLAGE_B, make_household, make_person, resident_id
from tests.households.pages import add_spouse, make_file, sql_of

pytestmark = pytest.mark.django_db
LIST = reverse("households:list")


def numbers(response) -> set[str]:
    assert response.status_code == 200
    return {row.household.number for row in response.context["page"].rows}


@pytest.fixture
def files(official_a, official_b):
    """The same surname in two townships; a monitored, at-risk household in A."""
    a = make_file(official_a, head="杨秀英", number="A-0001")
    a2 = make_file(
        official_a, village=VILLAGE_A2, head="吴春", number="A-0002", monitoring_type="2", risk_types=",01,",
    )
    a3 = make_file(official_a, head="李明", number="A-0003", monitoring_type="1", risk_types=",10,")
    b = make_file(official_b, village=VILLAGE_B, head="杨秀英", number="B-0001")
    return {"a": a, "a2": a2, "a3": a3, "b": b}


# --- The denormalised region code -------------------------------------------------------------------


def test_a_member_added_through_the_services_carries_the_household_village(official_a, files):
    assert files["a"].members.get().region_code == VILLAGE_A
    spouse = add_spouse(official_a, files["a2"], name="吴秀")
    assert spouse.region_code == VILLAGE_A2


def test_the_region_code_cannot_be_set_by_the_caller(official_a, files):
    spouse = add_spouse(official_a, files["a"], name="杨花", region_code=VILLAGE_B)
    assert spouse.region_code == VILLAGE_A
    updated = services.update_person(
        by=official_a, person=spouse, data={"region_code": VILLAGE_B, "name": "杨花花"},
        expected_version=spouse.version,
    )
    assert updated.region_code == VILLAGE_A and updated.name == "杨花花"


def test_fill_person_regions_fills_blank_and_stale_codes_once(files):
    """Rows written in bulk (the registry import's COPY) leave the code blank; a household moved by an import
    leaves it stale. One call puts both right; a second changes nothing."""
    bulk = make_person(files["a"], name="杨大", birth_date=dt.date(1990, 1, 1), relation="03")
    assert bulk.region_code == ""
    Household.objects.filter(pk=files["b"].pk).update(village_id="522634103201")
    assert services.fill_person_regions(prefix="522634101") == 1
    assert services.fill_person_regions() == 1  # the moved household's member, outside that prefix
    assert services.fill_person_regions() == 0
    bulk.refresh_from_db()
    assert bulk.region_code == VILLAGE_A
    assert files["b"].members.get().region_code == "522634103201"


# --- Another region's people are never found ----------------------------------------------------------


@pytest.mark.parametrize("query", ["杨", "杨秀英", "秀英", "秀"])
def test_township_official_finds_own_townships_namesakes_only(client, official_a, official_b, files, query):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": query})) == {"A-0001"}
    client.force_login(official_b)
    assert numbers(client.get(LIST, {"q": query})) == {"B-0001"}


def test_county_staff_finds_both_townships(client, county_staff, admin_user, files):
    for user in (county_staff, admin_user):
        client.force_login(user)
        assert numbers(client.get(LIST, {"q": "杨"})) == {"A-0001", "B-0001"}


def test_a_member_not_filled_yet_is_found_in_own_region_only(client, official_a, official_b, files):
    """A blank region_code (written in bulk) is found through its household, and only in its own region."""
    Person.objects.filter(household=files["b"]).update(region_code="")
    make_person(files["a3"], name="欧阳", birth_date=dt.date(1991, 1, 1), relation="03")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "杨秀英"})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": "欧阳"})) == {"A-0003"}
    client.force_login(official_b)
    assert numbers(client.get(LIST, {"q": "杨秀英"})) == {"B-0001"}
    assert numbers(client.get(LIST, {"q": "欧阳"})) == set()


def test_a_member_who_left_is_not_found(client, official_a, files):
    spouse = add_spouse(official_a, files["a"], name="龙妹")
    services.remove_person(by=official_a, person=spouse, reason="迁出")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "龙妹"})) == set()


# --- The SQL names the region before the name --------------------------------------------------------


def test_township_officials_name_search_is_limited_to_the_township_in_sql(client, official_a, files):
    client.force_login(official_a)
    with CaptureQueriesContext(connection) as captured:
        assert numbers(client.get(LIST, {"q": "杨"})) == {"A-0001"}
    sql = sql_of(captured)
    pieces = PersonNameGram._meta.db_table
    searches = [q["sql"] for q in captured.captured_queries if pieces in q["sql"] and "'杨'" in q["sql"]]
    assert len(searches) == 1
    search = searches[0]
    # The name's pieces are read by region code (the township's range) and tied to a household of the scope.
    assert "region_code" in search
    assert "522634101000" in search and "522634101999" in search
    assert "522634103" not in sql  # nothing of township B is named


def test_search_range_of_each_role(official_a, county_staff, admin_user):
    assert selectors.search_range_of(official_a) == ("522634101000", "522634101999")
    assert selectors.search_range_of(county_staff) == ("522634000000", "522634999999")
    assert selectors.search_range_of(admin_user) is None
    assert selectors.search_range_of(None) is None


# --- ID numbers: the rules still hold ----------------------------------------------------------------


def test_whole_id_number_and_name_with_last_four_within_region_only(client, official_a, official_b, files):
    spouse = add_spouse(official_a, files["a"], name="赵春花")
    other = files["b"].members.get()
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": spouse.id_number})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": f"赵春花 {spouse.id_number[-4:]}"})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": other.id_number})) == set()
    # The namesake in A could share the last four; B's household is never found.
    assert "B-0001" not in numbers(client.get(LIST, {"q": f"{other.name} {other.id_number[-4:]}"}))
    assert numbers(client.get(LIST, {"q": spouse.id_number[:10]})) == set()  # never a prefix


def test_auditor_cannot_search_by_id_number(client, auditor, files):
    head = files["a"].members.get()
    client.force_login(auditor)
    assert numbers(client.get(LIST, {"q": head.id_number})) == set()
    assert numbers(client.get(LIST, {"q": f"{head.name} {head.id_number[-4:]}"})) == set()


# --- Filters ------------------------------------------------------------------------------------------


def test_risk_type_filter_matches_whole_codes(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"risk_type": "01"})) == {"A-0002"}
    assert numbers(client.get(LIST, {"risk_type": "10"})) == {"A-0003"}


@pytest.mark.parametrize(
    ("value", "expected"),
    [("any", {"A-0002", "A-0003"}), ("none", {"A-0001"}), ("2", {"A-0002"}), ("1", {"A-0003"})],
)
def test_monitoring_filter(client, official_a, files, value, expected):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"monitoring_type": value})) == expected


def test_search_and_filters_combine(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "吴", "monitoring_type": "any", "risk_type": "01"})) == {"A-0002"}
    assert numbers(client.get(LIST, {"q": "杨", "monitoring_type": "any"})) == set()
    assert numbers(client.get(LIST, {"q": "杨", "village": VILLAGE_A})) == {"A-0001"}
    # Another township's village is not a choice: the filter is dropped, the search stays in the township.
    assert numbers(client.get(LIST, {"q": "杨", "village": VILLAGE_B})) == {"A-0001"}
    assert numbers(client.get(LIST, {"q": "杨", "household_type": "2"})) == {"A-0001"}


# --- Bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("query", ["%", "_", "杨%", "%秀", "\\", "'", "' OR 1=1 --", "5226341980********", "　"])
def test_wildcards_and_quotes_are_plain_text(client, official_a, files, query):
    client.force_login(official_a)
    found = numbers(client.get(LIST, {"q": query}))
    assert found == set() or query.strip() in ("", "　")


def test_too_long_or_odd_keys_do_not_fail(client, official_a, files):
    client.force_login(official_a)
    assert client.get(LIST, {"q": "杨" * 500}).status_code == 200
    assert client.get(LIST, {"q": "杨", "after": "nonsense"}).status_code == 200
    assert client.get(LIST, {"q": "杨", "before": ":"}).status_code == 200
    assert client.get(LIST, {"risk_type": "%"}).status_code == 200


def test_keyset_pages_of_a_name_search_stay_in_the_region(client, official_a, official_b):
    """More matches than a page: every page of the search holds the township's households only."""
    for index in range(selectors.PAGE_SIZE + 5):
        household = make_household(number=f"A-{index:04d}", village_id=VILLAGE_A, with_head=False)
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=index)
        make_person(household, name=f"杨{index}", id_number=resident_id(birth), birth_date=birth)
    other = make_household(number="B-9999", village_id=VILLAGE_B, with_head=False)
    make_person(other, name="杨外", id_number=resident_id(dt.date(1960, 1, 1)), birth_date=dt.date(1960, 1, 1))
    services.fill_person_regions()
    client.force_login(official_a)
    first = client.get(LIST, {"q": "杨"})
    page = first.context["page"]
    assert len(page.rows) == selectors.PAGE_SIZE and page.next_key
    second = numbers(client.get(LIST, {"q": "杨", "after": page.next_key}))
    assert len(second) == 5
    assert all(number.startswith("A-") for number in numbers(first) | second)


def test_households_for_holds_the_same_rows_as_the_scope(
    official_a, official_b, county_staff, auditor, admin_user, files
):
    """households_for says the scope as a code range (better estimated by PostgreSQL): the same rows."""
    from povertycloud.regions.scoping import scope_for_user

    for user in (official_a, official_b, county_staff, auditor, admin_user):
        expected = set(scope_for_user(Household.objects.all(), user).values_list("number", flat=True))
        assert set(selectors.households_for(user).values_list("number", flat=True)) == expected
    official_a.is_active = False
    assert not selectors.households_for(official_a).exists()
    # An ID number whose digits start no household number is searched as an ID only; both still work.
    head = files["a"].members.get()
    assert {h.number for h in selectors.filter_households(
        selectors.households_for(official_b), {"q": head.id_number}, user=official_b
    )} == set()
