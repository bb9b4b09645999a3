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
import re
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import connection
from django.db.models.fields.json import KeyTextTransform
from django.db.models.signals import post_delete, post_save
from django.utils import translation
from django.utils.translation import gettext, gettext_noop

from exchange.declarations import Department, Kind
from risk.frames import _convert, _kind, _read_postgres, _resolve
from risk.sources import Sources, in_region, township_of

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


# --- Departments declared as data -------------------------------------------------------------------


def typed_declared(values: pd.Series | None, kind: Kind, length: int) -> pd.Series:
    """A declared column's values read from DeclaredRecord.data, typed by its kind: dates as datetime64
    (NaT when missing), amounts and integers as float (NaN), flags as bool (missing is False), codes and
    text as str ("" when missing)."""
    if values is None:
        values = pd.Series([None] * length, dtype=object)
    if kind == Kind.DATE:
        return pd.to_datetime(values, errors="coerce", format="ISO8601").astype("datetime64[ns]")
    if kind in {Kind.AMOUNT, Kind.INTEGER}:
        return pd.to_numeric(values, errors="coerce").astype(float)
    if kind == Kind.FLAG:
        return values.astype(object).isin([True, 1, "true", "True", "1", "是"])
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        # Codes sent as numbers (1 rather than "1"): the code as written, without a decimal point.
        return values.map(lambda v: "" if pd.isna(v) else (f"{v:.0f}" if float(v).is_integer() else str(v)))
    return values.astype(object).where(values.notna(), "").astype(str)


def read_declared(
    queryset,
    fields: list[str],
    names: list[str],
    department: Department,
    *,
    keys: list[str] | None = None,
    sort: list[str] | None = None,
) -> pd.DataFrame:
    """One query over a declared department's records: the record columns ``fields`` (named ``names``,
    typed as risk.frames types them) and one column per declared key of their data (``keys``, default every
    one of Department.data_fields), typed by its kind (typed_declared).

    The database takes the keys out of the JSON (``data ->> 'key'``; json_extract on SQLite), so the rows
    cross the wire as plain columns — on PostgreSQL through risk.frames' fast path — and no JSON is parsed in
    Python (json.loads and pandas' JSON reader took some 20 s per million records here)."""
    specs = [spec for spec in department.data_fields if keys is None or spec.name in keys]
    kinds = [_kind(_resolve(queryset.model, path)) for path in fields]
    extracted = {f"declared_{i}": KeyTextTransform(spec.name, "data") for i, spec in enumerate(specs)}
    annotated = queryset.order_by().annotate(**extracted)
    sql, params = annotated.values_list(*fields, *extracted).query.sql_with_params()
    columns = [*names, *extracted]
    postgres = connection.vendor == "postgresql"
    if postgres:
        frame = _read_postgres(sql, params, columns, [*kinds, *(["text"] * len(extracted))])
    else:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            frame = pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
        frame = frame.astype(object).where(frame.notna(), None)
    for name, kind in zip(names, kinds, strict=True):
        frame[name] = _convert(frame[name], kind, epoch=postgres)
    for column, spec in zip(extracted, specs, strict=True):
        raw = frame.pop(column)
        if postgres:  # text, "" for a missing key
            raw = raw.where(raw != "", None)
        frame[spec.name] = typed_declared(raw, spec.kind, len(frame)).to_numpy()
    if sort:
        frame = frame.sort_values(sort, kind="mergesort", ignore_index=True)
    return frame


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

    declared = _declared_features(sources, c, agg, out["threshold_now"])
    frame = pd.DataFrame(
        {name: np.asarray(values, dtype=np.float32) for name, values in [*((n, out[n]) for n in FEATURES), *declared]},
        index=hh.index,
    )
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


# --- Signals of the departments declared as data ----------------------------------------------------
#
# For each active department declared as data (exchange.feeds) that has records of the region's people, per
# household at the cut-off (the version valid then): members with a record ("dept:<slug>"), and per declared
# column ("dept:<slug>:<key>"): flags → members with the flag set; amounts and integers → the household's
# largest value (amounts in monitoring thresholds, as above) — the largest rather than the sum because
# departments often repeat a household's value on each member (a house's appraisal, its renovation
# subsidy), which a sum would multiply by the household's size; codes of a code set with at most FEW_CODES
# codes → members per code ("dept:<slug>:<key>=<code>"); dates and free text are not used. At most
# MAX_DECLARED_FEATURES in all (departments by slug, columns in declared order). The names are stable, so a
# model names the ones it was trained on; a department that sent nothing valid at the cut-off says NaN, as
# for the typed departments, and a model trained before a department was declared simply does not read its
# columns (risk.training reads a model's features by name, absent ones as NaN).

DECLARED_PREFIX = "dept:"
MAX_DECLARED_FEATURES = 40
FEW_CODES = 8
PHRASE_COUNT = gettext_noop("有成员在%(department)s有记录")
PHRASE_FLAG = gettext_noop("%(department)s：%(column)s的成员")
PHRASE_NUMBER = gettext_noop("%(department)s：%(column)s偏高")
PHRASE_CODE = gettext_noop("%(department)s：%(column)s为%(code)s的成员")
_SAFE_CODE = re.compile(r"^[A-Za-z0-9_.-]{1,20}$")


@dataclass(frozen=True)
class DeclaredFeature:
    name: str
    slug: str
    key: str = ""  # "" for the members-with-a-record count
    kind: str = ""  # "count", "flag", "amount", "integer" or "code"
    code: str = ""


@dataclass
class DeclaredSource:
    department: Department
    records: pd.DataFrame  # every standing version linked to a person of the region
    features: list[DeclaredFeature]


def is_declared_feature(name: str) -> bool:
    return name.startswith(DECLARED_PREFIX)


def declared_columns(frame: pd.DataFrame) -> list[str]:
    """The declared departments' feature columns of a features frame (training adds them to FEATURES)."""
    return [name for name in frame.columns if is_declared_feature(str(name))]


def _few_codes(departments: list[Department]) -> dict[str, list[tuple[str, str, str]]]:
    """codeset → [(code, label, label_en)] for the code sets of declared code columns with at most FEW_CODES
    active codes (one query)."""
    from households.models import Code

    wanted = {spec.codeset for d in departments for spec in d.data_fields if spec.kind == Kind.CODE and spec.codeset}
    codes: dict[str, list[tuple[str, str, str]]] = {}
    rows = Code.objects.filter(codeset_id__in=wanted, active=True).order_by("codeset_id", "sort_order", "code")
    for codeset, code, label, label_en in rows.values_list("codeset_id", "code", "label", "label_en"):
        codes.setdefault(codeset, []).append((code, label, label_en))
    return {codeset: entries for codeset, entries in codes.items() if len(entries) <= FEW_CODES}


def _feature_plan(department: Department, codes: dict[str, list[tuple[str, str, str]]]) -> list[DeclaredFeature]:
    slug = department.slug
    plan = [DeclaredFeature(f"{DECLARED_PREFIX}{slug}", slug, kind="count")]
    for spec in department.data_fields:
        if spec.kind == Kind.FLAG:
            plan.append(DeclaredFeature(f"{DECLARED_PREFIX}{slug}:{spec.name}", slug, spec.name, "flag"))
        elif spec.kind in {Kind.AMOUNT, Kind.INTEGER}:
            plan.append(DeclaredFeature(f"{DECLARED_PREFIX}{slug}:{spec.name}", slug, spec.name, str(spec.kind)))
        elif spec.kind == Kind.CODE and spec.codeset in codes:
            plan.extend(
                DeclaredFeature(f"{DECLARED_PREFIX}{slug}:{spec.name}={code}", slug, spec.name, "code", code)
                for code, _label, _en in codes[spec.codeset]
                if _SAFE_CODE.match(code)
            )
    return plan


def load_declared(prefix: str) -> list[DeclaredSource]:
    """The declared departments with records of the region's people: one query per department (and one for
    the declarations, one for their few codes)."""
    from exchange.feeds.declare import declared_departments

    departments = sorted(declared_departments(), key=lambda d: d.slug)
    if not departments:
        return []
    codes = _few_codes(departments)
    found, room = [], MAX_DECLARED_FEATURES
    for department in departments:
        if room <= 0:
            break
        queryset = in_region(
            department.records().filter(person__isnull=False), "person__household__village__pk", prefix
        )
        plan = _feature_plan(department, codes)[:room]
        records = read_declared(
            queryset,
            ["id", "person_id", "person__household_id", "valid_from", "valid_to"],
            ["id", "person_id", "household_id", "valid_from", "valid_to"],
            department,
            keys=sorted({feature.key for feature in plan if feature.key}),
        )
        if records.empty:
            continue
        room -= len(plan)
        found.append(DeclaredSource(department, records, plan))
    return found


def declared_sources(sources: Sources) -> list[DeclaredSource]:
    """The declared departments of a Sources, read on first use and kept with it (training reads several
    cut-offs from one Sources; risk.training.blind_to_income hands the same list on)."""
    cached = getattr(sources, "declared_cache", None)
    if cached is None:
        cached = load_declared(sources.prefix)
        sources.declared_cache = cached
    return cached


def _declared_features(
    sources: Sources, c: pd.Timestamp, agg: _Households, threshold: np.ndarray
) -> list[tuple[str, np.ndarray]]:
    columns: list[tuple[str, np.ndarray]] = []
    for source in declared_sources(sources):
        records = valid_at(source.records, c)
        present = not records.empty
        pos = agg.positions(records["household_id"])
        for feature in source.features:
            if not present:
                columns.append((feature.name, np.full(agg.n, np.nan)))
                continue
            if feature.kind == "count":
                values = agg.sum(pos, np.ones(len(records)))
            elif feature.kind == "flag":
                values = agg.sum(pos, records[feature.key].to_numpy(dtype=bool))
            elif feature.kind == "code":
                values = agg.sum(pos, (records[feature.key] == feature.code).to_numpy())
            else:
                own = records[feature.key].to_numpy(dtype=float)
                values = agg.max(pos, own, empty=0.0)
                if feature.kind == Kind.AMOUNT:
                    with np.errstate(invalid="ignore", divide="ignore"):
                        values = values / threshold
            columns.append((feature.name, values))
    return columns


# --- Their phrases, for explanations ---------------------------------------------------------------------


def _phrases(department: Department, codes: dict[str, list[tuple[str, str, str]]], english: bool) -> dict:
    """feature name → phrase for one department, in Chinese (stored with scores) or in English."""
    labels = department.extra.get("labels", {})

    def name(value) -> str:
        return (getattr(value, "name_en", "") or str.__str__(value)) if english else str.__str__(value)

    def words(template: str, **values) -> str:
        return (gettext(template) if english else template) % values

    department_name = name(department.name)
    code_labels = {
        spec.name: {code: (label_en or label) if english else label for code, label, label_en in codes[spec.codeset]}
        for spec in department.data_fields
        if spec.kind == Kind.CODE and spec.codeset in codes
    }
    out = {}
    for feature in _feature_plan(department, codes):
        column = name(labels.get(feature.key, feature.key)) if feature.key else ""
        if feature.kind == "count":
            phrase = words(PHRASE_COUNT, department=department_name)
        elif feature.kind == "flag":
            phrase = words(PHRASE_FLAG, department=department_name, column=column)
        elif feature.kind == "code":
            code = code_labels[feature.key].get(feature.code, feature.code)
            phrase = words(PHRASE_CODE, department=department_name, column=column, code=code)
        else:
            phrase = words(PHRASE_NUMBER, department=department_name, column=column)
        out[feature.name] = phrase
    return out


def declared_phrases(features: list[str]) -> dict[str, tuple[str, str]]:
    """PHRASES (risk.explain) for the declared features among `features`: each reads as the declared
    department's name and column header, stored in Chinese; "high" (named when the household's value is above
    the training average and raises its risk)."""
    if not any(is_declared_feature(name) for name in features):
        return {}
    from exchange.feeds.declare import declared_departments

    departments = declared_departments()
    codes = _few_codes(departments)
    table = {}
    for department in departments:
        table.update(_phrases(department, codes, english=False))
    return {name: (table[name], "high") for name in features if name in table}


_ENGLISH: dict = {"built": None, "table": {}}
ENGLISH_TTL_SECONDS = 300


def _forget_english(**kwargs) -> None:
    _ENGLISH["built"] = None


def declared_phrase_english(phrase: str) -> str | None:
    """A stored declared phrase (Chinese) in English, from the declared English names (None when it is not
    one); built once per process for a few minutes, and again after a declaration changes."""
    built = _ENGLISH["built"]
    if built is None or time.monotonic() - built > ENGLISH_TTL_SECONDS:
        from exchange.feeds.declare import declared_departments

        departments = declared_departments()
        codes = _few_codes(departments)
        table = {}
        with translation.override("en"):
            for department in departments:
                chinese = _phrases(department, codes, english=False)
                english = _phrases(department, codes, english=True)
                table.update({chinese[name]: english[name] for name in chinese})
        _ENGLISH.update(built=time.monotonic(), table=table)
    return _ENGLISH["table"].get(phrase)


def _connect_signals() -> None:
    from exchange.feeds.models import DepartmentFeed

    post_save.connect(_forget_english, sender=DepartmentFeed, dispatch_uid="risk.features.declared_english")
    post_delete.connect(_forget_english, sender=DepartmentFeed, dispatch_uid="risk.features.declared_english_del")


_connect_signals()
