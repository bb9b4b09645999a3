"""Social assistance (综合保障) as civil affairs records it: 特困供养, 低保, disability allowances,
临时救助, and children without care (孤儿, 事实无人抚养儿童). Returns yearly amounts per household; the 2025
records per person go into pp for the civil-affairs file.
"""

import numpy as np

from demo.county import assumptions as A
from demo.county.draws import Table, any_per_household, integers, pick, random_dates, sum_per_household

Y = len(A.YEARS)
LAST = Y - 1
YEARS = np.asarray(A.YEARS)
NAT = np.datetime64("NaT")
START_YEAR_WEIGHTS = {
    "2016": 0.14,
    "2017": 0.13,
    "2018": 0.12,
    "2019": 0.11,
    "2020": 0.11,
    "2021": 0.10,
    "2022": 0.09,
    "2023": 0.08,
    "2024": 0.07,
    "2025": 0.05,
}
ORPHAN_MONTHLY = 1200


def _months_active(start: np.ndarray, stop: np.ndarray) -> np.ndarray:
    """Months of each year (P, Y) from start (inclusive) to stop (exclusive, NaT = still paid)."""
    start_m = start.astype("datetime64[M]").astype(np.int64)
    stop_m = np.where(
        np.isnat(stop), np.iinfo(np.int64).max // 2, stop.astype("datetime64[M]").astype(np.int64)
    )
    year_m = (YEARS - 1970) * 12
    low = np.maximum(start_m[:, None], year_m[None, :])
    high = np.minimum(stop_m[:, None], year_m[None, :] + 12)
    return np.where(np.isnat(start)[:, None], 0, np.clip(high - low, 0, 12))


def _start_dates(u: np.ndarray, v: np.ndarray, weights: dict[str, float]) -> np.ndarray:
    year = pick(u, weights).astype(np.int64)
    month = np.where(year == A.AS_OF.year, integers(v, 1, 10), integers(v, 1, 12))
    return ((year - 1970) * 12 + month - 1).astype("datetime64[M]").astype("datetime64[D]")


def decide(rng: np.random.Generator, hh: Table, pp: Table, pre_per_capita_2025: np.ndarray) -> Table:
    """Who gets what (in place on pp: dibao, tekun, civil-affairs fields) and the yearly amounts per
    household."""
    h, n, member_of = len(hh["size"]), len(pp["age"]), pp["hh"]
    uh = rng.random((8, h))
    up = rng.random((8, n))

    # 特困供养: people alone, old or severely disabled, unable to work.
    alone = (hh["size"] == 1)[member_of]
    unable = np.isin(pp["labour_skill"], ["4", "5"])
    severe = np.isin(pp["disability_grade"], ["1", "2"])
    eligible = alone & unable & ((pp["age"] >= 60) | (severe & (pp["age"] >= 16)))
    attribute3 = (hh["poverty_attribute"] == "3")[member_of]
    tekun = eligible & (up[0] < np.where(attribute3, 0.9, 0.6))
    tekun_start = np.where(
        tekun, _start_dates(up[1], up[2], {k: v for k, v in START_YEAR_WEIGHTS.items() if k != "2025"}), NAT
    )
    tekun_household = any_per_household(tekun, member_of, h)

    # 低保: households poor before assistance, most of all those who cannot work their way out.
    ill = any_per_household(pp["chronic"] | pp["serious"] | pp["disabled"], member_of, h)
    vulnerable = ill | hh["elderly_only"] | hh["whole_household_unable_to_work"] | (hh["strong_workers"] == 0)
    need = pre_per_capita_2025 < A.DIBAO_LINE_2025
    p = np.where(
        need & vulnerable, 0.85, np.where(need, 0.5, np.where(pre_per_capita_2025 < 9000, 0.02, 0.003))
    )
    p = np.where(hh["poverty_attribute"] == "2", np.maximum(p, 0.6), p)
    dibao_household = (uh[0] < p) & ~tekun_household
    whole = uh[1] < 0.6
    needy_member = pp["chronic"] | pp["serious"] | pp["disabled"] | (pp["age"] >= 60)
    has_needy = any_per_household(needy_member, member_of, h)
    covered = dibao_household[member_of] & (whole[member_of] | ~has_needy[member_of] | needy_member)
    first_class = pp["serious"] | severe | (pp["age"] >= 70) | hh["whole_household_unable_to_work"][member_of]
    dibao_class = np.where(first_class, "一类", np.where(uh[2][member_of] < 0.55, "二类", "三类"))
    dibao_class = np.where(covered, dibao_class, "")
    household_start = _start_dates(uh[3], uh[4], START_YEAR_WEIGHTS)
    stopped_household = dibao_household & (uh[5] < 0.10) & (household_start < np.datetime64("2025-03-01"))
    stop_month = integers(uh[6], 4, 11)
    stop = ((A.AS_OF.year - 1970) * 12 + stop_month - 1).astype("datetime64[M]").astype("datetime64[D]")
    dibao_start = np.where(covered, household_start[member_of], NAT)
    dibao_stop = np.where(covered & stopped_household[member_of], stop[member_of], NAT)
    monthly = np.select(
        [dibao_class == label for label in A.DIBAO_MONTHLY_BY_CLASS],
        list(A.DIBAO_MONTHLY_BY_CLASS.values()),
        0,
    )

    pp["tekun"] = tekun
    pp["tekun_start"] = tekun_start
    pp["dibao_class"] = dibao_class
    pp["dibao_monthly"] = monthly
    pp["dibao_start"] = dibao_start
    pp["dibao_stop"] = dibao_stop
    pp["dibao"] = np.where(covered & np.isnat(dibao_stop), np.where(hh["urban"][member_of], "1", "2"), "")
    hh["dibao_household"] = dibao_household

    index = np.asarray([A.DIBAO_INDEX[y] for y in A.YEARS])
    dibao_months = _months_active(dibao_start, dibao_stop)
    tekun_months = _months_active(tekun_start, np.full(n, NAT, dtype="datetime64[D]"))
    dibao_income = sum_per_household(np.rint(monthly[:, None] * index * dibao_months), member_of, h)
    tekun_income = sum_per_household(np.rint(A.TEKUN_MONTHLY * index * tekun_months), member_of, h)
    protected = (dibao_months + tekun_months) > 0
    allowance = (pp["disabled"][:, None] & protected).astype(float) + severe[:, None].astype(float)
    born = (pp["age"][:, None] - (A.AS_OF.year - YEARS)) >= 0
    disability = sum_per_household(
        np.rint(allowance * A.DISABILITY_ALLOWANCE_MONTHLY * 12 * index * born), member_of, h
    )

    # Children in the care of grandparents alone: some are orphans, some have no parent who can care for them.
    skipped = (hh["template"] == 5)[member_of]
    child = skipped & (pp["age"] < 18) & np.isin(pp["relation"], ["07", "08"])
    pp["orphan"] = child & (up[3] < 0.10)
    pp["unsupported_child"] = child & ~pp["orphan"] & (up[3] < 0.25)
    cared = (pp["orphan"] | pp["unsupported_child"])[:, None] & born
    orphan_income = sum_per_household(np.rint(cared * ORPHAN_MONTHLY * 12 * index), member_of, h)
    return {"dibao": dibao_income, "tekun": tekun_income, "disability": disability, "orphan": orphan_income}


def temporary_relief(rng: np.random.Generator, hh: Table, pp: Table, shocks: Table) -> np.ndarray:
    """临时救助 per household and year after a shock; the 2025 payments are recorded on the head (pp)."""
    h = len(hh["size"])
    struck = shocks["illness"] | shocks["disaster"] | shocks["accident"]
    relieved = struck & (rng.random((h, Y)) < 0.4)
    times = np.where(relieved, pick(rng.random((h, Y)), {"1": 0.6, "2": 0.3, "3": 0.1}).astype(np.int64), 0)
    amounts = integers(rng.random((h, Y, 3)), 5, 50) * 100
    paid = np.arange(3)[None, None, :] < times[:, :, None]
    total = (amounts * paid).sum(axis=2)

    n = len(pp["age"])
    head = np.flatnonzero(pp["relation"] == "01")
    last_amount = np.where(
        times[:, LAST] > 0, amounts[np.arange(h), LAST, np.maximum(times[:, LAST] - 1, 0)], 0
    )
    last_date = np.where(
        times[:, LAST] > 0,
        random_dates(rng.random(h), np.datetime64("2025-03-01"), np.datetime64(A.AS_OF)),
        NAT,
    )
    pp["relief_times"] = np.zeros(n, dtype=np.int64)
    pp["relief_total"] = np.zeros(n, dtype=np.int64)
    pp["relief_last_amount"] = np.zeros(n, dtype=np.int64)
    pp["relief_last_date"] = np.full(n, NAT, dtype="datetime64[D]")
    household_of_head = pp["hh"][head]
    pp["relief_times"][head] = times[household_of_head, LAST]
    pp["relief_total"][head] = total[household_of_head, LAST]
    pp["relief_last_amount"][head] = last_amount[household_of_head]
    pp["relief_last_date"][head] = last_date[household_of_head]
    return total
