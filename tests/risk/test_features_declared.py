"""The risk features include the signals of departments declared as data where they are present: per
household, members with a record and per declared column (flags counted, amounts and integers at their
largest, few codes counted per code), named "dept:<slug>…" and explained in the department's own words.
A model trained before a department was declared still scores."""

import datetime as dt
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from django.conf import settings
from django.utils import translation

from exchange.feeds.declare import declare_from_file
from exchange.pipeline import import_department_file
from households.models import Person
from risk.explain import phrase_label, top_factors
from risk.features import MAX_DECLARED_FEATURES, declared_columns, declared_phrases
from risk.models import RiskModel, RiskScore, WarningRule
from risk.registry import load_model
from risk.rules import baseline_flags
from risk.scoring import score_region
from risk.sources import Sources
from risk.training import XGBoostRisk, build_datasets
from tests.exchange.files import write_csv
from tests.factories import COUNTY
from tests.risk.modelling import build_small_county, module_data, train_and_activate

pytestmark = pytest.mark.django_db
AS_OF = dt.date(2026, 1, 15)
DEPARTMENTS = Path(settings.BASE_DIR) / "fixtures" / "departments"
COLUMNS = ["统计期", "证件号码", "姓名", "鉴定日期", "鉴定等级", "列入改造计划", "改造补助（元）"]
GRADES = ["C", "D", "A", "B", "C", "D"]


@pytest.fixture(scope="module")
def county(django_db_setup, django_db_blocker, tmp_path_factory):
    """The small county, a model trained before any department was declared, then 住建 and 人社 declared and
    住建's file imported for a few people (人社 sends nothing)."""
    with module_data(django_db_blocker):
        out = tmp_path_factory.mktemp("county")
        build_small_county(out)
        admin = train_and_activate(seed=1, admin_username="declared-admin")
        trained_without = list(RiskModel.objects.filter(active=True).values_list("pk", flat=True))
        declare_from_file(path=DEPARTMENTS / "housing.json", by=admin)
        declare_from_file(path=DEPARTMENTS / "human_resources.json", by=admin)
        people = list(Person.objects.order_by("id")[: len(GRADES)])
        rows = [
            ["2025-12", p.id_number, p.name, "2025-11-20", grade, "是" if grade in "CD" else "否",
             "20000" if grade == "D" else ""]
            for p, grade in zip(people, GRADES, strict=True)
        ]  # fmt: skip
        batch = import_department_file(
            department="housing_appraisals", path=write_csv(out / "housing.csv", COLUMNS, rows), by=admin,
            region_code=COUNTY,
        )  # fmt: skip
        assert batch.linked_rows == len(GRADES)
        run = score_region(as_of=AS_OF, by=admin)
        yield {"admin": admin, "people": people, "run": run, "trained_without": trained_without}


def household_rows(people: list[Person]) -> pd.DataFrame:
    frame = pd.DataFrame({"household_id": [p.household_id for p in people], "grade": GRADES})
    return frame


def test_declared_signals_appear_as_features_of_the_households_with_records(county):
    frame = Sources.load().at(AS_OF)
    columns = declared_columns(frame)
    assert "dept:housing_appraisals" in columns
    assert {"dept:housing_appraisals:grade=C", "dept:housing_appraisals:grade=D"} <= set(columns)
    assert {"dept:housing_appraisals:in_renovation", "dept:housing_appraisals:subsidy"} <= set(columns)
    assert len(columns) <= MAX_DECLARED_FEATURES
    expected = household_rows(county["people"])
    for household, rows in expected.groupby("household_id"):
        row = frame.loc[household]
        assert row["dept:housing_appraisals"] == len(rows)
        assert row["dept:housing_appraisals:grade=C"] == (rows["grade"] == "C").sum()
        assert row["dept:housing_appraisals:in_renovation"] == rows["grade"].isin(["C", "D"]).sum()
        if (rows["grade"] == "D").any():  # 20,000 yuan at its largest, in monitoring thresholds
            assert 1 < row["dept:housing_appraisals:subsidy"] < 5
    others = frame.loc[~frame.index.isin(expected["household_id"])]
    assert (others["dept:housing_appraisals"] == 0).all() and (others["dept:housing_appraisals:subsidy"] == 0).all()


def test_a_department_with_nothing_valid_at_the_cut_off_says_nothing():
    frame = Sources.load().at(dt.date(2024, 12, 31))
    assert frame["dept:housing_appraisals"].isna().all()


def test_a_declared_department_without_records_adds_no_features(county):
    columns = declared_columns(Sources.load().at(AS_OF))
    assert not any(name.startswith("dept:hr_") for name in columns)


def test_a_model_trained_before_the_department_was_declared_still_scores(county):
    run = county["run"]
    assert run.poor_model_id in county["trained_without"] and run.return_model_id in county["trained_without"]
    assert not any(name.startswith("dept:") for name in load_model(run.poor_model).features)
    assert RiskScore.objects.filter(run=run).count() == run.households_scored > 0


def test_training_picks_the_declared_features_up_and_a_model_reads_them_by_name(county):
    sources = Sources.load()
    datasets = build_datasets(sources, [2024])
    assert "dept:housing_appraisals:grade=C" in next(iter(datasets.values())).features
    # A model trained with a declared column scores a frame without it (a region that never received the
    # department): the column is missing, not an error.
    frame = sources.at(AS_OF)
    features = ["size", "dept:housing_appraisals:grade=C"]
    X = frame[features].to_numpy(dtype=np.float32)
    y = (np.arange(len(X)) % 7 == 0).astype(int)
    model = XGBoostRisk(features).fit(X, y, groups=np.arange(len(X)) % 20, years=np.zeros(len(X)),
                                      weights=np.ones(len(X)), seed=1)  # fmt: skip
    without = frame.drop(columns=declared_columns(frame))
    matrix = model.matrix(without)
    assert matrix.shape == (len(frame), 2) and np.isnan(matrix[:, 1]).all()
    assert np.isfinite(model.predict(matrix)).all()


def test_declared_features_are_explained_in_the_departments_words_and_in_english_when_declared(county):
    phrases = declared_phrases(["size", "dept:housing_appraisals:grade=D", "dept:housing_appraisals:subsidy"])
    assert phrases["dept:housing_appraisals:grade=D"] == ("住建 农村住房安全鉴定：鉴定等级为D 级的成员", "high")
    assert phrases["dept:housing_appraisals:subsidy"][0] == "住建 农村住房安全鉴定：改造补助（元）偏高"
    (factors,) = top_factors(
        np.array([[0.0, 0.8, 0.1]]), np.array([[3.0, 1.0, 0.0]]),
        ["size", "dept:housing_appraisals:grade=D", "dept:housing_appraisals:subsidy"],
        np.array([3.0, 0.1, 0.2]), phrases={**phrases},
    )  # fmt: skip
    assert [f["phrase"] for f in factors] == ["住建 农村住房安全鉴定：鉴定等级为D 级的成员"]
    with translation.override("en"):
        english = phrase_label(factors[0]["phrase"])  # the template's wording comes with the catalogue
        assert english.startswith("Housing: safety appraisals") and "Grade D" in english and "住建" not in english
    with translation.override("zh-hans"):
        assert phrase_label(factors[0]["phrase"]) == "住建 农村住房安全鉴定：鉴定等级为D 级的成员"


def test_the_rules_baseline_reads_a_declared_rule_from_the_features(county):
    rule = WarningRule.objects.create(
        code="housing-cd-all", name="C/D", department="housing_appraisals", field="grade", operator="in_values",
        values="C,D", population="all", phrase="测试",
    )  # fmt: skip
    frame = Sources.load().at(AS_OF)
    flags = baseline_flags(frame, [rule])
    rows = household_rows(county["people"])
    expected = set(rows.loc[rows["grade"].isin(["C", "D"]), "household_id"])
    assert set(frame.index[flags["housing-cd-all"].to_numpy()]) == expected
