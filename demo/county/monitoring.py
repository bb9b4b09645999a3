"""Status history that follows the income paths (domain.md §4).

Year by year, a household whose per-capita net income is below the year's threshold and that has a risk (a
shock of this or last year, or a lasting one: no labour, disability, illness, schooling costs, unsafe
housing or water) is found and enters monitoring; 脱贫户 as 脱贫不稳定户, others as 边缘易致贫户. A
household above the threshold whose rigid spending or a sharp fall of income leaves it in severe hardship
enters as 突发严重困难户. Most are found in the year they become eligible, the rest the next year if still
eligible (漏评 in between). A monitored household whose income is back above the threshold, without a new
shock, at least a year after it entered, has its risk eliminated (never one unable to work as a whole); a
later fall brings it back (返贫致贫).
"""

import datetime as dt
from dataclasses import dataclass, field

import numpy as np

from demo.county import assumptions as A
from demo.county.draws import Table, random_dates
from demo.county.shocks import RISK_BITS, bits, shock_bits
from households.validation import CodeBook, join_codes

Y = len(A.YEARS)
LAST = Y - 1
PRIORITY = ("01", "04", "05", "06", "07", "08", "02", "03", "09", "10", "99")
EVENT_CREATED, EVENT_LIFTED, EVENT_ENTERED, EVENT_CHANGED, EVENT_ELIMINATED, EVENT_RETURNED = (
    "01",
    "02",
    "03",
    "04",
    "05",
    "06",
)
REGISTERED_YEAR_WEIGHTS = ((2014, 0.70), (2015, 0.15), (2016, 0.10), (2017, 0.05))


@dataclass
class History:
    household: list[int] = field(default_factory=list)
    date: list[dt.date] = field(default_factory=list)
    event: list[str] = field(default_factory=list)
    household_type: list[str] = field(default_factory=list)
    poverty_attribute: list[str] = field(default_factory=list)
    monitoring_type: list[str] = field(default_factory=list)
    risk_types: list[str] = field(default_factory=list)
    reason: list[str] = field(default_factory=list)

    def add(
        self,
        index: int,
        date: dt.date,
        event: str,
        kind: str,
        attribute: str,
        monitoring: str,
        risks: str,
        reason: str,
    ) -> None:
        self.household.append(index)
        self.date.append(date)
        self.event.append(event)
        self.household_type.append(kind)
        self.poverty_attribute.append(attribute)
        self.monitoring_type.append(monitoring)
        self.risk_types.append(risks)
        self.reason.append(reason)

    def __len__(self) -> int:
        return len(self.event)


def risk_codes(mask: int) -> list[str]:
    """The codes of a bit mask, at most five, shocks first."""
    return [code for code in PRIORITY if mask & (1 << RISK_BITS[code])][:5]


def _mask(codes: list[str]) -> int:
    return sum(1 << RISK_BITS[code] for code in codes)


def _structural(hh: Table, pp: Table, incomes: Table, shocks: Table) -> np.ndarray:
    """Lasting risks (H, Y) as bit masks."""
    h = len(hh["size"])
    member_of = pp["hh"]
    severe = np.bincount(member_of, weights=np.isin(pp["disability_grade"], ["1", "2"]), minlength=h)
    disabled = np.bincount(member_of, weights=pp["disabled"], minlength=h)
    lasting = np.where(hh["strong_workers"] == 0, bits("08"), 0) | np.where(
        (severe > 0) | (disabled >= 2), bits("02"), 0
    )
    lasting |= np.where(~hh["safe_drinking_water"], bits("10"), 0)
    out = np.repeat(lasting[:, None], Y, axis=1)
    out |= np.where(incomes["compliant_medical_spending"] >= 5000, bits("01"), 0)
    out |= np.where(incomes["compliant_education_spending"] > A.EDUCATION_RISK_SPENDING, bits("03"), 0)
    unsafe_now = np.isin(hh["housing_grade"], ["C", "D"])
    out |= np.where(shocks["damaged_house"], bits("09"), 0)
    out[:, LAST] |= np.where(unsafe_now, bits("09"), 0)
    return out


def history(
    rng: np.random.Generator, hh: Table, pp: Table, incomes: Table, shocks: Table, codes: CodeBook
) -> History:
    """The status changes of every household, oldest first; sets monitoring_type, risk_types and
    disaster_subtype."""
    h = len(hh["size"])
    log = History()
    _registration(rng, hh, log)

    now, lingering = shock_bits(shocks)
    lasting = _structural(hh, pp, incomes, shocks)
    net, size = incomes["net_income"], incomes["household_size"]
    rigid = incomes["compliant_medical_spending"] + incomes["compliant_education_spending"]
    per_capita = net / size

    monitored = np.zeros(h, dtype=bool)
    missed = np.zeros(h, dtype=bool)
    eliminated_before = np.zeros(h, dtype=bool)
    entered = np.full(h, -1)
    mtype = np.full(h, "", dtype="<U1")
    risk = np.zeros(h, dtype=np.int64)
    subtype = np.full(h, "", dtype="<U1")
    u = rng.random((4, h, Y))
    kinds, attributes = hh["household_type"], hh["poverty_attribute"]

    for j, year in enumerate(A.YEARS):
        threshold = A.MONITORING_THRESHOLDS[year]
        below = per_capita[:, j] < threshold
        after_rigid = (net[:, j] - rigid[:, j]) / size[:, j] < threshold
        dropped = np.zeros(h, dtype=bool)
        if j:
            dropped = (per_capita[:, j] < A.HARDSHIP_DROP * per_capita[:, j - 1]) & (
                per_capita[:, j] < 1.5 * threshold
            )
        heavy = (rigid[:, j] >= A.HARDSHIP_SPENDING) & (rigid[:, j] > A.HARDSHIP_SPENDING_SHARE * net[:, j])
        sudden = (now[:, j] | lingering[:, j]) != 0
        hardship = ~below & sudden & ((after_rigid & heavy) | dropped)
        rigid_bits = lasting[:, j] & (bits("01") | bits("03"))
        found = np.where(
            below, now[:, j] | lingering[:, j] | lasting[:, j], now[:, j] | lingering[:, j] | rigid_bits
        )
        found = np.where(below & (found == 0), bits("99"), found)
        eligible = (below | hardship) & (found != 0)

        start = np.datetime64(dt.date(year, 3, 1))
        entry_dates = random_dates(u[0][:, j], start, np.datetime64(dt.date(year, 10, 31)))
        change_dates = random_dates(
            u[0][:, j], np.datetime64(dt.date(year, 4, 1)), np.datetime64(dt.date(year, 10, 31))
        )
        exit_dates = random_dates(
            u[0][:, j], np.datetime64(dt.date(year, 11, 15)), np.datetime64(dt.date(year, 12, 20))
        )

        recovered = ~below & ~hardship & (now[:, j] == 0) & (entered >= 0) & (j >= entered + 1)
        eliminate = (
            monitored
            & recovered
            & ~hh["whole_household_unable_to_work"]
            & (u[1][:, j] < A.ELIMINATED_WHEN_RECOVERED)
        )
        new_risks = (found & ~risk) != 0
        retype = (mtype == "3") & below
        change = monitored & ~eliminate & eligible & (new_risks | retype)
        enter = ~monitored & eligible & ((u[2][:, j] < A.IDENTIFIED_IN_YEAR) | (missed & (u[2][:, j] < 0.95)))
        missed = ~monitored & eligible & ~enter

        labels = codes.labels.get("risk_type", {})
        for i in np.flatnonzero(enter | change | eliminate).tolist():
            pc = per_capita[i, j]
            if eliminate[i]:
                method = "帮扶消除" if u[3][i, j] < 0.7 else "自然消除"
                reason = (
                    f"{year} 年人均纯收入 {pc:,.0f} 元，稳定高于监测标准 {threshold:,} 元，无新增风险；"
                    f"经村级评议、乡镇审核、县级审定，风险消除（{method}）。"
                )
                monitored[i], mtype[i], risk[i], subtype[i] = False, "", 0, ""
                eliminated_before[i] = True
                log.add(i, exit_dates[i].item(), EVENT_ELIMINATED, kinds[i], attributes[i], "", "", reason)
                continue
            chosen = risk_codes(int(found[i]) | (int(risk[i]) if change[i] else 0))
            if "04" in chosen and "04" not in risk_codes(int(risk[i]) if change[i] else 0):
                subtype[i] = shocks["disaster_subtype"][i, j if shocks["disaster"][i, j] else max(j - 1, 0)]
            names = "、".join(labels.get(code, code) for code in chosen)
            if below[i]:
                why = f"{year} 年人均纯收入 {pc:,.0f} 元，低于监测标准 {threshold:,} 元"
                kind = "1" if kinds[i] == "1" else "2"
            else:
                spent = rigid[i, j]
                why = (
                    f"{year} 年人均纯收入 {pc:,.0f} 元，但合规自付医疗、教育支出 {spent:,.0f} 元"
                    if hardship[i] and after_rigid[i]
                    else f"{year} 年人均纯收入较上年大幅下降至 {pc:,.0f} 元"
                )
                kind = "3" if not change[i] else mtype[i]
            if change[i]:
                if kind == mtype[i] and _mask(chosen) == risk[i]:
                    continue  # the new risk did not make it into the five that are kept
                reason = f"{why}；风险类型调整为：{names}。"
                event, date = EVENT_CHANGED, change_dates[i].item()
            else:
                event = EVENT_RETURNED if eliminated_before[i] else EVENT_ENTERED
                verb = "风险消除后再次返贫致贫，重新纳入监测" if eliminated_before[i] else "纳入监测"
                reason = f"{why}；风险：{names}。经入户核实、村内公示、乡镇审核、县级审定，{verb}。"
                date = entry_dates[i].item()
                entered[i] = j
            monitored[i], mtype[i], risk[i] = True, kind, _mask(chosen)
            log.add(i, date, event, kinds[i], attributes[i], kind, join_codes(chosen), reason)

    hh["monitoring_type"] = mtype
    hh["risk_types"] = np.asarray([join_codes(risk_codes(int(m))) for m in risk.tolist()])
    hh["disaster_subtype"] = np.where((risk & bits("04")) != 0, subtype, "")
    return _in_date_order(log)


def _registration(rng: np.random.Generator, hh: Table, log: History) -> None:
    """建档 for every household and 脱贫 for those lifted out of poverty in 2014–2020."""
    h = len(hh["size"])
    u = rng.random((4, h))
    lifted_year = np.where(hh["lifted"], hh["lifted_year"], "2020").astype(np.int64)
    cumulative = np.cumsum([w for _, w in REGISTERED_YEAR_WEIGHTS])
    registered = np.asarray([y for y, _ in REGISTERED_YEAR_WEIGHTS])[
        np.searchsorted(cumulative, u[0] * cumulative[-1])
    ]
    registered = np.minimum(registered, lifted_year)
    first = ((registered - 1970) * 12 + 2).astype("datetime64[M]").astype("datetime64[D]")
    registered_on = random_dates(u[1], first, first + 180)
    lifted_on = random_dates(
        u[2],
        ((lifted_year - 1970) * 12 + 11).astype("datetime64[M]").astype("datetime64[D]"),
        ((lifted_year - 1970) * 12 + 11).astype("datetime64[M]").astype("datetime64[D]") + 20,
    )
    opened_on = random_dates(u[3], np.datetime64("2021-01-04"), np.datetime64("2021-02-26"))
    for i in range(h):
        kind, attribute = hh["household_type"][i], hh["poverty_attribute"][i]
        if hh["lifted"][i]:
            log.add(
                i,
                registered_on[i].item(),
                EVENT_CREATED,
                kind,
                attribute,
                "",
                "",
                f"{registered[i]} 年建档立卡，识别为贫困户。",
            )
            log.add(
                i,
                lifted_on[i].item(),
                EVENT_LIFTED,
                kind,
                attribute,
                "",
                "",
                f"{lifted_year[i]} 年达到脱贫标准，标注为脱贫户。",
            )
        else:
            log.add(i, opened_on[i].item(), EVENT_CREATED, kind, "", "", "", "建立农户档案（一般农户）。")


def _in_date_order(log: History) -> History:
    order = sorted(range(len(log)), key=lambda k: (log.household[k], log.date[k]))
    ordered = History()
    for k in order:
        ordered.add(
            log.household[k],
            log.date[k],
            log.event[k],
            log.household_type[k],
            log.poverty_attribute[k],
            log.monitoring_type[k],
            log.risk_types[k],
            log.reason[k],
        )
    return ordered
