"""How well a model's probabilities rank, calibrate and target on held-out data (domain.md §6).

- ROC-AUC and PR-AUC (average precision) of the probabilities; Brier score.
- Targeting at the review capacity: in each township the top N households by probability are flagged, N
  from ReviewCapacity (per township), else the county's ReviewQuota (a number per township or a share of
  its households, set by the county's staff; risk.capacity), else 10% of the township's households scored.
  Exclusion error EE = positives not flagged / positives; inclusion error IE = flagged not positive /
  flagged. Ties are broken by the order of the rows (household id), so the flagged set is reproducible.
- Calibration curve: observed rate against mean probability in ten equal-count bins.
"""

from collections.abc import Iterable, Mapping

import numpy as np
import pandas as pd
from sklearn.calibration import calibration_curve
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

from risk.capacity import Quota, as_quota, review_quota

# Used only where neither ReviewCapacity nor the county's ReviewQuota says how many a township verifies.
DEFAULT_REVIEW_SHARE = 0.10
CALIBRATION_BINS = 10
Capacity = Quota | Mapping[str, int]


def review_capacity(townships: Iterable[str]) -> Quota:
    """The quota of these townships: their ReviewCapacity rows and their counties' ReviewQuota."""
    return review_quota(set(townships))


def capacity_per_township(
    townships: pd.Series, capacity: Capacity, default_share: float = DEFAULT_REVIEW_SHARE
) -> pd.Series:
    quota = as_quota(capacity)
    sizes = townships.value_counts()
    return pd.Series(
        {t: quota.for_township(t, int(n), default_share=default_share) for t, n in sizes.items()}, dtype=np.int64
    )


def flag_top(
    scores: np.ndarray,
    townships: pd.Series,
    capacity: Capacity,
    default_share: float = DEFAULT_REVIEW_SHARE,
) -> np.ndarray:
    """True for the top N rows by score within each township (N per capacity_per_township)."""
    frame = pd.DataFrame(
        {
            "township": townships.to_numpy(),
            "score": -np.asarray(scores, dtype=float),
            "order": np.arange(len(scores)),
        }
    )
    frame = frame.sort_values(["township", "score", "order"], kind="mergesort")
    rank = frame.groupby("township", sort=False).cumcount().to_numpy()
    limit = capacity_per_township(townships, capacity, default_share)
    flagged = np.zeros(len(scores), dtype=bool)
    flagged[frame["order"].to_numpy()] = rank < frame["township"].map(limit).to_numpy()
    return flagged


def _safe(metric, y, p) -> float | None:
    return float(metric(y, p)) if 0 < y.sum() < len(y) else None


def targeting_metrics(y: np.ndarray, p: np.ndarray, flagged: np.ndarray) -> dict:
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    positives, flagged_count = int(y.sum()), int(flagged.sum())
    return {
        "n": len(y),
        "positives": positives,
        "base_rate": float(y.mean()) if len(y) else None,
        "roc_auc": _safe(roc_auc_score, y, p),
        "pr_auc": _safe(average_precision_score, y, p),
        "brier": float(brier_score_loss(y, p)) if len(y) else None,
        "flagged": flagged_count,
        "ee": float(((y == 1) & ~flagged).sum() / positives) if positives else None,
        "ie": float(((y == 0) & flagged).sum() / flagged_count) if flagged_count else None,
    }


def calibration_points(y: np.ndarray, p: np.ndarray, bins: int = CALIBRATION_BINS) -> list[dict]:
    if len(np.unique(y)) < 2:
        return []
    observed, predicted = calibration_curve(y, p, n_bins=bins, strategy="quantile")
    return [{"predicted": float(a), "observed": float(b)} for a, b in zip(predicted, observed, strict=True)]


def evaluate(
    y: np.ndarray, p: np.ndarray, townships: pd.Series, capacity: Capacity, counties: pd.Series | None = None
) -> tuple[dict, dict]:
    """(metrics, evaluation): overall metrics; the calibration curve and the same metrics per township.
    With the rows' county codes spanning two counties or more, metrics["counties"] holds the same metrics per
    county (a prefecture's or a province's model; one county's training has no such table)."""
    y = np.asarray(y, dtype=int)
    p = np.asarray(p, dtype=float)
    flagged = flag_top(p, townships, capacity)
    metrics = targeting_metrics(y, p, flagged)
    county_codes = np.asarray(counties) if counties is not None else np.array([])
    if len(set(county_codes)) > 1:
        per_county = {}
        for county in sorted(set(county_codes)):
            mask = county_codes == county
            per_county[str(county)] = targeting_metrics(y[mask], p[mask], flagged[mask])
        metrics["counties"] = per_county
    quota = as_quota(capacity)
    default = f"{DEFAULT_REVIEW_SHARE:.0%} per township"
    metrics["capacity"] = ("ReviewCapacity" if not quota.counties else quota.source(default)) if quota else default
    per_township = {}
    codes = townships.to_numpy()
    for township in sorted(set(codes)):
        mask = codes == township
        per_township[township] = targeting_metrics(y[mask], p[mask], flagged[mask])
    return metrics, {"calibration": calibration_points(y, p), "townships": per_township}
