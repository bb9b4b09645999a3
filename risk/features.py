"""Features per household as of a cut-off date (design.md, data flow 5): pandas, one query per table.

risk.sources reads every table a region needs once (``Sources.load(region_code=…)``); ``sources.at(cutoff)``
calls features_at here, which computes the features for one cut-off in memory, so training on several years
reads the database once. ``build_features(region_code=…, as_of=…)`` does both for one date.

Nothing recorded after the cut-off enters:

- income surveys: year ≤ the cut-off's year, and surveyed by the cut-off where the survey date is recorded;
- status history (StatusChange): effective_date ≤ cut-off; the household type, monitoring type and risk
  types at the cut-off come from it, not from the household file's current values;
- department records: the version valid at the cut-off (valid_from ≤ cut-off < valid_to);
- warnings: as_of ≤ cut-off; people born after the cut-off are not members yet.

**Place** (PLACE, extra columns beside FEATURES): what the household file says about the household's
village and township, each computed without the household itself (leave one out): the share of 脱贫户, of
monitored and ever-monitored households, of households with a 低保 member, and the cultivated land per
person. None of them reads an income survey, so the cross-sectional model (risk.training) may use them.

Amounts of money are in monitoring thresholds of their year (an amount divided by that year's per-capita
threshold), so that years with different price levels compare; shares and counts are as they are.

The household file keeps only the current value of each field. Fields that do not change (birth date, sex,
relation, disability, education of adults, land, the year lifted out of poverty) are used at any cut-off.
Fields that events change — health, labour skill, work away, public-welfare job, 低保/特困, insurance,
school status, housing grade, drinking water — are used only when the record was last written on or before
the cut-off (updated_at ≤ cut-off): for an earlier cut-off the current value may record what happened after
it (the demo county, written at the end of 2025, marks 2024–25 illness patients 患有大病 and houses damaged
in 2025 as C/D). Such a household's value is missing (NaN) at that cut-off; the dated sources stand in for
it: the income survey (medical and school spending, 低保金), the status history and department records.
"""

import datetime as dt

import numpy as np
import pandas as pd

from risk.sources import Sources, township_of

DAYS_PER_MONTH = 30.4375
RECENT_YEARS = 3  # the window of the income trend, minimum and years below the threshold
WARNING_LOOKBACK_DAYS = 365
NEW_ILLNESS_DAYS = 365
STOPPED_LOOKBACK_DAYS = 365
COMPULSORY_AGES = (6, 15)
WORKING_AGES = (16, 59)
ELDERLY_AGE = 60
EVENT_IDENTIFIED, EVENT_ELIMINATED, EVENT_RETURNED = "03", "05", "06"
LIFTED, DIBAO_ATTRIBUTE, TEKUN_ATTRIBUTE = "1", "2", "3"
EDUCATION_JUNIOR = 3  # 初中: a child who finished it is not a compulsory-education dropout
SCHOOL_COMPULSORY = {"11", "12", "13", "14", "15", "16", "21", "22", "23"}
SCHOOL_HIGH = {"31", "32", "33", "41", "42", "43"}
SCHOOL_HIGHER = {"51", "52", "53", "61", "71"}
RISK_FLAGS = {
    "risk_illness": "01",
    "risk_disability": "02",
    "risk_study": "03",
    "risk_disaster": "04",
    "risk_accident": "05",
    "risk_industry": "06",
    "risk_job": "07",
    "risk_labour": "08",
    "risk_housing": "09",
    "risk_water": "10",
}
BUSINESS = ("farming_income", "livestock_income", "forestry_income", "other_business_income")
TRANSFERS = (
    "dibao_income",
    "tekun_income",
    "pension_income",
    "eco_compensation_income",
    "disability_allowance_income",
    "other_transfer_income",
)

META = ["village_id", "township", "income_years", "threshold_income", "threshold_now"]

STABLE_PERSON = [
    "size",
    "children",
    "elderly",
    "working_age",
    "dependants_share",
    "compulsory_age_children",
    "working_age_labour",
    "only_elderly",
    "disabled_severe",
    "disabled_any",
    "head_age",
    "head_female",
    "head_education",
    "adults_low_education",
]
VOLATILE_PERSON = [
    "labour_able",
    "labour_weak",
    "labour_lost",
    "ill_serious",
    "ill_chronic",
    "students_compulsory",
    "students_high",
    "students_higher",
    "out_of_school_children",
    "migrant_workers",
    "migrant_months",
    "welfare_jobs",
    "welfare_months",
    "dibao_members",
    "tekun_members",
    "uninsured_members",
]
HOUSEHOLD = [
    "lifted",
    "dibao_lifted",
    "tekun_lifted",
    "years_since_lifted",
    "cultivated_land_mu",
    "forest_land_mu",
    "land_per_person",
]
VOLATILE_HOUSEHOLD = [
    "housing_unsafe",
    "unsafe_water",
    "no_sanitary_toilet",
    "no_road",
    "whole_unable_to_work",
]
INCOME = [
    "income_gap_years",
    "income_ratio",
    "below_threshold",
    "net_income",
    "income_ratio_prev",
    "income_change",
    "income_ratio_min",
    "years_below",
    "income_ratio_slope",
    "wage_share",
    "business_share",
    "property_share",
    "transfer_share",
    "cost_share",
    "wage_change",
    "business_change",
    "dibao_income_received",
    "tekun_income_received",
    "dibao_income_stopped",
    "medical_spending",
    "medical_spending_prev",
    "education_spending",
    "rigid_spending_share",
    "rigid_per_person",
    "temporary_relief",
    "loans",
]
MONITORING = [
    "monitored_now",
    "monitoring_unstable",
    "monitoring_edge",
    "monitoring_hardship",
    "ever_monitored",
    "times_identified",
    "times_eliminated",
    "returned_before",
    "months_since_identified",
    "months_since_eliminated",
    "risk_count",
    *RISK_FLAGS,
]
DEPARTMENT = [
    "dept_self_pay",
    "dept_self_pay_max",
    "dept_stay_max",
    "dept_outpatient_max",
    "dept_uninsured",
    "dept_serious",
    "dept_serious_new",
    "dept_chronic",
    "dept_dibao",
    "dept_dibao_stopped",
    "dept_tekun",
    "dept_relief_count",
    "dept_relief_amount",
    "dept_orphans",
    "dept_students",
    "dept_dropout",
    "dept_study_cost",
    "dept_study_cost_max",
]
# Leave-one-out summaries of the household's village and township (place_features); not in FEATURES, so
# the out-of-time models are as before; the cross-sectional models add them.
PLACE_SOURCES = {
    "lifted_share": "lifted",
    "monitored_share": "monitored_now",
    "ever_monitored_share": "ever_monitored",
    "dibao_share": "dibao_members",
    "land_per_person": "land_per_person",
}
PLACE = [
    "village_households",
    *(f"village_{name}" for name in PLACE_SOURCES),
    *(f"township_{name}" for name in PLACE_SOURCES),
]
FEATURES = [
    *STABLE_PERSON,
    *VOLATILE_PERSON,
    *HOUSEHOLD,
    *VOLATILE_HOUSEHOLD,
    *INCOME,
    *MONITORING,
    *DEPARTMENT,
    "warnings",
]


def build_features(*, region_code: str | None = None, as_of: dt.date) -> pd.DataFrame:
    return Sources.load(region_code=region_code).at(as_of)


# --- Computation ----------------------------------------------------------------------------------


def age_on(birth: pd.Series, on: pd.Timestamp) -> pd.Series:
    later_birthday = (birth.dt.month > on.month) | ((birth.dt.month == on.month) & (birth.dt.day > on.day))
    return on.year - birth.dt.year - later_birthday.astype(int)


class _Households:
    """Per-household aggregation by position (np.bincount), for speed on a million people."""

    def __init__(self, index: pd.Index):
        self.index = index
        self.n = len(index)

    def positions(self, household_ids: pd.Series) -> np.ndarray:
        return self.index.get_indexer(household_ids)

    def sum(self, pos: np.ndarray, values) -> np.ndarray:
        values = np.asarray(values, dtype=float)
        keep = pos >= 0
        return np.bincount(pos[keep], weights=np.nan_to_num(values[keep]), minlength=self.n)

    def max(self, pos: np.ndarray, values, empty: float = 0.0) -> np.ndarray:
        out = np.full(self.n, -np.inf)
        keep = pos >= 0
        np.maximum.at(out, pos[keep], np.nan_to_num(np.asarray(values, dtype=float)[keep], nan=-np.inf))
        out[np.isneginf(out)] = empty
        return out


def status_at(status: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Each household's last status change on or before the cut-off (rows ordered by date, id)."""
    known = status[status["effective_date"] <= cutoff]
    return known.groupby("household_id", sort=False).tail(1).set_index("household_id")


def household_state_at(households: pd.DataFrame, status: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    """Household type, poverty attribute, monitoring type and risk types at the cut-off: from the status
    history where it reaches that date; before a household's first change, not monitored; with no history at
    all, the household file."""
    columns = ["household_type", "poverty_attribute", "monitoring_type", "risk_types"]
    last = status_at(status, cutoff).reindex(households.index)
    reached = last["household_type"].notna().to_numpy()
    has_history = households.index.isin(status["household_id"])
    state = {}
    for column in columns:
        own = households[column].to_numpy(dtype=object)
        if column in {"monitoring_type", "risk_types"}:
            own = np.where(has_history, "", own)
        state[column] = np.where(reached, last[column].to_numpy(dtype=object), own)
    return pd.DataFrame(state, index=households.index)


def known_incomes(incomes: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    surveyed = incomes["survey_date"].isna() | (incomes["survey_date"] <= cutoff)
    return incomes[(incomes["year"] <= cutoff.year) & surveyed]


def with_thresholds(incomes: pd.DataFrame, households: pd.DataFrame, thresholds: pd.DataFrame) -> pd.DataFrame:
    frame = incomes.merge(households[["village_id"]], left_on="household_id", right_index=True, how="left")
    frame = frame.merge(thresholds, on=["village_id", "year"], how="left")
    frame["ratio"] = frame["per_capita_net_income"] / frame["threshold"]
    return frame


def valid_at(records: pd.DataFrame, cutoff: pd.Timestamp) -> pd.DataFrame:
    return records[(records["valid_from"] <= cutoff) & (records["valid_to"].isna() | (records["valid_to"] > cutoff))]


def features_at(sources: Sources, cutoff: dt.date) -> pd.DataFrame:
    c = pd.Timestamp(cutoff)
    hh = sources.households
    agg = _Households(hh.index)
    out: dict[str, np.ndarray] = {}

    _person_features(sources, c, agg, out)
    _household_features(sources, c, agg, out)
    known = _income_features(sources, c, agg, out)
    _monitoring_features(sources, c, agg, out)
    _department_features(sources, c, agg, out)
    recent = sources.warnings[
        (sources.warnings["as_of"] <= c) & (sources.warnings["as_of"] > c - pd.Timedelta(days=WARNING_LOOKBACK_DAYS))
    ]
    out["warnings"] = agg.sum(agg.positions(recent["household_id"]), np.ones(len(recent)))

    frame = pd.DataFrame({name: np.asarray(out[name], dtype=np.float32) for name in FEATURES}, index=hh.index)
    frame.insert(0, "village_id", hh["village_id"].to_numpy())
    frame.insert(1, "township", township_of(hh["village_id"]).to_numpy())
    frame.insert(2, "income_years", out["income_years"])
    frame.insert(3, "threshold_income", out["threshold_income"])
    frame.insert(4, "threshold_now", out["threshold_now"])
    existed = (
        (hh["created_at"] < c + pd.Timedelta(days=1))
        | hh.index.isin(sources.status.loc[sources.status["effective_date"] <= c, "household_id"])
        | hh.index.isin(known["household_id"])
    )
    frame = frame[existed]
    return pd.concat([frame, place_features(frame)], axis=1)


def _leave_one_out(values: pd.Series, groups: pd.Series) -> np.ndarray:
    """Mean of the other households' values in the same group (NaN values and the household excluded)."""
    known = values.notna()
    filled = values.fillna(0).astype(float)
    total = filled.groupby(groups.to_numpy()).transform("sum").to_numpy()
    count = known.astype(float).groupby(groups.to_numpy()).transform("sum").to_numpy()
    own = filled.to_numpy()
    others = count - known.to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(others > 0, (total - own) / others, np.nan)


def place_features(frame: pd.DataFrame) -> pd.DataFrame:
    """PLACE for each household of a features frame: its village's and township's other households."""
    out: dict[str, np.ndarray] = {}
    village, township = frame["village_id"], frame["township"]
    out["village_households"] = village.map(village.value_counts()).to_numpy(dtype=float)
    for name, column in PLACE_SOURCES.items():
        values = frame[column].astype(float)
        if column == "dibao_members":
            values = (values > 0).astype(float).where(values.notna())
        out[f"village_{name}"] = _leave_one_out(values, village)
        out[f"township_{name}"] = _leave_one_out(values, township)
    return pd.DataFrame({name: np.asarray(out[name], dtype=np.float32) for name in PLACE}, index=frame.index)


def person_attributes(persons: pd.DataFrame) -> pd.DataFrame:
    """What the features need of each person that does not depend on the cut-off, computed once (the text
    comparisons are the slow part on a million people)."""
    labour = persons["labour_skill"].to_numpy()
    school = persons["school_status"]
    education = pd.to_numeric(persons["education"], errors="coerce").to_numpy()
    return pd.DataFrame(
        {
            "severe": persons["disability_grade"].isin(["1", "2"]).to_numpy(),
            "disabled": (persons["disability_grade"] != "").to_numpy(),
            "head": persons["relation"].to_numpy() == "01",
            "female": persons["sex"].to_numpy() == "2",
            "education_level": education,
            "unfinished_junior": ~(education >= EDUCATION_JUNIOR),
            "in_school": (school != "").to_numpy(),
            "labour_able": np.isin(labour, ["1", "2"]),
            "labour_weak": labour == "3",
            "labour_lost": labour == "4",
            "ill_serious": persons["health"].str.contains(",3,", regex=False).to_numpy(),
            "ill_chronic": persons["health"].str.contains(",2,", regex=False).to_numpy(),
            "students_compulsory": school.isin(SCHOOL_COMPULSORY).to_numpy(),
            "students_high": school.isin(SCHOOL_HIGH).to_numpy(),
            "students_higher": school.isin(SCHOOL_HIGHER).to_numpy(),
            "months_away": persons["months_worked_away"].to_numpy(dtype=float),
            "welfare_job": persons["public_welfare_job"].to_numpy(),
            "welfare_months": persons["public_welfare_months"].to_numpy(dtype=float),
            "dibao_member": (persons["dibao"] != "").to_numpy(),
            "tekun_member": persons["tekun"].to_numpy(),
            "uninsured": ~(persons["resident_medical_insurance"] | persons["employee_medical_insurance"]).to_numpy(),
        },
        index=persons.index,
    )


def _person_features(sources: Sources, c: pd.Timestamp, agg: _Households, out: dict) -> None:
    born = (sources.persons["birth_date"] <= c).to_numpy()
    people = sources.persons[born]
    a = {name: column[born] for name, column in sources.person_attributes.items()}
    pos = agg.positions(people["household_id"])
    age = age_on(people["birth_date"], c).to_numpy()
    child, elderly = age < WORKING_AGES[0], age >= ELDERLY_AGE
    working = (age >= WORKING_AGES[0]) & (age <= WORKING_AGES[1])
    compulsory = (age >= COMPULSORY_AGES[0]) & (age <= COMPULSORY_AGES[1])
    head = a["head"]
    size = agg.sum(pos, np.ones(len(people)))
    out["size"] = size
    out["children"] = agg.sum(pos, child)
    out["elderly"] = agg.sum(pos, elderly)
    out["working_age"] = agg.sum(pos, working)
    with np.errstate(invalid="ignore", divide="ignore"):
        out["dependants_share"] = np.where(size > 0, (out["children"] + out["elderly"]) / size, np.nan)
    out["compulsory_age_children"] = agg.sum(pos, compulsory)
    out["working_age_labour"] = agg.sum(pos, working & ~a["severe"])
    out["only_elderly"] = (size > 0) & (out["elderly"] == size)
    out["disabled_severe"] = agg.sum(pos, a["severe"])
    out["disabled_any"] = agg.sum(pos, a["disabled"])
    out["head_age"] = np.where(agg.sum(pos, head) > 0, agg.sum(pos, np.where(head, age, 0)), np.nan)
    out["head_female"] = agg.sum(pos, head & a["female"])
    out["head_education"] = agg.sum(pos, np.where(head, np.nan_to_num(a["education_level"]), 0))
    adult = age >= WORKING_AGES[0]
    with np.errstate(invalid="ignore", divide="ignore"):
        out["adults_low_education"] = agg.sum(pos, adult & (a["education_level"] <= 2)) / agg.sum(pos, adult)

    # Fields that events change: only if every member's record was written by the cut-off.
    stale = agg.sum(pos, (people["updated_at"] >= c + pd.Timedelta(days=1)).to_numpy()) > 0
    volatile = {
        "labour_able": a["labour_able"],
        "labour_weak": a["labour_weak"],
        "labour_lost": a["labour_lost"],
        "ill_serious": a["ill_serious"],
        "ill_chronic": a["ill_chronic"],
        "students_compulsory": a["students_compulsory"],
        "students_high": a["students_high"],
        "students_higher": a["students_higher"],
        "out_of_school_children": compulsory & ~a["in_school"] & a["unfinished_junior"],
        "migrant_workers": a["months_away"] > 0,
        "migrant_months": a["months_away"],
        "welfare_jobs": a["welfare_job"],
        "welfare_months": a["welfare_months"],
        "dibao_members": a["dibao_member"],
        "tekun_members": a["tekun_member"],
        "uninsured_members": a["uninsured"],
    }
    for name, values in volatile.items():
        out[name] = np.where(stale, np.nan, agg.sum(pos, values))


def _household_features(sources: Sources, c: pd.Timestamp, agg: _Households, out: dict) -> None:
    hh = sources.households
    state = household_state_at(sources.households, sources.status, c)
    out["lifted"] = (state["household_type"] == LIFTED).to_numpy()
    out["dibao_lifted"] = (state["poverty_attribute"] == DIBAO_ATTRIBUTE).to_numpy()
    out["tekun_lifted"] = (state["poverty_attribute"] == TEKUN_ATTRIBUTE).to_numpy()
    lifted_year = hh["lifted_year"].to_numpy(dtype=float)
    out["years_since_lifted"] = np.where(lifted_year <= c.year, c.year - lifted_year, np.nan)
    out["cultivated_land_mu"] = hh["cultivated_land_mu"].to_numpy()
    out["forest_land_mu"] = hh["forest_land_mu"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["land_per_person"] = np.where(out["size"] > 0, out["cultivated_land_mu"] / out["size"], np.nan)
    stale = (hh["updated_at"] >= c + pd.Timedelta(days=1)).to_numpy()
    volatile = {
        "housing_unsafe": hh["housing_grade"].isin(["C", "D"]).to_numpy(),
        "unsafe_water": ~hh["safe_drinking_water"].to_numpy(),
        "no_sanitary_toilet": ~hh["sanitary_toilet"].to_numpy(),
        "no_road": ~hh["road_to_door"].to_numpy(),
        "whole_unable_to_work": hh["whole_household_unable_to_work"].to_numpy(),
    }
    for name, values in volatile.items():
        out[name] = np.where(stale, np.nan, values.astype(float))


def _income_features(sources: Sources, c: pd.Timestamp, agg: _Households, out: dict) -> pd.DataFrame:
    known = with_thresholds(known_incomes(sources.incomes, c), sources.households, sources.thresholds)
    by_household = known.groupby("household_id", sort=False)
    last = by_household.tail(1).set_index("household_id").reindex(agg.index)
    previous = by_household.nth(-2).set_index("household_id").reindex(agg.index)
    recent = by_household.tail(RECENT_YEARS)
    pos = agg.positions(recent["household_id"])
    years = agg.sum(agg.positions(known["household_id"]), np.ones(len(known)))
    threshold = last["threshold"].to_numpy()
    out["income_years"] = years
    out["threshold_income"] = threshold
    out["income_gap_years"] = c.year - last["year"].to_numpy(dtype=float)
    out["income_ratio"] = last["ratio"].to_numpy()
    out["below_threshold"] = np.where(np.isnan(out["income_ratio"]), np.nan, out["income_ratio"] < 1)
    out["income_ratio_prev"] = previous["ratio"].to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        out["net_income"] = last["net_income"].to_numpy() / threshold
        base = np.maximum(np.abs(out["income_ratio_prev"]), 0.1)
        out["income_change"] = (out["income_ratio"] - out["income_ratio_prev"]) / base
        ratios = recent["ratio"].to_numpy()
        out["income_ratio_min"] = agg.max(pos, -ratios, empty=np.nan) * -1
        out["years_below"] = np.where(years > 0, agg.sum(pos, ratios < 1), np.nan)
        out["income_ratio_slope"] = _slope(recent, pos, agg)
        gross_parts = {
            "wage": last["wage_income"].to_numpy(),
            "business": last[list(BUSINESS)].sum(axis=1, min_count=1).to_numpy(),
            "property": last["property_income"].to_numpy(),
            "transfer": last[list(TRANSFERS)].sum(axis=1, min_count=1).to_numpy(),
        }
        gross = np.maximum(sum(gross_parts.values()), 1.0)
        for name, part in gross_parts.items():
            out[f"{name}_share"] = part / gross
        out["cost_share"] = last["production_cost"].to_numpy() / gross
        previous_wage = previous["wage_income"].to_numpy()
        out["wage_change"] = (gross_parts["wage"] - previous_wage) / np.maximum(previous_wage, 1000.0)
        previous_business = previous[list(BUSINESS)].sum(axis=1, min_count=1).to_numpy()
        out["business_change"] = (gross_parts["business"] - previous_business) / np.maximum(
            np.abs(previous_business), 1000.0
        )
        out["dibao_income_received"] = np.where(years > 0, last["dibao_income"].to_numpy() > 0, np.nan)
        out["tekun_income_received"] = np.where(years > 0, last["tekun_income"].to_numpy() > 0, np.nan)
        out["dibao_income_stopped"] = np.where(
            previous["dibao_income"].isna().to_numpy(),
            np.nan,
            (previous["dibao_income"].to_numpy() > 0) & (last["dibao_income"].to_numpy() <= 0),
        )
        medical = last["compliant_medical_spending"].to_numpy()
        schooling = last["compliant_education_spending"].to_numpy()
        net = last["net_income"].to_numpy()
        out["medical_spending"] = medical / threshold
        out["medical_spending_prev"] = (
            previous["compliant_medical_spending"].to_numpy() / previous["threshold"].to_numpy()
        )
        out["education_spending"] = schooling / threshold
        out["rigid_spending_share"] = (medical + schooling) / np.maximum(net, 1000.0)
        out["rigid_per_person"] = (medical + schooling) / last["household_size"].to_numpy() / threshold
        out["temporary_relief"] = last["temporary_relief"].to_numpy() / threshold
        out["loans"] = last["loans"].to_numpy() / threshold
    return known


def _slope(recent: pd.DataFrame, pos: np.ndarray, agg: _Households) -> np.ndarray:
    """Least-squares slope of the income ratio over each household's last surveyed years."""
    x, y = recent["year"].to_numpy(dtype=float), recent["ratio"].to_numpy()
    count = agg.sum(pos, np.ones(len(recent)))
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_x, mean_y = agg.sum(pos, x) / count, agg.sum(pos, y) / count
        dx = x - mean_x[pos]
        slope = agg.sum(pos, dx * (y - mean_y[pos])) / agg.sum(pos, dx * dx)
    return np.where(count >= 2, slope, np.nan)


def _monitoring_features(sources: Sources, c: pd.Timestamp, agg: _Households, out: dict) -> None:
    state = household_state_at(sources.households, sources.status, c)
    kind = state["monitoring_type"].to_numpy()
    out["monitored_now"] = kind != ""
    out["monitoring_unstable"] = kind == "1"
    out["monitoring_edge"] = kind == "2"
    out["monitoring_hardship"] = kind == "3"
    history = sources.status[sources.status["effective_date"] <= c]
    pos = agg.positions(history["household_id"])
    event = history["event"].to_numpy()
    identified = np.isin(event, [EVENT_IDENTIFIED, EVENT_RETURNED])
    out["times_identified"] = agg.sum(pos, identified)
    out["times_eliminated"] = agg.sum(pos, event == EVENT_ELIMINATED)
    out["returned_before"] = agg.sum(pos, event == EVENT_RETURNED) > 0
    out["ever_monitored"] = (agg.sum(pos, (history["monitoring_type"] != "").to_numpy()) > 0) | out["monitored_now"]
    days = (c - history["effective_date"]).dt.days.to_numpy(dtype=float)
    for name, mask in (
        ("months_since_identified", identified),
        ("months_since_eliminated", event == EVENT_ELIMINATED),
    ):
        latest = agg.max(pos, np.where(mask, -days, np.nan), empty=np.nan)
        out[name] = -latest / DAYS_PER_MONTH
    # A few distinct risk-type strings among many households: decode each distinct one once.
    codes, distinct = pd.factorize(state["risk_types"])
    distinct = pd.Series(distinct, dtype=object)
    out["risk_count"] = distinct.str.count(r"\d+").to_numpy(dtype=float)[codes]
    for name, code in RISK_FLAGS.items():
        out[name] = distinct.str.contains(f",{code},", regex=False).to_numpy(dtype=bool)[codes]


def current_threshold(sources: Sources, c: pd.Timestamp) -> np.ndarray:
    """Per household, the monitoring threshold of the latest year up to the cut-off's year."""
    known = sources.thresholds[sources.thresholds["year"] <= c.year].sort_values("year")
    latest = known.groupby("village_id")["threshold"].last()
    return sources.households["village_id"].map(latest).to_numpy(dtype=float)


def _department_features(sources: Sources, c: pd.Timestamp, agg: _Households, out: dict) -> None:
    year_ago = c - pd.Timedelta(days=NEW_ILLNESS_DAYS)
    threshold = current_threshold(sources, c)
    out["threshold_now"] = threshold

    health = valid_at(sources.health, c)
    pos = agg.positions(health["household_id"])
    _department(
        out,
        not health.empty,
        {
            "dept_self_pay": agg.sum(pos, health["out_of_pocket_ytd"]) / threshold,
            "dept_self_pay_max": agg.max(pos, health["out_of_pocket_ytd"]) / threshold,
            "dept_stay_max": agg.max(pos, health["max_stay_self_pay"]) / threshold,
            "dept_outpatient_max": agg.max(pos, health["monthly_outpatient_cost"]) / threshold,
            "dept_uninsured": agg.sum(pos, ~health["insured"]),
            "dept_serious": agg.sum(pos, health["serious_diagnosis"] != ""),
            "dept_serious_new": agg.sum(
                pos, (health["serious_diagnosis_date"] > year_ago) & (health["serious_diagnosis_date"] <= c)
            ),
            "dept_chronic": agg.sum(pos, health["chronic_diagnosis"] != ""),
        },
    )

    civil = valid_at(sources.civil, c)
    pos = agg.positions(civil["household_id"])
    stop = civil["dibao_stop"]
    receiving = (civil["dibao_type"] != "") & (civil["dibao_start"] <= c) & (stop.isna() | (stop > c))
    stopped = (stop <= c) & (stop > c - pd.Timedelta(days=STOPPED_LOOKBACK_DAYS))
    _department(
        out,
        not civil.empty,
        {
            "dept_dibao": agg.sum(pos, receiving),
            "dept_dibao_stopped": agg.sum(pos, stopped),
            "dept_tekun": agg.sum(pos, civil["tekun"]),
            "dept_relief_count": agg.max(pos, civil["relief_count"]),
            "dept_relief_amount": agg.sum(pos, civil["relief_amount"]) / threshold,
            "dept_orphans": agg.sum(pos, civil["orphan"] | civil["unsupported_child"]),
        },
    )

    education = valid_at(sources.education, c)
    pos = agg.positions(education["household_id"])
    age = age_on(education["birth_date"], c)
    compulsory = (age >= COMPULSORY_AGES[0]) & (age <= COMPULSORY_AGES[1])
    _department(
        out,
        not education.empty,
        {
            "dept_students": agg.sum(pos, ~education["dropout"]),
            "dept_dropout": agg.sum(pos, education["dropout"] & compulsory),
            "dept_study_cost": agg.sum(pos, education["net_study_cost"]) / threshold,
            "dept_study_cost_max": agg.max(pos, education["net_study_cost"]) / threshold,
        },
    )


def _department(out: dict, present: bool, values: dict[str, np.ndarray]) -> None:
    """A department that sent nothing valid at the cut-off says nothing (NaN); one that did says 0 for the
    households it does not list."""
    for name, value in values.items():
        out[name] = value if present else np.full(len(value), np.nan)
