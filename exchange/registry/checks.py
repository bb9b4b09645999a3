"""Checking the registry tables: each row by the household file's own validators, then the tables together.

A table is read in chunks (exchange.readers) and its columns checked vectorised (exchange.validate: codes
or labels through the data dictionary, ID numbers, dates, numbers, flags, lengths). The accepted rows then
go through the same validators the forms use (households.validation: person_issues, household_issues,
household_member_issues, income_issues): one set of rules, written once. Python runs these per row (about
20 µs a person), in two processes for a large table (the second half in a forked child: the validators are
pure); income_issues, whose every rule is about one field, is called once per distinct value of each column
instead of once per row. The income and status tables, which decide nothing about households and members,
are read and checked in a forked child while the household and member tables are read here (start_apart).

Across tables (cross_check): a member or an income row whose household is missing or was rejected; a
household whose accepted members break the household rules (no 户主, two 户主, …), which rejects the household
and its rows; an ID number in two households of the export (every such row rejected); an ID number
registered in the household file of another region ("该证件号码已在其他地区登记", naming nothing there).

Every rejected row keeps its values as the file wrote them (or, for a row rejected across tables, as read)
and its reasons; accepted + rejected = total for each table.
"""

import contextlib
import datetime as dt
import os
import pickle
import re
import signal
import time
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
ISSUE_SLICE = 50_000  # rows turned into dicts at a time for the row validators
PARALLEL_ROWS = 40_000  # from this many rows, the validators run in two processes
APART_ROWS = 100_000  # from this many rows in the files, incomes and status are read beside the others


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
        department=table.declaration(),
        codes=codes,
        positions=match.positions,
        headers=reader.headers,
        period=None,
        today=today,
    )
    parts: list[dict[str, np.ndarray]] = []
    rejected: list[Rejected] = []
    total = blank = 0
    next_row = 1
    for chunk in reader.chunks():
        size = len(chunk)
        outcome = validator.validate(chunk, next_row)
        next_row += size
        total += outcome.total
        blank += outcome.skipped_blank
        rejected.extend(outcome.rejected)
        outcome.accepted.pop("row_hash", None)  # the department feeds' row digest: nothing here compares it
        parts.append(outcome.accepted)
        del chunk, outcome
        if progress is not None:
            progress(size)
    accepted = _joined(parts, ["row_number", *(spec.name for spec in table.fields)])
    rows = TableRows(
        table=table,
        source=source,
        headers=reader.headers,
        accepted=accepted,
        rejected=rejected,
        total=total,
        blank=blank,
        extra_columns=match.extra,
        absent_columns=match.absent_optional,
    )
    return rows


def _joined(parts: list[dict[str, np.ndarray]], names: list[str]) -> pd.DataFrame:
    """The chunks' columns end to end, one column at a time (each chunk's array let go once joined)."""
    if not parts:
        return pd.DataFrame(columns=names)
    columns = {}
    for name in list(parts[0]):
        columns[name] = np.concatenate([part.pop(name) for part in parts]) if len(parts) > 1 else parts[0].pop(name)
    return pd.DataFrame(columns, copy=False)


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
                _("%(column)s“%(value)s”中有不在数据字典中的项（可填：%(allowed)s）。")
                % {"column": column, "value": text, "allowed": allowed}
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


def _apply_issues(rows: TableRows, issues_of: Callable[[dict], list], frame: pd.DataFrame | None = None) -> None:
    """Run a row validator over every accepted row (given as frame's rows, values already in the types the
    validator takes, when given); rows with errors are rejected with every message."""
    frame = rows.accepted if frame is None else frame
    bad, reasons = _issues_over(frame, issues_of)
    rows.reject(bad, reasons)


def _issues_in(frame: pd.DataFrame, issues_of: Callable[[dict], list], start: int, stop: int):
    """(positions, messages) of the rows start…stop with errors, a slice at a time to bound the dicts held."""
    positions: list[int] = []
    messages: list[str] = []
    for first in range(start, stop, ISSUE_SLICE):
        part = frame.iloc[first : min(first + ISSUE_SLICE, stop)]
        for i, record in enumerate(_records(part), start=first):
            errors = [issue.message for issue in issues_of(record) if issue.is_error]
            if errors:
                positions.append(i)
                messages.append("".join(errors))
    return positions, messages


def _issues_over(frame: pd.DataFrame, issues_of: Callable[[dict], list]) -> tuple[np.ndarray, list[str]]:
    """The validator over every row (in two processes for a large table, see _in_two)."""
    bad = np.zeros(len(frame), dtype=bool)
    positions, messages = _in_two(len(frame), lambda start, stop: _issues_in(frame, issues_of, start, stop))
    bad[positions] = True
    return bad, messages


def _in_two(n: int, work: Callable[[int, int], tuple[list[int], list[str]]]) -> tuple[list[int], list[str]]:
    """work(start, stop) over items 0…n. From PARALLEL_ROWS items the second half is done by a forked child
    process on the other processor: the validators are pure (no database, nothing shared is written)."""
    half = n // 2
    child = _fork_work(work, half, n) if n >= PARALLEL_ROWS and may_fork() else None
    try:
        positions, messages = work(0, half if child else n)
    except BaseException:
        if child is not None:
            _abandon(*child)
        raise
    if child is not None:
        more_positions, more_messages = _join_half(child)
        positions, messages = positions + more_positions, messages + more_messages
    return positions, messages


def may_fork() -> bool:
    return hasattr(os, "fork") and (os.cpu_count() or 1) > 1 and os.environ.get("REGISTRY_CHECK_FORK", "1") == "1"


def _fork_work(work: Callable[[int, int], tuple], start: int, stop: int):
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: do its part, send (positions, messages), leave without any clean-up
        status = 0
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                pickle.dump(work(start, stop), out, protocol=pickle.HIGHEST_PROTOCOL)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    return pid, read


def _abandon(pid: int, pipe: int) -> None:
    """Stop a child whose answer is no longer wanted (the parent failed first)."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
    os.close(pipe)
    os.waitpid(pid, 0)


def _join_half(child) -> tuple[list[int], list[str]]:
    pid, read = child
    with os.fdopen(read, "rb") as source:
        data = source.read()
    _, status = os.waitpid(pid, 0)
    if status != 0 or not data:
        raise RuntimeError("registry check worker failed")
    return pickle.loads(data)


def _validator_view(rows: TableRows) -> pd.DataFrame:
    """The accepted rows' own columns (the table's fields), for a row validator to read."""
    names = [spec.name for spec in rows.table.fields if spec.name in rows.accepted]
    return rows.accepted[names].copy()


def check_households(rows: TableRows, *, codes: CodeBook, villages: set[str]) -> None:
    maps = _code_maps(codes)
    _multi_codes(rows, "risk_types", "risk_type", maps, "风险类型")
    _multi_codes(rows, "other_poverty_causes", "poverty_cause", maps, "其他致贫原因")
    frame = rows.accepted
    unknown = ~frame["village_code"].isin(villages).to_numpy()
    rows.reject(
        unknown,
        lambda row: (
            _("行政区划代码 %(code)s 不是本次导入地区的村（请先用 load_regions 载入区划代码）。")
            % {"code": row["village_code"]}
        ),
    )
    repeated = rows.accepted["number"].duplicated(keep="first").to_numpy()
    first_row = rows.accepted.drop_duplicates("number").set_index("number")["row_number"]
    rows.reject(
        repeated,
        lambda row: (
            _("户编号 %(number)s 与第 %(row)s 行重复。") % {"number": row["number"], "row": first_row[row["number"]]}
        ),
    )

    view = _validator_view(rows)
    lifted = view["lifted_year"]
    view["lifted_year"] = pd.Series(
        np.where(lifted.isna(), None, lifted.astype(float).to_numpy()), index=view.index, dtype=object
    )
    _apply_issues(rows, lambda record: household_issues(record, codes=codes), view)
    for name in ("cultivated_land_mu", "forest_land_mu"):
        rows.accepted[name] = rows.accepted[name].fillna(0.0)


def check_members(rows: TableRows, *, codes: CodeBook, on: dt.date) -> None:
    maps = _code_maps(codes)
    _multi_codes(rows, "health", "health", maps, "健康状况")

    view = _validator_view(rows)
    codes_of_birth, births = pd.factorize(pd.to_datetime(view["birth_date"]))  # a date object per distinct day
    dates = np.array([*(d.date() for d in births), None], dtype=object)
    view["birth_date"] = pd.Series(dates[codes_of_birth], index=view.index, dtype=object)  # -1 (none): the last
    for name in ("months_worked_away", "public_welfare_months"):
        view[name] = view[name].fillna(0).astype(np.int64)
    _apply_issues(rows, lambda record: person_issues(record, codes=codes, on=on), view)
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
        lambda row: (
            _("年度 %(year)s 早于 %(first)s 年：建档立卡始于 %(first)s 年。")
            % {"year": int(row["year"]), "first": FIRST_REGISTRY_YEAR}
        ),
    )
    household_codes, _numbers = pd.factorize(rows.accepted["household_number"].astype(str))
    key = pd.Series(household_codes.astype(np.int64) * 10_000 + rows.accepted["year"].astype(np.int64).to_numpy())
    repeated = key.duplicated(keep="first").to_numpy()
    if repeated.any():
        first_row = pd.Series(rows.accepted["row_number"].to_numpy(), index=key.to_numpy()).groupby(level=0).first()
        keys = key.to_numpy()[repeated]
        rows.reject(
            repeated,
            [
                _("户编号 %(number)s 的 %(year)s 年收支与第 %(row)s 行重复。")
                % {"number": number, "year": int(year), "row": first_row[k]}
                for number, year, k in zip(
                    rows.accepted["household_number"].to_numpy()[repeated],
                    rows.accepted["year"].to_numpy()[repeated],
                    keys,
                    strict=True,
                )
            ],
        )
    for spec in rows.table.fields:
        if spec.kind == Kind.AMOUNT and spec.name in rows.accepted:
            rows.accepted[spec.name] = rows.accepted[spec.name].fillna(0.0)
    amount_names = list(IncomeRecord.INCOME_FIELDS)

    frame = rows.accepted
    bad, reasons = _income_issues_by_value(frame, amount_names, on=on)
    rows.reject(bad, reasons)


def _income_issues_by_value(
    frame: pd.DataFrame, amount_names: list[str], *, on: dt.date
) -> tuple[np.ndarray, list[str]]:
    """income_issues over every row, called once per distinct value rather than once per row: per distinct
    (year, household size) with no amount, and per distinct value of each amount column on its own. Every
    rule of income_issues is about one field and names it (Issue.field), so a row's errors are those of its
    values: the same messages, in the validator's order (year, household size, then the amounts in order)."""
    n = len(frame)
    year = frame["year"].astype(np.int64).to_numpy()
    size = frame["household_size"].fillna(1).astype(np.int64).to_numpy()
    parts: list[tuple[np.ndarray, np.ndarray]] = []  # (code per row, message per code)
    codes, pairs = pd.MultiIndex.from_arrays([year, size]).factorize()
    base = [
        "".join(
            issue.message
            for issue in income_issues({"year": int(y), "household_size": int(h)}, amount_fields=[], on=on)
            if issue.is_error
        )
        for y, h in pairs.tolist()
    ]
    parts.append((codes, np.array(base, dtype=object)))
    for name in amount_names:
        if name not in frame:
            continue
        codes, values = pd.factorize(frame[name], use_na_sentinel=False)
        messages = [
            "".join(
                issue.message
                for issue in income_issues(
                    {"year": on.year, "household_size": 1, name: None if value != value else value},
                    amount_fields=[name],
                    on=on,
                )
                if issue.is_error and issue.field == name
            )
            for value in values.tolist()
        ]
        parts.append((codes, np.array(messages, dtype=object)))
    bad = np.zeros(n, dtype=bool)
    for codes, messages in parts:
        flagged = np.flatnonzero(messages != "")
        if len(flagged):
            bad |= np.isin(codes, flagged)
    rows_bad = np.flatnonzero(bad)
    reasons = np.full(len(rows_bad), "", dtype=object)
    for codes, messages in parts:
        reasons = reasons + messages[codes[rows_bad]]
    return bad, reasons.tolist()


def check_status(rows: TableRows, *, codes: CodeBook) -> None:
    maps = _code_maps(codes)
    _multi_codes(rows, "risk_types", "risk_type", maps, "风险类型")


# --- Reading the income and status tables beside the others ---------------------------------------------


@dataclass
class Apart:
    """Tables being read and checked by a forked child process while this one reads the others."""

    pid: int
    pipe: int
    slugs: list[str]
    tables: dict[str, Table]

    joined: bool = False

    def abandon(self) -> None:
        if not self.joined:
            self.joined = True
            _abandon(self.pid, self.pipe)

    def join(self) -> tuple[dict[str, TableRows], dict[str, float]]:
        self.joined = True
        with os.fdopen(self.pipe, "rb") as source:
            try:
                outcome = pickle.load(source)
            except EOFError:
                outcome = ("error", RuntimeError("registry table reader process ended without an answer"))
        os.waitpid(self.pid, 0)
        if outcome[0] == "error":
            raise outcome[1]
        _, states, timings = outcome
        return {slug: TableRows(table=self.tables[slug], **states[slug]) for slug in self.slugs}, timings


def start_apart(sources: dict[str, tuple[Table, FileReader, str]], *, codes: CodeBook, today: dt.date) -> Apart:
    """Read and check (check_incomes, check_status) the given tables in a forked child process. Nothing there
    touches the database: the files, the data dictionary given, the household file's pure validators."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        status = 0
        try:
            os.close(read)
            with os.fdopen(write, "wb") as out:
                try:
                    outcome = ("ok", *_read_and_check(sources, codes=codes, today=today))
                except Exception as exc:  # sent to the parent, which raises it
                    outcome = ("error", exc)
                try:
                    pickle.dump(outcome, out, protocol=pickle.HIGHEST_PROTOCOL)
                except Exception as exc:
                    pickle.dump(("error", RuntimeError(f"{type(exc).__name__}: {exc}")), out)
        except BaseException:
            status = 1
        finally:
            os._exit(status)
    os.close(write)
    return Apart(pid, read, list(sources), {slug: table for slug, (table, _r, _s) in sources.items()})


def _read_and_check(sources, *, codes: CodeBook, today: dt.date):
    states, timings = {}, {}
    for slug, (table, reader, source) in sources.items():
        clock = time.perf_counter()
        rows = read_table(table=table, reader=reader, source=source, codes=codes, today=today, progress=None)
        timings[f"apart.read.{slug}"] = time.perf_counter() - clock
        clock = time.perf_counter()
        if slug == INCOMES:
            check_incomes(rows, on=today)
        elif slug == STATUS:
            check_status(rows, codes=codes)
        timings[f"apart.check.{slug}"] = time.perf_counter() - clock
        states[slug] = {
            "source": rows.source,
            "headers": rows.headers,
            "accepted": rows.accepted,
            "rejected": rows.rejected,
            "total": rows.total,
            "blank": rows.blank,
            "extra_columns": rows.extra_columns,
            "absent_columns": rows.absent_columns,
        }
    return states, timings


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
    id_codes, id_values = pd.factorize(ids)
    household_codes, _households = pd.factorize(members.accepted["household_number"].astype(str))
    pairs = np.unique(np.stack([id_codes, household_codes], axis=1), axis=0) if len(ids) else np.zeros((0, 2), int)
    per_id = np.bincount(pairs[:, 0], minlength=len(id_values)) if len(pairs) else np.zeros(0, int)
    shared = set(np.asarray(id_values, dtype=object)[per_id > 1].tolist())
    # A row that exchange.validate already rejected as a repeat of an earlier row of another household.
    repeated = _repeat_reason_patterns()
    repeats = [r for r in members.rejected if any(p.fullmatch(reason) for p in repeated for reason in r.reasons)]
    if repeats:
        household_of = dict(zip(ids, members.accepted["household_number"].astype(str), strict=True))
        for rejected in repeats:
            number = rejected.values.get("证件号码", "").upper()
            if number in household_of and household_of[number] != rejected.values.get("户编号", ""):
                shared.add(number)
    if shared:
        where = (
            members.accepted[ids.isin(shared)]
            .groupby("id_number")["household_number"]
            .agg(lambda s: "、".join(sorted(set(s))))
        )
        members.reject(
            ids.isin(shared).to_numpy(),
            lambda row: (
                _("证件号码在导出的多户中出现（户编号 %(numbers)s），无法判断属于哪一户。")
                % {"numbers": where.get(row["id_number"], row["household_number"])}
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


def _repeat_reason_patterns() -> list[re.Pattern]:
    """exchange.validate's reasons for a repeat of an earlier row, as written in the active language."""
    templates = (_("整行与第 %(row)s 行重复。"), _("证件号码与第 %(row)s 行重复。"))
    return [re.compile(re.escape(t).replace(re.escape("%(row)s"), r"\d+")) for t in templates]


def _reject_orphans(rows: TableRows, households: TableRows, existing: set[str]) -> None:
    accepted = set(households.accepted["number"].astype(str))
    rejected = {r.values.get("户编号", "") for r in households.rejected}
    numbers = rows.accepted["household_number"].astype(str)
    was_rejected = numbers.isin(rejected - accepted).to_numpy()
    rows.reject(
        was_rejected,
        lambda row: _("所属户（户编号 %(number)s）在户信息表中被拒收。") % {"number": row["household_number"]},
    )
    numbers = rows.accepted["household_number"].astype(str)
    missing = (~numbers.isin(accepted) & ~numbers.isin(existing)).to_numpy()
    rows.reject(
        missing,
        lambda row: _("户信息表中没有户编号 %(number)s。") % {"number": row["household_number"]},
    )


def _household_rules(households: TableRows, members: TableRows, *, codes: CodeBook) -> None:
    """household_member_issues over each household's accepted members: a household that breaks them is
    rejected (its members follow it out in the next orphan pass)."""
    frame = members.accepted[["household_number", "relation", "sex", "id_number", "name"]]
    household_codes, _numbers = pd.factorize(frame["household_number"].astype(str))
    order = np.argsort(household_codes, kind="stable")
    sorted_frame = frame.iloc[order]
    numbers = sorted_frame["household_number"].to_numpy(dtype=object)
    grouped = household_codes[order]
    starts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]]) if len(grouped) else np.zeros(0, int)
    ends = np.r_[starts[1:], len(grouped)] if len(grouped) else np.zeros(0, int)

    def work(first: int, last: int) -> tuple[list[int], list[str]]:
        """household_member_issues over the households first…last (in sorted order)."""
        found, messages = [], []
        if first >= last:
            return found, messages
        offset = int(starts[first])
        records = list(_records(sorted_frame.iloc[offset : int(ends[last - 1])]))
        for g in range(first, last):
            issues = household_member_issues(records[starts[g] - offset : ends[g] - offset], codes=codes)
            errors = [issue.message for issue in issues if issue.is_error]
            if errors:
                found.append(g)
                messages.append("".join(errors))
        return found, messages

    groups, messages = _in_two(len(starts), work)
    reasons: dict[str, str] = {str(numbers[starts[g]]): text for g, text in zip(groups, messages, strict=True)}
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
            _("缺少%(tables)s：户档案导入需要户信息表和成员信息表（收支信息表、状态变更表可选）。")
            % {"tables": "、".join(missing)}
        )


def path_label(path: Path, sheet: str | None) -> str:
    return f"{path.name}（{sheet}）" if sheet else path.name
