"""The indicators of a performance report (domain.md §6), each a small pure function of data frames.

The frames are read by reports.sources (one set-based query each) or written by hand in the tests:

- households: household_id, number, village_id, township, household_type, monitoring_type, risk_types,
  people (members in the household file)
- status: status_id, household_id, effective_date, event, monitoring_type, risk_types (the status history)
- cases: case_id, household_id, status, opened_on (first warning), due_on, decided_on (risk cases)
- measures: measure_id, household_id, category, subtype, status, amount, funding_source, start_date, end_date
- incomes: household_id, year, household_size, per_capita_net_income
- thresholds: village_id, year, threshold (monitoring threshold of the village's region for the year)
- eliminations: elimination_id, household_id, method, eliminated_on (approved eliminations)
- returns: household_id, elimination_id, eliminated_on, returned_on

Dates are datetime64 columns (or anything pandas.to_datetime reads). Each function says what it counts in
DEFINITIONS, which every report prints beside the numbers.
"""

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from django.utils.translation import gettext_noop

EVENT_IDENTIFIED, EVENT_ELIMINATED, EVENT_RETURNED = "03", "05", "06"
ENTERING_EVENTS = (EVENT_IDENTIFIED, EVENT_RETURNED)
IMPLEMENTED = "implemented"
DECIDED_MONITORED = "monitored"
OPEN_CASE_STATUSES = ("warned", "verifying")
IDENTIFICATION_LIMIT_DAYS = 15
SEVERE_DISABILITY = "severe_disability"
NO_SOURCE = gettext_noop("未填写")

DEFINITIONS: dict[str, str] = {
    "monitored": gettext_noop(
        "监测对象：统计期截止日处于监测状态的户（以状态变更记录为准：截止日前最近一次变更的监测对象类别不为空；"
        "没有状态变更记录的户以户档案为准）。人数为户档案中的家庭成员数。按风险类型统计时，一户有几项风险类型就在"
        "几项下各计一次。"
    ),
    "flows": gettext_noop(
        "新识别：统计期内生效的“纳入监测”或“返贫致贫”状态变更所涉户数（同一户多次只计一次）。风险消除：统计期内"
        "县级审定风险消除（状态变更生效日在统计期内）的户数，按消除方式分列。风险消除占比 = 风险消除户数 ÷"
        "（期初监测户数 + 新识别户数）。"
    ),
    "timeliness": gettext_noop(
        "识别时效：统计期内县级决定“纳入监测”的风险核实，从首次预警日期到决定日期的天数；规定不超过 15 天。"
        "帮扶时效：同一批核实，从首次预警日期到该户首次已实施帮扶措施开始日期（不早于首次预警）的天数。"
        "在办超期：截止日仍未办结、且办结时限（首次预警后 15 天）早于截止日的核实；办结超期：统计期内办结"
        "（纳入监测或排除）、但办结日期晚于办结时限的核实。"
    ),
    "coverage": gettext_noop(
        "帮扶覆盖：截止日的监测户中，有至少一项已实施、截止日前已开始、且未在本轮纳入监测前结束的帮扶措施的户数"
        "及占比；有劳动力的监测户（16–60 岁、非在校、普通/技能/弱劳动力的成员）中有开发式帮扶（产业、就业、"
        "金融、公益岗位）的户数及占比。应落实措施：按监测户的风险类型应有的措施（风险类型与措施对应表，含"
        "适用条件），已有对应的已实施措施的项数及占比；必须落实而缺失的项数。"
    ),
    "amounts": gettext_noop(
        "帮扶资金：统计期内开始的已实施帮扶措施的金额（元），按帮扶类别、资金来源（未填写者单列）和乡镇汇总。"
    ),
    "income_change": gettext_noop(
        "收入变化：统计期内有已实施帮扶措施开始的户中，同时有收入年度及上一年度收支调查的户，人均纯收入"
        "（元/人·年）的变化 = 收入年度值 − 上一年度值；列出户数、两年的平均值、平均变化、中位变化和收入增加的户数"
        "占比。收入年度为统计期截止日所在年度（该年尚无收支调查时为此前最近一个有调查的年度）。"
    ),
    "returns": gettext_noop(
        "消除后返贫：截止日前已风险消除的户中，统计期内重新纳入监测的户数；返贫率 = 统计期内返贫户数 ÷ "
        "截止日前累计风险消除户数。"
    ),
    "fgt": gettext_noop(
        "FGT 贫困指数：以收入年度的人均纯收入 y 与该户所在区划当年监测标准 z 比较，按人口加权："
        "P_α = (1/N) Σ_i n_i · ((z_i − y_i)/z_i)^α · [y_i < z_i]，α = 0（贫困发生率 P0）、1（贫困距指数 P1）、"
        "2（平方贫困距指数 P2）。i 为有收入年度收支调查且当年有监测标准的户，n_i 为该调查的家庭人口，"
        "N = Σ n_i。人均纯收入为负时按 0 计（差距比最多为 1）。"
    ),
    "targeting": gettext_noop(
        "风险名单瞄准：对象为统计期起始日不在监测中的户。列入名单 = 统计期内有首次预警（开启风险核实）的户；"
        "实际贫困 = 统计期内被识别为监测对象（纳入监测或返贫致贫），或收入年度人均纯收入低于监测标准的户。"
        "漏评（排斥误差）EE = 实际贫困但未列入名单的户数 ÷ 实际贫困户数；误评（纳入误差）IE = 列入名单但并非"
        "实际贫困的户数 ÷ 列入名单户数。"
    ),
    "townships": gettext_noop("分乡镇：以上主要指标按户所在乡镇分列，定义同各节。"),
    "monthly": gettext_noop("逐月：统计期内各月的新识别户数、风险消除户数和已实施帮扶措施金额（按开始日期所在月份）。"),
}


def _ts(value: dt.date | pd.Timestamp | str) -> pd.Timestamp:
    return pd.Timestamp(value)


def _dates(frame: pd.DataFrame, column: str) -> pd.Series:
    return pd.to_datetime(frame[column])


def ratio(numerator: float, denominator: float) -> float | None:
    return round(numerator / denominator, 4) if denominator else None


def _lookup(keys: pd.Series, values: pd.Series) -> pd.Series:
    """values[key] for each key (missing: NaN/NaT), keeping the values' dtype even when values is empty."""
    return pd.Series(values.reindex(keys.to_numpy()).to_numpy(), index=keys.index)


def split_codes(value: str | None) -> list[str]:
    return [code for code in (value or "").split(",") if code]


# --- State at a date ------------------------------------------------------------------------------------


def state_at(households: pd.DataFrame, status: pd.DataFrame, on: dt.date) -> pd.DataFrame:
    """Every household with its monitoring_type and risk_types at the end of `on`: the latest status change
    on or before it; not monitored before its first change; the household file where there is no history."""
    cutoff = _ts(on)
    state = households.set_index("household_id")[["village_id", "township", "people", "monitoring_type", "risk_types"]]
    state = state.copy()
    if len(status):
        history = status.assign(effective_date=_dates(status, "effective_date"))
        has_history = state.index.isin(history["household_id"])
        state.loc[has_history, ["monitoring_type", "risk_types"]] = ""
        reached = history[history["effective_date"] <= cutoff].sort_values(
            ["household_id", "effective_date", "status_id"]
        )
        last = reached.groupby("household_id").tail(1).set_index("household_id")
        last = last[last.index.isin(state.index)]
        state.loc[last.index, "monitoring_type"] = last["monitoring_type"].fillna("")
        state.loc[last.index, "risk_types"] = last["risk_types"].fillna("")
    return state


def monitored(state: pd.DataFrame) -> pd.DataFrame:
    return state[state["monitoring_type"].fillna("") != ""]


def identification_dates(status: pd.DataFrame, on: dt.date) -> pd.Series:
    """{household_id: date it entered its current monitoring}, as of `on`: the latest 纳入监测/返贫致贫 change,
    else the first change that shows it monitored."""
    if not len(status):
        return pd.Series(dtype="datetime64[ns]")
    history = status.assign(effective_date=_dates(status, "effective_date"))
    history = history[history["effective_date"] <= _ts(on)]
    entering = history[history["event"].isin(ENTERING_EVENTS)].groupby("household_id")["effective_date"].max()
    shown = history[history["monitoring_type"].fillna("") != ""].groupby("household_id")["effective_date"].min()
    return entering.combine_first(shown)


# --- 1. Households and people monitored -----------------------------------------------------------------


def type_counts(state: pd.DataFrame) -> pd.DataFrame:
    """Monitored households and people by monitoring_type code (index): counts a region's counties add up."""
    rows = monitored(state)
    return rows.groupby("monitoring_type").agg(households=("people", "size"), people=("people", "sum"))


def risk_counts(state: pd.DataFrame) -> pd.DataFrame:
    """Monitored households and people by risk type code (index), a household under each of its risk types."""
    rows = monitored(state)
    exploded = rows.assign(risk=rows["risk_types"].map(split_codes)).explode("risk")
    exploded = exploded[exploded["risk"].notna()]
    return exploded.groupby("risk").agg(households=("people", "size"), people=("people", "sum"))


def monitored_by_type(state: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    return type_table(type_counts(state), labels)


def type_table(grouped: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    table = [
        {"category": labels.get(code, code), "households": int(g["households"]), "people": int(g["people"])}
        for code, g in grouped.sort_index().iterrows()
    ]
    table.append(
        {
            "category": gettext_noop("合计"),
            "households": int(grouped["households"].sum()),
            "people": int(grouped["people"].sum()),
        }
    )
    return pd.DataFrame(table, columns=["category", "households", "people"])


def monitored_by_risk(state: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    return risk_table(risk_counts(state), labels)


def risk_table(grouped: pd.DataFrame, labels: Mapping[str, str]) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"risk_type": labels.get(code, code), "households": int(g["households"]), "people": int(g["people"])}
            for code, g in grouped.sort_index().iterrows()
        ],
        columns=["risk_type", "households", "people"],
    )


# --- 2. Identifications and eliminations ------------------------------------------------------------------


def identifications(status: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The 纳入监测/返贫致贫 status changes effective in the period (one row per change)."""
    if not len(status):
        return status.iloc[0:0]
    days = _dates(status, "effective_date")
    found = status[status["event"].isin(ENTERING_EVENTS) & (days >= _ts(start)) & (days <= _ts(end))]
    return found.sort_values(["effective_date", "status_id"])


def eliminations_in(eliminations: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    if not len(eliminations):
        return eliminations.iloc[0:0]
    days = _dates(eliminations, "eliminated_on")
    return eliminations[(days >= _ts(start)) & (days <= _ts(end))].sort_values(["eliminated_on", "elimination_id"])


def flows(
    *,
    state_start: pd.DataFrame,
    status: pd.DataFrame,
    eliminations: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    method_labels: Mapping[str, str],
) -> dict[str, float | int | None]:
    identified = identifications(status, start, end)
    eliminated = eliminations_in(eliminations, start, end)
    at_start = len(monitored(state_start))
    new = identified["household_id"].nunique()
    returned = identified.loc[identified["event"] == EVENT_RETURNED, "household_id"].nunique()
    result: dict[str, float | int | None] = {
        "monitored_at_start": at_start,
        "identified": int(new),
        "identified_returned": int(returned),
        "eliminated": int(eliminated["household_id"].nunique()),
    }
    for method in method_labels:
        result[f"eliminated_{method}"] = int(eliminated.loc[eliminated["method"] == method, "household_id"].nunique())
    result["elimination_share"] = ratio(result["eliminated"], at_start + new)
    return result


# --- 3. Timeliness --------------------------------------------------------------------------------------


@dataclass
class Timeliness:
    summary: dict[str, float | int | None]
    cases: pd.DataFrame  # the decided cases with days_to_decision and days_to_assistance


def _stats(days: pd.Series, prefix: str) -> dict[str, float | int | None]:
    if not len(days):
        return {f"{prefix}_count": 0, f"{prefix}_mean": None, f"{prefix}_median": None, f"{prefix}_max": None}
    return {
        f"{prefix}_count": len(days),
        f"{prefix}_mean": round(float(days.mean()), 2),
        f"{prefix}_median": round(float(days.median()), 2),
        f"{prefix}_max": int(days.max()),
    }


def timeliness(
    cases: pd.DataFrame,
    measures: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    limit_days: int = IDENTIFICATION_LIMIT_DAYS,
) -> Timeliness:
    first, last = _ts(start), _ts(end)
    c = cases.assign(
        opened_on=_dates(cases, "opened_on"), due_on=_dates(cases, "due_on"), decided_on=_dates(cases, "decided_on")
    )
    in_period = c["decided_on"].notna() & (c["decided_on"] >= first) & (c["decided_on"] <= last)
    decided = c[in_period & (c["status"] == DECIDED_MONITORED)].copy()
    decided["days_to_decision"] = (decided["decided_on"] - decided["opened_on"]).dt.days
    implemented = measures[measures["status"] == IMPLEMENTED]
    implemented = implemented.assign(start_date=_dates(implemented, "start_date"))[["household_id", "start_date"]]
    joined = decided[["case_id", "household_id", "opened_on"]].merge(implemented, on="household_id", how="left")
    joined = joined[joined["start_date"] >= joined["opened_on"]]
    first_help = joined.groupby("case_id")["start_date"].min()
    decided["first_assistance_on"] = pd.to_datetime(_lookup(decided["case_id"], first_help))
    decided["days_to_assistance"] = (decided["first_assistance_on"] - decided["opened_on"]).dt.days
    decided = decided.sort_values(["decided_on", "case_id"])

    open_at_end = (c["opened_on"] <= last) & (c["decided_on"].isna() | (c["decided_on"] > last))
    summary = timeliness_summary(
        to_decision=decided["days_to_decision"],
        to_help=decided["days_to_assistance"].dropna(),
        overdue_open=int((open_at_end & (c["due_on"] < last)).sum()),
        decided_late=int((in_period & (c["decided_on"] > c["due_on"])).sum()),
        limit_days=limit_days,
    )
    return Timeliness(summary=summary, cases=decided)


def timeliness_summary(
    *,
    to_decision: pd.Series,
    to_help: pd.Series,
    overdue_open: int,
    decided_late: int,
    limit_days: int = IDENTIFICATION_LIMIT_DAYS,
) -> dict[str, float | int | None]:
    """The summary of the decided cases' days (to decision; to first assistance, where there was one)."""
    return {
        **_stats(to_decision, "decision"),
        "decision_within_limit": int((to_decision <= limit_days).sum()),
        "decision_within_limit_share": ratio(int((to_decision <= limit_days).sum()), len(to_decision)),
        **_stats(to_help, "assistance"),
        "without_assistance": len(to_decision) - len(to_help),
        "overdue_open": overdue_open,
        "decided_late": decided_late,
    }


# --- 4. Coverage of measures ----------------------------------------------------------------------------


def measures_in_current_period(
    measures: pd.DataFrame, identified_on: pd.Series, end: dt.date, *, implemented_only: bool = True
) -> pd.DataFrame:
    """Measures started by `end` that had not ended before their household entered its current monitoring."""
    m = measures.assign(start_date=_dates(measures, "start_date"), end_date=_dates(measures, "end_date"))
    if implemented_only:
        m = m[m["status"] == IMPLEMENTED]
    m = m[m["start_date"] <= _ts(end)]
    entered = pd.to_datetime(_lookup(m["household_id"], identified_on))
    return m[m["end_date"].isna() | entered.isna() | (m["end_date"] >= entered)]


def coverage(
    state: pd.DataFrame,
    measures: pd.DataFrame,
    identified_on: pd.Series,
    labour: Iterable[int],
    development_categories: Iterable[str],
    end: dt.date,
) -> dict[str, float | int | None]:
    households = set(monitored(state).index)
    current = measures_in_current_period(measures[measures["household_id"].isin(households)], identified_on, end)
    with_measure = set(current["household_id"])
    with_labour = households & set(labour)
    development = set(current.loc[current["category"].isin(set(development_categories)), "household_id"])
    return {
        "monitored": len(households),
        "with_measure": len(with_measure),
        "with_measure_share": ratio(len(with_measure), len(households)),
        "with_labour": len(with_labour),
        "with_labour_and_development": len(with_labour & development),
        "with_labour_and_development_share": ratio(len(with_labour & development), len(with_labour)),
    }


@dataclass(frozen=True)
class Expected:
    risk_type: str
    name: str
    categories: tuple[str, ...]
    subtypes: tuple[str, ...]
    mandatory: bool
    condition: str = ""

    def satisfied_by(self, category: str, subtype: str | None) -> bool:
        return category in self.categories and (not self.subtypes or (subtype or "") in self.subtypes)


def expected_measures(
    state: pd.DataFrame,
    measures: pd.DataFrame,
    identified_on: pd.Series,
    expectations: Iterable[Expected],
    severe_disability: Iterable[int],
    end: dt.date,
) -> dict[str, float | int | None]:
    rows = monitored(state)
    current = measures_in_current_period(measures[measures["household_id"].isin(rows.index)], identified_on, end)
    by_household: dict[int, list[tuple[str, str]]] = {}
    for household_id, category, subtype in current[["household_id", "category", "subtype"]].itertuples(index=False):
        by_household.setdefault(int(household_id), []).append((category, subtype or ""))
    by_risk: dict[str, list[Expected]] = {}
    for expectation in expectations:
        by_risk.setdefault(expectation.risk_type, []).append(expectation)
    severe = set(severe_disability)
    applicable = in_place = mandatory = mandatory_missing = 0
    for household_id, risk_types in rows["risk_types"].items():
        held = by_household.get(int(household_id), [])
        for risk in split_codes(risk_types):
            for expectation in by_risk.get(risk, []):
                if expectation.condition == SEVERE_DISABILITY and household_id not in severe:
                    continue
                met = any(expectation.satisfied_by(category, subtype) for category, subtype in held)
                applicable += 1
                in_place += met
                if expectation.mandatory:
                    mandatory += 1
                    mandatory_missing += not met
    return {
        "expected": applicable,
        "expected_in_place": in_place,
        "expected_in_place_share": ratio(in_place, applicable),
        "mandatory": mandatory,
        "mandatory_missing": mandatory_missing,
    }


# --- 5. Assistance amounts ------------------------------------------------------------------------------


def measures_started_in(measures: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    days = _dates(measures, "start_date")
    found = measures[(measures["status"] == IMPLEMENTED) & (days >= _ts(start)) & (days <= _ts(end))]
    return found.sort_values(["start_date", "measure_id"])


def _sum_by(frame: pd.DataFrame, column: str, label: str, names: Mapping[str, str] | None = None) -> pd.DataFrame:
    return sum_table(group_sums(frame, column), label, len(frame), float(frame["amount"].sum()), names)


def group_sums(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Measures and (unrounded) amount by the column's value (index): what a region's counties add up."""
    return frame.groupby(column).agg(measures=("amount", "size"), amount=("amount", "sum"))


def sum_table(
    grouped: pd.DataFrame, label: str, measures: int, amount: float, names: Mapping[str, str] | None = None
) -> pd.DataFrame:
    """One row per key in key order (labelled by its name, where names are given), then the total."""
    names = names or {}
    rows = [
        {
            label: names.get(key, key),
            "measures": int(grouped.loc[key, "measures"]),
            "amount": round(float(grouped.loc[key, "amount"]), 2),
        }
        for key in sorted(grouped.index)
    ]
    rows.append({label: gettext_noop("合计"), "measures": int(measures), "amount": round(float(amount), 2)})
    return pd.DataFrame(rows, columns=[label, "measures", "amount"])


def amounts(
    measures: pd.DataFrame,
    households: pd.DataFrame,
    start: dt.date,
    end: dt.date,
    category_names: Mapping[str, str],
    township_names: Mapping[str, str],
) -> dict[str, pd.DataFrame]:
    found = amounts_found(measures, households, start, end)
    # By code, named after: two townships of a prefecture may share a name (城关镇), each keeps its row.
    return {
        "category": _sum_by(found, "category", "category", category_names),
        "source": _sum_by(found, "source", "source"),
        "township": _sum_by(found, "township", "township", township_names),
    }


def amounts_found(measures: pd.DataFrame, households: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The implemented measures started in the period with their township and funding source."""
    found = measures_started_in(measures, start, end)
    found = found.merge(households[["household_id", "township"]], on="household_id", how="left")
    return found.assign(source=found["funding_source"].fillna("").str.strip().replace("", NO_SOURCE))


# --- 6. Income change of assisted households --------------------------------------------------------------


def income_year(incomes: pd.DataFrame, end: dt.date) -> int | None:
    years = sorted({int(y) for y in incomes["year"] if int(y) <= end.year})
    if not years:
        return None
    return end.year if end.year in years else years[-1]


def income_change(
    incomes: pd.DataFrame, measures: pd.DataFrame, start: dt.date, end: dt.date, year: int | None
) -> dict[str, float | int | None]:
    assisted, pairs = income_pairs(incomes, measures, start, end, year)
    return income_change_of(assisted, year, pairs)


def income_pairs(
    incomes: pd.DataFrame, measures: pd.DataFrame, start: dt.date, end: dt.date, year: int | None
) -> tuple[int, pd.DataFrame | None]:
    """How many households were assisted in the period, and the per capita income (before, after) of those with
    both years' surveys (None without an income year)."""
    assisted = set(measures_started_in(measures, start, end)["household_id"])
    if year is None:
        return len(assisted), None
    by_year = incomes[incomes["household_id"].isin(assisted)].pivot_table(
        index="household_id", columns="year", values="per_capita_net_income", aggfunc="first"
    )
    if year not in by_year.columns or year - 1 not in by_year.columns:
        pairs = pd.DataFrame(columns=["before", "after"], dtype=float)
    else:
        pairs = by_year[[year - 1, year]].dropna().set_axis(["before", "after"], axis=1).astype(float)
    return len(assisted), pairs


def income_change_of(assisted: int, year: int | None, pairs: pd.DataFrame | None) -> dict[str, float | int | None]:
    result: dict[str, float | int | None] = {"assisted": assisted, "year": year}
    if pairs is None:
        return {
            **result,
            "compared": 0,
            "mean_before": None,
            "mean_after": None,
            "mean_change": None,
            "median_change": None,
            "rose_share": None,
        }
    change = pairs["after"] - pairs["before"]
    return {
        **result,
        "compared": len(pairs),
        "mean_before": round(float(pairs["before"].mean()), 2) if len(pairs) else None,
        "mean_after": round(float(pairs["after"].mean()), 2) if len(pairs) else None,
        "mean_change": round(float(change.mean()), 2) if len(pairs) else None,
        "median_change": round(float(change.median()), 2) if len(pairs) else None,
        "rose_share": ratio(int((change > 0).sum()), len(pairs)),
    }


# --- 7. Returns after elimination -------------------------------------------------------------------------


def returns_after_elimination(
    eliminations: pd.DataFrame, returns: pd.DataFrame, start: dt.date, end: dt.date
) -> dict[str, float | int | None]:
    eliminated = eliminations[_dates(eliminations, "eliminated_on") <= _ts(end)]["household_id"].nunique()
    days = _dates(returns, "returned_on")
    returned = returns[(days >= _ts(start)) & (days <= _ts(end))]["household_id"].nunique()
    return {
        "eliminated_by_end": int(eliminated),
        "returned": int(returned),
        "return_rate": ratio(returned, eliminated),
    }


# --- 8. FGT poverty measures ------------------------------------------------------------------------------


def fgt_indices(income: Iterable[float], line: Iterable[float], weights: Iterable[float]) -> dict[str, float | None]:
    """P0, P1, P2 = (1/N) Σ w_i ((z_i − y_i)/z_i)^α over y_i < z_i, N = Σ w_i; y below 0 counts as 0."""
    return fgt_of_sums(fgt_sums(income, line, weights))


def fgt_sums(income: Iterable[float], line: Iterable[float], weights: Iterable[float]) -> dict[str, float]:
    """The weighted sums the indices divide (Σ w_i, Σ w_i·[y_i < z_i], Σ w_i·gap_i, Σ w_i·gap_i²) and the count
    of households: a region's counties add them up."""
    y = np.asarray(list(income), dtype=float)
    z = np.asarray(list(line), dtype=float)
    w = np.asarray(list(weights), dtype=float)
    gap = np.where(y < z, (z - np.maximum(y, 0.0)) / z, 0.0)
    poor = (y < z).astype(float)
    return {
        "count": len(y),
        "weight": float(w.sum()),
        "poor": float((w * poor).sum()),
        "gap": float((w * gap).sum()),
        "gap2": float((w * gap**2).sum()),
    }


def fgt_of_sums(sums: Mapping[str, float]) -> dict[str, float | None]:
    total = sums["weight"]
    if not sums["count"] or total <= 0:
        return {"p0": None, "p1": None, "p2": None}
    return {
        "p0": round(sums["poor"] / total, 6),
        "p1": round(sums["gap"] / total, 6),
        "p2": round(sums["gap2"] / total, 6),
    }


def incomes_with_thresholds(
    incomes: pd.DataFrame, households: pd.DataFrame, thresholds: pd.DataFrame, year: int | None
) -> pd.DataFrame:
    if year is None:
        return pd.DataFrame(columns=["household_id", "per_capita_net_income", "household_size", "threshold"])
    rows = incomes[incomes["year"] == year].merge(households[["household_id", "village_id"]], on="household_id")
    return rows.merge(thresholds[thresholds["year"] == year], on=["village_id", "year"], how="left")


def fgt(
    incomes: pd.DataFrame, households: pd.DataFrame, thresholds: pd.DataFrame, year: int | None
) -> dict[str, float | int | None]:
    return fgt_of_parts(fgt_parts(incomes, households, thresholds, year))


FGT_COUNTS = ("households", "people", "households_without_threshold", "poor_households")


def fgt_parts(
    incomes: pd.DataFrame, households: pd.DataFrame, thresholds: pd.DataFrame, year: int | None
) -> dict[str, object]:
    """The FGT section's counts and weighted sums (fgt_sums), all of which a region's counties add up."""
    rows = incomes_with_thresholds(incomes, households, thresholds, year)
    known = rows[rows["threshold"].notna()]
    income, line = known["per_capita_net_income"].astype(float), known["threshold"].astype(float)
    return {
        "year": year,
        "households": len(known),
        "people": int(known["household_size"].sum()) if len(known) else 0,
        "households_without_threshold": len(rows) - len(known),
        "poor_households": int((income < line).sum()),
        "sums": fgt_sums(income, line, known["household_size"].astype(float)),
    }


def fgt_of_parts(parts: Mapping[str, object]) -> dict[str, float | int | None]:
    return {
        "year": parts["year"],
        **{key: parts[key] for key in FGT_COUNTS},
        **fgt_of_sums(parts["sums"]),
    }


# --- 9. Targeting of the risk list ------------------------------------------------------------------------


def targeting_errors(flagged: set[int], poor: set[int]) -> dict[str, float | int | None]:
    """EE = poor not flagged / poor; IE = flagged not poor / flagged."""
    return {
        "flagged": len(flagged),
        "poor": len(poor),
        "poor_flagged": len(flagged & poor),
        "poor_not_flagged": len(poor - flagged),
        "flagged_not_poor": len(flagged - poor),
        "exclusion_error": ratio(len(poor - flagged), len(poor)),
        "inclusion_error": ratio(len(flagged - poor), len(flagged)),
    }


def targeting(
    *,
    state_start: pd.DataFrame,
    cases: pd.DataFrame,
    status: pd.DataFrame,
    incomes: pd.DataFrame,
    households: pd.DataFrame,
    thresholds: pd.DataFrame,
    year: int | None,
    start: dt.date,
    end: dt.date,
) -> dict[str, float | int | None]:
    population = set(state_start.index) - set(monitored(state_start).index)
    opened = _dates(cases, "opened_on")
    flagged = set(cases.loc[(opened >= _ts(start)) & (opened <= _ts(end)), "household_id"]) & population
    identified = set(identifications(status, start, end)["household_id"])
    rows = incomes_with_thresholds(incomes, households, thresholds, year)
    below = set(rows.loc[rows["per_capita_net_income"].astype(float) < rows["threshold"].astype(float), "household_id"])
    poor = (identified | below) & population
    return {"population": len(population), **targeting_errors(flagged, poor)}


TARGETING_COUNTS = ("population", "flagged", "poor", "poor_flagged", "poor_not_flagged", "flagged_not_poor")


def targeting_of_counts(counts: Mapping[str, int]) -> dict[str, float | int | None]:
    """The targeting section from its counts (a region's counties add them up: a household is in one county)."""
    result: dict[str, float | int | None] = {key: int(counts[key]) for key in TARGETING_COUNTS}
    result["exclusion_error"] = ratio(result["poor_not_flagged"], result["poor"])
    result["inclusion_error"] = ratio(result["flagged_not_poor"], result["flagged"])
    return result


# --- By township and by month ---------------------------------------------------------------------------


def by_township(**region: Any) -> pd.DataFrame:
    """The township table of a region: township_rows' rows (its keyword arguments), as a frame."""
    return township_table(township_rows(**region))


TOWNSHIP_COLUMNS = [
    "township",
    "code",
    "households",
    "monitored",
    "monitored_people",
    "identified",
    "eliminated",
    "amount",
    "p0",
]


def township_table(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=TOWNSHIP_COLUMNS)


def township_rows(
    *,
    households: pd.DataFrame,
    state_end: pd.DataFrame,
    status: pd.DataFrame,
    eliminations: pd.DataFrame,
    measures: pd.DataFrame,
    incomes: pd.DataFrame,
    thresholds: pd.DataFrame,
    year: int | None,
    start: dt.date,
    end: dt.date,
    township_names: Mapping[str, str],
) -> list[dict]:
    """One row per township, in code order (a township is in one county: a region's rows are its counties')."""
    township_of = households.set_index("household_id")["township"]
    rows = []
    watched = monitored(state_end)
    identified = identifications(status, start, end)
    eliminated = eliminations_in(eliminations, start, end)
    started = measures_started_in(measures, start, end)
    for township in sorted(set(households["township"])):
        ids = set(township_of[township_of == township].index)
        mine = households[households["household_id"].isin(ids)]
        index = fgt(incomes[incomes["household_id"].isin(ids)], mine, thresholds, year)
        rows.append(
            {
                "township": township_names.get(township, township),
                "code": township,
                "households": len(ids),
                "monitored": int(watched.index.isin(list(ids)).sum()),
                "monitored_people": int(watched.loc[watched.index.isin(list(ids)), "people"].sum()),
                "identified": int(identified.loc[identified["household_id"].isin(ids), "household_id"].nunique()),
                "eliminated": int(eliminated.loc[eliminated["household_id"].isin(ids), "household_id"].nunique()),
                "amount": round(float(started.loc[started["household_id"].isin(ids), "amount"].sum()), 2),
                "p0": index["p0"],
            }
        )
    return rows


def months_of(start: dt.date, end: dt.date) -> list[str]:
    months, year, month = [], start.year, start.month
    while (year, month) <= (end.year, end.month):
        months.append(f"{year:04d}-{month:02d}")
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return months


def monthly(
    *, status: pd.DataFrame, eliminations: pd.DataFrame, measures: pd.DataFrame, start: dt.date, end: dt.date
) -> pd.DataFrame:
    return month_table(
        month_counts(status=status, eliminations=eliminations, measures=measures, start=start, end=end), start, end
    )


def month_counts(
    *, status: pd.DataFrame, eliminations: pd.DataFrame, measures: pd.DataFrame, start: dt.date, end: dt.date
) -> pd.DataFrame:
    """By month (index "YYYY-MM"): households identified, households eliminated, amount (unrounded); a household
    is in one county, so a region's counties add them up."""
    identified = identifications(status, start, end)
    eliminated = eliminations_in(eliminations, start, end)
    started = measures_started_in(measures, start, end)

    def month(frame: pd.DataFrame, column: str) -> pd.Series:
        return _dates(frame, column).dt.strftime("%Y-%m")

    new = identified.assign(month=month(identified, "effective_date")).groupby("month")["household_id"].nunique()
    gone = eliminated.assign(month=month(eliminated, "eliminated_on")).groupby("month")["household_id"].nunique()
    money = started.assign(month=month(started, "start_date")).groupby("month")["amount"].sum()
    return pd.DataFrame({"identified": new, "eliminated": gone, "amount": money}).fillna(0)


def month_table(counts: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    new, gone, money = counts["identified"], counts["eliminated"], counts["amount"]
    return pd.DataFrame(
        [
            {
                "month": m,
                "identified": int(new.get(m, 0)),
                "eliminated": int(gone.get(m, 0)),
                "amount": round(float(money.get(m, 0.0)), 2),
            }
            for m in months_of(start, end)
        ],
        columns=["month", "identified", "eliminated", "amount"],
    )


def is_number(value: object) -> bool:
    return isinstance(value, int | float) and not (isinstance(value, float) and math.isnan(value))
