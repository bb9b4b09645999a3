"""What happened to each household in a year, from its history: the targets the models learn.

- **Poor in year Y** (致贫/贫困): per-capita net income of Y below Y's monitoring threshold (thresholds_for),
  or a failure of 三保障/饮水 during Y: a C/D house, unsafe drinking water, a child of compulsory age (6–15)
  out of school without having finished junior school, a member without basic medical insurance.
  The household file holds only current values, so it testifies for year Y only if the record was written
  by the end of Y (the same rule as features.py); department records testify for the years they were
  valid in (an education record with 控辍保学, a health record saying not insured).
- **Return to poverty for year t** (返贫/新致贫): among households not monitored at the end of t (status
  history), those below the threshold in t+1 or identified as a monitoring object during t+1 (a status
  change in t+1 that enters monitoring). Households monitored at the end of t are not at risk of
  *returning*: their label is missing.

Each label is 1.0, 0.0, or NaN where the history does not say (no income survey for the year and no event).
"""

import datetime as dt

import numpy as np
import pandas as pd

from risk.features import (
    COMPULSORY_AGES,
    EVENT_IDENTIFIED,
    EVENT_RETURNED,
    age_on,
    household_state_at,
    with_thresholds,
)
from risk.sources import Sources


class Target:
    POOR_NOW = "poor_now"
    RETURN = "return"


def year_end(year: int) -> pd.Timestamp:
    return pd.Timestamp(dt.date(year, 12, 31))


def _spans_year(records: pd.DataFrame, year: int) -> pd.Series:
    start, end = pd.Timestamp(dt.date(year, 1, 1)), year_end(year)
    return (records["valid_from"] <= end) & (records["valid_to"].isna() | (records["valid_to"] > start))


def income_below(sources: Sources, year: int) -> pd.Series:
    """1.0 where per-capita net income of the year is below the year's threshold, 0.0 above, NaN unknown."""
    incomes = with_thresholds(
        sources.incomes[sources.incomes["year"] == year], sources.households, sources.thresholds
    ).set_index("household_id")
    below = (incomes["ratio"] < 1).astype(float).where(incomes["ratio"].notna())
    return below.reindex(sources.households.index)


def basic_needs_failure(sources: Sources, year: int) -> pd.Series:
    """True where a 三保障/饮水 failure is on record for the year (see the module's note on evidence)."""
    end = year_end(year)
    written_by = end + pd.Timedelta(days=1)
    hh = sources.households
    fresh_file = hh["updated_at"] < written_by
    failed = fresh_file & (hh["housing_grade"].isin(["C", "D"]) | ~hh["safe_drinking_water"])

    born = (sources.persons["birth_date"] <= end).to_numpy()
    people = sources.persons[born]
    a = {name: column[born] for name, column in sources.person_attributes.items()}
    age = age_on(people["birth_date"], end).to_numpy()
    compulsory = (age >= COMPULSORY_AGES[0]) & (age <= COMPULSORY_AGES[1])
    out_of_school = compulsory & ~a["in_school"] & a["unfinished_junior"]
    written = (people["updated_at"] < written_by).to_numpy()
    person_failed = written & (out_of_school | a["uninsured"])
    households = set(people.loc[person_failed, "household_id"])

    education = sources.education[_spans_year(sources.education, year)]
    dropout_age = age_on(education["birth_date"], end)
    dropouts = education["dropout"] & (dropout_age >= COMPULSORY_AGES[0]) & (dropout_age <= COMPULSORY_AGES[1])
    households |= set(education.loc[dropouts, "household_id"])
    health = sources.health[_spans_year(sources.health, year)]
    households |= set(health.loc[~health["insured"], "household_id"])
    return failed | hh.index.isin(list(households))


def poor_in_year(sources: Sources, year: int) -> pd.Series:
    below = income_below(sources, year)
    failure = basic_needs_failure(sources, year)
    return below.where(~failure, 1.0).rename("poor")


def entered_monitoring_in(sources: Sources, year: int) -> pd.Series:
    status = sources.status
    in_year = status["effective_date"].dt.year == year
    entering = status["event"].isin([EVENT_IDENTIFIED, EVENT_RETURNED]) | (status["monitoring_type"] != "")
    households = status.loc[in_year & entering, "household_id"]
    return pd.Series(sources.households.index.isin(households), index=sources.households.index)


def monitored_at(sources: Sources, on: pd.Timestamp) -> pd.Series:
    return household_state_at(sources.households, sources.status, on)["monitoring_type"] != ""


def returned(sources: Sources, year: int) -> pd.Series:
    """The return label for cut-off year t = year (outcome in t+1), NaN for households monitored at the end
    of t or whose t+1 is unknown."""
    at_risk = ~monitored_at(sources, year_end(year))
    below_next = income_below(sources, year + 1)
    identified_next = entered_monitoring_in(sources, year + 1)
    label = below_next.where(~identified_next, 1.0)
    return label.where(at_risk, np.nan).rename("returned")


def labels_for(sources: Sources, *, target: str, cutoff_year: int) -> pd.Series:
    """The label paired with features at 31 December of cutoff_year: what happens in the next year.

    "Poor now" is poverty in the current year judged before its income survey, so a cut-off at the end of
    year t (the last survey being t's) pairs with poverty in t+1.
    """
    if target == Target.POOR_NOW:
        return poor_in_year(sources, cutoff_year + 1)
    if target == Target.RETURN:
        return returned(sources, cutoff_year)
    raise ValueError(f"unknown target {target!r}")
