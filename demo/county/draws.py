"""Small vectorised drawing helpers shared by the generator's modules."""

from collections.abc import Mapping

import numpy as np

Table = dict[str, np.ndarray]


def pick_index(u: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """The index of one key of `weights` per uniform draw in u, with the given probabilities."""
    cumulative = np.cumsum(np.asarray(list(weights.values()), dtype=float))
    cumulative /= cumulative[-1]
    return np.minimum(np.searchsorted(cumulative, u, side="right"), len(cumulative) - 1)


def pick(u: np.ndarray, weights: Mapping[str, float]) -> np.ndarray:
    """One key of `weights` per uniform draw in u, with the given probabilities."""
    return np.asarray(list(weights))[pick_index(u, weights)]


def by_age(age: np.ndarray, table: tuple[tuple[int, float], ...]) -> np.ndarray:
    """Probability per person from a table of (age below, probability), in increasing order."""
    bounds = np.asarray([bound for bound, _ in table])
    values = np.asarray([value for _, value in table])
    return values[np.minimum(np.searchsorted(bounds, age, side="right"), len(values) - 1)]


def integers(u: np.ndarray, low: int, high: int) -> np.ndarray:
    """Integers in [low, high] from uniform draws."""
    return low + np.floor(u * (high - low + 1)).astype(np.int64)


def any_per_household(flag: np.ndarray, household: np.ndarray, count: int) -> np.ndarray:
    return np.bincount(household, weights=flag.astype(np.float64), minlength=count) > 0


def sum_per_household(values: np.ndarray, household: np.ndarray, count: int) -> np.ndarray:
    """Sum of a per-person array (or the rows of a per-person × year matrix) for each household."""
    if values.ndim == 1:
        return np.bincount(household, weights=values, minlength=count)
    return np.stack(
        [np.bincount(household, weights=values[:, j], minlength=count) for j in range(values.shape[1])],
        axis=1,
    )


def pick_member(u: np.ndarray, weight: np.ndarray, household: np.ndarray, count: int) -> np.ndarray:
    """One person per household, chosen with probability proportional to weight (-1 where all weights are 0).

    Weighted sampling by keys u^(1/w) (Efraimidis–Spirakis): the member with the largest key wins.
    """
    with np.errstate(divide="ignore"):
        key = np.where(weight > 0, np.log(np.maximum(u, 1e-300)) / np.where(weight > 0, weight, 1), -np.inf)
    order = np.lexsort((key, household))
    grouped = household[order]
    last = np.flatnonzero(np.r_[grouped[1:] != grouped[:-1], True])
    winners = order[last]
    chosen = np.full(count, -1, dtype=np.int64)
    chosen[grouped[last]] = np.where(np.isfinite(key[winners]), winners, -1)
    return chosen


def random_dates(
    u: np.ndarray, start: np.ndarray | np.datetime64, end: np.ndarray | np.datetime64
) -> np.ndarray:
    """A day between start and end (inclusive) for each draw in u."""
    start = np.asarray(start, dtype="datetime64[D]")
    end = np.asarray(end, dtype="datetime64[D]")
    span = (end - start).astype(np.int64) + 1
    return start + np.floor(u * span).astype(np.int64)


def year_start(year: np.ndarray | int) -> np.ndarray:
    return (np.asarray(year, dtype=np.int64) - 1970).astype("datetime64[Y]").astype("datetime64[D]")
