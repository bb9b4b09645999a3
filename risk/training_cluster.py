"""Training a region above county level one county a partition (issue #18): the same modes, years, refusals and
stored models as risk.training, with each county's data read, turned into examples and kept by a task of its own.

Each county's task loads its Sources and builds its datasets where it runs (a Dask worker, or this process with
the InProcess runner); the data stays there as a handle. The driver (this process) gathers only what must be
global: years and sizes, class counts per year and per village (the refusals and the village split), the place
table of the training villages, column sums, a sample for the logistic baseline's percentiles, and the held-out
rows' labels and probabilities (the metrics rank the whole region's test households). Then:

- **XGBoost** trains through ``xgboost.dask`` on a DaskDMatrix whose chunks are the counties' matrices (made on
  the workers: ``dask.array.from_delayed`` of each county's future), with the same parameters and rounds; the
  booster is wrapped in XGBoostRisk as risk.training does, its Platt sigmoid fitted here on the calibration
  rows' margins (computed where the rows are; only margins, labels and weights come back). In this process
  (InProcess runner) the counties' rows are concatenated and trained with ``xgboost.train``.
- **Logistic regression** (L2, C = LOGISTIC_C, intercept unpenalised, as sklearn's) by Newton's method: each
  iteration every county returns X'WX, X'W(p−y) and its log-loss at the current coefficients, the driver adds
  them and takes the step (halved while the loss rises).
- **OLS proxy-means test** from each county's X'WX and X'Wy (solved by least squares: a constant column gets 0,
  as sklearn's LinearRegression gives it), σ and R² from the same sums.
- **The warning rules alone** from each county's table of distinct rule-firing patterns with their summed
  weights and positives: the rule weights and the isotonic curve come out as from the rows themselves.

Results are stored exactly as risk.training stores them (one model per target and kind), with the held-out
metrics per county in metrics["counties"].
"""

import hashlib
import time
import warnings
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pandas as pd
import xgboost as xgb
from django.utils.translation import gettext as _
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupShuffleSplit

from povertycloud.regions.models import Region
from risk.evaluation import evaluate, review_capacity
from risk.features import FEATURES, PLACE, is_declared_feature
from risk.labels import Target, year_end
from risk.models import RiskModel
from risk.partitions import CountyProgress, county_partitions
from risk.sources import Sources
from risk.training import (
    CALIBRATION_SHARE,
    CROSS_SECTIONAL_FEATURES,
    LOG_SCALE,
    LOGISTIC_C,
    MAX_NEGATIVES,
    PERCENTILE_SAMPLE,
    TARGETS,
    TEST_VILLAGE_SHARE,
    TOWNSHIP_POOR_SHARE,
    XGB_PARAMS,
    XGB_ROUNDS,
    Dataset,
    Kind,
    LogisticRisk,
    Mode,
    PmtRisk,
    RulesRisk,
    TrainingError,
    TrainingResult,
    XGBoostRisk,
    YearsCheck,
    _Plan,
    _years,
    baseline_comparison,
    build_cross_sectional,
    build_datasets,
    class_refusal,
    cross_sectional_year,
    held_out_year,
    leaf_weight_of,
    out_of_time_years,
    place_table,
    start_mode,
    store_models,
)

NEWTON_TOLERANCE = 1e-10  # largest coefficient step at which the logistic baseline has converged
NEWTON_ITERATIONS = 100


def _county_seed(seed: int, county: str) -> np.random.Generator:
    """A county's own random stream: the same draws whichever worker runs it, and in whatever order."""
    return np.random.default_rng([seed, int(county[:6])])


# --- Tasks: module-level functions of plain data (a county's handles stay where they were made) ---------------


def county_sources(county: str) -> Sources:
    return Sources.load(region_code=county)


def county_years(sources: Sources) -> dict:
    """What the years check needs of a county: household count, survey and threshold years, townships."""
    villages = sources.households["village_id"].astype(str)
    return {
        "households": len(sources.households),
        "income_years": sorted({int(y) for y in sources.incomes["year"].unique()}),
        "threshold_years": sorted({int(y) for y in sources.thresholds["year"].unique()}),
        "townships": sorted(set(villages.str.slice(0, 9).str.ljust(12, "0"))),
    }


def county_datasets(sources: Sources, mode: str, years: list[int], place: bool) -> dict[str, Dataset]:
    """The county's examples of each target, as risk.training builds them for a region."""
    if mode == Mode.CROSS_SECTIONAL:
        return {Target.POOR_NOW: build_cross_sectional(sources, years[0], place=place)}
    return build_datasets(sources, years)


def dataset_summary(datasets: dict[str, Dataset]) -> dict:
    """Per target: the feature columns, (rows, positives) per year and per village."""
    summary = {}
    for target, data in datasets.items():
        frame = pd.DataFrame({"village": data.frame["village_id"].astype(str).to_numpy(), "y": data.y})
        frame["year"] = data.years
        summary[target] = {
            "features": list(data.features),
            "years": {int(year): (len(g), int(g["y"].sum())) for year, g in frame.groupby("year")},
            "villages": frame.groupby("village")["y"].agg(["count", "sum"]),
        }
    return summary


@dataclass
class PartSpec:
    """What a county needs to cut its part of one target's plan."""

    target: str
    features: list[str]  # the data's columns (the region's), without TOWNSHIP_POOR_SHARE
    model_features: list[str]
    seed: int
    test_year: int | None = None  # out of time: the rows of this cut-off year are the test set
    test_villages: frozenset = frozenset()  # held-out villages otherwise
    negative_share: float | None = None  # fewer negatives: the share of each county's negatives kept
    calibration_year: int | None = None  # several training years: XGBoost's calibration rows are this year's


@dataclass
class CountyPart:
    county: str
    train: Dataset
    fit_on: Dataset
    test: Dataset
    held: np.ndarray  # XGBoost's calibration rows among fit_on
    X_fit: np.ndarray | None = field(default=None, repr=False)
    X_test: np.ndarray | None = field(default=None, repr=False)


def county_part(datasets: dict[str, Dataset], county: str, spec: PartSpec) -> CountyPart:
    data = datasets[spec.target]
    missing = {name: np.nan for name in spec.features if name not in data.frame.columns}
    frame = data.frame.assign(**missing) if missing else data.frame  # a declared column another county has
    data = Dataset(frame, data.y, data.years, data.weights, list(spec.features), data.log_income)
    if spec.test_year is not None:
        is_test = data.years == spec.test_year
    else:
        is_test = data.frame["village_id"].astype(str).isin(spec.test_villages).to_numpy()
    train, test = data.take(~is_test), data.take(is_test)
    fit_on = train
    if spec.negative_share is not None:
        # risk.training.Dataset.fewer_negatives over the region: each county keeps the same share of its
        # negatives (its own random draw), each kept negative weighted by how many of its county's it stands for.
        negatives = np.flatnonzero(train.y == 0)
        size = min(len(negatives), max(1, round(spec.negative_share * len(negatives)))) if len(negatives) else 0
        kept = _county_seed(spec.seed, county).choice(negatives, size=size, replace=False)
        mask = train.y == 1
        mask[kept] = True
        fit_on = train.take(mask)
        fit_on.weights = np.where(fit_on.y == 0, len(negatives) / max(size, 1), 1.0)
    if spec.calibration_year is not None:
        held = fit_on.years == spec.calibration_year
    else:
        # CALIBRATION_SHARE of the county's households (all their rows): risk.training draws them over the
        # region; drawn per county here, so that no household list has to travel.
        households = np.unique(fit_on.households)
        chosen = _county_seed(spec.seed, county).permutation(households)[: round(CALIBRATION_SHARE * len(households))]
        held = np.isin(fit_on.households, chosen)
    return CountyPart(county, train, fit_on, test, held)


def part_summary(part: CountyPart, place: bool) -> dict:
    fit = part.fit_on
    return {
        "train_rows": len(part.train.y),
        "train_positives": int(part.train.y.sum()),
        "fit_rows": len(fit.y),
        "fit_positives": int(fit.y.sum()),
        "test_rows": len(part.test.y),
        "test_positives": int(part.test.y.sum()),
        "held_rows": int(part.held.sum()),
        "weight": float(fit.weights.sum()),
        "positive_weight": float(np.dot(fit.y, fit.weights)),
        "digest": part.train.digest(),
        "place": place_table(fit.frame, fit.y) if place else None,
    }


def part_matrices(part: CountyPart, features: list[str], place: dict | None) -> CountyPart:
    """The part with its feature matrices (the same for XGBoost, logistic and PMT: one features list)."""
    model = XGBoostRisk(features, place=place)
    return replace(part, X_fit=model.matrix(part.fit_on.frame), X_test=model.matrix(part.test.frame))


def column_sums(part: CountyPart) -> tuple[np.ndarray, np.ndarray]:
    """Σ and count of the non-missing values of each feature (the reference values: the training means)."""
    X = part.X_fit.astype(float)
    return np.nansum(X, axis=0), (~np.isnan(X)).sum(axis=0)


def xgb_rows(part: CountyPart, rows: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(X, y, weights) of the fit rows: "fit" without the calibration rows, "held" those, "all" every one."""
    mask = {"fit": ~part.held, "held": part.held, "all": np.ones(len(part.held), dtype=bool)}[rows]
    return part.X_fit[mask], part.fit_on.y[mask].astype(np.float32), part.fit_on.weights[mask].astype(np.float32)


def item(values: tuple, index: int) -> Any:
    return values[index]


def held_margins(part: CountyPart, booster: xgb.Booster, features: list[str]) -> tuple[np.ndarray, ...]:
    X, y, w = xgb_rows(part, "held")
    margin = booster.predict(xgb.DMatrix(X, feature_names=features), output_margin=True)
    return margin.astype(float), y, w


def _surveyed(part: CountyPart, surveyed_only: bool) -> np.ndarray:
    if not surveyed_only:
        return np.ones(len(part.fit_on.y), dtype=bool)
    return ~np.isnan(part.fit_on.log_income)


def _logged(X: np.ndarray, features: list[str]) -> np.ndarray:
    X = X.astype(float, copy=True)
    logs = np.array([name in LOG_SCALE for name in features], dtype=bool)
    X[:, logs] = np.sign(X[:, logs]) * np.log1p(np.abs(X[:, logs]))
    return X


def scaling_sample(part: CountyPart, features: list[str], size: int, seed: int, surveyed_only: bool) -> np.ndarray:
    """`size` of the county's rows drawn at random, on the log scale (for the region's percentiles)."""
    X = _logged(part.X_fit[_surveyed(part, surveyed_only)], features)
    return X[_county_seed(seed, part.county).permutation(len(X))[:size]]


def filled_moments(part: CountyPart, features: list[str], bounds: dict, surveyed_only: bool) -> tuple:
    """(n, mean, M2) of the rows logged, clipped and filled: combined over counties (Chan) into mean and std."""
    X = _logged(part.X_fit[_surveyed(part, surveyed_only)], features)
    filled = np.where(np.isnan(X), bounds["median"], np.clip(X, bounds["low"], bounds["high"]))
    mean = filled.mean(axis=0) if len(filled) else np.zeros(len(features))
    return len(filled), mean, ((filled - mean) ** 2).sum(axis=0)


@dataclass
class Prepared:
    Z: np.ndarray  # standardised features and a last column of ones (the intercept)
    y: np.ndarray
    w: np.ndarray
    target: np.ndarray | None  # the PMT's log income


def prepared(part: CountyPart, features: list[str], state: dict, surveyed_only: bool) -> Prepared:
    rows = _surveyed(part, surveyed_only)
    Z = LogisticRisk(features, state)._prepare(part.X_fit[rows])
    Z = np.hstack([Z, np.ones((len(Z), 1))])
    log_income = part.fit_on.log_income[rows] if surveyed_only else None
    return Prepared(Z, part.fit_on.y[rows].astype(float), part.fit_on.weights[rows].astype(float), log_income)


def logistic_terms(data: Prepared, beta: np.ndarray) -> tuple[float, np.ndarray, np.ndarray]:
    """The county's weighted log-loss, its gradient X'W(p−y) and Hessian X'WX (W = w·p(1−p)) at beta."""
    z = data.Z @ beta
    p = 1.0 / (1.0 + np.exp(-z))
    loss = float(np.dot(data.w, np.logaddexp(0.0, z) - data.y * z))
    gradient = data.Z.T @ (data.w * (p - data.y))
    hessian = (data.Z * (data.w * p * (1.0 - p))[:, None]).T @ data.Z
    return loss, gradient, hessian


def ols_terms(data: Prepared) -> dict:
    t, w = data.target, data.w
    return {
        "ZWZ": (data.Z * w[:, None]).T @ data.Z,
        "ZWt": data.Z.T @ (w * t),
        "tWt": float(np.dot(w, t * t)),
        "w": float(w.sum()),
        "n": len(t),
        "t": float(t.sum()),
        "tt": float(np.dot(t, t)),
    }


def rules_patterns(part: CountyPart, model: RulesRisk) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The distinct rule-firing patterns of the county's fit rows, with Σw and Σw·y of each."""
    flags = model.matrix(part.fit_on.frame)
    w, y = part.fit_on.weights, part.fit_on.y
    if flags.shape[1] == 0 or not len(flags):
        return np.zeros((1, flags.shape[1])), np.array([w.sum()]), np.array([np.dot(w, y)])
    patterns, inverse = np.unique(flags, axis=0, return_inverse=True)
    inverse = inverse.ravel()
    return patterns, np.bincount(inverse, weights=w), np.bincount(inverse, weights=w * y)


def predict_test(part: CountyPart, model: Any) -> pd.DataFrame:
    """The county's test rows: label, probability, township and county (what the metrics gather)."""
    X = model.matrix(part.test.frame) if isinstance(model, RulesRisk) else part.X_test
    return pd.DataFrame(
        {
            "y": part.test.y,
            "p": model.predict(X).astype(float) if len(X) else np.zeros(0),
            "township": part.test.frame["township"].to_numpy(),
            "county": part.county,
        }
    )


# --- The driver -----------------------------------------------------------------------------------------------


@dataclass
class _Job:
    runner: Any
    counties: list[str]
    seed: int
    handles: list = field(default_factory=list)

    def each(self, function, per_county: list | None, *args, name: str, **kwargs) -> list:
        """One task per county (its handle from per_county first when given), in county order."""
        made = [
            self.runner.submit(
                function, *((per_county[i],) if per_county is not None else ()), *args, key=f"{name}-{c}", **kwargs
            )
            for i, c in enumerate(self.counties)
        ]
        self.handles.extend(made)
        return made

    def gather(self, handles: list) -> list:
        return [self.runner.result(handle) for handle in handles]


def _region_features(mode: str, place: bool, summaries: list[dict], target: str) -> list[str]:
    """The region's feature columns, as risk.training gets them from the counties' rows put together: the fixed
    ones, then the declared departments' columns any county has, in the order they are first met."""
    declared: list[str] = []
    for summary in summaries:
        for name in summary[target]["features"] if target in summary else []:
            if is_declared_feature(str(name)) and name not in declared:
                declared.append(name)
    if mode == Mode.CROSS_SECTIONAL:
        return [*CROSS_SECTIONAL_FEATURES, *declared, *(PLACE if place else [])]
    return [*FEATURES, *declared]


def _test_villages(villages: np.ndarray, seed: int) -> np.ndarray:
    """risk.training.split_villages on the distinct villages: GroupShuffleSplit draws among the sorted distinct
    groups, so one row per village picks the same test villages as all the rows."""
    if len(villages) < 2:
        raise TrainingError(
            _("只有 %(n)s 个村有可用样本，无法按村留出检验（至少需要 2 个村）。") % {"n": len(villages)}
        )
    splitter = GroupShuffleSplit(n_splits=1, test_size=TEST_VILLAGE_SHARE, random_state=seed)
    _train, test = next(splitter.split(np.zeros(len(villages)), groups=villages))
    return villages[test]


def train_partitioned(
    runner: Any,
    *,
    region_code: str,
    seed: int = 0,
    test_year: int | None = None,
    by: Any = None,
    progress: Any = None,
    place_features: bool = True,
    on_county: CountyProgress | None = None,
) -> TrainingResult:
    say = progress or (lambda message: None)
    told = on_county or (lambda county, state: None)
    started = time.monotonic()
    result = TrainingResult()
    place_name = Region.objects.get(code=region_code).name
    counties = county_partitions(region_code)
    if not counties:
        raise TrainingError(
            YearsCheck(place=place_name, households=0, income_years=[], threshold_years=[]).nothing_usable()
        )
    job = _Job(runner, counties, seed)
    try:
        return _train(job, result, region_code, place_name, test_year, by, say, told, place_features, started)
    finally:
        runner.release(job.handles)


def _train(job: _Job, result, region_code, place_name, test_year, by, say, told, place, started) -> TrainingResult:
    seed = job.seed
    sources = job.each(county_sources, job.counties, name="training-sources")
    years = job.gather(job.each(county_years, sources, name="training-years"))
    result.seconds["load"] = time.monotonic() - started
    check = YearsCheck(
        place=place_name,
        households=sum(y["households"] for y in years),
        income_years=sorted(set().union(*(y["income_years"] for y in years))),
        threshold_years=sorted(set().union(*(y["threshold_years"] for y in years))),
    )
    mode = start_mode(result, check, say)
    mark = time.monotonic()
    if mode == Mode.OUT_OF_TIME:
        train_years, year = out_of_time_years(check, test_year)
        cutoffs, kinds = [*train_years, year], (Kind.XGBOOST, Kind.LOGISTIC, Kind.RULES)
    elif mode == Mode.HELD_OUT_VILLAGES:
        year = held_out_year(check, test_year)
        train_years, cutoffs, kinds = [year], [year], (Kind.XGBOOST, Kind.LOGISTIC, Kind.RULES)
    else:
        year = cross_sectional_year(check, test_year)
        train_years, cutoffs, kinds = [year], [year], (Kind.XGBOOST, Kind.LOGISTIC, Kind.PMT)
        result.skipped[Target.RETURN] = check.return_refusal()
    result.test_year, result.train_years = year, train_years
    datasets = job.each(county_datasets, sources, mode, cutoffs, place, name="training-datasets")
    summary_handles = job.each(dataset_summary, datasets, name="training-summary")
    gathered = {}
    for county, _handle, summary in job.runner.completed(dict(zip(job.counties, summary_handles, strict=True))):
        gathered[county] = summary
        told(county, "prepared")
    summaries = [gathered[county] for county in job.counties]
    job.runner.release(sources)  # the datasets are made: the tables can go
    plans = _plans(mode, summaries, place, year, train_years, seed, result, kinds)
    result.seconds["features"] = time.monotonic() - mark
    if not plans:
        raise TrainingError("；".join(result.skipped.values()))
    capacity_table = review_capacity(sorted(set().union(*(y["townships"] for y in years))))

    fitted = []
    for plan, spec in plans:
        fitted.extend(_fit_plan(job, datasets, plan, spec, place, capacity_table, say, result))
    store_models(result, fitted, mode=mode, seed=seed, by=by, region_code=region_code)
    for county in job.counties:
        told(county, "trained")
    result.seconds["total"] = time.monotonic() - started
    return result


def _plans(mode, summaries, place, year, train_years, seed, result, kinds) -> list[tuple[_Plan, PartSpec]]:
    """Each target's plan from the counties' counts: the same refusals and split as risk.training's."""
    plans = []
    targets = (Target.POOR_NOW,) if mode == Mode.CROSS_SECTIONAL else TARGETS
    for target in targets:
        features = _region_features(mode, place, summaries, target)
        per_year: dict[int, list[int]] = {}
        for summary in summaries:
            for y, (n, positives) in summary[target]["years"].items():
                per_year.setdefault(y, [0, 0])
                per_year[y][0] += n
                per_year[y][1] += positives
        spec = PartSpec(target=target, features=features, model_features=list(features), seed=seed, test_year=None)
        validation: dict = {}
        if mode == Mode.OUT_OF_TIME:
            train = [per_year.get(y, [0, 0]) for y in train_years]
            test = per_year.get(year, [0, 0])
            refusal = class_refusal(
                target,
                _counts(sum(n for n, _p in train), sum(p for _n, p in train)),
                _("训练年度 %(years)s 年的样本") % {"years": _years(train_years)},
                _("训练"),
            ) or class_refusal(target, _counts(*test), _("%(year)s 年检验样本") % {"year": year}, _("评估"))
            spec.test_year = year
            data_cutoff = year_end(year + 1).date()
            train_rows, train_positives = sum(n for n, _p in train), sum(p for _n, p in train)
        else:
            villages = pd.concat([s[target]["villages"] for s in summaries]).groupby(level=0).sum().sort_index()
            total = villages.sum()
            refusal = class_refusal(target, _counts(int(total["count"]), int(total["sum"])), _("全部样本"), _("训练"))
            if refusal is None:
                test_villages = _test_villages(villages.index.to_numpy(), seed)
                is_test = villages.index.isin(test_villages)
                train, test = villages[~is_test].sum(), villages[is_test].sum()
                refusal = class_refusal(
                    target,
                    _counts(int(train["count"]), int(train["sum"])),
                    _("%(n)s 个训练村") % {"n": int((~is_test).sum())},
                    _("训练"),
                ) or class_refusal(
                    target,
                    _counts(int(test["count"]), int(test["sum"])),
                    _("%(n)s 个检验村") % {"n": int(is_test.sum())},
                    _("评估"),
                )
                spec.test_villages = frozenset(str(v) for v in test_villages)
                validation = {
                    "split": f"GroupShuffleSplit by village, test_size={TEST_VILLAGE_SHARE}, random_state={seed}",
                    "train_villages": int((~is_test).sum()),
                    "test_villages": int(is_test.sum()),
                }
                train_rows, train_positives = int(train["count"]), int(train["sum"])
            data_cutoff = year_end(year if mode == Mode.CROSS_SECTIONAL else year + 1).date()
        if refusal:
            result.skipped[target] = refusal
            continue
        if mode == Mode.CROSS_SECTIONAL:
            validation["features"] = f"31 December {year}, income surveys of {year} and later removed; no INCOME column"
            validation["place_features"] = place
            spec.model_features = [*features, *([TOWNSHIP_POOR_SHARE] if place else [])]
        negatives = train_rows - train_positives
        if negatives > MAX_NEGATIVES:
            spec.negative_share = MAX_NEGATIVES / negatives
        if len(train_years) > 1:
            spec.calibration_year = max(train_years)
        validation["partitions"] = "one county a partition (risk.training_cluster)"
        plan = _Plan(target, None, None, kinds, data_cutoff, list(train_years), year, validation)
        plans.append((plan, spec))
    return plans


def _counts(n: int, positives: int) -> np.ndarray:
    """Labels with these counts, for class_refusal (which reads only their number and sum)."""
    return np.concatenate([np.ones(positives, dtype=np.int8), np.zeros(n - positives, dtype=np.int8)])


def _fit_plan(job: _Job, datasets, plan: _Plan, spec: PartSpec, place: bool, capacity_table, say, result) -> list:
    target = plan.target
    parts = [
        job.runner.submit(county_part, d, county, spec, key=f"training-part-{target}-{county}")
        for d, county in zip(datasets, job.counties, strict=True)
    ]
    job.handles.extend(parts)
    summaries = job.gather(job.each(part_summary, parts, bool(plan.validation.get("place_features")), name="part"))
    table = None
    if plan.validation.get("place_features"):
        table = {"townships": {}, "villages": {}}
        for summary in summaries:  # townships and villages belong to one county each
            for key in table:
                table[key].update(summary["place"][key])
    features = spec.model_features
    matrices = job.each(part_matrices, parts, features, table, name=f"training-matrices-{target}")
    sums = job.gather(job.each(column_sums, matrices, name="training-sums"))
    job.runner.release(parts)  # the matrices are made (in this process a released task would be computed again)
    totals = np.sum([s for s, _c in sums], axis=0)
    counts_ = np.sum([c for _s, c in sums], axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        reference = np.nan_to_num(totals / counts_)
    counts = {
        key: sum(s[key] for s in summaries)
        for key in ("train_rows", "train_positives", "fit_rows", "test_rows", "test_positives")
    }
    digest = hashlib.sha256("".join(s["digest"] for s in summaries).encode()).hexdigest()
    group = []
    for kind in plan.kinds:
        mark = time.monotonic()
        say(
            _("%(target)s：%(kind)s（%(train)s 条训练样本，%(test)s 条检验样本）")
            % {
                "target": RiskModel.Target(target).label,
                "kind": Kind(kind).label,
                "train": counts["train_rows"],
                "test": counts["test_rows"],
            }
        )
        if kind == Kind.XGBOOST:
            model = _fit_xgboost(job, matrices, summaries, features, table, len(plan.train_years) > 1)
            model.reference = reference
        elif kind == Kind.RULES:
            model = _fit_rules(job, matrices)
        else:
            model = _fit_linear(job, matrices, summaries, features, table, pmt=kind == Kind.PMT)
        rows = pd.concat(job.gather(job.each(predict_test, matrices, model, name=f"training-test-{kind}")))
        result.seconds[f"{target}_{kind}"] = time.monotonic() - mark
        metrics, evaluation = evaluate(
            rows["y"].to_numpy(), rows["p"].to_numpy(), rows["township"], capacity_table, counties=rows["county"]
        )
        evaluation["test_households"] = len(rows)
        group.append((model, metrics, evaluation))
    job.runner.release(matrices)
    fitted = []
    for model, metrics, evaluation in group:
        comparison = baseline_comparison(model.kind, metrics, [(m.kind, mt) for m, mt, _e in group])
        fitted.append((plan, model, metrics, evaluation, digest, counts, comparison))
    return fitted


# --- The models from the counties' parts ----------------------------------------------------------------------


def _fit_xgboost(job: _Job, matrices, summaries, features, place, several_years: bool) -> XGBoostRisk:
    weight = sum(s["weight"] for s in summaries)
    positive_weight = sum(s["positive_weight"] for s in summaries)
    params = {**XGB_PARAMS, "seed": job.seed, "min_child_weight": leaf_weight_of(weight, positive_weight)}
    held_rows = [s["held_rows"] for s in summaries]
    fit_rows = [s["fit_rows"] - h for s, h in zip(summaries, held_rows, strict=True)]
    booster = _train_booster(job, matrices, "fit", fit_rows, features, params)
    margins = job.gather(job.each(held_margins, matrices, booster, features, name="training-margins"))
    margin = np.concatenate([m for m, _y, _w in margins])
    y = np.concatenate([y for _m, y, _w in margins])
    w = np.concatenate([w for _m, _y, w in margins])
    platt = (1, 0)
    if len(np.unique(y)) == 2:
        fitted = LogisticRegression(C=1e6, max_iter=1000).fit(margin.reshape(-1, 1), y, sample_weight=w)
        platt = (float(fitted.coef_[0, 0]), float(fitted.intercept_[0]))
    if several_years:
        booster = _train_booster(job, matrices, "all", [s["fit_rows"] for s in summaries], features, params)
    model = XGBoostRisk(features, booster, platt, None, params, XGB_ROUNDS, place)
    model.calibration = (
        "sigmoid (Platt) on the last training year, scored by a booster of the earlier years; booster then "
        "refitted on all training years (xgboost.dask, one county a partition)"
        if several_years
        else f"sigmoid (Platt) on {CALIBRATION_SHARE:.0%} of each county's training households (xgboost.dask)"
    )
    return model


def _train_booster(job: _Job, matrices, rows: str, sizes: list[int], features, params: dict) -> xgb.Booster:
    client = job.runner.client
    chosen = [(m, n) for m, n in zip(matrices, sizes, strict=True) if n > 0]
    if client is None:  # in this process: the counties' rows put together
        parts = job.gather([job.runner.submit(xgb_rows, m, rows, key="training-rows") for m, _n in chosen])
        X, y, w = (np.concatenate([p[i] for p in parts]) for i in range(3))
        return xgb.train(params, xgb.DMatrix(X, label=y, weight=w, feature_names=features), num_boost_round=XGB_ROUNDS)
    import dask.array as da
    import xgboost.dask as dxgb

    X, y, w = [], [], []
    for matrix, n in chosen:
        triple = job.runner.submit(xgb_rows, matrix, rows, key="training-rows")
        pieces = [job.runner.submit(item, triple, i, key="training-rows-item") for i in range(3)]
        job.handles.extend([triple, *pieces])
        X.append(da.from_delayed(pieces[0], shape=(n, len(features)), dtype=np.float32))
        y.append(da.from_delayed(pieces[1], shape=(n,), dtype=np.float32))
        w.append(da.from_delayed(pieces[2], shape=(n,), dtype=np.float32))
    # The job's client is not the process's default (open_runner): xgboost.dask looks for it as the current one.
    with client.as_current():
        data = dxgb.DaskDMatrix(
            client, da.concatenate(X), da.concatenate(y), weight=da.concatenate(w), feature_names=features
        )
        return dxgb.train(client, params, data, num_boost_round=XGB_ROUNDS)["booster"]


def _fit_rules(job: _Job, matrices) -> RulesRisk:
    model = RulesRisk.for_active_rules()
    tables = job.gather(job.each(rules_patterns, matrices, model, name="training-rules"))
    patterns = np.vstack([p for p, _w, _wy in tables])
    W = np.concatenate([w for _p, w, _wy in tables])
    WY = np.concatenate([wy for _p, _w, wy in tables])
    # RulesRisk.fit over the patterns: every sum it takes over rows is a sum over patterns weighted by Σw.
    prior = WY.sum() / W.sum()
    model.weights = (patterns.T @ WY + prior * 10) / (patterns.T @ W + 10)
    score = patterns @ model.weights
    keep = W > 0
    curve = IsotonicRegression(out_of_bounds="clip", y_min=0, y_max=1).fit(
        score[keep], WY[keep] / W[keep], sample_weight=W[keep]
    )
    model.curve = {"x": curve.X_thresholds_.tolist(), "y": curve.y_thresholds_.tolist()}
    return model


def _fit_linear(job: _Job, matrices, summaries, features, place, *, pmt: bool) -> LogisticRisk:
    state = _scaling(job, matrices, summaries, features, surveyed_only=pmt)
    data = job.each(prepared, matrices, features, state, pmt, name="training-prepared")
    if pmt:
        model = PmtRisk(features, place=place)
        model.state = {**state, **_ols(job, data)}
    else:
        model = LogisticRisk(features, place=place)
        model.state = {**state, **_newton(job, data, len(features))}
    job.runner.release(data)
    return model


def _scaling(job: _Job, matrices, summaries, features, *, surveyed_only: bool) -> dict:
    """LogisticRisk._fit_scaling over the counties. Percentiles and medians come from a sample of
    PERCENTILE_SAMPLE rows drawn from each county in proportion to its rows (all of them when the region has
    fewer: then the bounds are exactly those of the rows put together); means and spreads from every row, each
    county's (n, mean, M2) combined."""
    rows = [s["fit_rows"] for s in summaries]
    total = sum(rows)
    sizes = [n if total <= PERCENTILE_SAMPLE else int(np.ceil(PERCENTILE_SAMPLE * n / total)) for n in rows]
    samples = [
        job.runner.submit(scaling_sample, m, features, size, job.seed, surveyed_only, key=f"training-sample-{c}")
        for m, size, c in zip(matrices, sizes, job.counties, strict=True)
    ]
    job.handles.extend(samples)
    sample = np.vstack(job.gather(samples))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        low = np.nan_to_num(np.nanpercentile(sample, 1, axis=0))
        high = np.nan_to_num(np.nanpercentile(sample, 99, axis=0))
        median = np.nan_to_num(np.nanmedian(np.clip(sample, low, high), axis=0))
    bounds = {"low": low, "high": high, "median": median}
    n, mean, m2 = 0, np.zeros(len(features)), np.zeros(len(features))
    for count, county_mean, county_m2 in job.gather(
        job.each(filled_moments, matrices, features, bounds, surveyed_only, name="training-moments")
    ):
        if count == 0:
            continue
        delta = county_mean - mean
        together = n + count
        mean = mean + delta * count / together
        m2 = m2 + county_m2 + delta**2 * n * count / together
        n = together
    scale = np.sqrt(m2 / max(n, 1))
    scale[scale == 0] = 1.0
    return {**bounds, "mean": mean, "scale": scale}


def _newton(job: _Job, data, k: int) -> dict:
    """L2 logistic regression (sklearn's objective: Σw·logloss + ‖coef‖²/2C, the intercept unpenalised)."""
    penalty = np.full(k + 1, 1.0 / LOGISTIC_C)
    penalty[-1] = 0.0

    def terms(beta):
        parts = job.gather(job.each(logistic_terms, data, beta, name="training-newton"))
        loss = sum(p[0] for p in parts) + 0.5 * float(np.dot(penalty * beta, beta))
        return loss, sum(p[1] for p in parts) + penalty * beta, sum(p[2] for p in parts) + np.diag(penalty)

    beta = np.zeros(k + 1)
    loss, gradient, hessian = terms(beta)
    iterations = 0
    while iterations < NEWTON_ITERATIONS:
        iterations += 1
        step = np.linalg.lstsq(hessian, gradient, rcond=None)[0]
        if np.max(np.abs(step)) < NEWTON_TOLERANCE:
            break
        shrink = 1.0
        while True:  # halve the step while the loss rises (Newton's step can overshoot far from the optimum)
            candidate = beta - shrink * step
            new_loss, new_gradient, new_hessian = terms(candidate)
            # Near the optimum the loss moves by less than its rounding: a rise that small is no rise.
            if new_loss <= loss + 1e-10 * abs(loss) or shrink < 1e-6:
                break
            shrink /= 2
        beta, loss, gradient, hessian = candidate, new_loss, new_gradient, new_hessian
    return {
        "coef": beta[:-1],
        "intercept": float(beta[-1]),
        "solver": f"Newton with step halving from each county's X'WX and X'W(p−y), {iterations} iterations",
    }


def _ols(job: _Job, data) -> dict:
    parts = job.gather(job.each(ols_terms, data, name="training-ols"))
    ZWZ = sum(p["ZWZ"] for p in parts)
    ZWt = sum(p["ZWt"] for p in parts)
    beta = np.linalg.lstsq(ZWZ, ZWt, rcond=None)[0]
    weight, n = sum(p["w"] for p in parts), sum(p["n"] for p in parts)
    # Σw·residual² = Σw·t² − 2β'Z'Wt + β'Z'WZβ (t: the log income; no second pass over the rows).
    residual = max(sum(p["tWt"] for p in parts) - 2 * beta @ ZWt + beta @ ZWZ @ beta, 0.0)
    sigma = float(np.sqrt(residual / weight))
    t_mean = sum(p["t"] for p in parts) / n
    variance = sum(p["tt"] for p in parts) / n - t_mean**2  # unweighted, as risk.training's R² has it
    return {
        # stored negated, as PmtRisk.fit stores them (contributions point towards poverty)
        "coef": -beta[:-1],
        "intercept": -float(beta[-1]),
        "sigma": max(sigma, 1e-6),
        "r2": float(1 - (residual / weight) / max(variance, 1e-12)),
        "surveyed_rows": int(n),
        "estimator": "OLS from each county's X'WX and X'Wy (risk.training_cluster)",
    }
