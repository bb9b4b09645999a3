"""The shocks that drive the income paths: serious illness, accidents, natural disasters, job loss, failed
business. Drawn per household and year (disasters per village and year), then written back into the members'
current state where a recent shock shows: a patient of 2024–2025 has a serious illness today, and so on.
"""

import numpy as np

from demo.county import assumptions as A
from demo.county.draws import Table, any_per_household, pick_member
from demo.county.population import set_health_codes
from demo.county.villages import VillageBook

Y = len(A.YEARS)
LAST = Y - 1


def draw(rng: np.random.Generator, hh: Table, pp: Table, villages: VillageBook) -> Table:
    h, member_of = len(hh["size"]), pp["hh"]
    u = rng.random((12, h, Y))
    elderly = any_per_household(pp["age"] >= 60, member_of, h)
    chronic = any_per_household(pp["chronic"], member_of, h)
    migrants = any_per_household(pp["usual_months"] > 0, member_of, h)
    business = hh["has_livestock"] | hh["has_business"]

    p_ill = A.ILLNESS_BASE + A.ILLNESS_IF_ELDERLY * elderly + A.ILLNESS_IF_CHRONIC * chronic
    illness = u[0] < p_ill[:, None]
    patient = pick_member(rng.random(len(member_of)), 1 + pp["age"] / 20, member_of, h)
    illness_cost = np.where(illness, np.clip(np.exp(rng.normal(np.log(10000), 0.7, (h, Y))), 3000, 150000), 0)

    adult = (pp["age"] >= 18) & (pp["age"] <= 65)
    injured = pick_member(rng.random(len(member_of)), adult.astype(float), member_of, h)
    accident = (u[1] < A.ACCIDENT) & (injured >= 0)[:, None]
    accident_cost = np.where(accident, np.clip(np.exp(rng.normal(np.log(8000), 0.6, (h, Y))), 1500, 60000), 0)

    hit = villages.disaster[hh["village"]] & (u[2] < A.HOUSEHOLD_HIT_IN_DISASTER) & ~hh["urban"][:, None]
    severity = np.where(hit, 0.3 + 0.55 * u[3], 0.0)
    damaged_house = hit & (u[4] < 0.10)

    job_loss = migrants[:, None] & (u[5] < np.asarray([A.JOB_LOSS_IF_MIGRANT[y] for y in A.YEARS]))
    job_factor = np.ones((h, Y))
    cut = 0.2 + 0.4 * u[6]
    for j in range(Y):
        job_factor[:, j] = np.where(job_loss[:, j], cut[:, j], job_factor[:, j])
        if j + 1 < Y:
            lingering = job_loss[:, j] & (u[7][:, j] >= A.JOB_LOSS_RECOVERY) & ~job_loss[:, j + 1]
            job_factor[:, j + 1] = np.where(lingering, 0.7, job_factor[:, j + 1])

    industry = business[:, None] & (u[8] < A.INDUSTRY_FAILURE_IF_BUSINESS)
    fragile = u[9][:, 0] < A.FRAGILE_SHARE
    return {
        "illness": illness,
        "patient": patient,
        "illness_cost": illness_cost,
        "accident": accident,
        "injured": injured,
        "accident_cost": accident_cost,
        "disaster": hit,
        "disaster_subtype": villages.disaster_subtype[hh["village"]],
        "severity": severity,
        "damaged_house": damaged_house,
        "job_loss": job_loss,
        "job_factor": job_factor,
        "industry": industry,
        "fragile": fragile,
    }


def apply_to_people(rng: np.random.Generator, hh: Table, pp: Table, shocks: Table) -> None:
    """Recent shocks show in today's records: health, labour, work away, housing."""
    h = len(hh["size"])
    u = rng.random((3, h))
    patient, illness = shocks["patient"], shocks["illness"]
    recent = illness[:, LAST] | illness[:, LAST - 1]
    earlier = illness[:, : LAST - 1].any(axis=1) & ~recent
    sick = patient[recent & (patient >= 0)]
    pp["serious"][sick] = True
    recovered_chronic = patient[earlier & (patient >= 0) & (u[0] < 0.5)]
    pp["chronic"][recovered_chronic] = True
    set_health_codes(pp)
    weak = sick[np.isin(pp["labour_skill"][sick], ["1", "2"]) & (pp["age"][sick] >= 16)]
    pp["labour_skill"][weak] = np.where(rng.random(len(weak)) < 0.4, "4", "3")

    grade = hh["housing_grade"]
    damaged_now = shocks["damaged_house"][:, LAST]
    hh["housing_grade"] = np.where(damaged_now, np.where(u[1] < 0.7, "C", "D"), grade)
    repaired = shocks["damaged_house"][:, :LAST].any(axis=1) & ~damaged_now
    hh["housing_grade"] = np.where(repaired, np.where(u[2] < 0.6, "A", "B"), hh["housing_grade"])


def person_work_factor(pp: Table, shocks: Table) -> np.ndarray:
    """Share of a person's usual work done in each year (P, Y): illness stops it, an accident cuts it."""
    factor = np.ones((len(pp["age"]), Y))
    for j in range(Y):
        ill = shocks["illness"][:, j] & (shocks["patient"] >= 0)
        factor[shocks["patient"][ill], j] *= 0.0
        if j + 1 < Y:
            factor[shocks["patient"][ill], j + 1] *= 0.5
        hurt = shocks["accident"][:, j]
        factor[shocks["injured"][hurt], j] *= 0.4
    return factor


RISK_BITS = {
    "01": 0,
    "02": 1,
    "03": 2,
    "04": 3,
    "05": 4,
    "06": 5,
    "07": 6,
    "08": 7,
    "09": 8,
    "10": 9,
    "99": 10,
}


def bits(code: str) -> int:
    return 1 << RISK_BITS[code]


def shock_bits(shocks: Table) -> tuple[np.ndarray, np.ndarray]:
    """Risk-type bit masks (H, Y) of the shocks of each year, and of the shocks still felt from the year
    before."""
    now = (
        shocks["illness"] * bits("01")
        | shocks["disaster"] * bits("04")
        | shocks["accident"] * bits("05")
        | shocks["industry"] * bits("06")
        | shocks["job_loss"] * bits("07")
    ).astype(np.int64)
    lingering = np.zeros_like(now)
    lingering[:, 1:] = now[:, :-1] & (bits("01") | bits("04") | bits("06"))
    lingering |= np.where(shocks["job_factor"] < 1, bits("07"), 0)
    return now, lingering & ~now
