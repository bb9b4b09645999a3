"""The performance report's eligibility cross-check section (资格比对, domain.md §6 and issue #17): the hits found
in the period, how they stood at the end of it, the payments involved. Pure functions of two frames read by
reports.sources (nothing here queries the database):

- checks: check, name, outcome, payment (the checks: active ones and any with a hit read)
- cross_checks: hit_id, check, township, region_code, status, outcome, payment, payment_date, amount, found_on
  (the local date its first run started), decided_on (the local date it was decided, else empty)
"""

import datetime as dt
from collections.abc import Mapping

import pandas as pd
from django.utils.translation import gettext_noop

PENDING, CONFIRMED, DISMISSED = "pending", "confirmed", "dismissed"
EXIT_REVIEW, PAYMENT_RECOVERY = "exit_review", "payment_recovery"
TOTAL = gettext_noop("合计")
NO_TOWNSHIP = gettext_noop("未分乡镇")

DEFINITION = gettext_noop(
    "资格比对：统计期内首次发现（首次发现该疑点的比对运行开始日期在统计期内）的比对疑点，按疑点的区划（关联到人的"
    "为其所在村，未关联到人的为证据批次的区划）计入本区划，按比对规则和乡镇分列；以后的比对再次发现同一疑点不重复"
    "计数。核实状态以统计期截止日为准：截止日前（含当日）已核实的计为核实属实或核实排除，其余（含截止日后才核实"
    "的）计为待核实；核实属实的按后续处理分为转入退出或标注审核、转入资金追回。涉及金额：发放比对（帮扶措施或部门"
    "发放名单中的发放）疑点所涉发放金额之和（元），核实属实金额为其中截止日前核实属实的部分；其他比对不涉及金额"
    "（—）。帮扶资金一节的应追回资金为上述疑点中截止日前核实属实、转入资金追回的发放金额。"
)

CHECK_COLUMNS = [
    "check",
    "hits",
    "pending",
    "confirmed",
    "exit_review",
    "payment_recovery",
    "dismissed",
    "involved_amount",
    "confirmed_amount",
]
TOWNSHIP_COLUMNS = [
    "township",
    "code",
    "hits",
    "pending",
    "confirmed",
    "dismissed",
    "involved_amount",
    "confirmed_amount",
]


def _ts(value: dt.date) -> pd.Timestamp:
    return pd.Timestamp(value)


def hits_in(hits: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The hits first found in the period, with their status and outcome as they stood at the end of it
    (status_at_end, outcome_at_end) and their amount where they are payment hits (amount_involved)."""
    columns = [*hits.columns, "status_at_end", "outcome_at_end", "amount_involved"]
    if not len(hits):
        return pd.DataFrame(columns=columns)
    found_on = pd.to_datetime(hits["found_on"])
    found = hits[(found_on >= _ts(start)) & (found_on <= _ts(end))].copy()
    decided_on = pd.to_datetime(found["decided_on"])
    decided = found["status"].isin([CONFIRMED, DISMISSED]) & decided_on.notna() & (decided_on <= _ts(end))
    found["status_at_end"] = found["status"].where(decided, PENDING)
    found["outcome_at_end"] = found["outcome"].fillna("").where(found["status_at_end"] == CONFIRMED, "")
    payment = found["payment"].astype(bool)
    found["amount_involved"] = pd.to_numeric(found["amount"], errors="coerce").fillna(0.0).where(payment, 0.0)
    return found.sort_values(["check", "hit_id"])


def summary(
    checks: pd.DataFrame, hits: pd.DataFrame, start: dt.date, end: dt.date, township_names: Mapping[str, str]
) -> dict[str, object]:
    """{"numbers": the report's headline numbers of the checks, "by_check": one row per check (every active check,
    and any other check with a hit) and a total, "by_township": one row per township with hits and a total}."""
    return summary_of(checks, summary_pieces(hits, start, end), township_names)


COUNT_KEYS = ("hits", "pending", "confirmed", "exit_review", "payment_recovery", "dismissed")
AMOUNT_KEYS = ("involved_amount", "confirmed_amount")
PIECE_COLUMNS = ["check", "township", *COUNT_KEYS, *AMOUNT_KEYS, "payment_hits", "recovery_hits", "recovery_amount"]


def summary_pieces(hits: pd.DataFrame, start: dt.date, end: dt.date) -> pd.DataFrame:
    """The hits found in the period counted by (check, township), amounts unrounded: what the summary is made of,
    and what a region's counties add up (a hit is in one county)."""
    found = hits_in(hits, start, end)
    if not len(found):
        return pd.DataFrame(columns=PIECE_COLUMNS)
    status, outcome = found["status_at_end"], found["outcome_at_end"]
    confirmed = status == CONFIRMED
    recovered = confirmed & (outcome == PAYMENT_RECOVERY)
    flags = pd.DataFrame(
        {
            "check": found["check"],
            "township": found["township"].fillna(""),
            "hits": 1,
            "pending": (status == PENDING).astype(int),
            "confirmed": confirmed.astype(int),
            "exit_review": (confirmed & (outcome == EXIT_REVIEW)).astype(int),
            "payment_recovery": recovered.astype(int),
            "dismissed": (status == DISMISSED).astype(int),
            "involved_amount": found["amount_involved"].astype(float),
            "confirmed_amount": found["amount_involved"].astype(float).where(confirmed, 0.0),
            "payment_hits": found["payment"].astype(bool).astype(int),
            "recovery_hits": recovered.astype(int),
            "recovery_amount": found["amount_involved"].astype(float).where(recovered, 0.0),
        }
    )
    return flags.groupby(["check", "township"], as_index=False).sum()[PIECE_COLUMNS]


def _counts_of(pieces: pd.DataFrame) -> dict[str, float | int]:
    return {
        **{key: int(pieces[key].sum()) for key in COUNT_KEYS},
        **{key: round(float(pieces[key].sum()), 2) for key in AMOUNT_KEYS},
    }


def summary_of(checks: pd.DataFrame, pieces: pd.DataFrame, township_names: Mapping[str, str]) -> dict[str, object]:
    """The summary (see summary) from the pieces of summary_pieces, of one county or added up over several."""
    payment_checks = set(checks.loc[checks["payment"].astype(bool), "check"]) if len(checks) else set()
    names = dict(zip(checks["check"], checks["name"], strict=True)) if len(checks) else {}
    codes = sorted(set(names) | set(pieces["check"]))
    by_check = []
    for code in codes:
        mine = pieces[pieces["check"] == code]
        row = {"check": names.get(code, code), **_counts_of(mine)}
        if code not in payment_checks and not mine["payment_hits"].sum():
            row["involved_amount"] = row["confirmed_amount"] = None
        by_check.append(row)
    total = _counts_of(pieces)
    by_check.append({"check": TOTAL, **total})
    by_township = []
    for code in sorted(set(pieces["township"])):
        counts = _counts_of(pieces[pieces["township"] == code])
        by_township.append(
            {
                "township": township_names.get(code, code) if code else NO_TOWNSHIP,
                "code": code,
                **{k: counts[k] for k in TOWNSHIP_COLUMNS[2:]},
            }
        )
    by_township.append({"township": TOTAL, "code": "", **{k: total[k] for k in TOWNSHIP_COLUMNS[2:]}})
    numbers = {
        "cross_check_hits": total["hits"],
        "cross_check_pending": total["pending"],
        "cross_check_confirmed": total["confirmed"],
        "cross_check_exit_review": total["exit_review"],
        "cross_check_payment_recovery": total["payment_recovery"],
        "cross_check_dismissed": total["dismissed"],
        "cross_check_involved_amount": total["involved_amount"],
        "cross_check_confirmed_amount": total["confirmed_amount"],
        "recovery_hits": int(pieces["recovery_hits"].sum()),
        "recovery_amount": round(float(pieces["recovery_amount"].sum()), 2),
    }
    return {
        "numbers": numbers,
        "by_check": pd.DataFrame(by_check, columns=CHECK_COLUMNS, dtype=object),
        "by_township": pd.DataFrame(by_township, columns=TOWNSHIP_COLUMNS, dtype=object),
    }
