"""Training the risk models from the years a county has, against baselines, and storing each as a RiskModel.

**Which years.** A year is usable when it has income surveys and a monitoring threshold (check_years). The
mode follows from the usable years (choose_mode), and the command and the training job say which ran:

- ``out_of_time`` — at least two cut-off years t whose next year t+1 is usable too (three consecutive
  usable years): both targets, trained on the earlier cut-off years and tested on the last (below);
- ``held_out_villages`` — exactly one such pair (t, t+1): both targets, features at 31 December of t and
  outcomes in t+1 as above, but there is no later year to test on, so the test set is a quarter of the
  villages held out (GroupShuffleSplit by village, fixed seed; no village on both sides);
- ``cross_sectional`` — no such pair: the poor-now model is trained as a proxy-means test on the latest
  usable year Y (below); the return model is refused with the exact reason ("收支调查只有 2025 年一年；返贫
  模型至少需要两年").

A target that cannot be trained (one class only on a side, no examples) is skipped with a message saying
exactly what was found; training fails only when no target can be trained. Messages name what was
checked (which years have income surveys, which have thresholds), never a guessed cause.

**Cross-sectional (proxy-means test).** Label: poor in Y (labels.poor_in_year: income of Y below Y's
threshold, or a 三保障/饮水 failure on record for Y). Features: as of 31 December of Y, computed from sources
from which every income survey of Y (and later) has been removed (blind_to_income), and with the INCOME
columns left out altogether (CROSS_SECTIONAL_FEATURES), so neither Y's income nor anything derived from it
(ratios, trends that include Y, 低保金 and other transfers of Y, spending shares) can enter; a test perturbs
Y's incomes and finds the features unchanged. The cut-off is the end of Y because the rest of the file (members,
housing, status history, department records) describes the household in Y; the price is that events of
Y that followed from its income (a household identified as a monitoring object after its survey) are
visible, as they would be to the county when it scores households it has not surveyed (on the generated
county, whose monitoring objects are chosen by income, monitored_now alone ranks the poor of Y with ROC-AUC
0.95: the file cannot say whether a status change during Y followed from Y's survey). The 三保障 failures
that make a household poor are observed at the cut-off and are features too: the metrics include those
households, found trivially by every model (the PMT baseline counts them as poor with certainty too).

Place: PLACE (risk.features: shares of 脱贫户, monitored, 低保 households and land per person among the other
households of the village and the township, from the file, not from incomes) and ``township_poor_share``:
the share poor in Y among the *training* villages' households of the township, leaving the household's own
village out; it reads labels of training villages only, so nothing of a held-out village's incomes enters its
features. Split: a quarter of the villages held out (GroupShuffleSplit, fixed seed). Models: XGBoost and
logistic regression as below, and the World Bank's **OLS proxy-means test**: log per-capita net income of Y
(in thresholds of Y, floored at 5% of it) regressed on the same features over the training villages;
P(poor) = P(log y < log z) under a normal residual with the training residuals' spread, and 1 for a
household with a 三保障 failure on record. All are judged by evaluate() on the held-out villages.

**Out of time.** For each target (poor now, return to poverty; labels.py) the examples are the households of
the region at 31 December of each year t whose outcome in t+1 is on record, with their features at that cut-off. The
models are trained on the cut-off years before the test year and judged on the test year (out-of-time):

- **XGBoost** (hist, fixed seed, n_jobs=2) fitted on 80% of the training households, its probabilities
  calibrated by a sigmoid (Platt) fitted on the other 20% (grouped by household, so no household is in
  both); a sigmoid keeps the order of the scores, so ranking metrics are the booster's own;
- **logistic regression**: money amounts on a log scale, every feature winsorised at the training 1st/99th
  percentiles, missing values set to the training median, standardised;
- **the warning rules alone** (rules.baseline_flags): the score is the sum of the weights of the rules
  fired, each weight the rule's precision on the training years; probabilities from an isotonic fit of
  the score on the training years.

All three are compared on the same held-out households (evaluation.py). Each stored model records whether it
beat the best of its baselines on the held-out data by PR-AUC (BASELINE_METRIC; for XGBoost the baselines of
its run, for a baseline the other baselines): one that did not can be activated only by an administrator's
override with a reason (risk.registry.activate_model). Each is stored with its version,
target, kind, data cut-off (the last day of data read: the end of the test year's outcome year), years,
features, parameters, seed, data hash, metrics, evaluation and artifact (JSON; the booster as UBJSON in it,
no pickles). The same seed and data give the same models.

**A region above county level** (a prefecture, a province) trains one county a partition unless its cluster is
"none" (risk.training_cluster): the same modes, years, refusals and village split, XGBoost through xgboost.dask
and the baselines from per-county sums, one stored model per target and kind as here. Its held-out metrics, and
those of an in-process training over two counties or more, hold the same figures per county (metrics["counties"]).
"""

import base64
import hashlib
import json
import os
import time
import warnings

# OpenMP threads that spin while they wait make two-thread training many times slower on a busy 2-core
# server (measured: 8 s → 105 s); passive waiting must be chosen before xgboost loads its OpenMP runtime.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from scipy.special import ndtr
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import GroupShuffleSplit
from threadpoolctl import threadpool_limits

from povertycloud.audit.services import record_event
from povertycloud.cluster import IN_PROCESS
from povertycloud.regions.models import Region
from risk.evaluation import evaluate, review_capacity
from risk.explain import HIGH, PHRASES
from risk.features import (
    FEATURES,
    INCOME,
    PLACE,
    declared_columns,
    declared_phrases,
    declared_sources,
    with_thresholds,
)
from risk.labels import Target, labels_for, poor_in_year, year_end
from risk.models import RiskModel, WarningRule
from risk.partitions import CountyProgress, above_county, runner_for
from risk.rules import baseline_flags
from risk.sources import Sources

Kind = RiskModel.Kind
TARGETS = (Target.POOR_NOW, Target.RETURN)


class Mode:
    OUT_OF_TIME = "out_of_time"
    HELD_OUT_VILLAGES = "held_out_villages"
    CROSS_SECTIONAL = "cross_sectional"


MODE_LABELS = {
    Mode.OUT_OF_TIME: gettext_lazy("跨年度检验（用前几年训练，在最近一个有结果的年度上检验）"),
    Mode.HELD_OUT_VILLAGES: gettext_lazy("两年数据：上一年末特征、次年结果，留出部分村检验"),
    Mode.CROSS_SECTIONAL: gettext_lazy("一年数据：横截面代理家计调查（不用当年收入），留出部分村检验"),
}
# The share poor among the training villages' households of the township, the household's village left out
# (labels of training villages only; the table travels with the model).
TOWNSHIP_POOR_SHARE = "township_poor_share"
# A proxy-means test must not see the income survey of the year it stands in for: no INCOME column at all.
CROSS_SECTIONAL_FEATURES = [name for name in FEATURES if name not in INCOME]
TEST_VILLAGE_SHARE = 0.25
BASELINE_METRIC = "pr_auc"  # rare positives, a list worked from the top: average precision decides
PMT_FLOOR = 0.05  # per-capita income in thresholds of its year, floored before the log
# Observed 三保障/饮水 failures (labels.basic_needs_failure), which make a household poor by definition.
BASIC_NEEDS_COLUMNS = (
    "housing_unsafe",
    "unsafe_water",
    "out_of_school_children",
    "uninsured_members",
    "dept_uninsured",
    "dept_dropout",
)
CALIBRATION_SHARE = 0.2
XGB_PARAMS = {
    "objective": "binary:logistic",
    "tree_method": "hist",
    "max_depth": 3,
    "eta": 0.03,
    "subsample": 0.8,
    "colsample_bytree": 0.8,
    "min_child_weight": 10,
    "reg_lambda": 1.0,
    "max_bin": 256,
    "nthread": 2,
}
XGB_ROUNDS = 200
# A leaf must hold at least this share of the training set's total hessian (min_child_weight), capped by
# XGB_PARAMS' 10 and at least 1: with a fixed 10, the trees of a county of 600 households (45 poor, hessian
# about 0.07 a row) could not split at all and XGBoost ranked no better than chance (held-out PR-AUC 0.12
# against 0.85 with 1, on a generated one-year county of 2,400 people); a large county keeps the 10.
MIN_LEAF_HESSIAN_SHARE = 0.01
LOGISTIC_C = 1.0
PERCENTILE_SAMPLE = 100_000
# Above this many negative training examples the models see a weighted random sample of them (all positives
# kept). On the demo county at 1,150,000 people (≈ 900,000 training rows) this cut XGBoost's training time
# about threefold; its test ROC-AUC moved from 0.9424 to 0.9421 (poor now) and 0.7188 to 0.7191 (return).
MAX_NEGATIVES = 250_000
# Amounts of money and land: a log scale for the logistic baseline (trees do not care).
LOG_SCALE = {
    "net_income",
    "medical_spending",
    "medical_spending_prev",
    "education_spending",
    "rigid_per_person",
    "temporary_relief",
    "loans",
    "cultivated_land_mu",
    "forest_land_mu",
    "land_per_person",
    "dept_self_pay",
    "dept_self_pay_max",
    "dept_stay_max",
    "dept_outpatient_max",
    "dept_relief_amount",
    "dept_study_cost",
    "dept_study_cost_max",
}

Progress = Callable[[str], None]


class TrainingError(ValueError):
    """The data cannot train a model (no thresholds, too few years, one class only); the message says why."""


# --- The three kinds of model ---------------------------------------------------------------------


def _nan_mean(X: np.ndarray) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-missing column has no mean: 0
        means = np.nanmean(X, axis=0)
    return np.nan_to_num(means)


def township_poor_share(frame: pd.DataFrame, table: dict) -> np.ndarray:
    """TOWNSHIP_POOR_SHARE for each row of a features frame, from a model's place table."""
    townships, villages = table.get("townships", {}), table.get("villages", {})
    t = np.array([townships.get(code, (0, 0)) for code in frame["township"]], dtype=float).reshape(-1, 2)
    v = np.array([villages.get(code, (0, 0)) for code in frame["village_id"]], dtype=float).reshape(-1, 2)
    poor, n = t[:, 0] - v[:, 0], t[:, 1] - v[:, 1]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, poor / n, np.nan)


def place_table(frame: pd.DataFrame, y: np.ndarray) -> dict:
    """[poor, households] per township and per village of labelled (training) rows."""
    data = pd.DataFrame({"township": frame["township"].to_numpy(), "village": frame["village_id"].to_numpy(), "y": y})
    table = {}
    for key, column in (("townships", "township"), ("villages", "village")):
        grouped = data.groupby(column)["y"].agg(["sum", "count"])
        table[key] = {str(code): [int(row["sum"]), int(row["count"])] for code, row in grouped.iterrows()}
    return table


class _FeatureModel:
    """Models over the feature columns: matrix() picks them from a features frame (and computes the place
    column that comes from the training labels, when the model uses it)."""

    features: list[str]
    place: dict | None = None

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        # By name; a column the frame lacks (a declared department with no records here) is missing (NaN).
        X = frame.reindex(columns=self.features).to_numpy(dtype=np.float32)
        if TOWNSHIP_POOR_SHARE in self.features and TOWNSHIP_POOR_SHARE not in frame.columns:
            X[:, self.features.index(TOWNSHIP_POOR_SHARE)] = township_poor_share(frame, self.place or {})
        return X

    @property
    def phrase_table(self) -> dict[str, tuple[str, str]]:
        declared = declared_phrases(self.features)
        return {**PHRASES, **declared} if declared else PHRASES


def leaf_weight(y: np.ndarray, weights: np.ndarray) -> float:
    """XGBoost's min_child_weight for this training set (see MIN_LEAF_HESSIAN_SHARE)."""
    return leaf_weight_of(float(weights.sum()), float(np.dot(y, weights)) if len(y) else 0.0)


def leaf_weight_of(total_weight: float, positive_weight: float) -> float:
    """leaf_weight from the sums a partitioned training gathers: Σw and Σw·y of the training rows."""
    rate = positive_weight / total_weight if total_weight > 0 else 0.0
    total = total_weight * rate * (1.0 - rate)
    return float(np.clip(MIN_LEAF_HESSIAN_SHARE * total, 1.0, XGB_PARAMS["min_child_weight"]))


class XGBoostRisk(_FeatureModel):
    kind = Kind.XGBOOST

    def __init__(
        self,
        features: list[str],
        booster: xgb.Booster | None = None,
        platt: tuple[float, float] = (1, 0),
        reference: np.ndarray | None = None,
        params: dict | None = None,
        rounds: int = XGB_ROUNDS,
        place: dict | None = None,
    ):
        self.place = place
        self.features, self.booster, self.platt = features, booster, platt
        self.reference = reference if reference is not None else np.zeros(len(features))
        self.params, self.rounds = params or dict(XGB_PARAMS), rounds
        self.calibration = ""

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray,
        years: np.ndarray,
        weights: np.ndarray,
        seed: int,
    ) -> "XGBoostRisk":
        params = {**self.params, "seed": seed, "min_child_weight": leaf_weight(y, weights)}
        several_years = len(np.unique(years)) > 1
        # Out of time where possible: the calibrator learns how a booster of the earlier years' probabilities
        # turn out in the year after (base rates drift between years), then the booster is refitted on all.
        held = years == years.max() if several_years else _calibration_rows(groups, seed)
        self.booster = self._train(X[~held], y[~held], weights[~held], params)
        if len(np.unique(y[held])) == 2:
            platt = LogisticRegression(C=1e6, max_iter=1000)
            platt.fit(self.margin(X[held]).reshape(-1, 1), y[held], sample_weight=weights[held])
            self.platt = (float(platt.coef_[0, 0]), float(platt.intercept_[0]))
        if several_years:
            self.booster = self._train(X, y, weights, params)
        self.reference = _nan_mean(X)
        self.params = params
        self.calibration = (
            f"sigmoid (Platt) on the last training year {int(years.max())}, scored by a booster of the "
            "earlier years; booster then refitted on all training years"
            if several_years
            else f"sigmoid (Platt) on {CALIBRATION_SHARE:.0%} of the training households"
        )
        return self

    def _train(self, X: np.ndarray, y: np.ndarray, weights: np.ndarray, params: dict) -> xgb.Booster:
        data = xgb.DMatrix(X, label=y, weight=weights, feature_names=self.features)
        return xgb.train(params, data, num_boost_round=self.rounds)

    def margin(self, X: np.ndarray) -> np.ndarray:
        return self.booster.predict(xgb.DMatrix(X, feature_names=self.features), output_margin=True)

    def predict(self, X: np.ndarray) -> np.ndarray:
        a, b = self.platt
        return 1.0 / (1.0 + np.exp(-(a * self.margin(X).astype(float) + b)))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        contribs = self.booster.predict(xgb.DMatrix(X, feature_names=self.features), pred_contribs=True)
        return contribs[:, :-1]  # the last column is the bias

    def to_bytes(self) -> bytes:
        return _dump(
            {
                "kind": self.kind,
                "features": self.features,
                "platt": list(self.platt),
                "reference": self.reference.tolist(),
                "params": self.params,
                "rounds": self.rounds,
                "booster": base64.b64encode(bytes(self.booster.save_raw(raw_format="ubj"))).decode("ascii"),
                **({"place": self.place} if self.place else {}),
            }
        )

    @classmethod
    def from_dict(cls, data: dict) -> "XGBoostRisk":
        booster = xgb.Booster()
        booster.load_model(bytearray(base64.b64decode(data["booster"])))
        booster.set_param({"nthread": XGB_PARAMS["nthread"]})
        return cls(
            data["features"],
            booster,
            tuple(data["platt"]),
            np.array(data["reference"]),
            data["params"],
            data["rounds"],
            data.get("place"),
        )


class LogisticRisk(_FeatureModel):
    kind = Kind.LOGISTIC

    def __init__(self, features: list[str], state: dict | None = None, place: dict | None = None):
        self.features = features
        self.state = state or {}
        self.place = place

    def _prepare(self, X: np.ndarray) -> np.ndarray:
        s = self.state
        X = X.astype(float, copy=True)
        logs = np.array([name in LOG_SCALE for name in self.features])
        X[:, logs] = np.sign(X[:, logs]) * np.log1p(np.abs(X[:, logs]))
        X = np.clip(X, s["low"], s["high"])
        X = np.where(np.isnan(X), s["median"], X)
        return (X - s["mean"]) / s["scale"]

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray,
        years: np.ndarray,
        weights: np.ndarray,
        seed: int,
    ) -> "LogisticRisk":
        filled = self._fit_scaling(X, seed)
        mean, scale = self.state["mean"], self.state["scale"]
        model = LogisticRegression(C=LOGISTIC_C, solver="newton-cholesky", max_iter=100, random_state=seed)
        # One BLAS thread: OpenBLAS threads that spin on a busy 2-core server made this fit 8× slower.
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit((filled - mean) / scale, y, sample_weight=weights)
        self.state.update(coef=model.coef_[0], intercept=float(model.intercept_[0]))
        return self

    def _fit_scaling(self, X: np.ndarray, seed: int) -> np.ndarray:
        """Log scale, winsorising bounds, medians, means and spreads of the training rows (self.state);
        returns the rows logged, clipped and filled."""
        X = X.astype(float, copy=True)
        logs = np.array([name in LOG_SCALE for name in self.features])
        X[:, logs] = np.sign(X[:, logs]) * np.log1p(np.abs(X[:, logs]))
        # Percentiles and medians from a fixed sample of rows: the same values, in a fraction of the time.
        sample = X[np.random.default_rng(seed).permutation(len(X))[:PERCENTILE_SAMPLE]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            low = np.nan_to_num(np.nanpercentile(sample, 1, axis=0))
            high = np.nan_to_num(np.nanpercentile(sample, 99, axis=0))
            median = np.nan_to_num(np.nanmedian(np.clip(sample, low, high), axis=0))
        filled = np.where(np.isnan(X), median, np.clip(X, low, high))
        mean, scale = filled.mean(axis=0), filled.std(axis=0)
        scale[scale == 0] = 1.0
        self.state = {"low": low, "high": high, "median": median, "mean": mean, "scale": scale}
        return filled

    def predict(self, X: np.ndarray) -> np.ndarray:
        z = self._prepare(X) @ self.state["coef"] + self.state["intercept"]
        return 1.0 / (1.0 + np.exp(-z))

    def contributions(self, X: np.ndarray) -> np.ndarray:
        return self._prepare(X) * self.state["coef"]

    @property
    def reference(self) -> np.ndarray:
        # The standardised scale is centred on the training mean, in the log/winsorised space; compare the
        # raw values with that mean mapped back (monotone, so "above the mean" means the same).
        mean = self.state["mean"].copy()
        logs = np.array([name in LOG_SCALE for name in self.features])
        mean[logs] = np.sign(mean[logs]) * np.expm1(np.abs(mean[logs]))
        return mean

    def to_bytes(self) -> bytes:
        state = {k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in self.state.items()}
        extra = {"place": self.place} if self.place else {}
        return _dump({"kind": self.kind, "features": self.features, "state": state, **extra})

    @classmethod
    def from_dict(cls, data: dict) -> "LogisticRisk":
        state = {k: (np.array(v) if isinstance(v, list) else v) for k, v in data["state"].items()}
        return cls(data["features"], state, data.get("place"))


class PmtRisk(LogisticRisk):
    """The OLS proxy-means test (World Bank): log per-capita net income (in thresholds of its year, floored
    at PMT_FLOOR) regressed on the features, prepared as for the logistic baseline. P(poor) is
    P(log y < log z) = Φ(−prediction / σ), σ the spread of the training residuals, and 1 for a household
    with a 三保障/饮水 failure on record (poor by definition)."""

    kind = Kind.PMT

    def fit(
        self,
        X: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray,
        years: np.ndarray,
        weights: np.ndarray,
        seed: int,
        log_income: np.ndarray | None = None,
    ) -> "PmtRisk":
        if log_income is None:
            raise ValueError("the proxy-means test needs the log per-capita income of the training rows")
        surveyed = ~np.isnan(log_income)
        filled = self._fit_scaling(X[surveyed], seed)
        Z = (filled - self.state["mean"]) / self.state["scale"]
        model = LinearRegression()
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit(Z, log_income[surveyed], sample_weight=weights[surveyed])
        residuals = log_income[surveyed] - model.predict(Z)
        sigma = float(np.sqrt(np.average(residuals**2, weights=weights[surveyed])))
        self.state.update(
            coef=-model.coef_,
            intercept=-float(model.intercept_),
            sigma=max(sigma, 1e-6),
            r2=float(
                1
                - np.average(residuals**2, weights=weights[surveyed])
                / max(np.average((log_income[surveyed] - np.average(log_income[surveyed])) ** 2), 1e-12)
            ),
            surveyed_rows=int(surveyed.sum()),
        )
        return self

    def predicted_log_income(self, X: np.ndarray) -> np.ndarray:
        # coef and intercept are stored negated: contributions() then point towards poverty, like the others'.
        return -(self._prepare(X) @ self.state["coef"] + self.state["intercept"])

    def predict(self, X: np.ndarray) -> np.ndarray:
        p = ndtr(-self.predicted_log_income(X) / self.state["sigma"])
        failed = np.zeros(len(X), dtype=bool)
        for name in BASIC_NEEDS_COLUMNS:
            if name in self.features:
                failed |= np.nan_to_num(X[:, self.features.index(name)]) > 0
        return np.where(failed, 1.0, p)


class RulesRisk:
    """The department warning rules alone; its "features" are the rules (codes), evaluated from FEATURES."""

    kind = Kind.RULES

    def __init__(
        self,
        rules: list[str],
        weights: np.ndarray | None = None,
        curve: dict | None = None,
        phrases: dict[str, str] | None = None,
    ):
        self.features = rules
        self.weights = weights if weights is not None else np.ones(len(rules))
        self.curve = curve or {"x": [0.0], "y": [0.0]}
        self.phrases = phrases or {}
        self.reference = np.zeros(len(rules))

    @classmethod
    def for_active_rules(cls) -> "RulesRisk":
        rules = list(WarningRule.objects.filter(active=True).order_by("code"))
        return cls([rule.code for rule in rules], phrases={rule.code: rule.phrase for rule in rules})

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        """Which rules fire for each household at the frame's cut-off (rules.baseline_flags), as 0/1."""
        rules = {rule.code: rule for rule in WarningRule.objects.filter(code__in=self.features)}
        fired = baseline_flags(frame, [rules[code] for code in self.features if code in rules])
        flags = np.zeros((len(frame), len(self.features)))
        for j, code in enumerate(self.features):
            if code in fired:
                flags[:, j] = fired[code].to_numpy()
        return flags

    def fit(
        self,
        flags: np.ndarray,
        y: np.ndarray,
        *,
        groups: np.ndarray,
        years: np.ndarray,
        weights: np.ndarray,
        seed: int,
    ) -> "RulesRisk":
        prior = np.average(y, weights=weights)
        fired = flags.T @ weights
        # Precision of each rule on the training years, shrunk towards the base rate when it fired rarely.
        self.weights = (flags.T @ (y * weights) + prior * 10) / (fired + 10)
        score = flags @ self.weights
        curve = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(score, y, sample_weight=weights)
        self.curve = {"x": curve.X_thresholds_.tolist(), "y": curve.y_thresholds_.tolist()}
        return self

    def predict(self, flags: np.ndarray) -> np.ndarray:
        return np.interp(flags @ self.weights, self.curve["x"], self.curve["y"])

    def contributions(self, flags: np.ndarray) -> np.ndarray:
        return flags * self.weights

    @property
    def phrase_table(self) -> dict[str, tuple[str, str]]:
        return {code: (self.phrases.get(code, code), HIGH) for code in self.features}

    def to_bytes(self) -> bytes:
        return _dump(
            {
                "kind": self.kind,
                "features": self.features,
                "weights": self.weights.tolist(),
                "curve": self.curve,
                "phrases": self.phrases,
            }
        )

    @classmethod
    def from_dict(cls, data: dict) -> "RulesRisk":
        return cls(data["features"], np.array(data["weights"]), data["curve"], data["phrases"])


def _dump(data: dict) -> bytes:
    return json.dumps(data, ensure_ascii=False, sort_keys=True).encode("utf-8")


def load_artifact(artifact: bytes) -> XGBoostRisk | LogisticRisk | RulesRisk | PmtRisk:
    data = json.loads(bytes(artifact).decode("utf-8"))
    kinds = {Kind.XGBOOST: XGBoostRisk, Kind.LOGISTIC: LogisticRisk, Kind.RULES: RulesRisk, Kind.PMT: PmtRisk}
    return kinds[data["kind"]].from_dict(data)


def _calibration_rows(groups: np.ndarray, seed: int) -> np.ndarray:
    """A fixed share of the households (all of their years) held out for calibration."""
    households = np.unique(groups)
    rng = np.random.default_rng(seed)
    held = rng.permutation(households)[: max(1, round(CALIBRATION_SHARE * len(households)))]
    return np.isin(groups, held)


# --- Datasets ------------------------------------------------------------------------------------


@dataclass
class Dataset:
    frame: pd.DataFrame  # features (FEATURES) and meta columns, one row per household and cut-off year
    y: np.ndarray
    years: np.ndarray
    weights: np.ndarray | None = None
    features: list[str] = field(default_factory=lambda: list(FEATURES))  # the columns hashed by digest()
    # Log per-capita net income of the label's year, in thresholds (the proxy-means test's outcome); NaN
    # where not surveyed. Cross-sectional datasets only.
    log_income: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.weights is None:
            self.weights = np.ones(len(self.y))

    @property
    def X(self) -> np.ndarray:
        return self.frame[self.features].to_numpy(dtype=np.float32)

    @property
    def households(self) -> np.ndarray:
        return self.frame.index.to_numpy()

    def take(self, mask: np.ndarray) -> "Dataset":
        log_income = self.log_income[mask] if self.log_income is not None else None
        return Dataset(self.frame[mask], self.y[mask], self.years[mask], self.weights[mask], self.features, log_income)

    def fewer_negatives(self, limit: int, seed: int) -> "Dataset":
        """All positives and at most `limit` negatives drawn at random (fixed by the seed), each negative
        weighted by how many it stands for: the model sees the same distribution at a fraction of the cost."""
        negatives = np.flatnonzero(self.y == 0)
        if len(negatives) <= limit:
            return self
        kept = np.random.default_rng(seed).choice(negatives, size=limit, replace=False)
        mask = self.y == 1
        mask[kept] = True
        subset = self.take(mask)
        subset.weights = np.where(subset.y == 0, len(negatives) / limit, 1.0)
        return subset

    def digest(self) -> str:
        h = hashlib.sha256()
        h.update(json.dumps(self.features).encode())
        h.update(np.ascontiguousarray(self.households, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(self.years, dtype=np.int64).tobytes())
        h.update(np.ascontiguousarray(np.nan_to_num(self.X, nan=-9.87654e30)).tobytes())
        h.update(np.ascontiguousarray(self.y, dtype=np.int8).tobytes())
        return h.hexdigest()


def build_datasets(sources: Sources, years: list[int]) -> dict[str, Dataset]:
    """For each target, the examples of the given cut-off years (features at 31 Dec of t, outcome in t+1)."""
    parts: dict[str, list] = {target: [] for target in TARGETS}
    for year in years:
        features = sources.at(year_end(year).date())
        observed = features["income_years"].to_numpy() > 0
        for target in TARGETS:
            label = labels_for(sources, target=target, cutoff_year=year).reindex(features.index)
            keep = observed & label.notna().to_numpy()
            rows = features[keep]
            parts[target].append((rows, label[keep].to_numpy(dtype=np.int8), np.full(len(rows), year)))
    datasets = {}
    for target, chunks in parts.items():
        frame = pd.concat([rows for rows, _, _ in chunks])
        datasets[target] = Dataset(
            frame,
            np.concatenate([c[1] for c in chunks]),
            np.concatenate([c[2] for c in chunks]),
            features=[*FEATURES, *declared_columns(frame)],
        )
    return datasets


def blind_to_income(sources: Sources, year: int) -> Sources:
    """The same sources without any income survey of `year` or later: what a proxy-means test may read."""
    blind = replace(sources, incomes=sources.incomes[sources.incomes["year"] < year])
    blind.attributes_cache = sources.attributes_cache
    blind.declared_cache = declared_sources(sources)  # read once, shared by every year's blind copy
    return blind


def cross_sectional_features(sources: Sources, year: int) -> pd.DataFrame:
    """Features at 31 December of `year` with no income survey of `year` (CROSS_SECTIONAL_FEATURES, PLACE)."""
    return blind_to_income(sources, year).at(year_end(year).date())


def build_cross_sectional(sources: Sources, year: int, *, place: bool = True) -> Dataset:
    """Poor in `year` against features blind to that year's income: households whose label is known."""
    features = cross_sectional_features(sources, year)
    label = poor_in_year(sources, year).reindex(features.index)
    keep = label.notna().to_numpy()
    incomes = with_thresholds(
        sources.incomes[sources.incomes["year"] == year], sources.households, sources.thresholds
    ).set_index("household_id")["ratio"]
    ratio = incomes.reindex(features.index).to_numpy(dtype=float)
    log_income = np.log(np.maximum(ratio, PMT_FLOOR))  # NaN stays NaN: not surveyed
    columns = [*CROSS_SECTIONAL_FEATURES, *declared_columns(features), *(PLACE if place else [])]
    return Dataset(
        features[keep],
        label[keep].to_numpy(dtype=np.int8),
        np.full(int(keep.sum()), year),
        features=columns,
        log_income=log_income[keep],
    )


def outcome_years(sources: Sources) -> list[int]:
    """Cut-off years t whose outcome year t+1 has income surveys and thresholds."""
    years = sorted(set(sources.incomes["year"].unique()) & set(sources.thresholds["year"].unique()))
    return [int(y) for y in years if y + 1 in years]


# --- What the data allows -------------------------------------------------------------------------


def _years(years: list[int]) -> str:
    return "、".join(str(y) for y in years)


@dataclass
class YearsCheck:
    """Which years have income surveys, which have monitoring thresholds, which have both."""

    place: str  # the region's name, for messages
    households: int
    income_years: list[int]
    threshold_years: list[int]

    @property
    def usable(self) -> list[int]:
        return sorted(set(self.income_years) & set(self.threshold_years))

    @property
    def outcome(self) -> list[int]:
        return [y for y in self.usable if y + 1 in self.usable]

    def incomes(self) -> str:
        if len(self.income_years) == 1:
            return _("收支调查只有 %(year)s 年一年") % {"year": self.income_years[0]}
        return _("收支调查有 %(years)s 年") % {"years": _years(self.income_years)}

    def missing_thresholds(self) -> list[str]:
        return [
            _("%(year)s 年没有监测标准（监测标准表中没有%(place)s %(year)s 年的标准）")
            % {"year": year, "place": self.place}
            for year in self.income_years
            if year not in self.threshold_years
        ]

    def nothing_usable(self) -> str:
        if not self.households:
            return _("%(place)s没有户档案，无法训练模型。") % {"place": self.place}
        if not self.income_years:
            return _(
                "%(place)s没有收支调查记录（%(n)s 户都没有）；致贫模型至少需要一年的收支调查和当年的监测标准。"
            ) % {
                "place": self.place,
                "n": self.households,
            }
        return _("%(incomes)s，但%(missing)s；致贫模型至少需要一年既有收支调查又有监测标准。") % {
            "incomes": self.incomes(),
            "missing": "；".join(self.missing_thresholds()),
        }

    def return_refusal(self) -> str:
        """Why the return model cannot be trained (no two consecutive usable years)."""
        if len(self.income_years) < 2:
            return _("%(incomes)s；返贫模型至少需要两年") % {"incomes": self.incomes()}
        if len(self.usable) < 2:
            return _("%(incomes)s，其中%(missing)s；返贫模型至少需要相邻两年都有收支调查和监测标准") % {
                "incomes": self.incomes(),
                "missing": "；".join(self.missing_thresholds()),
            }
        return _("既有收支调查又有监测标准的年度是 %(years)s 年，没有相邻的两年；返贫模型至少需要相邻两年") % {
            "years": _years(self.usable)
        }


def check_years(sources: Sources, place: str) -> YearsCheck:
    return YearsCheck(
        place=place,
        households=len(sources.households),
        income_years=sorted(int(y) for y in sources.incomes["year"].unique()),
        threshold_years=sorted(int(y) for y in sources.thresholds["year"].unique()),
    )


def choose_mode(check: YearsCheck) -> str:
    """out_of_time with two or more cut-off years that have an outcome year, held_out_villages with one,
    cross_sectional with none (one usable year, or usable years that are not consecutive)."""
    if len(check.outcome) >= 2:
        return Mode.OUT_OF_TIME
    if len(check.outcome) == 1:
        return Mode.HELD_OUT_VILLAGES
    if check.usable:
        return Mode.CROSS_SECTIONAL
    raise TrainingError(check.nothing_usable())


POSITIVE_WORDS = {Target.POOR_NOW: gettext_lazy("致贫（贫困）户"), Target.RETURN: gettext_lazy("返贫（新致贫）户")}


def class_refusal(target: str, y: np.ndarray, where: str, purpose: str) -> str | None:
    """None when both classes are present; else exactly what was found."""
    label, word = RiskModel.Target(target).label, POSITIVE_WORDS[target]
    n, positives = len(y), int(np.sum(y))
    if n == 0:
        return _("%(label)s：%(where)s没有可用样本（有结果记录的户为 0），无法%(purpose)s。") % {
            "label": label,
            "where": where,
            "purpose": purpose,
        }
    if positives == 0:
        return _("%(label)s：%(where)s（%(n)s 户）中没有%(word)s，无法%(purpose)s。") % {
            "label": label,
            "where": where,
            "n": n,
            "word": word,
            "purpose": purpose,
        }
    if positives == n:
        return _("%(label)s：%(where)s（%(n)s 户）全部是%(word)s，无法%(purpose)s。") % {
            "label": label,
            "where": where,
            "n": n,
            "word": word,
            "purpose": purpose,
        }
    return None


def split_villages(data: Dataset, seed: int) -> tuple[np.ndarray, int, int]:
    """Test rows: a TEST_VILLAGE_SHARE of the villages (GroupShuffleSplit, fixed seed); no village on both
    sides. Returns the test mask and the numbers of training and test villages."""
    villages = data.frame["village_id"].to_numpy()
    distinct = np.unique(villages)
    if len(distinct) < 2:
        raise TrainingError(
            _("只有 %(n)s 个村有可用样本，无法按村留出检验（至少需要 2 个村）。") % {"n": len(distinct)}
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=TEST_VILLAGE_SHARE, random_state=seed)
    _train, test = next(splitter.split(np.zeros(len(villages)), groups=villages))
    mask = np.zeros(len(villages), dtype=bool)
    mask[test] = True
    return mask, len(np.unique(villages[~mask])), len(np.unique(villages[mask]))


# --- Training -------------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    models: list[RiskModel] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    test_year: int = 0
    train_years: list[int] = field(default_factory=list)
    mode: str = Mode.OUT_OF_TIME
    skipped: dict[str, str] = field(default_factory=dict)  # target → why it was not trained
    years: dict[str, list[int]] = field(default_factory=dict)

    @property
    def mode_label(self) -> str:
        return str(MODE_LABELS[self.mode])

    def table(self) -> list[dict]:
        return [{"target": m.target, "kind": m.kind, "version": m.version, **m.metrics} for m in self.models]


@dataclass
class _Plan:
    """One target's training and test rows, and how they were chosen."""

    target: str
    train: Dataset
    test: Dataset
    kinds: tuple[str, ...]
    data_cutoff: Any
    train_years: list[int]
    test_year: int
    validation: dict = field(default_factory=dict)


def _place_name(region_code: str | None) -> str:
    region = Region.objects.filter(code=region_code).first() if region_code else None
    return region.name if region is not None else _("该区划")


def start_mode(result: "TrainingResult", check: YearsCheck, say: Progress) -> str:
    """The training mode the years allow, recorded on the result and said (both ways of training use it)."""
    result.mode = mode = choose_mode(check)
    result.years = {"income": check.income_years, "thresholds": check.threshold_years, "usable": check.usable}
    say(
        _("%(mode)s；%(incomes)s，监测标准 %(thresholds)s")
        % {
            "mode": MODE_LABELS[mode],
            "incomes": check.incomes(),
            "thresholds": _years(check.threshold_years) or _("无"),
        }
    )
    return mode


def train_risk_models(
    *,
    region_code: str | None = None,
    seed: int = 0,
    test_year: int | None = None,
    by: Any = None,
    progress: Progress | None = None,
    sources: Sources | None = None,
    place_features: bool = True,
    cluster: str | None = None,
    on_county: CountyProgress | None = None,
) -> TrainingResult:
    """Train, evaluate and store the models each target's data allows (see the module's note on modes);
    nothing is activated. ``place_features`` (cross-sectional mode only) adds the village and township
    features; off, to measure what they bring.

    Above county level, unless ``cluster`` is "none", each county's data is read and prepared by a task of its
    own (risk.training_cluster: one county a partition on Dask, XGBoost through xgboost.dask, the baselines from
    per-county sums); ``on_county(county, state)`` is told as each county's tasks end. A county, or cluster
    "none", trains here in this process as it always did."""
    if region_code and not Region.objects.filter(code=region_code).exists():
        raise TrainingError(_("区划代码 %(code)s 不存在。") % {"code": region_code})
    if sources is None and region_code and cluster != IN_PROCESS and above_county(region_code):
        from risk.training_cluster import train_partitioned

        with runner_for(region_code, cluster) as runner:
            return train_partitioned(
                runner,
                region_code=region_code,
                seed=seed,
                test_year=test_year,
                by=by,
                progress=progress,
                place_features=place_features,
                on_county=on_county,
            )
    say = progress or (lambda message: None)
    started = time.monotonic()
    result = TrainingResult()
    sources = sources or Sources.load(region_code=region_code)
    result.seconds["load"] = time.monotonic() - started
    check = check_years(sources, _place_name(region_code))
    mode = start_mode(result, check, say)
    mark = time.monotonic()
    if mode == Mode.OUT_OF_TIME:
        plans = _out_of_time_plans(sources, check, test_year, result)
    elif mode == Mode.HELD_OUT_VILLAGES:
        plans = _held_out_village_plans(sources, check, test_year, seed, result)
    else:
        plans = _cross_sectional_plans(sources, check, test_year, seed, result, place_features)
    result.seconds["features"] = time.monotonic() - mark
    if not plans:
        raise TrainingError("；".join(result.skipped.values()))
    capacity_table = review_capacity(sources.households["village_id"].str.slice(0, 9).str.ljust(12, "0").unique())

    fitted = []
    for plan in plans:
        train, test = plan.train, plan.test
        digest = train.digest()
        fit_on = train.fewer_negatives(MAX_NEGATIVES, seed)
        place = place_table(fit_on.frame, fit_on.y) if plan.validation.get("place_features") else None
        features = [*fit_on.features, *([TOWNSHIP_POOR_SHARE] if place is not None else [])]
        group = []
        for kind in plan.kinds:
            model = _make(kind, features, place)
            mark = time.monotonic()
            say(
                _("%(target)s：%(kind)s（%(train)s 条训练样本，%(test)s 条检验样本）")
                % {
                    "target": RiskModel.Target(plan.target).label,
                    "kind": Kind(model.kind).label,
                    "train": len(train.y),
                    "test": len(test.y),
                }
            )
            extra = {"log_income": fit_on.log_income} if kind == Kind.PMT else {}
            model.fit(
                model.matrix(fit_on.frame),
                fit_on.y,
                groups=fit_on.households,
                years=fit_on.years,
                weights=fit_on.weights,
                seed=seed,
                **extra,
            )
            p = model.predict(model.matrix(test.frame))
            result.seconds[f"{plan.target}_{model.kind}"] = time.monotonic() - mark
            metrics, evaluation = evaluate(
                test.y, p, test.frame["township"], capacity_table, counties=county_of(test.frame["village_id"])
            )
            evaluation["test_households"] = len(test.y)
            group.append((model, metrics, evaluation))
        counts = plan_counts(plan, fit_on)
        for model, metrics, evaluation in group:
            comparison = baseline_comparison(model.kind, metrics, [(m.kind, mt) for m, mt, _e in group])
            fitted.append((plan, model, metrics, evaluation, digest, counts, comparison))
    store_models(result, fitted, mode=mode, seed=seed, by=by, region_code=region_code)
    result.seconds["total"] = time.monotonic() - started
    return result


def county_of(villages: pd.Series) -> pd.Series:
    """The county code of each village code (its first six digits)."""
    return villages.astype(str).str.slice(0, 6).str.ljust(12, "0")


def store_models(result: TrainingResult, fitted: list, *, mode: str, seed: int, by: Any, region_code: str | None):
    """Write the fitted models and the audit event, in one transaction (the job's own process)."""
    with transaction.atomic():
        for plan, model, metrics, evaluation, digest, counts, comparison in fitted:
            result.models.append(
                RiskModel.objects.create(
                    version=_version(plan.target, model.kind, plan.test_year, digest),
                    target=plan.target,
                    kind=model.kind,
                    data_cutoff=plan.data_cutoff,
                    train_years=plan.train_years,
                    test_year=plan.test_year,
                    features=list(model.features),
                    parameters=_parameters(model, plan, counts, mode),
                    seed=seed,
                    data_hash=digest,
                    metrics=metrics,
                    evaluation=evaluation,
                    artifact=model.to_bytes(),
                    trained_by=by if getattr(by, "is_authenticated", False) else None,
                    beats_baseline=comparison.get("beats"),
                    baseline_comparison=comparison,
                )
            )
        record_event(
            actor=by,
            action="create",
            entity="risk.riskmodel",
            region_code=region_code or "",
            note=_("训练风险模型（%(mode)s；检验年度 %(year)s，种子 %(seed)s）：")
            % {"mode": MODE_LABELS[mode], "year": result.test_year, "seed": seed}
            + "；".join(f"{m.version} ROC-AUC {_fmt(m.metrics.get('roc_auc'))}" for m in result.models)
            + "".join(_("；未训练：%(why)s") % {"why": message} for message in result.skipped.values()),
        )


def _make(kind: str, features: list[str], place: dict | None):
    if kind == Kind.RULES:
        return RulesRisk.for_active_rules()
    return {Kind.XGBOOST: XGBoostRisk, Kind.LOGISTIC: LogisticRisk, Kind.PMT: PmtRisk}[kind](
        list(features), place=place
    )


BASELINE_KINDS = {Kind.LOGISTIC, Kind.RULES, Kind.PMT}


def baseline_comparison(kind: str, metrics: dict, group: list[tuple[str, dict]]) -> dict:
    """Whether a model beat the best of its baselines on the held-out rows, by BASELINE_METRIC (strictly):
    XGBoost against every baseline of its run, a baseline against the other baselines."""
    value = metrics.get(BASELINE_METRIC)
    others = [(k, m.get(BASELINE_METRIC)) for k, m in group if k != kind and k in BASELINE_KINDS]
    others = [(k, v) for k, v in others if v is not None]
    if not others:
        return {"metric": BASELINE_METRIC, "value": value, "beats": None}
    best_kind, best = max(others, key=lambda item: item[1])
    return {
        "metric": BASELINE_METRIC,
        "value": value,
        "best_baseline": best_kind,
        "best_value": best,
        "beats": bool(value is not None and value > best),
    }


def out_of_time_years(check: YearsCheck, test_year: int | None) -> tuple[list[int], int]:
    """(training cut-off years, test year) of an out-of-time training, or why the test year cannot be used."""
    years = check.outcome
    test_year = test_year or years[-1]
    if test_year not in years:
        raise TrainingError(
            _("检验年度 %(year)s 不可用；可用年度：%(years)s（须有次年的收支调查和监测标准）。")
            % {"year": test_year, "years": ", ".join(map(str, years))}
        )
    train_years = [y for y in years if y < test_year]
    if not train_years:
        raise TrainingError(
            _("检验年度 %(year)s 之前没有可训练的年度（可用年度：%(years)s）。")
            % {"year": test_year, "years": _years(years)}
        )
    return train_years, test_year


def _out_of_time_plans(sources: Sources, check: YearsCheck, test_year: int | None, result) -> list[_Plan]:
    train_years, test_year = out_of_time_years(check, test_year)
    result.test_year, result.train_years = test_year, train_years
    datasets = build_datasets(sources, [*train_years, test_year])
    plans = []
    for target in TARGETS:
        data = datasets[target]
        is_test = data.years == test_year
        train, test = data.take(~is_test), data.take(is_test)
        refusal = class_refusal(
            target, train.y, _("训练年度 %(years)s 年的样本") % {"years": _years(train_years)}, _("训练")
        ) or class_refusal(target, test.y, _("%(year)s 年检验样本") % {"year": test_year}, _("评估"))
        if refusal:
            result.skipped[target] = refusal
            continue
        plans.append(
            _Plan(
                target,
                train,
                test,
                (Kind.XGBOOST, Kind.LOGISTIC, Kind.RULES),
                year_end(test_year + 1).date(),
                train_years,
                test_year,
            )
        )
    return plans


def _village_split(target: str, data: Dataset, seed: int, result) -> tuple[Dataset, Dataset, dict] | None:
    if (refusal := class_refusal(target, data.y, _("全部样本"), _("训练"))) is not None:
        result.skipped[target] = refusal
        return None
    is_test, train_villages, test_villages = split_villages(data, seed)
    train, test = data.take(~is_test), data.take(is_test)
    refusal = class_refusal(target, train.y, _("%(n)s 个训练村") % {"n": train_villages}, _("训练")) or (
        class_refusal(target, test.y, _("%(n)s 个检验村") % {"n": test_villages}, _("评估"))
    )
    if refusal:
        result.skipped[target] = refusal
        return None
    validation = {
        "split": f"GroupShuffleSplit by village, test_size={TEST_VILLAGE_SHARE}, random_state={seed}",
        "train_villages": train_villages,
        "test_villages": test_villages,
    }
    return train, test, validation


def held_out_year(check: YearsCheck, test_year: int | None) -> int:
    """The one cut-off year of a held-out-villages training, or why the asked test year cannot be used."""
    year = check.outcome[0]
    if test_year not in (None, year):
        raise TrainingError(
            _(
                "检验年度 %(year)s 不可用；可用年度：%(usable)s（%(years)s 年有收支调查和监测标准，"
                "只有一对相邻年度，在留出的村上检验）。"
            )
            % {"year": test_year, "usable": year, "years": _years(check.usable)}
        )
    return year


def _held_out_village_plans(
    sources: Sources, check: YearsCheck, test_year: int | None, seed: int, result
) -> list[_Plan]:
    year = held_out_year(check, test_year)
    result.test_year, result.train_years = year, [year]
    datasets = build_datasets(sources, [year])
    plans = []
    for target in TARGETS:
        split = _village_split(target, datasets[target], seed, result)
        if split is None:
            continue
        train, test, validation = split
        plans.append(
            _Plan(
                target,
                train,
                test,
                (Kind.XGBOOST, Kind.LOGISTIC, Kind.RULES),
                year_end(year + 1).date(),
                [year],
                year,
                validation,
            )
        )
    return plans


def cross_sectional_year(check: YearsCheck, test_year: int | None) -> int:
    """The year of a cross-sectional training, or why the asked year cannot be used."""
    year = test_year or check.usable[-1]
    if year not in check.usable:
        raise TrainingError(
            _("年度 %(year)s 不可用：既有收支调查又有监测标准的年度是 %(years)s 年。")
            % {"year": year, "years": _years(check.usable)}
        )
    return year


def _cross_sectional_plans(
    sources: Sources, check: YearsCheck, test_year: int | None, seed: int, result, place: bool
) -> list[_Plan]:
    year = cross_sectional_year(check, test_year)
    result.test_year, result.train_years = year, [year]
    result.skipped[Target.RETURN] = check.return_refusal()
    data = build_cross_sectional(sources, year, place=place)
    split = _village_split(Target.POOR_NOW, data, seed, result)
    if split is None:
        return []
    train, test, validation = split
    validation["features"] = f"31 December {year}, income surveys of {year} and later removed; no INCOME column"
    validation["place_features"] = place
    return [
        _Plan(
            Target.POOR_NOW,
            train,
            test,
            (Kind.XGBOOST, Kind.LOGISTIC, Kind.PMT),
            year_end(year).date(),
            [year],
            year,
            validation,
        )
    ]


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def plan_counts(plan: _Plan, fit_on: Dataset) -> dict:
    """The sizes a stored model's parameters record (a partitioned training sums them over its counties)."""
    return {
        "train_rows": len(plan.train.y),
        "fit_rows": len(fit_on.y),
        "train_positives": int(plan.train.y.sum()),
        "test_rows": len(plan.test.y),
        "test_positives": int(plan.test.y.sum()),
    }


def _parameters(model, plan: _Plan, counts: dict, mode: str) -> dict:
    common = {
        "mode": mode,
        "train_rows": counts["train_rows"],
        "fit_rows": counts["fit_rows"],
        "max_negatives": MAX_NEGATIVES,
        "train_positives": counts["train_positives"],
        "test_rows": counts["test_rows"],
        "test_positives": counts["test_positives"],
        "examples": (
            f"features at 31 December {plan.test_year} blind to its income; poor in {plan.test_year}"
            if mode == Mode.CROSS_SECTIONAL
            else "features at 31 December of each cut-off year t; outcome in t+1"
        ),
        **plan.validation,
    }
    if isinstance(model, XGBoostRisk):
        return {
            **common,
            **model.params,
            "rounds": model.rounds,
            "calibration": model.calibration,
            "platt": list(model.platt),
        }
    if isinstance(model, PmtRisk):
        return {
            **common,
            "outcome": f"log(per-capita net income / threshold), floored at {PMT_FLOOR}",
            "estimator": model.state.get(
                "estimator", "OLS (sklearn LinearRegression) on the logistic baseline's prepared features"
            ),
            "probability": "Φ(−predicted log income / σ); 1 with a 三保障/饮水 failure on record",
            "sigma": round(model.state["sigma"], 4),
            "r2_train": round(model.state["r2"], 4),
            "surveyed_rows": model.state["surveyed_rows"],
        }
    if isinstance(model, LogisticRisk):
        return {
            **common,
            "C": LOGISTIC_C,
            "solver": model.state.get("solver", "newton-cholesky"),
            "log_scale": sorted(LOG_SCALE),
            "winsorise": [1, 99],
            "missing": "training median",
            "standardised": True,
        }
    return {
        **common,
        "weights": dict(zip(model.features, np.round(model.weights, 4).tolist(), strict=True)),
        "calibration": "isotonic on the training years",
    }


def _version(target: str, kind: str, test_year: int, digest: str) -> str:
    stamp = timezone.localtime().strftime("%y%m%d%H%M%S")
    short = {"poor_now": "poor", "return": "return"}[target]
    base = f"{short}-{kind[:3]}-{test_year}-{stamp}-{digest[:6]}"
    version, n = base, 1
    while RiskModel.objects.filter(version=version).exists():
        n += 1
        version = f"{base}-{n}"
    return version
