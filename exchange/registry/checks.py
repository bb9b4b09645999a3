"""Checking the registry tables: each row by the household file's own validators, then the tables together.

A table is read in chunks (exchange.readers) and its columns checked vectorised (exchange.validate: codes
or labels through the data dictionary, ID numbers, dates, numbers, flags, lengths). The accepted rows then
go through the same validators the forms use (households.validation: person_issues, household_issues,
household_member_issues, income_issues): one set of rules, written once. Python runs these per row, about
20 µs a person.

Across tables (cross_check): a member or an income row whose household is missing or was rejected; a
household whose accepted members break the household rules (no 户主, two 户主, …), which rejects the household
and its rows; an ID number in two households of the export (every such row rejected); an ID number
registered in the household file of another region ("该证件号码已在其他地区登记", naming nothing there).

Every rejected row keeps its values as the file wrote them (or, for a row rejected across tables, as read)
and its reasons; accepted + rejected = total for each table.
"""

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
from django.utils.translation import gettext as _

from exchange.declarations import Kind
from exchange.readers import FileReader, FileRefused, match_header
from exchange.registry.tables import (
    HOUSEHOLDS,
    INCOMES,
    MEMBERS,
    MULTI_CODED,
    STATUS,
    Table,
    canonical_headers,
)
from exchange.validate import FileValidator, Rejected
from households.models import IncomeRecord
from households.validation import (
    CodeBook,
    household_issues,
    household_member_issues,
    income_issues,
    join_codes,
    person_issues,
)

FIRST_REGISTRY_YEAR = 2014  # the registry (建档立卡) began in 2014
SPLIT = re.compile(r"[、,，;；\s]+")
Progress = Callable[[int], None]


@dataclass
class TableRows:
    """One table after its checks: accepted rows as a DataFrame (typed), rejected rows with reasons."""

    table: Table
    source: str  # the file (and sheet) it came from, for messages
    headers: list[str]
    accepted: pd.DataFrame
    rejected: list[Rejected] = field(default_factory=list)
    total: int = 0
    blank: int = 0
    extra_columns: list[str] = field(default_factory=list)
    absent_columns: list[str] = field(default_factory=list)

    def reject(self, mask: np.ndarray | pd.Series, reasons: Iterable[str] | Callable[[pd.Series], str]) -> int:
        """Move the accepted rows under mask to the rejected ones, with a reason each (or one for all)."""
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return 0
        gone = list(_records(self.accepted[mask]))  # dicts: far cheaper than iterrows when many rows go
        if isinstance(reasons, str):
            texts = [reasons] * len(gone)
        elif callable(reasons):
            texts = [reasons(row) for row in gone]
        else:
            texts = list(reasons)
        self.rejected.extend(
            Rejected(int(row["row_number"]), self._values_of(row), [text])
            for row, text in zip(gone, texts, strict=True)
        )
        self.accepted = self.accepted[~mask].reset_index(drop=True)
        return int(mask.sum())

    def _values_of(self, row: dict) -> dict[str, str]:
        values = {}
        for spec in self.table.fields:
            value = row.get(spec.name)
            if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT:
                text = ""
            elif isinstance(value, bool | np.bool_):
                text = "是" if value else "否"
            elif isinstance(value, float) and value.is_integer():
                text = str(int(value))
            elif isinstance(value, pd.Timestamp | dt.date | np.datetime64):
                text = str(pd.Timestamp(value).date())
            else:
                text = str(value)
            values[spec.column] = text
        return values

    @property
    def rejected_count(self) -> int:
        return len(self.rejected)


def read_table(
    *, table: Table, reader: FileReader, source: str, codes: CodeBook, today: dt.date, progress: Progress | None
) -> TableRows:
    """Read one table and check its columns; the rows come back typed, with the rows rejected so far."""
    headers = canonical_headers(reader.headers)
    match = match_header(table.declaration(), headers)
    validator = FileValidator(
        department=table.declaration(), codes=codes, positions=match.positions, headers=reader.headers,
        period=None, today=today,
    )
    parts: list[pd.DataFrame] = []
    rejected: list[Rejected] = []
    total = blank = 0
    next_row = 1
    for chunk in reader.chunks():
        outcome = validator.validate(chunk, next_row)
        next_row += len(chunk)
        total += outcome.total
        blank += outcome.skipped_blank
        rejected.extend(outcome.rejected)
        parts.append(pd.DataFrame(outcome.accepted))
        if progress is not None:
            progress(len(chunk))
    accepted = pd.concat(parts, ignore_index=True) if parts else pd.DataFrame(columns=["row_number"])
    rows = TableRows(
        table=table, source=source, headers=reader.headers, accepted=accepted, rejected=rejected, total=total,
        blank=blank, extra_columns=match.extra, absent_columns=match.absent_optional,
    )
    return rows


# --- Per table -----------------------------------------------------------------------------------------


def _code_maps(codes: CodeBook) -> dict[str, dict[str, str]]:
    maps = {}
    for codeset in set(MULTI_CODED.values()):
        labels = codes.labels.get(codeset, {})
        mapping = {label: code for code, label in labels.items()}
        mapping.update({code: code for code in labels})
        maps[codeset] = mapping
    return maps


def _multi_codes(rows: TableRows, name: str, codeset: str, maps: dict[str, dict[str, str]], column: str) -> None:
    """A multi-valued coded column to the stored form (",01,05,"); rows with an unknown part rejected."""
    if name not in rows.accepted:
        return
    mapping = maps[codeset]
    values = rows.accepted[name].astype(str)
    converted: dict[str, str | None] = {}
    for text in pd.unique(values):
        parts = [p for p in SPLIT.split(text) if p]
        codes = [mapping.get(p) for p in parts]
        converted[text] = None if any(c is None for c in codes) else join_codes(codes)
    mapped = values.map(converted)
    bad = mapped.isna().to_numpy()
    if bad.any():
        allowed = "、".join(label for label, code in mapping.items() if label != code)
        rows.reject(
            bad,
            [
                _("{column}“{value}”中有不在数据字典中的项（可填：{allowed}）。").format(
                    column=column, value=text, allowed=allowed
                )
                for text in values[bad].tolist()
            ],
        )
    rows.accepted[name] = mapped[~bad].to_numpy()


def _records(frame: pd.DataFrame):
    """The rows as dicts, built from column lists (several times faster than DataFrame.to_dict)."""
    names = list(frame.columns)
    columns = [frame[name].tolist() for name in names]
    for values in zip(*columns, strict=True):
        yield dict(zip(names, values, strict=True))


def _apply_issues(rows: TableRows, issues_of: Callable[[dict], list]) -> None:
    """Run a row validator over every accepted row; rows with errors are rejected with every message."""
    frame = rows.accepted
    bad = np.zeros(len(frame), dtype=bool)
    reasons: list[str] = []
    for i, record in enumerate(_records(frame)):
        errors = [issue.message for issue in issues_of(record) if issue.is_error]
        if errors:
            bad[i] = True
            reasons.append("".join(errors))
    rows.reject(bad, reasons)


def _none_if_nan(value):
    if value is None or value is pd.NaT:
        return None
    if isinstance(value, float) and np.isnan(value):
        return None
    return value


def check_households(rows: TableRows, *, codes: CodeBook, villages: set[str]) -> None:
    maps = _code_maps(codes)
    _multi_codes(rows, "risk_types", "risk_type", maps, "风险类型")
    _multi_codes(rows, "other_poverty_causes", "poverty_cause", maps, "其他致贫原因")
    frame = rows.accepted
    unknown = ~frame["village_code"].isin(villages).to_numpy()
    rows.reject(
        unknown,
        lambda row: _("行政区划代码 {code} 不是本次导入地区的村（请先用 load_regions 载入区划代码）。").format(
            code=row["village_code"]
        ),
    )
    repeated = rows.accepted["number"].duplicated(keep="first").to_numpy()
    first_row = rows.accepted.drop_duplicates("number").set_index("number")["row_number"]
    rows.reject(
        repeated,
        lambda row: _("户编号 {number} 与第 {row} 行重复。").format(
            number=row["number"], row=first_row[row["number"]]
        ),
    )

    def issues(record: dict) -> list:
        household = dict(record)
        household["lifted_year"] = _none_if_nan(record.get("lifted_year"))
        return household_issues(household, codes=codes)

    _apply_issues(rows, issues)
    for name in ("cultivated_land_mu", "forest_land_mu"):
        rows.accepted[name] = rows.accepted[name].fillna(0.0)


def check_members(rows: TableRows, *, codes: CodeBook, on: dt.date) -> None:
    maps = _code_maps(codes)
    _multi_codes(rows, "health", "health", maps, "健康状况")

    def issues(record: dict) -> list:
        person = dict(record)
        birth = _none_if_nan(record.get("birth_date"))
        person["birth_date"] = pd.Timestamp(birth).date() if birth is not None else None
        for name in ("months_worked_away", "public_welfare_months"):
            person[name] = int(_none_if_nan(record.get(name)) or 0)
        return person_issues(person, codes=codes, on=on)

    _apply_issues(rows, issues)
    frame = rows.accepted
    # The birth date, where the file leaves it out, is the one the ID number says.
    missing = frame["birth_date"].isna() if "birth_date" in frame else pd.Series(True, index=frame.index)
    if missing.any():
        ids = frame.loc[missing, "id_number"].astype(str)
        frame.loc[missing, "birth_date"] = pd.to_datetime(ids.str[6:14], format="%Y%m%d").to_numpy()
    sex_missing = frame["sex"] == ""
    if sex_missing.any():
        digit = frame.loc[sex_missing, "id_number"].astype(str).str[16].astype(int)
        frame.loc[sex_missing, "sex"] = np.where(digit % 2 == 1, "1", "2")
    for name in ("months_worked_away", "public_welfare_months"):
        frame[name] = frame[name].fillna(0).astype(np.int64)
    frame.loc[frame["ethnicity"] == "", "ethnicity"] = "01"


def check_incomes(rows: TableRows, *, on: dt.date) -> None:
    frame = rows.accepted
    early = (frame["year"] < FIRST_REGISTRY_YEAR).to_numpy()
    rows.reject(
        early,
        lambda row: _("年度 {year} 早于 {first} 年：建档立卡始于 {first} 年。").format(
            year=int(row["year"]), first=FIRST_REGISTRY_YEAR
        ),
    )
    key = rows.accepted["household_number"].astype(str) + "|" + rows.accepted["year"].astype(np.int64).astype(str)
    repeated = key.duplicated(keep="first").to_numpy()
    first_row = pd.Series(rows.accepted["row_number"].to_numpy(), index=key).groupby(level=0).first()
    rows.reject(
        repeated,
        lambda row: _("户编号 {number} 的 {year} 年收支与第 {row} 行重复。").format(
            number=row["household_number"], year=int(row["year"]),
            row=first_row[f"{row['household_number']}|{int(row['year'])}"],
        ),
    )
    for spec in rows.table.fields:
        if spec.kind == Kind.AMOUNT and spec.name in rows.accepted:
            rows.accepted[spec.name] = rows.accepted[spec.name].fillna(0.0)
    amount_names = list(IncomeRecord.INCOME_FIELDS)

    def issues(record: dict) -> list:
        income = dict(record)
        income["year"] = int(record["year"])
        size = _none_if_nan(record.get("household_size"))
        income["household_size"] = int(size) if size is not None else 1
        return income_issues(income, amount_fields=amount_names, on=on)

    _apply_issues(rows, issues)


def check_status(rows: TableRows, *, codes: CodeBook) -> None:
    maps = _code_maps(codes)
    _multi_codes(rows, "risk_types", "risk_type", maps, "风险类型")


# --- Across tables -------------------------------------------------------------------------------------


def cross_check(
    tables: dict[str, TableRows], *, codes: CodeBook, registered_elsewhere: set[str], existing_households: set[str]
) -> None:
    """The checks that need several tables; rejects move rows, and can cascade from a member to its
    household and from a household to its members and incomes. registered_elsewhere holds the export's ID
    numbers that the household file registers in a household outside the import's region."""
    households, members = tables[HOUSEHOLDS], tables[MEMBERS]

    # An ID number in two households of the export: every row that has it.
    ids = members.accepted["id_number"].astype(str)
    per_id = members.accepted.groupby(ids)["household_number"].nunique()
    shared = set(per_id[per_id > 1].index)
    # A row that exchange.validate already rejected as a repeat of an earlier row of another household.
    household_of = dict(zip(ids, members.accepted["household_number"].astype(str), strict=True))
    for rejected in members.rejected:
        number = rejected.values.get("证件号码", "").upper()
        repeat = any("重复" in reason for reason in rejected.reasons)
        if repeat and number in household_of and household_of[number] != rejected.values.get("户编号", ""):
            shared.add(number)
    if shared:
        where = members.accepted[ids.isin(shared)].groupby("id_number")["household_number"].agg(
            lambda s: "、".join(sorted(set(s)))
        )
        members.reject(
            ids.isin(shared).to_numpy(),
            lambda row: _("证件号码在导出的多户中出现（户编号 {numbers}），无法判断属于哪一户。").format(
                numbers=where.get(row["id_number"], row["household_number"])
            ),
        )

    ids = members.accepted["id_number"].astype(str)
    members.reject(
        ids.isin(registered_elsewhere).to_numpy(),
        _("该证件号码已在其他地区登记，不能导入本地区；请联系县级工作人员核实。"),
    )

    # Members and their household.
    _reject_orphans(members, households, existing_households)
    _household_rules(households, members, codes=codes)
    # Rows of households that were rejected (now or by the household rules).
    _reject_orphans(members, households, existing_households)
    for slug in (INCOMES, STATUS):
        if slug in tables:
            _reject_orphans(tables[slug], households, existing_households)


def _reject_orphans(rows: TableRows, households: TableRows, existing: set[str]) -> None:
    accepted = set(households.accepted["number"].astype(str))
    rejected = {r.values.get("户编号", "") for r in households.rejected}
    numbers = rows.accepted["household_number"].astype(str)
    was_rejected = numbers.isin(rejected - accepted).to_numpy()
    rows.reject(
        was_rejected,
        lambda row: _("所属户（户编号 {number}）在户信息表中被拒收。").format(number=row["household_number"]),
    )
    numbers = rows.accepted["household_number"].astype(str)
    missing = (~numbers.isin(accepted) & ~numbers.isin(existing)).to_numpy()
    rows.reject(
        missing,
        lambda row: _("户信息表中没有户编号 {number}。").format(number=row["household_number"]),
    )


def _household_rules(households: TableRows, members: TableRows, *, codes: CodeBook) -> None:
    """household_member_issues over each household's accepted members: a household that breaks them is
    rejected (its members follow it out in the next orphan pass)."""
    frame = members.accepted[["household_number", "relation", "sex", "id_number", "name"]]
    order = np.argsort(frame["household_number"].to_numpy(dtype=object).astype(str), kind="stable")
    sorted_frame = frame.iloc[order]
    numbers = sorted_frame["household_number"].to_numpy(dtype=object)
    starts = np.flatnonzero(np.r_[True, numbers[1:] != numbers[:-1]]) if len(numbers) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(numbers)] if len(numbers) else np.zeros(0, int)
    records = list(_records(sorted_frame))
    reasons: dict[str, str] = {}
    for start, end in zip(starts.tolist(), ends.tolist(), strict=True):
        issues = household_member_issues(records[start:end], codes=codes)
        errors = [issue.message for issue in issues if issue.is_error]
        if errors:
            reasons[str(numbers[start])] = "".join(errors)
    present = set(numbers.astype(str).tolist())
    household_numbers = households.accepted["number"].astype(str)
    for number in set(household_numbers) - present:
        reasons[number] = _("成员信息表中没有本户的成员（每户须有一名户主）。")
    bad = household_numbers.isin(reasons).to_numpy()
    households.reject(bad, lambda row: reasons[str(row["number"])])


def refuse_missing(found: dict[str, str], required: Iterable[str], names: dict[str, str]) -> None:
    missing = [names[slug] for slug in required if slug not in found]
    if missing:
        raise FileRefused(
            _("缺少{tables}：户档案导入需要户信息表和成员信息表（收支信息表、状态变更表可选）。").format(
                tables="、".join(missing)
            )
        )


def path_label(path: Path, sheet: str | None) -> str:
    return f"{path.name}（{sheet}）" if sheet else path.name

