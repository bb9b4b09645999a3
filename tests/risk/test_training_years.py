"""Models from the years a county has: one year trains the poor-now model cross-sectionally (a proxy-means
test blind to that year's income, tested on held-out villages) and refuses the return model; two years train
both on held-out villages; every refusal says exactly what the data lacks."""

import datetime as dt

import numpy as np
import pytest
from django.core.management import call_command

from households.models import IncomeRecord
from households.monitoring import MonitoringThreshold
from risk.features import INCOME, PLACE
from risk.models import RiskModel
from risk.registry import load_model
from risk.sources import Sources
from risk.training import (
    CROSS_SECTIONAL_FEATURES,
    TOWNSHIP_POOR_SHARE,
    Mode,
    TrainingError,
    YearsCheck,
    build_cross_sectional,
    class_refusal,
    cross_sectional_features,
    split_villages,
    train_risk_models,
)
from tests.factories import COUNTY
from tests.risk.modelling import build_small_county, module_data

pytestmark = pytest.mark.django_db
SEED = 5
ONE_YEAR = "收支调查只有 2025 年一年；返贫模型至少需要两年"


@pytest.fixture(scope="module")
def county(django_db_setup, django_db_blocker, tmp_path_factory):
    with module_data(django_db_blocker):
        build_small_county(tmp_path_factory.mktemp("county"), departments=False)
        yield


@pytest.fixture
def one_year(county):
    IncomeRecord.objects.exclude(year=2025).delete()
    return train_risk_models(seed=SEED)


def test_one_year_trains_poor_now_as_a_proxy_means_test_and_refuses_return(one_year):
    assert one_year.mode == Mode.CROSS_SECTIONAL
    assert one_year.skipped == {"return": ONE_YEAR}
    models = {m.kind: m for m in one_year.models}
    assert set(models) == {"xgboost", "logistic", "pmt"}
    for model in models.values():
        assert model.target == "poor_now" and model.train_years == [2025] and model.test_year == 2025
        assert model.data_cutoff == dt.date(2025, 12, 31)
        assert model.parameters["mode"] == Mode.CROSS_SECTIONAL
        assert model.parameters["test_villages"] > 0 and model.parameters["train_villages"] > 0
        assert not set(INCOME) & set(model.features)
        assert model.features == [*CROSS_SECTIONAL_FEATURES, *PLACE, TOWNSHIP_POOR_SHARE]
        assert model.baseline_comparison["metric"] == "pr_auc" and model.beats_baseline is not None
        assert {"roc_auc", "pr_auc", "ee", "ie"} <= set(model.metrics)
    assert models["pmt"].parameters["sigma"] > 0
    assert not RiskModel.objects.filter(target="return").exists()


def test_the_held_out_villages_are_not_in_training(one_year):
    data = build_cross_sectional(Sources.load(), 2025)
    is_test, train_villages, test_villages = split_villages(data, SEED)
    train = set(data.frame.loc[~is_test, "village_id"])
    test = set(data.frame.loc[is_test, "village_id"])
    assert not train & test and (len(train), len(test)) == (train_villages, test_villages)
    model = next(m for m in one_year.models if m.kind == "xgboost")
    assert model.parameters["test_rows"] == int(is_test.sum())


def test_stored_cross_sectional_models_score_a_features_frame(one_year):
    frame = Sources.load().at(dt.date(2026, 6, 30))
    for row in one_year.models:
        model = load_model(row)
        p = model.predict(model.matrix(frame))
        assert p.shape == (len(frame),) and np.all((p >= 0) & (p <= 1))


def test_the_command_says_which_mode_ran_and_why_return_was_not_trained(county, capsys):
    IncomeRecord.objects.exclude(year=2025).delete()
    call_command("train_risk", "--seed", str(SEED), verbosity=0)
    out = capsys.readouterr().out
    assert "模式：cross_sectional" in out and f"未训练：{ONE_YEAR}" in out


def test_two_years_train_both_targets_on_held_out_villages(county):
    IncomeRecord.objects.filter(year__lt=2024).delete()
    result = train_risk_models(seed=SEED)
    assert result.mode == Mode.HELD_OUT_VILLAGES and not result.skipped
    assert {(m.target, m.kind) for m in result.models} == {
        (t, k) for t in ("poor_now", "return") for k in ("xgboost", "logistic", "rules")
    }
    for model in result.models:
        assert model.train_years == [2024] and model.test_year == 2024
        assert model.data_cutoff == dt.date(2025, 12, 31) and model.parameters["test_villages"] > 0


def test_years_that_are_not_consecutive_train_poor_now_and_say_why_not_return(county):
    IncomeRecord.objects.filter(year__in=[2022, 2023, 2024]).delete()
    result = train_risk_models(seed=SEED)
    assert result.mode == Mode.CROSS_SECTIONAL and result.test_year == 2025
    assert result.skipped == {
        "return": "既有收支调查又有监测标准的年度是 2021、2025 年，没有相邻的两年；返贫模型至少需要相邻两年"
    }


def test_a_year_without_a_threshold_is_named(county):
    IncomeRecord.objects.exclude(year=2025).delete()
    MonitoringThreshold.objects.filter(year=2025).delete()
    with pytest.raises(TrainingError) as refused:
        train_risk_models(seed=SEED, region_code=COUNTY)
    assert str(refused.value) == (
        "收支调查只有 2025 年一年，但2025 年没有监测标准（监测标准表中没有雷山县 2025 年的标准）；"
        "致贫模型至少需要一年既有收支调查又有监测标准。"
    )


def test_a_county_without_income_surveys_is_told_so(county):
    IncomeRecord.objects.all().delete()
    with pytest.raises(TrainingError, match="雷山县没有收支调查记录"):
        train_risk_models(seed=SEED, region_code=COUNTY)


# --- Cross-sectional features are blind to the year's income ------------------------------------------


def test_perturbing_the_years_income_leaves_the_cross_sectional_features_unchanged(county):
    sources = Sources.load()
    before = cross_sectional_features(sources, 2025)
    incomes = sources.incomes.copy()
    this_year = incomes["year"] == 2025
    money = [c for c in incomes.columns if c.endswith("_income") or c in {"net_income", "production_cost"}]
    rng = np.random.default_rng(0)
    incomes.loc[this_year, money] = incomes.loc[this_year, money] * rng.uniform(0.1, 10, (this_year.sum(), 1))
    incomes.loc[this_year, "survey_date"] = incomes.loc[this_year, "survey_date"]
    sources.incomes = incomes
    after = cross_sectional_features(sources, 2025)
    columns = [*CROSS_SECTIONAL_FEATURES, *PLACE]
    assert after[columns].equals(before[columns])
    # …whereas the out-of-time features at the same date do read it.
    assert not np.allclose(
        Sources.load().at(dt.date(2025, 12, 31))["income_ratio"],
        sources.at(dt.date(2025, 12, 31))["income_ratio"],
        equal_nan=True,
    )


# --- Refusal messages ------------------------------------------------------------------------------------


def test_refusals_say_exactly_which_years_have_what():
    one = YearsCheck("雷山县", 100, [2025], [2021, 2022, 2023, 2024, 2025])
    assert one.return_refusal() == ONE_YEAR
    gap = YearsCheck("雷山县", 100, [2024, 2025], [2021, 2022, 2023, 2025])
    assert gap.return_refusal() == (
        "收支调查有 2024、2025 年，其中2024 年没有监测标准（监测标准表中没有雷山县 2024 年的标准）；"
        "返贫模型至少需要相邻两年都有收支调查和监测标准"
    )
    assert YearsCheck("雷山县", 0, [], []).nothing_usable() == "雷山县没有户档案，无法训练模型。"


def test_a_split_without_a_class_is_refused_with_what_it_holds():
    assert class_refusal("poor_now", np.zeros(40), "3 个检验村", "评估") == (
        "当前致贫可能性：3 个检验村（40 户）中没有致贫（贫困）户，无法评估。"
    )
    assert class_refusal("return", np.ones(5), "2024 年检验样本", "评估") == (
        "12 个月内返贫（致贫）可能性：2024 年检验样本（5 户）全部是返贫（新致贫）户，无法评估。"
    )
    assert class_refusal("poor_now", np.array([0, 1]), "x", "训练") is None
