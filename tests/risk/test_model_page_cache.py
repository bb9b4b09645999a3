"""The model page renders a card's figures, chart, township table, parameters and features once (they never
change after training) and reads them from the cache after: per model, user's region, language and names."""

import re

import pytest
from django.conf import settings
from django.urls import reverse

from povertycloud.regions.models import Region
from risk import model_selectors
from risk.models import RiskModel
from tests.factories import TOWNSHIP_A, TOWNSHIP_B
from tests.risk.review import make_model
from tests.risk.test_views_models import EVALUATION

pytestmark = pytest.mark.django_db
MODELS = reverse("risk:models")


@pytest.fixture
def model(regions):
    return make_model(version="xgb-cached", active=True, evaluation=EVALUATION,
                      metrics={"roc_auc": 0.8123, "pr_auc": 0.4567, "n": 200, "capacity": "ReviewCapacity"})


@pytest.fixture
def tables(monkeypatch):
    """Counts the township tables built (each one is a card's cached part being rendered)."""
    built = []
    real = model_selectors.township_table

    def counted(*args, **kwargs):
        built.append(args[0].pk)
        return real(*args, **kwargs)

    monkeypatch.setattr(model_selectors, "township_table", counted)
    return built


def _page(client) -> str:
    html = client.get(MODELS).content.decode()
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", html)


def test_a_card_is_rendered_once_then_shown_the_same_from_the_cache(client, county_staff, model, tables):
    client.force_login(county_staff)
    first = _page(client)
    second = _page(client)
    assert tables == [model.pk]  # the second page did not build it again
    assert second == first
    assert "西江镇" in second and "郎德镇" in second and ">0.81<" in second and "pc_income" in second


def test_each_region_gets_its_own_rows(client, county_staff, official_a, model, tables):
    client.force_login(county_staff)
    assert "郎德镇" in _page(client)
    client.force_login(official_a)
    html = _page(client)
    assert "西江镇" in html and "郎德镇" not in html  # not the county's cached card
    client.force_login(county_staff)
    assert "郎德镇" in _page(client)
    assert len(tables) == 2  # once for the county, once for the township


def test_a_renamed_township_shows_its_new_name(client, county_staff, model):
    client.force_login(county_staff)
    assert "西江镇" in _page(client)
    Region.objects.filter(code=TOWNSHIP_A).update(name="西江新镇")
    html = _page(client)
    assert "西江新镇" in html and "郎德镇" in html
    assert Region.objects.filter(code=TOWNSHIP_B).exists()


def test_each_language_gets_its_own_card(client, county_staff, model):
    client.force_login(county_staff)
    assert "检验户数" in _page(client)
    client.cookies[settings.LANGUAGE_COOKIE_NAME] = "en"
    html = _page(client)
    assert "Households tested" in html and "检验户数" not in html


def test_every_model_has_its_own_card(client, county_staff, model, tables):
    other = make_model(version="logit-cached", evaluation={"townships": {TOWNSHIP_A: {"n": 7}}},
                       metrics={"roc_auc": 0.61})
    client.force_login(county_staff)
    html = _page(client)
    assert sorted(tables) == sorted([model.pk, other.pk])
    assert ">0.81<" in html and ">0.61<" in html


def test_figures_edited_by_hand_are_not_shown_stale(client, county_staff, model):
    client.force_login(county_staff)
    assert ">0.81<" in _page(client)
    RiskModel.objects.filter(pk=model.pk).update(metrics={"roc_auc": 0.7345})
    html = _page(client)
    assert ">0.73<" in html and ">0.81<" not in html
