"""Training the risk models out of time, against two baselines, and storing each as a RiskModel.

For each target (poor now, return to poverty; labels.py) the examples are the households of the region at
31 December of each year t whose outcome in t+1 is on record, with their features at that cut-off. The
models are trained on the cut-off years before the test year and judged on the test year (out-of-time):

- **XGBoost** (hist, fixed seed, n_jobs=2) fitted on 80% of the training households, its probabilities
  calibrated by a sigmoid (Platt) fitted on the other 20% (grouped by household, so no household is in
  both); a sigmoid keeps the order of the scores, so ranking metrics are the booster's own;
- **logistic regression**: money amounts on a log scale, every feature winsorised at the training 1st/99th
  percentiles, missing values set to the training median, standardised;
- **the warning rules alone** (rules.baseline_flags): the score is the sum of the weights of the rules
  fired, each weight the rule's precision on the training years; probabilities from an isotonic fit of
  the score on the training years.

All three are compared on the same held-out households (evaluation.py). Each is stored with its version,
target, kind, data cut-off (the last day of data read: the end of the test year's outcome year), years,
features, parameters, seed, data hash, metrics, evaluation and artifact (JSON; the booster as UBJSON in it,
no pickles). The same seed and data give the same models.
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
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from django.db import transaction
from django.utils import timezone
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from threadpoolctl import threadpool_limits

from povertycloud.audit.services import record_event
from risk.evaluation import evaluate, review_capacity
from risk.explain import HIGH, PHRASES
from risk.features import FEATURES
from risk.labels import Target, labels_for, year_end
from risk.models import RiskModel, WarningRule
from risk.rules import baseline_flags
from risk.sources import Sources

Kind = RiskModel.Kind
TARGETS = (Target.POOR_NOW, Target.RETURN)
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


class _FeatureModel:
    """Models over the feature columns: matrix() picks them from a features frame."""

    features: list[str]

    def matrix(self, frame: pd.DataFrame) -> np.ndarray:
        return frame[self.features].to_numpy(dtype=np.float32)

    @property
    def phrase_table(self) -> dict[str, tuple[str, str]]:
        return PHRASES


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
    ):
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
        params = {**self.params, "seed": seed}
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
        )


class LogisticRisk(_FeatureModel):
    kind = Kind.LOGISTIC

    def __init__(self, features: list[str], state: dict | None = None):
        self.features = features
        self.state = state or {}

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
        model = LogisticRegression(C=LOGISTIC_C, solver="newton-cholesky", max_iter=100, random_state=seed)
        # One BLAS thread: OpenBLAS threads that spin on a busy 2-core server made this fit 8× slower.
        with threadpool_limits(limits=1, user_api="blas"):
            model.fit((filled - mean) / scale, y, sample_weight=weights)
        self.state.update(coef=model.coef_[0], intercept=float(model.intercept_[0]))
        return self

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
        return _dump({"kind": self.kind, "features": self.features, "state": state})

    @classmethod
    def from_dict(cls, data: dict) -> "LogisticRisk":
        state = {k: (np.array(v) if isinstance(v, list) else v) for k, v in data["state"].items()}
        return cls(data["features"], state)


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


def load_artifact(artifact: bytes) -> XGBoostRisk | LogisticRisk | RulesRisk:
    data = json.loads(bytes(artifact).decode("utf-8"))
    return {Kind.XGBOOST: XGBoostRisk, Kind.LOGISTIC: LogisticRisk, Kind.RULES: RulesRisk}[data["kind"]].from_dict(data)


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

    def __post_init__(self) -> None:
        if self.weights is None:
            self.weights = np.ones(len(self.y))

    @property
    def X(self) -> np.ndarray:
        return self.frame[FEATURES].to_numpy(dtype=np.float32)

    @property
    def households(self) -> np.ndarray:
        return self.frame.index.to_numpy()

    def take(self, mask: np.ndarray) -> "Dataset":
        return Dataset(self.frame[mask], self.y[mask], self.years[mask], self.weights[mask])

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
        h.update(json.dumps(FEATURES).encode())
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
            frame, np.concatenate([c[1] for c in chunks]), np.concatenate([c[2] for c in chunks])
        )
    return datasets


def outcome_years(sources: Sources) -> list[int]:
    """Cut-off years t whose outcome year t+1 has income surveys and thresholds."""
    years = sorted(set(sources.incomes["year"].unique()) & set(sources.thresholds["year"].unique()))
    return [int(y) for y in years if y + 1 in years]


# --- Training -------------------------------------------------------------------------------------


@dataclass
class TrainingResult:
    models: list[RiskModel] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    test_year: int = 0
    train_years: list[int] = field(default_factory=list)

    def table(self) -> list[dict]:
        return [{"target": m.target, "kind": m.kind, "version": m.version, **m.metrics} for m in self.models]


def train_risk_models(
    *,
    region_code: str | None = None,
    seed: int = 0,
    test_year: int | None = None,
    by: Any = None,
    progress: Progress | None = None,
    sources: Sources | None = None,
) -> TrainingResult:
    """Train, evaluate and store XGBoost, logistic and rules models for both targets; nothing is activated."""
    say = progress or (lambda message: None)
    started = time.monotonic()
    result = TrainingResult()
    sources = sources or Sources.load(region_code=region_code)
    result.seconds["load"] = time.monotonic() - started
    if sources.households.empty:
        raise TrainingError("该区划没有户档案，无法训练模型。")
    years = outcome_years(sources)
    if not years:
        raise TrainingError("没有可用的年度：需要连续两年的收支调查和监测标准（监测标准表为空？）。")
    test_year = test_year or years[-1]
    if test_year not in years:
        raise TrainingError(
            f"检验年度 {test_year} 不可用；可用年度：{', '.join(map(str, years))}（须有次年的收支调查）。"
        )
    train_years = [y for y in years if y < test_year]
    if not train_years:
        raise TrainingError(f"检验年度 {test_year} 之前没有可训练的年度。")
    result.test_year, result.train_years = test_year, train_years
    say(f"特征：{', '.join(map(str, [*train_years, test_year]))} 年末")
    mark = time.monotonic()
    datasets = build_datasets(sources, [*train_years, test_year])
    result.seconds["features"] = time.monotonic() - mark
    capacity_table = review_capacity(sources.households["village_id"].str.slice(0, 9).str.ljust(12, "0").unique())

    fitted = []
    for target in TARGETS:
        data = datasets[target]
        is_test = data.years == test_year
        train, test = data.take(~is_test), data.take(is_test)
        if len(np.unique(train.y)) < 2 or len(np.unique(test.y)) < 2:
            raise TrainingError(f"目标“{RiskModel.Target(target).label}”在训练或检验年度中只有一类结果，无法训练。")
        digest = train.digest()
        fit_on = train.fewer_negatives(MAX_NEGATIVES, seed)
        candidates = [XGBoostRisk(list(FEATURES)), LogisticRisk(list(FEATURES)), RulesRisk.for_active_rules()]
        for model in candidates:
            mark = time.monotonic()
            say(f"{target}: {model.kind}（{len(train.y)} 条训练样本，{len(test.y)} 条检验样本）")
            model.fit(
                model.matrix(fit_on.frame),
                fit_on.y,
                groups=fit_on.households,
                years=fit_on.years,
                weights=fit_on.weights,
                seed=seed,
            )
            p = model.predict(model.matrix(test.frame))
            result.seconds[f"{target}_{model.kind}"] = time.monotonic() - mark
            metrics, evaluation = evaluate(test.y, p, test.frame["township"], capacity_table)
            evaluation["test_households"] = len(test.y)
            fitted.append((target, model, metrics, evaluation, digest, train, test, fit_on))

    with transaction.atomic():
        for target, model, metrics, evaluation, digest, train, test, fit_on in fitted:
            result.models.append(
                RiskModel.objects.create(
                    version=_version(target, model.kind, test_year, digest),
                    target=target,
                    kind=model.kind,
                    data_cutoff=year_end(test_year + 1).date(),
                    train_years=train_years,
                    test_year=test_year,
                    features=list(model.features),
                    parameters=_parameters(model, train, test, fit_on),
                    seed=seed,
                    data_hash=digest,
                    metrics=metrics,
                    evaluation=evaluation,
                    artifact=model.to_bytes(),
                    trained_by=by if getattr(by, "is_authenticated", False) else None,
                )
            )
        record_event(
            actor=by,
            action="create",
            entity="risk.riskmodel",
            region_code=region_code or "",
            note=f"训练风险模型（检验年度 {test_year}，种子 {seed}）："
            + "；".join(f"{m.version} ROC-AUC {_fmt(m.metrics.get('roc_auc'))}" for m in result.models),
        )
    result.seconds["total"] = time.monotonic() - started
    return result


def _fmt(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"


def _parameters(model, train: Dataset, test: Dataset, fit_on: Dataset) -> dict:
    common = {
        "train_rows": len(train.y),
        "fit_rows": len(fit_on.y),
        "max_negatives": MAX_NEGATIVES,
        "train_positives": int(train.y.sum()),
        "test_rows": len(test.y),
        "test_positives": int(test.y.sum()),
        "examples": "features at 31 December of each cut-off year t; outcome in t+1",
    }
    if isinstance(model, XGBoostRisk):
        return {
            **common,
            **model.params,
            "rounds": model.rounds,
            "calibration": model.calibration,
            "platt": list(model.platt),
        }
    if isinstance(model, LogisticRisk):
        return {
            **common,
            "C": LOGISTIC_C,
            "solver": "newton-cholesky",
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
