"""Training out of time against two baselines: what is stored, that it reproduces, and who may activate."""

import datetime as dt
import re

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management import call_command

from households.monitoring import MonitoringThreshold
from povertycloud.audit.models import AuditEvent
from risk.evaluation import evaluate, flag_top, targeting_metrics
from risk.features import FEATURES
from risk.models import ReviewCapacity, RiskModel, WarningRule
from risk.registry import activate_model, load_model
from risk.sources import Sources
from risk.training import TrainingError, train_risk_models
from tests.factories import TOWNSHIP_A, TOWNSHIP_B
from tests.risk.modelling import build_small_county, module_data

pytestmark = pytest.mark.django_db
SEED = 3


@pytest.fixture(scope="module")
def trained(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        build_small_county(tmp_path_factory.mktemp("county"), departments=False)
        yield train_risk_models(seed=SEED)


def test_three_kinds_are_stored_for_each_target_with_what_reproduces_and_judges_them(trained):
    models = {(m.target, m.kind): m for m in RiskModel.objects.all()}
    assert set(models) == {(t, k) for t in ("poor_now", "return") for k in ("xgboost", "logistic", "rules")}
    rules = sorted(WarningRule.objects.filter(active=True).values_list("code", flat=True))
    for (_target, kind), model in models.items():
        assert model.train_years == [2021, 2022, 2023] and model.test_year == 2024
        assert model.data_cutoff == dt.date(2025, 12, 31)
        assert model.seed == SEED and re.fullmatch(r"[0-9a-f]{64}", model.data_hash)
        assert model.features == (rules if kind == "rules" else FEATURES)
        assert not model.active
        for key in ("roc_auc", "pr_auc", "brier", "ee", "ie", "flagged", "positives", "n"):
            assert key in model.metrics
        assert 0 <= model.metrics["brier"] <= 1
        assert model.evaluation["calibration"] and model.evaluation["townships"]
        assert model.parameters["train_rows"] > model.parameters["test_rows"] > 0
        assert len(bytes(model.artifact)) > 0
    assert models[("return", "xgboost")].parameters["tree_method"] == "hist"
    assert models[("return", "xgboost")].parameters["nthread"] == 2
    assert len({m.version for m in models.values()}) == 6
    assert AuditEvent.objects.filter(entity="risk.riskmodel", action="create").exists()


def test_the_same_seed_and_data_give_the_same_model(trained, capsys):
    call_command("train_risk", "--seed", str(SEED), verbosity=0)
    assert "检验年度 2024" in capsys.readouterr().out
    again = RiskModel.objects.exclude(pk__in=[m.pk for m in trained.models]).order_by("id")
    frame = Sources.load().at(dt.date(2024, 12, 31))
    for first, second in zip(trained.models, again, strict=True):
        assert (first.target, first.kind, first.data_hash) == (second.target, second.kind, second.data_hash)
        a, b = load_model(first), load_model(second)
        assert np.array_equal(a.predict(a.matrix(frame)), b.predict(b.matrix(frame)))
        assert first.metrics == second.metrics


def test_the_test_year_can_be_chosen_and_training_uses_the_years_before_it(trained):
    result = train_risk_models(seed=SEED, test_year=2023)
    assert result.train_years == [2021, 2022]
    assert {m.test_year for m in result.models} == {2023}


def test_training_refuses_without_monitoring_thresholds(trained):
    MonitoringThreshold.objects.all().delete()
    with pytest.raises(TrainingError, match="监测标准"):
        train_risk_models(seed=SEED)


# --- Activation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["county_staff", "official_a", "auditor"])
def test_only_an_administrator_may_activate_a_model(trained, request, who):
    user = request.getfixturevalue(who)
    model = RiskModel.objects.get(target="return", kind="xgboost", version=trained.models[3].version)
    with pytest.raises(PermissionDenied):
        activate_model(by=user, model=model)
    assert not RiskModel.objects.filter(active=True).exists()


def test_activating_a_model_replaces_the_previous_one_and_is_audited(trained, admin_user):
    xgb, logistic = (RiskModel.objects.get(target="poor_now", kind=k) for k in ("xgboost", "logistic"))
    activate_model(by=admin_user, model=xgb)
    activate_model(by=admin_user, model=logistic)
    assert list(RiskModel.objects.filter(active=True).values_list("pk", flat=True)) == [logistic.pk]
    logistic.refresh_from_db()
    assert logistic.activated_by == admin_user and logistic.activated_at is not None
    event = AuditEvent.objects.filter(entity="risk.riskmodel", action="update").order_by("-id").first()
    assert event.actor == admin_user and xgb.version in event.note
    with pytest.raises(ValidationError):
        activate_model(by=admin_user, model=logistic)


# --- Evaluation arithmetic -------------------------------------------------------------------------------


@pytest.mark.usefixtures("regions")
def test_the_review_capacity_sets_how_many_are_flagged_per_township():
    ReviewCapacity.objects.create(region_id=TOWNSHIP_A, households=2)
    townships = pd.Series([TOWNSHIP_A] * 5 + [TOWNSHIP_B] * 20)
    scores = np.r_[[0.9, 0.1, 0.8, 0.7, 0.2], np.linspace(0, 1, 20)]
    capacity = dict(ReviewCapacity.objects.values_list("region_id", "households"))
    flagged = flag_top(scores, townships, capacity)
    assert list(np.flatnonzero(flagged[:5])) == [0, 2]
    assert flagged[5:].sum() == 2 and flagged[-2:].all()  # 10% of 20 where no capacity is set


def test_exclusion_and_inclusion_errors_count_the_flagged_against_the_poor():
    y = np.array([1, 1, 1, 0, 0, 0, 0, 0])
    flagged = np.array([1, 0, 0, 1, 0, 0, 0, 0], dtype=bool)
    metrics = targeting_metrics(y, np.linspace(1, 0, 8), flagged)
    assert metrics["ee"] == pytest.approx(2 / 3)
    assert metrics["ie"] == pytest.approx(1 / 2)
    metrics, evaluation = evaluate(y, np.linspace(1, 0, 8), pd.Series(["t"] * 8), {})
    assert metrics["roc_auc"] == 1.0 and metrics["flagged"] == 1
    assert evaluation["townships"]["t"]["n"] == 8


def test_a_small_countys_trees_may_split_while_a_large_one_keeps_the_cap():
    from risk.training import XGB_PARAMS, leaf_weight

    small_y = np.r_[np.ones(45), np.zeros(555)]
    assert leaf_weight(small_y, np.ones(600)) == 1.0
    large_y = np.r_[np.ones(45_000), np.zeros(855_000)]
    assert leaf_weight(large_y, np.ones(900_000)) == XGB_PARAMS["min_child_weight"]
    middle_y = np.r_[np.ones(600), np.zeros(11_400)]
    assert 1.0 < leaf_weight(middle_y, np.ones(12_000)) < XGB_PARAMS["min_child_weight"]
    assert leaf_weight(np.zeros(0), np.zeros(0)) == 1.0
