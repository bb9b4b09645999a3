"""A performance report's content: its sections (each with its definition, tables and a chart), the flat
dict of headline numbers, and the ledgers written as CSV. Computed from reports.sources by the pure
functions of reports.indicators; nothing here queries the database."""

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

import pandas as pd
from django.utils.translation import gettext_noop

from reports import cross_checks as xc
from reports import indicators as ind
from reports.sources import Sources

LABELS: dict[str, str] = {
    "monitored_households": gettext_noop("监测户数"),
    "monitored_people": gettext_noop("监测人数"),
    "amount_total": gettext_noop("帮扶资金（元）"),
    "fgt_p0": gettext_noop("P0 贫困发生率"),
    "monitored_at_start": gettext_noop("期初监测户数"),
    "identified": gettext_noop("新识别户数"),
    "identified_returned": gettext_noop("其中返贫致贫户数"),
    "eliminated": gettext_noop("风险消除户数"),
    "eliminated_assisted": gettext_noop("其中帮扶消除"),
    "eliminated_natural": gettext_noop("其中自然消除"),
    "elimination_share": gettext_noop("风险消除占比"),
    "decision_count": gettext_noop("统计期内决定纳入监测的核实数"),
    "decision_mean": gettext_noop("首次预警到识别决定平均天数"),
    "decision_median": gettext_noop("首次预警到识别决定中位天数"),
    "decision_max": gettext_noop("首次预警到识别决定最长天数"),
    "decision_within_limit": gettext_noop("15 天内决定的核实数"),
    "decision_within_limit_share": gettext_noop("15 天内决定占比"),
    "assistance_count": gettext_noop("已有帮扶的核实数"),
    "assistance_mean": gettext_noop("首次预警到首次帮扶平均天数"),
    "assistance_median": gettext_noop("首次预警到首次帮扶中位天数"),
    "assistance_max": gettext_noop("首次预警到首次帮扶最长天数"),
    "without_assistance": gettext_noop("尚无帮扶的核实数"),
    "overdue_open": gettext_noop("在办超期核实数"),
    "decided_late": gettext_noop("办结超期核实数"),
    "monitored": gettext_noop("截止日监测户数"),
    "with_measure": gettext_noop("有已实施措施的监测户数"),
    "with_measure_share": gettext_noop("有已实施措施的监测户占比"),
    "with_labour": gettext_noop("有劳动力的监测户数"),
    "with_labour_and_development": gettext_noop("其中有开发式帮扶的户数"),
    "with_labour_and_development_share": gettext_noop("有劳动力监测户的开发式帮扶占比"),
    "expected": gettext_noop("应落实措施项数"),
    "expected_in_place": gettext_noop("已落实项数"),
    "expected_in_place_share": gettext_noop("应落实措施落实率"),
    "mandatory": gettext_noop("必须落实措施项数"),
    "mandatory_missing": gettext_noop("必须落实但缺失项数"),
    "assisted": gettext_noop("统计期内有帮扶开始的户数"),
    "year": gettext_noop("收入年度"),
    "compared": gettext_noop("有两年收支调查可比较的户数"),
    "mean_before": gettext_noop("上一年度平均人均纯收入（元）"),
    "mean_after": gettext_noop("收入年度平均人均纯收入（元）"),
    "mean_change": gettext_noop("平均变化（元）"),
    "median_change": gettext_noop("中位变化（元）"),
    "rose_share": gettext_noop("收入增加户占比"),
    "eliminated_by_end": gettext_noop("截止日前累计风险消除户数"),
    "returned": gettext_noop("统计期内消除后返贫户数"),
    "return_rate": gettext_noop("返贫率"),
    "households": gettext_noop("有收支调查且有监测标准的户数"),
    "people": gettext_noop("上述户的人口（N）"),
    "households_without_threshold": gettext_noop("当年无监测标准的户数（未计入）"),
    "poor_households": gettext_noop("人均纯收入低于监测标准的户数"),
    "p0": gettext_noop("P0 贫困发生率"),
    "p1": gettext_noop("P1 贫困距指数"),
    "p2": gettext_noop("P2 平方贫困距指数"),
    "population": gettext_noop("期初不在监测中的户数"),
    "flagged": gettext_noop("列入风险名单户数"),
    "poor": gettext_noop("实际贫困户数"),
    "poor_flagged": gettext_noop("实际贫困且列入名单"),
    "poor_not_flagged": gettext_noop("实际贫困但未列入名单（漏评）"),
    "flagged_not_poor": gettext_noop("列入名单但并非实际贫困（误评）"),
    "exclusion_error": gettext_noop("排斥误差 EE"),
    "inclusion_error": gettext_noop("纳入误差 IE"),
    "cross_check_hits": gettext_noop("统计期内发现的资格比对疑点数"),
    "cross_check_pending": gettext_noop("截止日待核实疑点数"),
    "cross_check_confirmed": gettext_noop("截止日前核实属实疑点数"),
    "cross_check_exit_review": gettext_noop("其中转入退出或标注审核"),
    "cross_check_payment_recovery": gettext_noop("其中转入资金追回"),
    "cross_check_dismissed": gettext_noop("截止日前核实排除疑点数"),
    "cross_check_involved_amount": gettext_noop("发放比对疑点涉及金额（元）"),
    "cross_check_confirmed_amount": gettext_noop("其中核实属实金额（元）"),
    "recovery_hits": gettext_noop("核实属实、转入资金追回的发放数"),
    "recovery_amount": gettext_noop("应追回资金（元）"),
}

# The tables a report reads, as its page and files name them (the manifest's row_counts keys).
TABLE_LABELS = {
    "households": gettext_noop("户档案"),
    "status": gettext_noop("状态变更"),
    "cases": gettext_noop("核实任务"),
    "measures": gettext_noop("帮扶措施"),
    "incomes": gettext_noop("收支调查"),
    "thresholds": gettext_noop("监测标准"),
    "eliminations": gettext_noop("风险消除记录"),
    "returns": gettext_noop("返贫记录"),
    "labour_households": gettext_noop("有劳动力的户"),
    "severe_disability_households": gettext_noop("重度残疾人户"),
    "expectations": gettext_noop("应落实措施规则"),
    "checks": gettext_noop("资格比对规则"),
    "cross_checks": gettext_noop("资格比对疑点"),
}

HEADERS = {
    "category": gettext_noop("类别"),
    "households": gettext_noop("户数"),
    "people": gettext_noop("人数"),
    "risk_type": gettext_noop("风险类型"),
    "measures": gettext_noop("措施数"),
    "amount": gettext_noop("金额（元）"),
    "source": gettext_noop("资金来源"),
    "township": gettext_noop("乡镇"),
    "code": gettext_noop("区划代码"),
    "monitored": gettext_noop("监测户数"),
    "monitored_people": gettext_noop("监测人数"),
    "identified": gettext_noop("新识别户数"),
    "eliminated": gettext_noop("风险消除户数"),
    "p0": "P0",
    "month": gettext_noop("月份"),
    "check": gettext_noop("比对规则"),
    "hits": gettext_noop("发现疑点"),
    "pending": gettext_noop("待核实"),
    "confirmed": gettext_noop("核实属实"),
    "exit_review": gettext_noop("其中转入退出或标注审核"),
    "payment_recovery": gettext_noop("其中转入资金追回"),
    "dismissed": gettext_noop("核实排除"),
    "involved_amount": gettext_noop("涉及金额（元）"),
    "confirmed_amount": gettext_noop("核实属实金额（元）"),
}


@dataclass
class Chart:
    """Titles, series names and units are Chinese source strings (marked for translation, not translated
    here: the content is cached and shared); the files and pages translate them when they draw them."""

    kind: str  # "bar" or "line"
    title: str
    labels: list[str]
    series: dict[str, list[float]]
    unit: str = ""
    params: dict[str, Any] = field(default_factory=dict)  # the title's placeholders


@dataclass
class Section:
    key: str
    title: str
    definition: str
    tables: list[tuple[str, pd.DataFrame]] = field(default_factory=list)
    chart: Chart | None = None


@dataclass
class Ledger:
    name: str
    title: str
    columns: list[str]
    rows: list[list[Any]]


@dataclass
class PerformanceReport:
    region_code: str
    region_name: str
    start: dt.date
    end: dt.date
    year: int | None
    sections: list[Section]
    numbers: dict[str, Any]
    ledgers: list[Ledger]


def key_values(values: dict[str, Any], keys: list[str] | None = None) -> pd.DataFrame:
    keys = keys if keys is not None else list(values)
    # object dtype: counts stay whole numbers beside shares instead of all becoming floats
    rows = [{gettext_noop("指标"): LABELS.get(k, k), gettext_noop("数值"): values[k]} for k in keys]
    return pd.DataFrame(rows, columns=[gettext_noop("指标"), gettext_noop("数值")], dtype=object)


HEADLINE = (
    "monitored_households",
    "monitored_people",
    "identified",
    "eliminated",
    "decision_within_limit_share",
    "overdue_open",
    "with_measure_share",
    "amount_total",
    "return_rate",
    "fgt_p0",
    "exclusion_error",
    "inclusion_error",
)


# The cross-check section's summary numbers, in the order it lists them.
CROSS_CHECK_SUMMARY = (
    "cross_check_hits",
    "cross_check_pending",
    "cross_check_confirmed",
    "cross_check_exit_review",
    "cross_check_payment_recovery",
    "cross_check_dismissed",
    "cross_check_involved_amount",
    "cross_check_confirmed_amount",
)


def chinese(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.rename(columns=HEADERS)


def _date(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)) or value is pd.NaT:
        return ""
    return pd.Timestamp(value).strftime("%Y-%m-%d")


def _number(value: Any) -> Any:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return None
    return value.item() if hasattr(value, "item") else value


@dataclass
class Results:
    """What the report's sections show, before they are laid out: computed from one Sources (compute_report) or
    combined from the parts of a region's counties (reports.partitions)."""

    region_code: str
    region_name: str
    start: dt.date
    end: dt.date
    year: int | None
    by_type: pd.DataFrame
    by_risk: pd.DataFrame
    flow: dict[str, Any]
    month_table: pd.DataFrame
    timely: dict[str, Any]
    days_to_decision: pd.Series
    cover: dict[str, Any]
    expected: dict[str, Any]
    money: dict[str, pd.DataFrame]
    checked: dict[str, Any]
    change: dict[str, Any]
    back: dict[str, Any]
    index: dict[str, Any]
    aim: dict[str, Any]
    townships: pd.DataFrame
    ledgers: list[Ledger]


def compute_report(sources: Sources, *, region_name: str = "") -> PerformanceReport:
    return report_of(results_of(sources, region_name=region_name))


@dataclass(frozen=True)
class Basis:
    """What a report's sections are computed from: the sources and the states derived from them once."""

    sources: Sources
    state_start: pd.DataFrame  # each household's monitoring state the day before the period
    state_end: pd.DataFrame  # and at its end
    identified_on: pd.Series
    timely: Any  # ind.timeliness: the cases' day counts and their summary

    @property
    def frames(self) -> dict[str, pd.DataFrame]:
        return self.sources.frames


def basis_of(sources: Sources) -> Basis:
    f, start, end = sources.frames, sources.start, sources.end
    return Basis(
        sources=sources,
        state_start=ind.state_at(f["households"], f["status"], start - dt.timedelta(days=1)),
        state_end=ind.state_at(f["households"], f["status"], end),
        identified_on=ind.identification_dates(f["status"], end),
        timely=ind.timeliness(f["cases"], f["measures"], start, end),
    )


def common_sections(b: Basis) -> dict[str, Any]:
    """The sections that a whole region's results and a county's part (reports.partitions) compute alike: the
    flows, coverage, expected measures, returns and targeting, by the same calls."""
    f, s = b.frames, b.sources
    return {
        "flow": ind.flows(
            state_start=b.state_start,
            status=f["status"],
            eliminations=f["eliminations"],
            start=s.start,
            end=s.end,
            method_labels=s.labels["method"],
        ),
        "cover": ind.coverage(b.state_end, f["measures"], b.identified_on, s.labour, s.development_categories, s.end),
        "expected": ind.expected_measures(
            b.state_end, f["measures"], b.identified_on, s.expectations, s.severe_disability, s.end
        ),
        "back": ind.returns_after_elimination(f["eliminations"], f["returns"], s.start, s.end),
        "aim": ind.targeting(
            state_start=b.state_start,
            cases=f["cases"],
            status=f["status"],
            incomes=f["incomes"],
            households=f["households"],
            thresholds=f["thresholds"],
            year=s.year,
            start=s.start,
            end=s.end,
        ),
    }


def township_arguments(b: Basis) -> dict[str, Any]:
    """The arguments of the townships' table (ind.by_township) and of a county's rows of it (ind.township_rows)."""
    f, s = b.frames, b.sources
    return {
        "households": f["households"],
        "state_end": b.state_end,
        "status": f["status"],
        "eliminations": f["eliminations"],
        "measures": f["measures"],
        "incomes": f["incomes"],
        "thresholds": f["thresholds"],
        "year": s.year,
        "start": s.start,
        "end": s.end,
        "township_names": s.township_names,
    }


def results_of(sources: Sources, *, region_name: str = "") -> Results:
    f, b = sources.frames, basis_of(sources)
    households, status, measures, incomes = f["households"], f["status"], f["measures"], f["incomes"]
    start, end, year, labels = sources.start, sources.end, sources.year, sources.labels
    return Results(
        region_code=sources.region.code,
        region_name=region_name or sources.region.name,
        start=start,
        end=end,
        year=year,
        by_type=ind.monitored_by_type(b.state_end, labels["monitoring_type"]),
        by_risk=ind.monitored_by_risk(b.state_end, labels["risk_type"]),
        month_table=ind.monthly(status=status, eliminations=f["eliminations"], measures=measures, start=start, end=end),
        timely=b.timely.summary,
        days_to_decision=b.timely.cases["days_to_decision"],
        money=ind.amounts(measures, households, start, end, sources.category_names, sources.township_names),
        checked=xc.summary(f["checks"], f["cross_checks"], start, end, sources.township_names),
        change=ind.income_change(incomes, measures, start, end, year),
        index=ind.fgt(incomes, households, f["thresholds"], year),
        townships=ind.by_township(**township_arguments(b)),
        ledgers=ledgers(sources, b.timely.cases, labels),
        **common_sections(b),
    )


def report_of(results: Results) -> PerformanceReport:
    """The report's sections, headline numbers and ledgers, laid out from its results."""
    r = results
    year = r.year
    numbers: dict[str, Any] = {}
    sections: list[Section] = []
    by_type, by_risk = r.by_type, r.by_risk
    total = by_type.iloc[-1]
    numbers.update(monitored_households=int(total["households"]), monitored_people=int(total["people"]))
    sections.append(
        Section(
            "monitored",
            gettext_noop("监测对象户数和人数"),
            ind.DEFINITIONS["monitored"],
            [(gettext_noop("按监测对象类别"), chinese(by_type)), (gettext_noop("按风险类型"), chinese(by_risk))],
            Chart(
                "bar",
                gettext_noop("监测户数（按风险类型）"),
                list(by_risk["risk_type"]),
                {gettext_noop("户数"): [float(v) for v in by_risk["households"]]},
                gettext_noop("户"),
            ),
        )
    )

    flow = r.flow
    numbers.update(flow)
    month_table = r.month_table
    sections.append(
        Section(
            "flows",
            gettext_noop("新识别与风险消除"),
            ind.DEFINITIONS["flows"],
            [(gettext_noop("汇总"), key_values(flow)), (gettext_noop("逐月"), chinese(month_table))],
            Chart(
                "line",
                gettext_noop("逐月新识别与风险消除户数"),
                list(month_table["month"]),
                {
                    gettext_noop("新识别"): [float(v) for v in month_table["identified"]],
                    gettext_noop("风险消除"): [float(v) for v in month_table["eliminated"]],
                },
                gettext_noop("户"),
            ),
        )
    )

    numbers.update(r.timely)
    spread = r.days_to_decision
    buckets = [gettext_noop("0–7 天"), gettext_noop("8–15 天"), gettext_noop("16–30 天"), gettext_noop("31 天以上")]
    counts = [
        int((spread <= 7).sum()),
        int(((spread > 7) & (spread <= 15)).sum()),
        int(((spread > 15) & (spread <= 30)).sum()),
        int((spread > 30).sum()),
    ]
    sections.append(
        Section(
            "timeliness",
            gettext_noop("识别与帮扶时效"),
            ind.DEFINITIONS["timeliness"],
            [(gettext_noop("汇总"), key_values(r.timely))],
            Chart(
                "bar",
                gettext_noop("首次预警到识别决定的天数"),
                buckets,
                {gettext_noop("核实数"): [float(c) for c in counts]},
                gettext_noop("件"),
            ),
        )
    )

    cover, expected = r.cover, r.expected
    numbers.update(cover)
    numbers.update(expected)
    sections.append(
        Section(
            "coverage",
            gettext_noop("帮扶措施覆盖"),
            ind.DEFINITIONS["coverage"],
            [(gettext_noop("帮扶覆盖"), key_values(cover)), (gettext_noop("应落实措施"), key_values(expected))],
        )
    )

    money = r.money
    numbers["amount_total"] = float(money["category"].iloc[-1]["amount"])
    numbers["amount_measures"] = int(money["category"].iloc[-1]["measures"])
    by_category = money["category"].iloc[:-1]
    checked = r.checked
    numbers.update(checked["numbers"])
    recovery = {k: checked["numbers"][k] for k in ("recovery_hits", "recovery_amount")}
    sections.append(
        Section(
            "amounts",
            gettext_noop("帮扶资金"),
            ind.DEFINITIONS["amounts"],
            [
                (gettext_noop("按帮扶类别"), chinese(money["category"])),
                (gettext_noop("按资金来源"), chinese(money["source"])),
                (gettext_noop("按乡镇"), chinese(money["township"])),
                (gettext_noop("资格比对：向不符合条件者的发放（应追回）"), key_values(recovery)),
            ],
            Chart(
                "bar",
                gettext_noop("帮扶资金（按帮扶类别）"),
                list(by_category["category"]),
                {gettext_noop("金额"): [float(v) for v in by_category["amount"]]},
                gettext_noop("元"),
            ),
        )
    )

    change = r.change
    numbers.update({f"income_{k}": v for k, v in change.items()})
    sections.append(
        Section(
            "income_change",
            gettext_noop("受帮扶户收入变化"),
            ind.DEFINITIONS["income_change"],
            [(gettext_noop("汇总"), key_values(change))],
        )
    )

    back = r.back
    numbers.update(back)
    sections.append(
        Section(
            "returns",
            gettext_noop("风险消除后返贫"),
            ind.DEFINITIONS["returns"],
            [(gettext_noop("汇总"), key_values(back))],
        )
    )

    index = r.index
    numbers.update({f"fgt_{k}": v for k, v in index.items()})
    sections.append(
        Section(
            "fgt",
            gettext_noop("FGT 贫困指数"),
            ind.DEFINITIONS["fgt"],
            [(gettext_noop("汇总"), key_values(index))],
            Chart(
                "bar",
                gettext_noop("FGT 贫困指数（%(year)s 年）"),
                ["P0", "P1", "P2"],
                {gettext_noop("指数"): [float(index[k] or 0.0) for k in ("p0", "p1", "p2")]},
                params={"year": year or "—"},
            ),
        )
    )

    aim = r.aim
    numbers.update(aim)
    sections.append(
        Section(
            "targeting",
            gettext_noop("风险名单瞄准误差"),
            ind.DEFINITIONS["targeting"],
            [(gettext_noop("汇总"), key_values(aim))],
        )
    )

    by_check = checked["by_check"]
    sections.append(
        Section(
            "cross_checks",
            gettext_noop("资格比对（部门数据比对）"),
            xc.DEFINITION,
            [
                (gettext_noop("汇总"), key_values(checked["numbers"], list(CROSS_CHECK_SUMMARY))),
                (gettext_noop("按比对规则"), chinese(by_check)),
                (gettext_noop("按乡镇"), chinese(checked["by_township"])),
            ],
            Chart(
                "bar",
                gettext_noop("统计期内发现的疑点数（按比对规则）"),
                list(by_check["check"].iloc[:-1]),
                {gettext_noop("疑点数"): [float(v) for v in by_check["hits"].iloc[:-1]]},
                gettext_noop("件"),
            ),
        )
    )

    townships = r.townships
    sections.append(
        Section(
            "townships",
            gettext_noop("分乡镇"),
            ind.DEFINITIONS["townships"],
            [(gettext_noop("分乡镇"), chinese(townships))],
            Chart(
                "bar",
                gettext_noop("监测户数（按乡镇）"),
                list(townships["township"]),
                {gettext_noop("监测户数"): [float(v) for v in townships["monitored"]]},
                gettext_noop("户"),
            ),
        )
    )
    numbers = {k: _number(v) for k, v in numbers.items()}
    return PerformanceReport(
        region_code=r.region_code,
        region_name=r.region_name,
        start=r.start,
        end=r.end,
        year=year,
        sections=sections,
        numbers=numbers,
        ledgers=r.ledgers,
    )


def ledgers(sources: Sources, decided: pd.DataFrame, labels: dict[str, dict[str, str]]) -> list[Ledger]:
    f = sources.frames
    start, end = sources.start, sources.end
    numbers = dict(zip(f["households"]["household_id"], f["households"]["number"], strict=True))
    villages = dict(zip(f["households"]["household_id"], f["households"]["village_id"], strict=True))
    names = sources.category_names
    started = ind.measures_started_in(f["measures"], start, end)
    assistance = Ledger(
        "assistance",
        gettext_noop("帮扶措施台账"),
        [
            gettext_noop("措施编号"),
            gettext_noop("户编号"),
            gettext_noop("村代码"),
            gettext_noop("帮扶类别"),
            gettext_noop("帮扶子类代码"),
            gettext_noop("金额（元）"),
            gettext_noop("资金来源"),
            gettext_noop("开始日期"),
            gettext_noop("结束日期"),
        ],
        [
            [
                int(r.measure_id),
                numbers.get(r.household_id, ""),
                villages.get(r.household_id, ""),
                names.get(r.category, r.category),
                r.subtype or "",
                round(float(r.amount), 2),
                r.funding_source or "",
                _date(r.start_date),
                _date(r.end_date),
            ]
            for r in started.itertuples(index=False)
        ],
    )
    events = {ind.EVENT_IDENTIFIED: gettext_noop("纳入监测"), ind.EVENT_RETURNED: gettext_noop("返贫致贫")}
    identified = ind.identifications(f["status"], start, end)
    identifications = Ledger(
        "identifications",
        gettext_noop("新识别台账"),
        [
            gettext_noop("户编号"),
            gettext_noop("村代码"),
            gettext_noop("生效日期"),
            gettext_noop("事件"),
            gettext_noop("监测对象类别"),
        ],
        [
            [
                numbers.get(r.household_id, ""),
                villages.get(r.household_id, ""),
                _date(r.effective_date),
                events.get(r.event, r.event),
                labels["monitoring_type"].get(r.monitoring_type, r.monitoring_type),
            ]
            for r in identified.itertuples(index=False)
        ],
    )
    eliminated = ind.eliminations_in(f["eliminations"], start, end)
    eliminations = Ledger(
        "eliminations",
        gettext_noop("风险消除台账"),
        [gettext_noop("户编号"), gettext_noop("村代码"), gettext_noop("风险消除日期"), gettext_noop("消除方式")],
        [
            [
                numbers.get(r.household_id, ""),
                villages.get(r.household_id, ""),
                _date(r.eliminated_on),
                labels["method"].get(r.method, r.method),
            ]
            for r in eliminated.itertuples(index=False)
        ],
    )
    timeliness = Ledger(
        "timeliness",
        gettext_noop("识别时效台账"),
        [
            gettext_noop("核实编号"),
            gettext_noop("户编号"),
            gettext_noop("首次预警日期"),
            gettext_noop("办结时限"),
            gettext_noop("决定日期"),
            gettext_noop("识别天数"),
            gettext_noop("首次帮扶日期"),
            gettext_noop("帮扶天数"),
        ],
        [
            [
                int(r.case_id),
                numbers.get(r.household_id, ""),
                _date(r.opened_on),
                _date(r.due_on),
                _date(r.decided_on),
                int(r.days_to_decision),
                _date(r.first_assistance_on),
                "" if pd.isna(r.days_to_assistance) else int(r.days_to_assistance),
            ]
            for r in decided.itertuples(index=False)
        ],
    )
    return [assistance, identifications, eliminations, timeliness]
