"""Five years of income (2021–2025) per household, driven by the members' work and by the shocks.

A household's plan for a year (what its land, animals, business and workers would normally bring) is cut by
the shocks of that year and, partly, of the year before; production costs follow the plan, so a failed
harvest or business shows as a fall of net income. Transfers (低保, 特困, pensions, …) come from
assistance.py, rigid spending from spending.py. Amounts are whole yuan.
"""

import datetime as dt

import numpy as np

from demo.county import assistance, spending
from demo.county import assumptions as A
from demo.county import shocks as shock_model
from demo.county.draws import Table, sum_per_household
from demo.county.population import TEMPLATES

Y = len(A.YEARS)
LAST = Y - 1
YEARS = np.asarray(A.YEARS)
TREND = np.asarray([0.90, 0.92, 0.95, 0.98, 1.00])

AMOUNT_FIELDS = (
    "wage_income",
    "farming_income",
    "livestock_income",
    "forestry_income",
    "other_business_income",
    "property_income",
    "dibao_income",
    "tekun_income",
    "pension_income",
    "eco_compensation_income",
    "disability_allowance_income",
    "other_transfer_income",
    "production_cost",
    "education_aid",
    "medical_reimbursement",
    "housing_subsidy",
    "temporary_relief",
    "insurance_payout",
    "loans",
    "compliant_medical_spending",
    "compliant_education_spending",
)
INCOME_FIELDS = AMOUNT_FIELDS[:12]


def _lognormal(rng: np.random.Generator, median: float, sigma: float, shape) -> np.ndarray:
    return np.exp(rng.normal(np.log(median), sigma, shape))


def _wages(rng: np.random.Generator, hh: Table, pp: Table, shocks: Table) -> np.ndarray:
    """Wages per household and year; sets the members' months and place of work away in 2025."""
    n, h = len(pp["age"]), len(hh["size"])
    age = pp["age"][:, None] - (A.AS_OF.year - YEARS)[None, :]
    work = shock_model.person_work_factor(pp, shocks)
    job = shocks["job_factor"][pp["hh"]]
    usual = pp["usual_months"][:, None]
    noise = rng.integers(-1, 2, size=(n, Y))
    noise[:, LAST] = 0
    months = np.where(usual > 0, np.clip(usual + noise, 1, 12), 0) * (age >= 17)
    months = np.rint(months * work * job).astype(np.int64)
    pp["months_worked_away"] = months[:, LAST]
    away = months[:, LAST] > 0
    pp["work_place"] = np.where(away, pp["usual_work_place"], "")
    pp["employer"] = np.where(away, pp["usual_employer"], "")

    index = np.asarray([A.WAGE_INDEX[y] for y in A.YEARS])
    migrant = pp["monthly_wage"][:, None] * months * index
    local = pp["local_wage"][:, None] * index * work * (age >= 16)
    welfare_start = np.asarray(A.YEARS)[np.minimum((rng.random(n) * 6).astype(np.int64), LAST)]
    welfare_pay = np.asarray([A.PUBLIC_WELFARE_MONTHLY[y] for y in A.YEARS])
    welfare = (
        pp["public_welfare_months"][:, None] * welfare_pay * (YEARS[None, :] >= welfare_start[:, None]) * work
    )
    wages = sum_per_household(migrant + local + welfare, pp["hh"], h)
    caring = np.where(shocks["illness"], 0.9, 1.0)  # someone at home looks after the patient
    return wages * caring * np.where(shocks["fragile"], 0.5, 1.0)[:, None]


def _business(rng: np.random.Generator, hh: Table, pp: Table, shocks: Table) -> Table:
    h = len(hh["size"])
    labour = np.where(
        hh["strong_workers"] > 0, 1.0, np.where(hh["whole_household_unable_to_work"], 0.3, 0.85)
    )
    fragile = np.where(shocks["fragile"], 0.45, 1.0)[:, None]
    noise = _lognormal(rng, 1.0, 0.08, (4, h, Y))
    land, forest = hh["cultivated_land_mu"], hh["forest_land_mu"]
    farming = (
        (land * A.FARM_INCOME_PER_MU * _lognormal(rng, 1.0, 0.3, h) * labour)[:, None] * TREND * noise[0]
    )
    livestock = (hh["has_livestock"] * _lognormal(rng, 5000, 0.7, h))[:, None] * TREND * noise[1]
    forestry = (forest * A.FORESTRY_INCOME_PER_MU * (0.5 + rng.random(h)))[:, None] * TREND * noise[2]
    tourism = np.asarray([A.TOURISM_INDEX[y] for y in A.YEARS])
    business_index = np.where(hh["tourism"][:, None], tourism, TREND)
    median = np.where(hh["tourism"], 25000, 15000)
    business = (
        (hh["has_business"] * np.exp(rng.normal(np.log(median), 0.6)))[:, None] * business_index * noise[3]
    )
    farming, livestock, forestry, business = (x * fragile for x in (farming, livestock, forestry, business))
    cost = 0.35 * (farming + livestock) + 0.3 * business + 0.1 * forestry

    severity = shocks["severity"]
    after = np.zeros_like(severity)
    after[:, 1:] = severity[:, :-1] / 3
    failed = shocks["industry"].astype(float)
    failed_after = np.zeros_like(failed)
    failed_after[:, 1:] = failed[:, :-1]
    business_cut = np.where(failed > 0, 0.1, np.where(failed_after > 0, 0.6, 1.0))
    actual = {
        "farming_income": farming * (1 - severity) * (1 - after),
        "livestock_income": livestock * (1 - 0.8 * severity) * (1 - after) * business_cut,
        "forestry_income": forestry * (1 - 0.5 * severity),
        "other_business_income": business * business_cut,
        "production_cost": cost,
    }
    actual["crop_loss"] = (farming + livestock) - (actual["farming_income"] + actual["livestock_income"])
    return actual


def compute(rng: np.random.Generator, hh: Table, pp: Table, shocks: Table) -> Table:
    """Amounts (H, Y) for every IncomeRecord field, plus household_size (H, Y) and survey dates."""
    h, member_of = len(hh["size"]), pp["hh"]
    age = pp["age"][:, None] - (A.AS_OF.year - YEARS)[None, :]
    size = np.maximum(sum_per_household((age >= 0).astype(float), member_of, h), 1).astype(np.int64)
    out: Table = {"household_size": size}
    out["wage_income"] = _wages(rng, hh, pp, shocks)
    out.update(_business(rng, hh, pp, shocks))

    u = rng.random((6, h, Y))
    dividends = np.where(hh["lifted"] & (u[0][:, 0] < 0.6), 300 + 900 * u[1][:, 0], 0)
    rent = np.where(u[0][:, 1] < 0.10, 500 + 2500 * u[1][:, 1], 0)
    out["property_income"] = (dividends + rent)[:, None] * TREND
    pension = np.asarray([A.PENSION_YEARLY[y] for y in A.YEARS])
    out["pension_income"] = sum_per_household(((age >= 60) * pension).astype(float), member_of, h)
    out["eco_compensation_income"] = np.repeat(
        (hh["forest_land_mu"] * A.ECO_COMPENSATION_PER_MU)[:, None], Y, 1
    )
    support = np.where(
        hh["elderly_only"] & (u[2][:, 0] < 0.95), _lognormal(rng, A.ELDERLY_SUPPORT, 0.4, h), 0
    )
    skipped = hh["template"] == TEMPLATES.index("skipped")
    support += np.where(
        skipped & (u[2][:, 1] < 0.9), _lognormal(rng, A.SKIPPED_GENERATION_REMITTANCE, 0.5, h), 0
    )
    land_subsidy = hh["cultivated_land_mu"] * A.LAND_SUBSIDY_PER_MU
    other = (support + land_subsidy)[:, None] * TREND

    before = sum(
        out[name]
        for name in (
            "wage_income",
            "farming_income",
            "livestock_income",
            "forestry_income",
            "other_business_income",
            "property_income",
            "pension_income",
            "eco_compensation_income",
        )
    )
    pre_per_capita = (before + other - out["production_cost"]) / size
    protection = assistance.decide(rng, hh, pp, pre_per_capita[:, LAST])
    out["dibao_income"] = protection["dibao"]
    out["tekun_income"] = protection["tekun"]
    out["disability_allowance_income"] = protection["disability"]
    out["other_transfer_income"] = other + protection["orphan"]

    self_pay, reimbursed = spending.medical(rng, hh, pp, shocks)
    out["compliant_medical_spending"] = sum_per_household(self_pay, member_of, h)
    out["medical_reimbursement"] = sum_per_household(reimbursed, member_of, h)
    supported = hh["lifted"] | hh["dibao_household"]
    net_study, aid = spending.study(rng, hh, pp, supported)
    out["compliant_education_spending"] = sum_per_household(net_study.astype(float), member_of, h)
    out["education_aid"] = sum_per_household(aid.astype(float), member_of, h)

    out["temporary_relief"] = assistance.temporary_relief(rng, hh, pp, shocks)
    payout = np.where(shocks["disaster"] & (u[3] < 0.5), 0.2 * out.pop("crop_loss"), 0)
    payout = payout + np.where(shocks["illness"] & (u[4] < 0.3), 0.2 * shocks["illness_cost"], 0)
    out["insurance_payout"] = payout
    out["housing_subsidy"] = np.where(
        shocks["damaged_house"] & (np.arange(Y) < LAST), 15000 + 20000 * u[5], 0
    )
    out["loans"] = np.where(hh["lifted"][:, None] & (u[5] < 0.05), 20000 + 30000 * u[2], 0)
    out["loans"] = np.rint(out["loans"] / 1000) * 1000

    for name in AMOUNT_FIELDS:
        out[name] = np.maximum(np.rint(out[name]), 0).astype(np.int64)
    out["net_income"] = sum(out[name] for name in INCOME_FIELDS) - out["production_cost"]
    out["survey_day"] = rng.integers(0, 30, size=(h, Y))
    return out


def survey_dates(survey_day: np.ndarray) -> np.ndarray:
    """Income surveys take place between 15 November and 14 December of the year."""
    start = np.asarray([np.datetime64(dt.date(y, 11, 15)) for y in A.YEARS])
    return start[None, :] + survey_day


def per_capita(incomes: Table) -> np.ndarray:
    return incomes["net_income"] / incomes["household_size"]
