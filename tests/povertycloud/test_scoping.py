"""The one scoping helper: what each role sees, and 404 for everything else."""

from dataclasses import dataclass

import pytest
from django.contrib.auth.models import AnonymousUser
from django.http import Http404

from households import services
from households.models import Household, IncomeRecord, Person, StatusChange
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import record_event
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import get_for_user_or_404, scope_for_user, user_may_see_code
from povertycloud.regions.selectors import ancestors, descendants, full_name, townships_of, villages_of
from tests.factories import (
    COUNTY,
    TOWNSHIP_A,
    VILLAGE_A,
    VILLAGE_A2,
    VILLAGE_B,
    household_values,
    person_values,
)

OTHER_COUNTY_VILLAGE = "522601001200"
SCOPED_MODELS = (Household, Person, IncomeRecord, StatusChange, AuditEvent)


@dataclass
class World:
    a: Household
    a2: Household
    b: Household
    elsewhere: Household


def _file(by: User, village: str, name: str) -> Household:
    household = services.create_household(by=by, data=household_values(village_id=village))
    services.add_person(by=by, household=household, data=person_values(name=name))
    services.record_income(
        by=by, household=household, data={"year": 2024, "household_size": 1, "wage_income": 9000}
    )
    return household


@pytest.fixture
def other_county(regions) -> None:
    """A second county (凯里市) beside the demo county, to show that county staff stay in their county."""
    Region.objects.create(code="522601000000", name="凯里市", level=3, parent_id="522600000000")
    Region.objects.create(code="522601001000", name="大十字街道", level=4, parent_id="522601000000")
    Region.objects.create(code=OTHER_COUNTY_VILLAGE, name="某村", level=5, parent_id="522601001000")


@pytest.fixture
def world(admin_user, other_county) -> World:
    world = World(
        a=_file(admin_user, VILLAGE_A, "西江张三"),
        a2=_file(admin_user, VILLAGE_A2, "麻料王五"),
        b=_file(admin_user, VILLAGE_B, "郎德李四"),
        elsewhere=_file(admin_user, OTHER_COUNTY_VILLAGE, "凯里赵六"),
    )
    record_event(actor=None, action="login_failed", entity="accounts.user", object_repr="somebody")
    return world


def households_seen(user) -> set[str]:
    return set(scope_for_user(Household.objects.all(), user).values_list("number", flat=True))


def numbers(*households: Household) -> set[str]:
    return {h.number for h in households}


def household_ids_seen(model, user) -> set[int]:
    queryset = scope_for_user(model.objects.all(), user)
    if model is Household:
        return set(queryset.values_list("id", flat=True))
    return set(queryset.values_list("household_id", flat=True))


# --- Township officials ------------------------------------------------------------------------------


def test_township_official_sees_only_households_of_their_township(world, official_a):
    assert households_seen(official_a) == numbers(world.a, world.a2)


@pytest.mark.parametrize("model", SCOPED_MODELS, ids=lambda m: m.__name__)
def test_township_official_sees_only_their_townships_records_of_every_kind(world, official_a, model):
    seen = household_ids_seen(model, official_a)
    assert seen - {None} == {world.a.pk, world.a2.pk}
    assert scope_for_user(model.objects.all(), official_a).exists()


def test_township_official_cannot_see_other_township(world, official_a, official_b):
    assert world.b.number not in households_seen(official_a)
    assert world.a.number not in households_seen(official_b)
    assert households_seen(official_b) == numbers(world.b)


def test_township_official_sees_no_audit_events_without_a_region(world, official_a):
    events = scope_for_user(AuditEvent.objects.all(), official_a)
    assert not events.filter(action="login_failed").exists()
    household_events = events.exclude(entity="accounts.user")  # users of township A: their creation is audited
    assert set(household_events.values_list("region_code", flat=True)) == {VILLAGE_A, VILLAGE_A2}


def test_township_official_finds_members_only_of_their_township_by_name(world, official_a):
    people = scope_for_user(Person.objects.all(), official_a)
    assert people.filter(name="西江张三").exists()
    assert not people.filter(name="郎德李四").exists()


def test_scoping_composes_with_other_filters(world, official_a):
    incomes = scope_for_user(IncomeRecord.objects.filter(year=2024), official_a).filter(net_income__gte=9000)
    assert set(incomes.values_list("household_id", flat=True)) == {world.a.pk, world.a2.pk}


# --- County staff and auditors -----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["county_staff", "auditor"])
def test_county_staff_and_auditors_see_their_whole_county_and_nothing_beyond(request, world, role):
    user = request.getfixturevalue(role)
    assert households_seen(user) == numbers(world.a, world.a2, world.b)
    for model in SCOPED_MODELS:
        assert household_ids_seen(model, user) - {None} == {world.a.pk, world.a2.pk, world.b.pk}


# --- Administrators ----------------------------------------------------------------------------------


def test_administrator_sees_everything(world, admin_user):
    assert households_seen(admin_user) == numbers(world.a, world.a2, world.b, world.elsewhere)
    assert scope_for_user(AuditEvent.objects.all(), admin_user).count() == AuditEvent.objects.count()


def test_admin_role_without_superuser_flag_sees_everything(world, regions):
    user = User.objects.create_user("role_admin", password="x" * 12, role=Role.ADMIN)
    assert households_seen(user) == numbers(world.a, world.a2, world.b, world.elsewhere)


# --- Nobody else -------------------------------------------------------------------------------------


def test_inactive_user_sees_nothing(world, official_a):
    official_a.is_active = False
    for model in SCOPED_MODELS:
        assert not scope_for_user(model.objects.all(), official_a).exists()


def test_inactive_administrator_sees_nothing(world, admin_user):
    admin_user.is_active = False
    assert households_seen(admin_user) == set()


@pytest.mark.parametrize("user", [AnonymousUser(), None], ids=["anonymous", "none"])
def test_anonymous_user_sees_nothing(world, user):
    for model in SCOPED_MODELS:
        assert not scope_for_user(model.objects.all(), user).exists()


def test_user_with_no_region_sees_nothing(world):
    user = User(username="nowhere", role=Role.TOWNSHIP_OFFICIAL, region=None, is_active=True)
    for model in SCOPED_MODELS:
        assert not scope_for_user(model.objects.all(), user).exists()


def test_a_model_without_region_lookup_cannot_be_shown(official_a):
    from django.contrib.auth.models import Group

    with pytest.raises(TypeError):
        scope_for_user(Group.objects.all(), official_a)


# --- Single objects: 404 outside the region ----------------------------------------------------------


def test_get_for_user_or_404_returns_an_object_of_the_region(world, official_a):
    assert get_for_user_or_404(Household.objects.all(), official_a, pk=world.a.pk) == world.a


def test_get_for_user_or_404_answers_404_for_another_township(world, official_a):
    with pytest.raises(Http404):
        get_for_user_or_404(Household.objects.all(), official_a, pk=world.b.pk)
    with pytest.raises(Http404):
        get_for_user_or_404(Person.objects.all(), official_a, household_id=world.b.pk)
    with pytest.raises(Http404):
        get_for_user_or_404(IncomeRecord.objects.all(), official_a, household_id=world.b.pk)


def test_get_for_user_or_404_answers_the_same_for_a_missing_object(world, official_a):
    with pytest.raises(Http404):
        get_for_user_or_404(Household.objects.all(), official_a, pk=10**9)
    with pytest.raises(Http404):
        get_for_user_or_404(Household.objects.all(), official_a, pk="not-a-number")


@pytest.mark.parametrize(
    ("role", "sees_b", "sees_elsewhere"),
    [
        ("official_a", False, False),
        ("official_b", True, False),
        ("county_staff", True, False),
        ("auditor", True, False),
        ("admin_user", True, True),
    ],
)
def test_get_for_user_or_404_for_every_role(request, world, role, sees_b, sees_elsewhere):
    user = request.getfixturevalue(role)
    for household, visible in ((world.b, sees_b), (world.elsewhere, sees_elsewhere)):
        if visible:
            assert get_for_user_or_404(Household.objects.all(), user, number=household.number) == household
        else:
            with pytest.raises(Http404):
                get_for_user_or_404(Household.objects.all(), user, number=household.number)


def test_get_for_user_or_404_answers_404_to_an_anonymous_user(world):
    with pytest.raises(Http404):
        get_for_user_or_404(Household.objects.all(), AnonymousUser(), pk=world.a.pk)


def test_user_may_see_code_follows_the_same_rules(official_a, admin_user):
    assert user_may_see_code(official_a, VILLAGE_A)
    assert not user_may_see_code(official_a, VILLAGE_B)
    assert user_may_see_code(admin_user, VILLAGE_B)
    assert not user_may_see_code(AnonymousUser(), VILLAGE_A)
    official_a.is_active = False
    assert not user_may_see_code(official_a, VILLAGE_A)


def test_users_and_regions_are_scoped_too(official_a, official_b, county_staff):
    assert set(scope_for_user(User.objects.all(), official_a).values_list("username", flat=True)) == {
        "official_a"
    }
    assert set(scope_for_user(User.objects.all(), county_staff).values_list("username", flat=True)) >= {
        "official_a",
        "official_b",
        "county_staff",
    }
    regions = scope_for_user(Region.objects.all(), official_a)
    assert set(regions.values_list("code", flat=True)) == {
        TOWNSHIP_A,
        *(f"5226341012{n:02d}" for n in range(6)),
    }


# --- The region tree ---------------------------------------------------------------------------------


def test_descendants_are_found_by_code_prefix_in_one_query(regions, django_assert_num_queries):
    county = Region.objects.get(pk=COUNTY)
    with django_assert_num_queries(1) as captured:
        found = list(descendants(county))
    assert "LIKE" in captured.captured_queries[0]["sql"].upper()
    assert len(found) == 9 + 44
    assert all(region.code.startswith("522634") for region in found)
    assert county not in found


def test_descendants_can_include_self_and_filter_by_level(regions, django_assert_num_queries):
    township = Region.objects.get(pk=TOWNSHIP_A)
    with django_assert_num_queries(1):
        villages = list(descendants(township, include_self=True, level=Region.Level.VILLAGE))
    assert {v.code for v in villages} == {f"5226341012{n:02d}" for n in range(6)}
    with django_assert_num_queries(1):
        assert [r.code for r in descendants(township, include_self=True, level=Region.Level.TOWNSHIP)] == [
            TOWNSHIP_A
        ]


def test_descendants_of_a_village_is_empty(regions):
    assert list(descendants(Region.objects.get(pk=VILLAGE_A))) == []


def test_townships_and_villages_of_a_region(regions):
    county = Region.objects.get(pk=COUNTY)
    assert townships_of(county).count() == 9
    assert villages_of(Region.objects.get(pk=TOWNSHIP_A)).count() == 6
    assert list(villages_of(Region.objects.get(pk=VILLAGE_A))) == [Region.objects.get(pk=VILLAGE_A)]


def test_ancestors_and_full_name_in_one_query(regions, django_assert_num_queries):
    village = Region.objects.get(pk=VILLAGE_A)
    with django_assert_num_queries(1):
        names = [r.name for r in ancestors(village)]
    assert names == ["贵州省", "黔东南苗族侗族自治州", "雷山县", "西江镇"]
    assert full_name(village) == "贵州省黔东南苗族侗族自治州雷山县西江镇西江村"
