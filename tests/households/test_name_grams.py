"""The household list's name search through the name pieces (PersonNameGram, issue #15 item 3).

Every one- and two-character piece of a present member's name is stored with the household's village; a
search of one or two characters looks the piece up, a longer one its rarest piece and then the whole name.
The pieces follow every write: a member saved through the services (or any single save), a rename, a
member who leaves or comes back, and the registry import and its undo (refresh_name_grams for the region).
"""

import datetime as dt
import importlib

import pytest
from django.urls import reverse

from households import selectors, services
from households.models import Household, Person, PersonNameGram
from tests.factories import VILLAGE_A, VILLAGE_A2, VILLAGE_B, make_household, make_person, resident_id
from tests.households.pages import add_spouse, make_file

pytestmark = pytest.mark.django_db
LIST = reverse("households:list")


def numbers(response) -> set[str]:
    assert response.status_code == 200
    return {row.household.number for row in response.context["page"].rows}


def stored() -> set[tuple[str, int, str, int]]:
    return set(PersonNameGram.objects.values_list("region_code", "person_id", "gram", "household_id"))


def expected() -> set[tuple[str, int, str, int]]:
    """The pieces every present member should have, computed here from Person and Household."""
    return {
        (village, pk, gram, household)
        for pk, name, household, village in Person.objects.values_list(
            "pk", "name", "household_id", "household__village_id"
        )
        for gram in services.name_grams(name)
    }


@pytest.fixture
def files(official_a, official_b):
    """Namesakes in two townships; a rare surname (欧阳) in A; 杨 in both."""
    a = make_file(official_a, head="杨秀英", number="A-0001")
    a2 = make_file(official_a, village=VILLAGE_A2, head="欧阳春花", number="A-0002")
    a3 = make_file(official_a, head="李明", number="A-0003")
    b = make_file(official_b, village=VILLAGE_B, head="杨秀英", number="B-0001")
    b2 = make_file(official_b, village=VILLAGE_B, head="欧阳春", number="B-0002")
    return {"a": a, "a2": a2, "a3": a3, "b": b, "b2": b2}


@pytest.fixture(params=["few", "common"])
def either_way(request, monkeypatch):
    """Run a test both ways the search can go: households found first (few matches), and the walk of the
    list in page order probing each household (a common name; forced here with a threshold of 1)."""
    if request.param == "common":
        monkeypatch.setattr(selectors, "COMMON_NAME", 1)
    return request.param


# --- The pieces ------------------------------------------------------------------------------------------


def test_name_grams_are_each_one_and_two_character_piece_once():
    assert services.name_grams("杨秀英") == {"杨", "秀", "英", "杨秀", "秀英"}
    assert services.name_grams("杨杨") == {"杨", "杨杨"}
    assert services.name_grams("欧") == {"欧"}
    assert services.name_grams("") == set()


def test_members_saved_one_at_a_time_have_their_pieces(files):
    assert stored() == expected()
    head = files["a"].members.get()
    assert {g for _, pk, g, _ in stored() if pk == head.pk} == {"杨", "秀", "英", "杨秀", "秀英"}
    assert {r for r, pk, _, _ in stored() if pk == head.pk} == {VILLAGE_A}


def test_refresh_puts_bulk_writes_right_and_is_idempotent(files):
    """Rows written without a signal (a queryset update, a bulk insert) are put right for the region given,
    and only there; a second run changes nothing."""
    renamed = files["a"].members.get()
    Person.everyone.filter(pk=renamed.pk).update(name="杨新")
    other = files["b"].members.get()
    Person.everyone.filter(pk=other.pk).update(name="杨外")
    Person.objects.bulk_create([Person(**{**_values_of(renamed), "id_number": resident_id(dt.date(1999, 9, 9)),
                                          "name": "潘一", "household_id": files["a3"].pk})])
    # 秀, 英, 杨秀, 秀英 out; 新, 杨新, and 潘, 一, 潘一 in.
    assert services.refresh_name_grams(prefix="522634101") == (4, 5)
    assert {g for r, _, g, _ in stored() if r.startswith("522634101")} >= {"杨新", "潘一"}
    assert "杨外" not in {g for _, _, g, _ in stored()}  # township B is left as it was
    assert services.refresh_name_grams() == (4, 2)  # now township B too
    assert stored() == expected()
    assert services.refresh_name_grams() == (0, 0)


def _values_of(person: Person) -> dict:
    return {
        f.attname: getattr(person, f.attname)
        for f in Person._meta.concrete_fields
        if not f.primary_key and f.attname not in ("created_at", "updated_at")
    }


def test_refresh_follows_a_household_moved_to_another_village(files):
    Household.objects.filter(pk=files["a"].pk).update(village_id=VILLAGE_A2)
    services.refresh_name_grams(prefix="522634101")
    assert stored() == expected()
    assert {r for r, _, _, h in stored() if h == files["a"].pk} == {VILLAGE_A2}


def test_a_deleted_member_loses_the_pieces(files):
    head = files["a3"].members.get()
    Person.everyone.filter(pk=head.pk).delete()  # one at a time through the collector: post_delete
    assert not PersonNameGram.objects.filter(person_id=head.pk).exists()
    assert stored() == expected()


def test_the_migration_fills_the_pieces_of_existing_members(files, official_a):
    """The data migration's fill (one INSERT ... SELECT), on this database's SQL dialect."""
    add_spouse(official_a, files["a"], name="龙妹")
    gone = add_spouse(official_a, files["a3"], name="吴去")
    services.remove_person(by=official_a, person=gone, reason="迁出")
    PersonNameGram.objects.all().delete()
    migration = importlib.import_module("households.migrations.0014_person_name_grams")
    from types import SimpleNamespace

    from django.apps import apps
    from django.db import connection

    migration.fill_name_grams(apps, SimpleNamespace(connection=connection))  # what it reads of the editor
    assert stored() == expected()
    assert not PersonNameGram.objects.filter(person_id=gone.pk).exists()


# --- Searching -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "found"),
    [
        ("杨", {"A-0001"}),  # one character, common
        ("欧", {"A-0002"}),  # one character, rare
        ("秀英", {"A-0001"}),  # two characters
        ("欧阳", {"A-0002"}),
        ("欧阳春", {"A-0002"}),  # three characters: a piece, then the whole name
        ("欧阳春花", {"A-0002"}),
        ("阳春花", {"A-0002"}),
        ("杨秀英", {"A-0001"}),
        ("杨英", set()),  # both characters, but not together
        ("秀杨", set()),
        ("欧阳春花花", set()),
        ("无此人名", set()),
    ],
)
def test_search_by_one_two_and_more_characters(client, official_a, files, either_way, query, found):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": query})) == found


@pytest.mark.parametrize(("query", "found"), [("杨秀英", {"A-0001", "B-0001"}), ("欧阳春", {"A-0002", "B-0002"})])
def test_county_staff_find_every_township(client, county_staff, files, either_way, query, found):
    client.force_login(county_staff)
    assert numbers(client.get(LIST, {"q": query})) == found


@pytest.mark.parametrize("query", ["杨", "杨秀英", "秀英", "欧阳春"])
def test_another_regions_member_is_never_found(client, official_a, official_b, files, either_way, query):
    client.force_login(official_b)
    assert not numbers(client.get(LIST, {"q": query})) & {"A-0001", "A-0002", "A-0003"}
    client.force_login(official_a)
    assert not numbers(client.get(LIST, {"q": query})) & {"B-0001", "B-0002"}


def test_a_renamed_member_is_found_by_the_new_name_only(client, official_a, files, either_way):
    head = files["a3"].members.get()
    services.update_person(by=official_a, person=head, data={"name": "潘小龙"}, expected_version=head.version)
    assert stored() == expected()
    client.force_login(official_a)
    for query in ("潘", "小龙", "潘小龙"):
        assert numbers(client.get(LIST, {"q": query})) == {"A-0003"}
    for query in ("李明", "李", "明"):
        assert numbers(client.get(LIST, {"q": query})) == set()


def test_a_member_who_left_is_not_found_and_is_again_once_back(client, official_a, files, either_way):
    spouse = add_spouse(official_a, files["a3"], name="龙妹")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "龙妹"})) == {"A-0003"}
    services.remove_person(by=official_a, person=spouse, reason="迁出")
    assert not PersonNameGram.objects.filter(person_id=spouse.pk).exists()
    for query in ("龙", "龙妹", "妹"):
        assert numbers(client.get(LIST, {"q": query})) == set()
    services.reopen_person(by=official_a, person=spouse, reason="登记错误")
    assert numbers(client.get(LIST, {"q": "龙妹"})) == {"A-0003"}
    assert stored() == expected()


def test_a_member_who_left_in_bulk_is_not_found_after_the_refresh(client, official_a, files):
    Person.everyone.filter(household=files["a3"]).update(left_on=dt.date(2025, 1, 1))
    services.refresh_name_grams(prefix="522634101")
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "李明"})) == set()


@pytest.mark.parametrize(
    "query", [" ", "　", "  杨  ", "123", "0", "%", "_", "%%", "_杨", "杨_", "\\", "杨" * 500, "秀" * 51 + "英"]
)
def test_odd_input_changes_nothing_and_does_not_fail(client, official_a, files, either_way, query):
    """Blanks, digits, wildcards and long text: plain text, found nowhere (the page's form takes at most 50
    characters and lists every household for a longer one; the selector is asked the long text itself)."""
    before = stored()
    client.force_login(official_a)
    assert client.get(LIST, {"q": query}).status_code == 200
    found = {
        h.number
        for h in selectors.filter_households(selectors.households_for(official_a), {"q": query}, user=official_a)
    }
    if not query.strip():
        assert found == {"A-0001", "A-0002", "A-0003"}
    else:
        assert found == ({"A-0001"} if query.strip() == "杨" else set())
    assert stored() == before


def test_a_common_name_pages_through_its_households_in_order(client, official_a, monkeypatch):
    """The walk (a common name): every page in order, each of the township's households once."""
    monkeypatch.setattr(selectors, "COMMON_NAME", 3)
    for index in range(selectors.PAGE_SIZE + 5):
        household = make_household(number=f"A-{index:04d}", village_id=VILLAGE_A, with_head=False)
        birth = dt.date(1970, 1, 1) + dt.timedelta(days=index)
        make_person(household, name=f"杨{index}", id_number=resident_id(birth), birth_date=birth)
    other = make_household(number="B-9999", village_id=VILLAGE_B, with_head=False)
    make_person(other, name="杨外", id_number=resident_id(dt.date(1960, 1, 1)), birth_date=dt.date(1960, 1, 1))
    client.force_login(official_a)
    page = client.get(LIST, {"q": "杨"}).context["page"]
    assert len(page.rows) == selectors.PAGE_SIZE and page.next_key
    second = numbers(client.get(LIST, {"q": "杨", "after": page.next_key}))
    assert len(second) == 5
    first = {row.household.number for row in page.rows}
    assert first | second == {f"A-{index:04d}" for index in range(selectors.PAGE_SIZE + 5)}


def test_a_village_name_finds_its_households_without_asking_the_members(client, official_a, files):
    client.force_login(official_a)
    assert numbers(client.get(LIST, {"q": "麻料"})) == {"A-0002"}


# --- The registry import and its undo --------------------------------------------------------------------


def test_registry_import_and_undo_keep_the_pieces(regions, county_staff, official_a, tmp_path):
    from exchange.registry.rollback import rollback_registry_batch
    from exchange.registry.service import import_registry
    from tests.exchange.registry_files import member_row, small_export
    from tests.exchange.test_registry_import import base_members, next_year
    from tests.factories import COUNTY

    as_of = dt.date(2025, 12, 31)
    (tmp_path / "first").mkdir()
    first = import_registry(region_code=COUNTY, paths=small_export(tmp_path / "first"), by=None, as_of=as_of)
    assert first.status == "succeeded" or first.status == first.Status.SUCCEEDED
    assert stored() == expected() and stored()
    after_first = stored()

    # A year on: 吴明 renamed 吴明亮, 吴小红 no longer listed (closed), a new member 潘大.
    members = [m for m in base_members() if m["姓名"] != "吴小红"]
    for member in members:
        if member["姓名"] == "吴明":
            member["姓名"] = "吴明亮"
    members.append(member_row("H001", "潘大", birth=dt.date(2001, 3, 1), relation="之子", sequence=7))
    second = import_registry(
        region_code=COUNTY, paths=next_year(tmp_path / "second", members=members), by=None,
        as_of=dt.date(2026, 6, 30),
    )
    assert second.status == second.Status.SUCCEEDED
    assert stored() == expected()
    grams = {g for _, _, g, _ in stored()}
    assert {"明亮", "潘大"} <= grams and "小红" not in grams
    search = {"q": "吴明亮"}
    assert {h.number for h in selectors.filter_households(
        selectors.households_for(official_a), search, user=official_a)} == {"H001"}

    rollback_registry_batch(batch=second, by=county_staff, reason="导入了错误的文件")
    assert stored() == expected() == after_first
    rollback_registry_batch(batch=first, by=county_staff, reason="导入了错误的文件")
    assert stored() == set()
