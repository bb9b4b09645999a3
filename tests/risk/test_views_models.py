"""The model evaluation page: figures, calibration, townships, baselines side by side; admins activate."""

import pytest
from django.urls import reverse

from povertycloud.audit.models import AuditEvent
from risk.models import RiskModel
from tests.factories import TOWNSHIP_A, TOWNSHIP_B
from tests.risk.review import make_model

pytestmark = pytest.mark.django_db
MODELS = reverse("risk:models")

EVALUATION = {
    "calibration": [
        {"predicted": 0.05, "observed": 0.04},
        {"predicted": 0.2, "observed": 0.25},
        {"predicted": 0.6, "observed": 0.55},
    ],
    "townships": {
        TOWNSHIP_A: {"n": 120, "positives": 12, "roc_auc": 0.8, "ee": 0.25, "ie": 0.5, "flagged": 10},
        TOWNSHIP_B: {"n": 80, "positives": 6, "roc_auc": 0.7, "ee": 0.5, "ie": 0.6, "flagged": 8},
    },
}


@pytest.fixture
def stored(regions):
    xgb = make_model(
        version="xgb-2024",
        active=True,
        evaluation=EVALUATION,
        metrics={
            "roc_auc": 0.8123,
            "pr_auc": 0.4567,
            "brier": 0.0789,
            "ee": 0.3012,
            "ie": 0.5543,
            "flagged": 18,
            "n": 200,
            "capacity": "ReviewCapacity",
        },
    )
    logistic = make_model(
        version="logit-2024",
        kind=RiskModel.Kind.LOGISTIC,
        metrics={"roc_auc": 0.7011, "pr_auc": 0.3011, "brier": 0.0912, "ee": 0.41, "ie": 0.62, "flagged": 18},
    )
    rules = make_model(
        version="rules-2024",
        kind=RiskModel.Kind.RULES,
        metrics={"roc_auc": 0.6, "pr_auc": 0.2, "brier": 0.11, "ee": 0.55, "ie": 0.7},
    )
    return {"xgb": xgb, "logistic": logistic, "rules": rules}


def test_models_page_shows_the_figures_of_each_model(client, county_staff, stored):
    client.force_login(county_staff)
    response = client.get(MODELS)
    assert response.status_code == 200
    html = response.content.decode()
    for figure in ('data-testid="roc_auc" title="0.8123">0.81<', ">0.46<", ">0.079<", ">30%<", ">55%<"):
        assert figure in html  # rounded for the eye, the full value in the title
    assert 'data-testid="calibration-chart"' in html and "<polyline" in html
    assert "20240601" in html  # the seed
    assert "max_depth" in html and "pc_income" in html  # parameters and features
    assert "2024-12-31" in html  # the data cut-off
    assert "西江镇" in html and "郎德镇" in html  # the per-township table, by name
    assert "检验户数" in html


def test_xgboost_and_its_baselines_side_by_side_for_the_same_test_year(client, county_staff, stored):
    make_model(version="xgb-2023", test_year=2023)
    client.force_login(county_staff)
    comparisons = client.get(MODELS).context["comparisons"]
    by_year = {group.test_year: group for group in comparisons}
    assert [m.version for m in by_year[2024].models] == ["xgb-2024", "logit-2024", "rules-2024"]
    assert [m.version for m in by_year[2023].models] == ["xgb-2023"]
    roc = next(row for row in by_year[2024].rows if row["key"] == "roc_auc")
    assert [cell["best"] for cell in roc["cells"]] == [True, False, False]
    brier = next(row for row in by_year[2024].rows if row["key"] == "brier")
    assert [cell["best"] for cell in brier["cells"]] == [True, False, False]  # lower is better


def test_township_officials_see_only_their_township_row(client, official_a, stored):
    client.force_login(official_a)
    html = client.get(MODELS).content.decode()
    assert "西江镇" in html and "郎德镇" not in html


def test_only_administrators_see_the_activate_button(client, county_staff, admin_user, stored):
    client.force_login(county_staff)
    assert "启用此模型" not in client.get(MODELS).content.decode()
    client.force_login(admin_user)
    html = client.get(MODELS).content.decode()
    assert f'data-testid="activate-{stored["logistic"].pk}"' in html
    assert f'data-testid="activate-{stored["xgb"].pk}"' not in html  # already active


def test_administrator_activates_a_model_and_the_previous_steps_down(client, admin_user, stored):
    client.force_login(admin_user)
    response = client.post(reverse("risk:activate", args=[stored["logistic"].pk]), follow=True)
    assert response.status_code == 200
    stored["logistic"].refresh_from_db()
    stored["xgb"].refresh_from_db()
    assert stored["logistic"].active and not stored["xgb"].active
    assert stored["logistic"].activated_by == admin_user
    assert AuditEvent.objects.filter(entity="risk.riskmodel", object_pk=str(stored["logistic"].pk)).exists()


@pytest.mark.parametrize("role", ["county_staff", "official_a", "auditor"])
def test_everyone_else_gets_403_when_activating(request, client, stored, role):
    client.force_login(request.getfixturevalue(role))
    response = client.post(reverse("risk:activate", args=[stored["logistic"].pk]))
    assert response.status_code == 403
    stored["logistic"].refresh_from_db()
    assert not stored["logistic"].active


def test_page_without_models_says_so(client, county_staff, regions):
    client.force_login(county_staff)
    assert "还没有训练好的模型" in client.get(MODELS).content.decode()
