"""Each indicator of reports.indicators on small hand-made frames with known answers (no database)."""

import datetime as dt

import pandas as pd
import pytest

from reports import indicators as ind

D = dt.date


def households(*rows):
    """(household_id, township, people, monitoring_type, risk_types) → a households frame."""
    return pd.DataFrame(
        [
            {
                "household_id": h,
                "number": f"N{h}",
                "village_id": t[:9] + "200",
                "township": t,
                "household_type": "2",
                "monitoring_type": m,
                "risk_types": r,
                "people": p,
            }
            for h, t, p, m, r in rows
        ]
    )


def status(*rows):
    """(status_id, household_id, date, event, monitoring_type, risk_types)."""
    return pd.DataFrame(
        rows, columns=["status_id", "household_id", "effective_date", "event", "monitoring_type", "risk_types"]
    ).assign(effective_date=lambda f: pd.to_datetime(f["effective_date"]))


def measures(*rows):
    """(measure_id, household_id, category, subtype, status, amount, source, start, end)."""
    return pd.DataFrame(
        rows,
        columns=[
            "measure_id",
            "household_id",
            "category",
            "subtype",
            "status",
            "amount",
            "funding_source",
            "start_date",
            "end_date",
        ],
    )


NO_MEASURES = measures()
T1, T2 = "522634101000", "522634103000"


def test_state_at_takes_the_latest_change_on_or_before_the_date_and_the_file_where_there_is_no_history():
    frame = households((1, T1, 3, "2", ",07,"), (2, T1, 2, "2", ",01,"), (3, T2, 1, "1", ",01,"))
    history = status(
        (10, 1, D(2024, 3, 1), "03", "2", ",07,"),
        (11, 1, D(2024, 9, 1), "05", "", ""),
        (12, 2, D(2024, 6, 1), "03", "2", ",01,"),
    )
    state = ind.state_at(frame, history, D(2024, 5, 1))
    assert state.loc[1, "monitoring_type"] == "2"
    assert state.loc[2, "monitoring_type"] == ""  # its history starts later: not monitored yet
    assert state.loc[3, "monitoring_type"] == "1"  # no history: the household file
    assert ind.state_at(frame, history, D(2024, 12, 31)).loc[1, "monitoring_type"] == ""


def test_monitored_households_and_people_are_counted_by_type_with_a_total():
    state = ind.state_at(
        households((1, T1, 3, "2", ",07,"), (2, T1, 2, "2", ",01,09,"), (3, T2, 1, "1", ",01,"), (4, T2, 5, "", "")),
        status(),
        D(2024, 12, 31),
    )
    table = ind.monitored_by_type(state, {"1": "脱贫不稳定户", "2": "边缘易致贫户"})
    assert table.to_dict("records") == [
        {"category": "脱贫不稳定户", "households": 1, "people": 1},
        {"category": "边缘易致贫户", "households": 2, "people": 5},
        {"category": "合计", "households": 3, "people": 6},
    ]


def test_a_household_counts_under_each_of_its_risk_types():
    state = ind.state_at(
        households((1, T1, 3, "2", ",07,"), (2, T1, 2, "2", ",01,09,"), (3, T2, 1, "1", ",01,")),
        status(),
        D(2024, 12, 31),
    )
    table = ind.monitored_by_risk(state, {"01": "因病", "07": "因务工就业不稳", "09": "因安全住房"})
    assert table.to_dict("records") == [
        {"risk_type": "因病", "households": 2, "people": 3},
        {"risk_type": "因务工就业不稳", "households": 1, "people": 3},
        {"risk_type": "因安全住房", "households": 1, "people": 2},
    ]


def test_flows_count_identifications_returns_and_eliminations_by_method():
    frame = households((1, T1, 1, "", ""), (2, T1, 1, "", ""), (3, T2, 1, "", ""))
    history = status(
        (1, 3, D(2023, 5, 1), "03", "1", ",01,"),
        (2, 1, D(2024, 2, 1), "03", "2", ",07,"),
        (3, 1, D(2024, 2, 20), "04", "2", ",07,01,"),
        (4, 3, D(2024, 4, 1), "05", "", ""),
        (5, 3, D(2024, 10, 1), "06", "1", ",01,"),
        (6, 2, D(2025, 1, 5), "03", "2", ",01,"),  # after the period
    )
    eliminations = pd.DataFrame(
        [{"elimination_id": 1, "household_id": 3, "method": "assisted", "eliminated_on": pd.Timestamp("2024-04-01")}]
    )
    result = ind.flows(
        state_start=ind.state_at(frame, history, D(2023, 12, 31)),
        status=history,
        eliminations=eliminations,
        start=D(2024, 1, 1),
        end=D(2024, 12, 31),
        method_labels={"assisted": "帮扶消除", "natural": "自然消除"},
    )
    assert result == {
        "monitored_at_start": 1,
        "identified": 2,
        "identified_returned": 1,
        "eliminated": 1,
        "eliminated_assisted": 1,
        "eliminated_natural": 0,
        "elimination_share": round(1 / 3, 4),
    }


def cases(*rows):
    """(case_id, household_id, status, opened_on, decided_on); due 15 days after opening."""
    frame = pd.DataFrame(rows, columns=["case_id", "household_id", "status", "opened_on", "decided_on"])
    frame["opened_on"] = pd.to_datetime(frame["opened_on"])
    frame["due_on"] = frame["opened_on"] + pd.Timedelta(days=15)
    frame["decided_on"] = pd.to_datetime(frame["decided_on"])
    return frame


def test_timeliness_measures_days_from_first_warning_to_decision_and_to_first_assistance():
    c = cases(
        (1, 1, "monitored", D(2024, 3, 1), D(2024, 3, 8)),
        (2, 2, "monitored", D(2024, 4, 1), D(2024, 4, 21)),
        (3, 3, "monitored", D(2024, 5, 1), D(2024, 5, 13)),
        (4, 4, "excluded", D(2024, 5, 1), D(2024, 5, 3)),
    )
    m = measures(
        (1, 1, "02", "0204", "implemented", 100.0, "", D(2024, 2, 1), None),  # before the warning: not counted
        (2, 1, "02", "0204", "implemented", 100.0, "", D(2024, 3, 11), None),
        (3, 2, "04", "0401", "implemented", 100.0, "", D(2024, 5, 1), None),
        (4, 3, "09", "0901", "planned", 100.0, "", D(2024, 5, 20), None),
    )
    result = ind.timeliness(c, m, D(2024, 1, 1), D(2024, 12, 31))
    assert result.summary["decision_count"] == 3
    assert result.summary["decision_mean"] == round((7 + 20 + 12) / 3, 2)
    assert (result.summary["decision_median"], result.summary["decision_max"]) == (12.0, 20)
    assert (result.summary["decision_within_limit"], result.summary["decision_within_limit_share"]) == (2, 0.6667)
    assert (result.summary["assistance_count"], result.summary["assistance_mean"]) == (2, 20.0)  # 10 and 30 days
    assert result.summary["without_assistance"] == 1
    assert list(result.cases["days_to_assistance"].fillna(-1)) == [10, 30, -1]


def test_overdue_counts_cases_open_past_their_due_date_and_cases_decided_late():
    c = cases(
        (1, 1, "warned", D(2024, 12, 1), None),  # due 12-16, open at the end of the year: overdue
        (2, 2, "verifying", D(2024, 12, 20), None),  # due 2025-01-04: not yet overdue
        (3, 3, "excluded", D(2024, 6, 1), D(2024, 7, 1)),  # decided after its due date
        (4, 4, "monitored", D(2024, 11, 1), D(2025, 1, 20)),  # open at the end (decided later) and overdue
    )
    summary = ind.timeliness(c, NO_MEASURES, D(2024, 1, 1), D(2024, 12, 31)).summary
    assert (summary["overdue_open"], summary["decided_late"]) == (2, 1)


def test_coverage_counts_implemented_measures_of_the_current_monitoring_and_development_for_labour():
    frame = households((1, T1, 1, "2", ",07,"), (2, T1, 1, "2", ",07,"), (3, T1, 1, "2", ",08,"), (4, T1, 1, "", ""))
    history = status(
        (1, 1, D(2024, 1, 1), "03", "2", ",07,"),
        (2, 2, D(2024, 6, 1), "03", "2", ",07,"),
        (3, 3, D(2024, 1, 1), "03", "2", ",08,"),
    )
    m = measures(
        (1, 1, "02", "0204", "implemented", 1.0, "", D(2024, 2, 1), None),
        (2, 2, "02", "0204", "implemented", 1.0, "", D(2023, 1, 1), D(2023, 12, 31)),  # ended before monitoring
        (3, 2, "08", "0801", "planned", 1.0, "", D(2024, 7, 1), None),
        (4, 3, "08", "0801", "implemented", 1.0, "", D(2024, 2, 1), None),
        (5, 4, "02", "0204", "implemented", 1.0, "", D(2024, 2, 1), None),  # not monitored
    )
    end = D(2024, 12, 31)
    state = ind.state_at(frame, history, end)
    result = ind.coverage(state, m, ind.identification_dates(history, end), {1, 2, 3, 4}, {"01", "02", "03", "04"}, end)
    assert result == {
        "monitored": 3,
        "with_measure": 2,
        "with_measure_share": 0.6667,
        "with_labour": 3,
        "with_labour_and_development": 1,
        "with_labour_and_development_share": 0.3333,
    }


def test_expected_measures_count_what_the_risk_types_call_for_and_the_mandatory_ones_missing():
    frame = households((1, T1, 1, "2", ",01,09,"), (2, T1, 1, "2", ",01,"))
    m = measures((1, 1, "05", "0501", "implemented", 1.0, "", D(2024, 2, 1), None))
    expectations = [
        ind.Expected("01", "健康帮扶", ("05",), (), False),
        ind.Expected("01", "残疾人两项补贴", ("08",), ("0803",), True, "severe_disability"),
        ind.Expected("09", "住房安全保障", ("09",), (), True),
    ]
    end = D(2024, 12, 31)
    state = ind.state_at(frame, status(), end)
    result = ind.expected_measures(state, m, pd.Series(dtype="datetime64[ns]"), expectations, {2}, end)
    # h1: 健康帮扶 in place, 住房 missing (mandatory); h2 (severely disabled): 健康帮扶 and 两项补贴 missing.
    assert result == {
        "expected": 4,
        "expected_in_place": 1,
        "expected_in_place_share": 0.25,
        "mandatory": 2,
        "mandatory_missing": 2,
    }


def test_amounts_sum_implemented_measures_started_in_the_period_by_category_source_and_township():
    frame = households((1, T1, 1, "2", ""), (2, T2, 1, "2", ""))
    m = measures(
        (1, 1, "02", "0204", "implemented", 1000.5, "衔接资金", D(2024, 1, 1), None),
        (2, 2, "02", "0204", "implemented", 2000.0, " ", D(2024, 6, 1), None),
        (3, 2, "09", "0901", "implemented", 30000.0, "衔接资金", D(2024, 12, 31), None),
        (4, 2, "09", "0901", "planned", 5000.0, "", D(2024, 6, 1), None),
        (5, 1, "09", "0901", "implemented", 7000.0, "", D(2023, 12, 31), None),
    )
    tables = ind.amounts(
        m, frame, D(2024, 1, 1), D(2024, 12, 31), {"02": "就业帮扶", "09": "住房安全保障"}, {T1: "西江镇", T2: "郎德镇"}
    )
    assert tables["category"].to_dict("records") == [
        {"category": "就业帮扶", "measures": 2, "amount": 3000.5},
        {"category": "住房安全保障", "measures": 1, "amount": 30000.0},
        {"category": "合计", "measures": 3, "amount": 33000.5},
    ]
    assert tables["source"].to_dict("records") == [
        {"source": "未填写", "measures": 1, "amount": 2000.0},
        {"source": "衔接资金", "measures": 2, "amount": 31000.5},
        {"source": "合计", "measures": 3, "amount": 33000.5},
    ]
    assert list(tables["township"]["amount"]) == [1000.5, 32000.0, 33000.5]


def incomes(*rows):
    """(household_id, year, household_size, per_capita_net_income)."""
    return pd.DataFrame(rows, columns=["household_id", "year", "household_size", "per_capita_net_income"])


def test_the_income_year_is_the_end_year_or_else_the_latest_surveyed_before_it():
    assert ind.income_year(incomes((1, 2023, 1, 1.0), (1, 2024, 1, 1.0)), D(2024, 6, 30)) == 2024
    assert ind.income_year(incomes((1, 2022, 1, 1.0), (1, 2023, 1, 1.0), (1, 2026, 1, 1.0)), D(2025, 6, 30)) == 2023
    assert ind.income_year(incomes(), D(2025, 6, 30)) is None


def test_income_change_compares_the_income_year_with_the_year_before_for_assisted_households():
    m = measures(
        (1, 1, "02", "0204", "implemented", 1.0, "", D(2024, 3, 1), None),
        (2, 2, "02", "0204", "implemented", 1.0, "", D(2024, 3, 1), None),
        (3, 3, "02", "0204", "implemented", 1.0, "", D(2024, 3, 1), None),
        (4, 4, "02", "0204", "planned", 1.0, "", D(2024, 3, 1), None),
    )
    i = incomes(
        (1, 2023, 2, 5000.0),
        (1, 2024, 2, 6000.0),
        (2, 2023, 1, 8000.0),
        (2, 2024, 1, 7000.0),
        (3, 2024, 1, 9000.0),
        (4, 2023, 1, 1000.0),
        (4, 2024, 1, 9000.0),
    )
    result = ind.income_change(i, m, D(2024, 1, 1), D(2024, 12, 31), 2024)
    assert result == {
        "assisted": 3,
        "year": 2024,
        "compared": 2,
        "mean_before": 6500.0,
        "mean_after": 6500.0,
        "mean_change": 0.0,
        "median_change": 0.0,
        "rose_share": 0.5,
    }


def test_the_return_rate_is_returns_in_the_period_over_households_eliminated_by_its_end():
    eliminations = pd.DataFrame(
        [
            {"elimination_id": e, "household_id": h, "method": "assisted", "eliminated_on": pd.Timestamp(d)}
            for e, h, d in ((1, 1, "2022-05-01"), (2, 2, "2023-05-01"), (3, 3, "2024-05-01"), (4, 4, "2025-02-01"))
        ]
    )
    returns = pd.DataFrame(
        [
            {
                "household_id": 1,
                "elimination_id": 1,
                "eliminated_on": pd.Timestamp("2022-05-01"),
                "returned_on": pd.Timestamp("2023-03-01"),
            },
            {
                "household_id": 3,
                "elimination_id": 3,
                "eliminated_on": pd.Timestamp("2024-05-01"),
                "returned_on": pd.Timestamp("2024-11-01"),
            },
        ]
    )
    assert ind.returns_after_elimination(eliminations, returns, D(2024, 1, 1), D(2024, 12, 31)) == {
        "eliminated_by_end": 3,
        "returned": 1,
        "return_rate": 0.3333,
    }


def test_fgt_indices_weight_each_household_by_its_people():
    result = ind.fgt_indices([3000, 4500, 9000], [6000, 6000, 6000], [2, 1, 1])
    assert result == {"p0": 0.75, "p1": 0.3125, "p2": 0.140625}


def test_fgt_counts_a_negative_income_as_zero():
    assert ind.fgt_indices([-500, 7000], [5000, 5000], [1, 1]) == {"p0": 0.5, "p1": 0.5, "p2": 0.5}


def test_fgt_uses_each_villages_threshold_and_leaves_out_households_without_one():
    frame = households((1, T1, 1, "", ""), (2, T2, 1, "", ""), (3, T2, 1, "", ""))
    frame.loc[frame["household_id"] == 3, "village_id"] = "522634199200"
    i = incomes((1, 2024, 2, 3000.0), (2, 2024, 2, 3000.0), (3, 2024, 5, 100.0), (1, 2023, 2, 100.0))
    thresholds = pd.DataFrame(
        [
            {"village_id": T1[:9] + "200", "year": 2024, "threshold": 6000.0},
            {"village_id": T2[:9] + "200", "year": 2024, "threshold": 3000.0},
        ]
    )
    result = ind.fgt(i, frame, thresholds, 2024)
    assert (result["households"], result["people"], result["households_without_threshold"]) == (2, 4, 1)
    assert (result["p0"], result["p1"], result["p2"]) == (0.5, 0.25, 0.125)


def test_targeting_errors_are_poor_not_flagged_over_poor_and_flagged_not_poor_over_flagged():
    assert ind.targeting_errors({1, 2, 3}, {2, 3, 4, 5}) == {
        "flagged": 3,
        "poor": 4,
        "poor_flagged": 2,
        "poor_not_flagged": 2,
        "flagged_not_poor": 1,
        "exclusion_error": 0.5,
        "inclusion_error": 0.3333,
    }
    assert ind.targeting_errors(set(), set())["exclusion_error"] is None


def test_targeting_judges_only_households_not_monitored_at_the_start_against_what_followed():
    frame = households(
        (1, T1, 1, "", ""), (2, T1, 1, "", ""), (3, T1, 1, "", ""), (4, T1, 1, "", ""), (5, T1, 1, "2", ",07,")
    )
    history = status((1, 5, D(2023, 1, 1), "03", "2", ",07,"), (2, 2, D(2024, 4, 1), "03", "2", ",07,"))
    c = cases(
        (1, 1, "excluded", D(2024, 2, 1), D(2024, 2, 10)),
        (2, 2, "monitored", D(2024, 3, 1), D(2024, 4, 1)),
        (3, 5, "warned", D(2024, 5, 1), None),
    )
    i = incomes((3, 2024, 1, 1000.0), (4, 2024, 1, 9000.0), (5, 2024, 1, 1000.0))
    thresholds = pd.DataFrame([{"village_id": T1[:9] + "200", "year": 2024, "threshold": 7000.0}])
    result = ind.targeting(
        state_start=ind.state_at(frame, history, D(2023, 12, 31)),
        cases=c,
        status=history,
        incomes=i,
        households=frame,
        thresholds=thresholds,
        year=2024,
        start=D(2024, 1, 1),
        end=D(2024, 12, 31),
    )
    # Flagged {1, 2}; poor {2 (identified), 3 (income)}; household 5 was monitored at the start.
    assert result == {
        "population": 4,
        "flagged": 2,
        "poor": 2,
        "poor_flagged": 1,
        "poor_not_flagged": 1,
        "flagged_not_poor": 1,
        "exclusion_error": 0.5,
        "inclusion_error": 0.5,
    }


def test_the_monthly_series_covers_every_month_of_the_period():
    history = status((1, 1, D(2024, 2, 3), "03", "2", ""), (2, 2, D(2024, 2, 20), "06", "2", ""))
    m = measures((1, 1, "02", "0204", "implemented", 500.0, "", D(2024, 3, 1), None))
    eliminations = pd.DataFrame(columns=["elimination_id", "household_id", "method", "eliminated_on"])
    table = ind.monthly(status=history, eliminations=eliminations, measures=m, start=D(2024, 1, 15), end=D(2024, 3, 31))
    assert table.to_dict("records") == [
        {"month": "2024-01", "identified": 0, "eliminated": 0, "amount": 0.0},
        {"month": "2024-02", "identified": 2, "eliminated": 0, "amount": 0.0},
        {"month": "2024-03", "identified": 0, "eliminated": 0, "amount": 500.0},
    ]


@pytest.mark.parametrize("key", sorted(ind.DEFINITIONS))
def test_every_indicator_has_a_definition_in_chinese(key):
    assert any("\u4e00" <= char <= "\u9fff" for char in ind.DEFINITIONS[key])
