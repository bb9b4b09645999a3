"""Rigid spending per person and year: compliant out-of-pocket medical costs and the net cost of study.

The 2025 figures per person are what the health and education departments report; their sums per household are
the household's IncomeRecord.compliant_medical_spending and compliant_education_spending for 2025.
"""

import numpy as np

from demo.county import assumptions as A
from demo.county.draws import Table, random_dates
from demo.county.names import CHRONIC_DIAGNOSES, SERIOUS_DIAGNOSES

Y = len(A.YEARS)
LAST = Y - 1
YEARS = np.asarray(A.YEARS)
MEDICAL_TREND = np.asarray([0.88, 0.91, 0.94, 0.97, 1.0])

STAGES = ("", "kindergarten", "primary", "junior", "high", "vocational", "college", "university", "graduate")
STAGE_COST = np.asarray([0, 1500, 600, 1200, 7000, 5000, 12000, 15000, 18000])
STAGE_AID_SUPPORTED = np.asarray([0, 1000, 1000, 1250, 2000, 2000, 3300, 3300, 6000])
STAGE_AID_OTHERS = np.asarray([0, 0, 0, 0, 0, 2000, 0, 0, 6000])
RAIN_DEW = 3000  # 雨露计划, vocational and higher-vocational students of 脱贫户
SCHOOL_STAGE = {"02": 1, "1": 2, "2": 3, "3": 4, "4": 5, "5": 6, "61": 7, "71": 8}


def medical(rng: np.random.Generator, hh: Table, pp: Table, shocks: Table) -> tuple[np.ndarray, np.ndarray]:
    """Compliant self-pay (P, Y) and reimbursements (P, Y); 2025 details go into pp."""
    n = len(pp["age"])
    u = rng.random((6, n))
    chronic_cost = np.where(pp["chronic"], np.exp(rng.normal(np.log(1200), 0.6, n)), 0.0)
    serious_cost = np.where(pp["serious_base"], np.exp(rng.normal(np.log(6000), 0.5, n)), 0.0)
    disabled_cost = np.where(pp["disabled"], 300.0, 0.0)
    hospital = np.zeros((n, Y))
    patient, injured = shocks["patient"], shocks["injured"]
    has_patient = patient >= 0
    hospital[patient[has_patient]] += shocks["illness_cost"][has_patient]
    hospital[patient[has_patient], 1:] += 0.4 * shocks["illness_cost"][has_patient, :-1]
    has_injured = injured >= 0
    hospital[injured[has_injured]] += shocks["accident_cost"][has_injured]
    stays = np.where(rng.random((n, Y)) < 0.05, 300 + 2700 * rng.random((n, Y)), 0.0)
    born = (pp["age"][:, None] - (A.AS_OF.year - YEARS)) >= 0
    self_pay = np.rint(
        ((chronic_cost + disabled_cost)[:, None] * MEDICAL_TREND + serious_cost[:, None] + hospital + stays)
        * born
    )
    reimbursed = np.rint(
        (0.5 * chronic_cost[:, None] + 2.0 * serious_cost[:, None] + 2.0 * hospital + stays) * born
    )

    in_hospital = 0.5 * serious_cost + hospital[:, LAST] + stays[:, LAST]
    share = np.where(hospital[:, LAST] + serious_cost > 0, 0.4 + 0.4 * u[0], 1.0)
    pp["max_stay_self_pay"] = np.rint(in_hospital * share)
    pp["outpatient_monthly"] = np.rint(
        (0.8 * chronic_cost + 0.3 * serious_cost) / 12 + np.where(u[1] < 0.3, 40 * u[2], 0)
    )
    pp["chronic_diagnosis"] = np.where(
        pp["chronic"], np.asarray(CHRONIC_DIAGNOSES)[(u[3] * len(CHRONIC_DIAGNOSES)).astype(np.int64)], ""
    )
    pp["serious_diagnosis"] = np.where(
        pp["serious"], np.asarray(SERIOUS_DIAGNOSES)[(u[4] * len(SERIOUS_DIAGNOSES)).astype(np.int64)], ""
    )
    # A serious illness from a recent shock was diagnosed in that year; an old one some years ago.
    diagnosed_year = np.full(n, 0)
    ill = shocks["illness"]
    for j in range(Y):
        who = patient[ill[:, j] & has_patient]
        diagnosed_year[who] = YEARS[j]
    diagnosed_year = np.where(diagnosed_year == 0, 2012 + (u[5] * 10).astype(np.int64), diagnosed_year)
    diagnosed_year = np.maximum(diagnosed_year, pp["birth_year"])
    start = np.maximum(np.datetime64("2000-01-01"), pp["birth_date"])
    first = (diagnosed_year - 1970).astype("datetime64[Y]").astype("datetime64[D]")
    last = (diagnosed_year - 1969).astype("datetime64[Y]").astype("datetime64[D]") - 1
    dates = random_dates(rng.random(n), np.maximum(first, start), np.minimum(last, np.datetime64(A.AS_OF)))
    pp["serious_diagnosis_date"] = np.where(pp["serious"], dates, np.datetime64("NaT"))
    pp["medical_self_pay"] = self_pay[:, LAST]
    return self_pay, reimbursed


def _stage_now(school: np.ndarray) -> np.ndarray:
    stage = np.zeros(len(school), dtype=np.int64)
    for prefix, value in SCHOOL_STAGE.items():
        stage[np.char.startswith(school, prefix) & (school != "01")] = value
    return stage


def study(
    rng: np.random.Generator, hh: Table, pp: Table, supported: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Net cost of study and student aid (P, Y); `supported` marks households (脱贫户, 低保) that get aid."""
    n = len(pp["age"])
    stage_now = _stage_now(pp["school_status"])
    vocational_track = np.isin(stage_now, [5, 6])
    went_to_college = (stage_now >= 6) | np.isin(pp["education"], ["5", "6"])
    went_to_high = (stage_now >= 4) | np.isin(pp["education"], ["4", "5", "6"])
    stage = np.zeros((n, Y), dtype=np.int64)
    for j, year in enumerate(A.YEARS[:-1]):
        age = pp["age"] - (A.AS_OF.year - year)
        young = pp["age"] <= 26
        s = np.select(
            [
                (age >= 3) & (age <= 5),
                (age >= 6) & (age <= 11),
                (age >= 12) & (age <= 14),
                (age >= 15) & (age <= 17) & went_to_high,
                (age >= 18) & (age <= 21) & went_to_college,
            ],
            [1, 2, 3, np.where(vocational_track, 5, 4), np.where(np.isin(stage_now, [6, 5]), 6, 7)],
            0,
        )
        stage[:, j] = np.where(young & ~pp["dropout"], s, 0)
    stage[:, LAST] = stage_now
    scale = np.exp(rng.normal(0, 0.25, n))[:, None] * np.asarray([0.88, 0.91, 0.94, 0.97, 1.0])
    cost = STAGE_COST[stage] * scale
    is_supported = supported[pp["hh"]][:, None]
    others_get = (rng.random(n) < 0.35)[:, None]
    aid = np.where(
        is_supported,
        STAGE_AID_SUPPORTED[stage],
        np.where(others_get, STAGE_AID_SUPPORTED[stage], STAGE_AID_OTHERS[stage]),
    )
    aid = aid + np.where(is_supported & np.isin(stage, [5, 6]), RAIN_DEW, 0)
    aid = np.rint(aid).astype(np.int64)
    net = np.maximum(np.rint(cost) - aid, 0)
    pp["study_stage"] = stage_now
    pp["student_aid"] = aid[:, LAST]
    pp["net_study_cost"] = net[:, LAST]
    return net, aid
