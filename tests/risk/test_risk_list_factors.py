"""The top factors of the risk list differ per household where the model says so: one phrase per family of
phrases that say the same thing (this year's, last year's and the lowest recent income are one reason), in
the row's own contribution order."""

import datetime as dt

import numpy as np
import pytest
from django.urls import reverse

from risk.explain import BANDS, FAMILIES, PHRASES, family_of, top_factors
from risk.list_selectors import factor_phrases
from risk.models import RiskScore
from risk.rules import run_warning_rules
from risk.scoring import score_region
from tests.factories import VILLAGE_A, VILLAGE_B
from tests.risk.modelling import build_small_county, module_data, train_and_activate
from tests.risk.review import household, make_run, make_score

LIST = reverse("risk:list")
KNOWN = {phrase for phrase, _ in PHRASES.values()} | {band for bands in BANDS.values() for _, band in bands}
AS_OF = dt.date(2026, 1, 15)


def test_every_phrase_of_a_family_is_a_phrase_the_models_say():
    listed = [phrase for phrases in FAMILIES.values() for phrase in phrases]
    assert set(listed) <= KNOWN
    assert len(listed) == len(set(listed))  # no phrase in two families


def test_one_phrase_per_family_largest_first():
    features = ["income_ratio", "income_ratio_prev", "income_ratio_min", "ill_serious", "children", "loans"]
    reference = np.array([2.5, 2.5, 2.5, 0.1, 1.0, 0.1])
    values = np.array(
        [
            [0.8, 0.9, 0.7, 1.0, 3.0, 1.0],  # income low every year, ill, children, loans
            [3.0, 3.0, 3.0, 1.0, 3.0, 1.0],  # income above average: not a reason
        ]
    )
    contributions = np.array(
        [
            [0.9, 0.8, 0.7, 0.3, 0.2, 0.1],
            [0.9, 0.8, 0.7, 0.3, 0.2, 0.1],
        ]
    )
    first, second = top_factors(contributions, values, features, reference)
    assert [f["phrase"] for f in first] == ["人均纯收入低于监测标准", "有患大病成员", "未成年子女多"]
    assert [f["contribution"] for f in first] == [0.9, 0.3, 0.2]  # each phrase's own contribution
    assert [f["phrase"] for f in second] == ["有患大病成员", "未成年子女多", "有借贷"]


def test_the_list_shows_one_phrase_per_family_of_factors_stored_before():
    stored = [
        {"phrase": "人均纯收入低于监测标准", "contribution": 1.2},
        {"phrase": "近年人均纯收入曾低于监测标准", "contribution": 0.8},
        {"phrase": "上年人均纯收入低于监测标准", "contribution": 0.5},
        {"phrase": "有患大病成员", "contribution": 0.2},
    ]
    assert factor_phrases(stored) == ["人均纯收入低于监测标准", "有患大病成员"]
    assert factor_phrases("not a list") == [] and factor_phrases([{"contribution": 1}, None, "耕地少"]) == ["耕地少"]


@pytest.mark.django_db
def test_each_row_of_the_list_shows_its_own_factors(client, county_staff, regions):
    run = make_run()
    poor = household(VILLAGE_A, number="F-1")
    ill = household(VILLAGE_B, number="F-2")
    make_score(
        run,
        poor,
        0.9,
        factors=[
            {"phrase": "人均纯收入低于监测标准", "contribution": 1.0},
            {"phrase": "上年人均纯收入低于监测标准", "contribution": 0.9},
            {"phrase": "家庭劳动力不足", "contribution": 0.4},
        ],
    )
    make_score(run, ill, 0.8, factors=[{"phrase": "有患大病成员", "contribution": 0.7}])
    client.force_login(county_staff)
    rows = {row.household.number: row.factors for row in client.get(LIST).context["page"].rows}
    assert rows == {"F-1": ["人均纯收入低于监测标准", "家庭劳动力不足"], "F-2": ["有患大病成员"]}


@pytest.fixture(scope="module")
def scored(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        build_small_county(tmp_path_factory.mktemp("county"))
        admin = train_and_activate(seed=1, admin_username="factor-admin")
        run_warning_rules(as_of=AS_OF)
        run = score_region(as_of=AS_OF, by=admin)
        yield list(RiskScore.objects.filter(run=run).exclude(factors=[]).order_by("-p_return", "-id"))


@pytest.mark.django_db
def test_a_scored_county_names_different_reasons_per_household(scored):
    assert len(scored) > 20
    for score in scored:
        phrases = [f["phrase"] for f in score.factors]
        assert len({family_of(p) for p in phrases}) == len(phrases), phrases  # never the same reason twice
        assert set(phrases) <= KNOWN
    top = [tuple(f["phrase"] for f in score.factors) for score in scored[:20]]
    # The head of the list is not one set of phrases repeated, nor income phrases only.
    assert len(set(top)) >= 5
    income = set(FAMILIES["income_level"])
    assert sum(1 for phrases in top if set(phrases) <= income) <= 5
