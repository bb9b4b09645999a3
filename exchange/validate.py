"""Checking a chunk of a department file against its declaration and the data dictionary, vectorised.

Each check works on whole columns (numpy/pandas); Python runs per row only to word the reasons of the rows
that fail, and per distinct value for columns with few distinct values (codes, flags, dates, periods).
A chunk comes out as the accepted rows, typed and normalised (codes for labels, ISO dates, booleans), each
with a content hash of its business fields, and the rejected rows with their original values and every
reason in Chinese. Repeats are found across the whole file, not only within a chunk.
"""

import datetime as dt
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from django.core.exceptions import FieldDoesNotExist, ValidationError
from django.utils.translation import gettext as _

from exchange.declarations import Department, FieldSpec, Kind
from households.validation import (
    EARLIEST_BIRTH_YEAR,
    ID_CHECK_CHARACTERS,
    ID_WEIGHTS,
    CodeBook,
    parse_resident_id,
    validate_disability_certificate,
)

TRUE_WORDS = {"是", "1", "y", "yes", "true", "t", "√", "✓", "有", "已参保", "参保", "已", "在", "在读"}
FALSE_WORDS = {"否", "0", "n", "no", "false", "f", "×", "✗", "无", "未参保", "未", "不是", "没有"}
DATE_PATTERNS = (
    re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$"),
    re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})$"),
    re.compile(r"^(\d{4})\.(\d{1,2})\.(\d{1,2})$"),
    re.compile(r"^(\d{4})(\d{2})(\d{2})$"),
    re.compile(r"^(\d{4})年(\d{1,2})月(\d{1,2})日$"),
)
PERIOD_PATTERN = re.compile(r"^(\d{4})\s*(?:[-/.年]\s*)?(\d{1,2})\s*月?$")
EARLIEST_DATE, LATEST_DATE = dt.date(1900, 1, 1), dt.date(2100, 12, 31)
RAW_LINE = "原始行"  # the key of a rejected row's values when the reader could not split it into columns
# 16 characters, as pandas' hashing asks; fixed, so that hashes compare across batches and processes.
HASH_KEY = "povertycloud-row"
DAYS_IN_MONTH = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31])
_X = ord("X")
_CHECK_CODEPOINTS = np.array([ord(c) for c in ID_CHECK_CHARACTERS], dtype=np.uint32)
_POWERS = 10 ** np.arange(16, -1, -1, dtype=np.int64)
_HEX = np.array([f"{i:02x}".encode() for i in range(256)], dtype="S2")


# --- Resident ID numbers, as a matrix of digits --------------------------------------------------------


@dataclass
class IdCheck:
    valid: np.ndarray  # bool
    key: np.ndarray  # int64: a number per well-formed ID (17 digits × 11 + check index), -1 otherwise
    normalised: np.ndarray  # object: upper-cased text


def check_id_numbers(values: np.ndarray, *, today: dt.date) -> IdCheck:
    """GB 11643-1999 over a whole column: length, characters, placeholder, birth date, check character.

    The same rules as validation.parse_resident_id, which words the reason of each rejected number.
    """
    upper = values.astype("U19")
    if "x" in "".join(values.tolist()):
        upper = np.char.upper(upper)
    n = len(upper)
    cp = upper.view(np.uint32).reshape(n, 19) if n else np.zeros((0, 19), dtype=np.uint32)
    digits = cp[:, :18].astype(np.int64) - 48
    is_digit = (digits >= 0) & (digits <= 9)
    last_x = cp[:, 17] == _X
    shaped = (cp[:, 17] != 0) & (cp[:, 18] == 0) & is_digit[:, :17].all(axis=1) & (is_digit[:, 17] | last_x)
    body = np.where(is_digit[:, :17], digits[:, :17], 0)

    low, high = body.min(axis=1, keepdims=True), body.max(axis=1, keepdims=True)
    at_most_two_digits = ((body == low) | (body == high)).all(axis=1)
    steps = np.diff(body, axis=1) % 10
    placeholder = at_most_two_digits | (steps == 1).all(axis=1) | (steps == 9).all(axis=1)
    placeholder |= (body[:, :6] == 0).all(axis=1)

    year = body[:, 6:10] @ np.array([1000, 100, 10, 1])
    month = body[:, 10] * 10 + body[:, 11]
    day = body[:, 12] * 10 + body[:, 13]
    leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
    month_ok = (month >= 1) & (month <= 12)
    days = DAYS_IN_MONTH[np.where(month_ok, month, 0)] + (month_ok & (month == 2) & leap)
    birth_ok = month_ok & (day >= 1) & (day <= days)
    yyyymmdd = year * 10000 + month * 100 + day
    today_number = today.year * 10000 + today.month * 100 + today.day
    birth_ok &= (yyyymmdd <= today_number) & (year >= EARLIEST_BIRTH_YEAR)

    expected = _CHECK_CODEPOINTS[(body * np.array(ID_WEIGHTS)).sum(axis=1) % 11]
    valid = shaped & ~placeholder & birth_ok & (cp[:, 17] == expected)
    check_index = np.where(last_x, 10, np.clip(digits[:, 17], 0, 9))
    key = np.where(shaped, (body @ _POWERS) * 11 + check_index, -1)
    return IdCheck(valid=valid, key=key, normalised=upper.astype(object))


def id_reason(value: str, *, today: dt.date) -> str:
    try:
        parse_resident_id(value, today=today)
    except Exception as exc:  # ValidationError; its first message is the reason
        return getattr(exc, "messages", [str(exc)])[0]
    return _("证件号码无效。")


# --- Values with few distinct forms: parsed once per distinct value ------------------------------------


def map_distinct(values: np.ndarray, parse: Callable[[str], object], dtype: str | type = object):
    """parse() of every value, calling it once per distinct value (codes, flags, dates, periods)."""
    codes, uniques = pd.factorize(values, use_na_sentinel=False)
    if dtype is object:
        parsed = np.empty(len(uniques), dtype=object)
        parsed[:] = [parse(u) for u in uniques]
    else:
        parsed = np.array([parse(u) for u in uniques], dtype=dtype)
    return parsed[codes]


def parse_date(text: str) -> dt.date | None:
    """2025-03-01, 2025/3/1, 2025.3.1, 20250301 or 2025年3月1日; None if none of them or not a real date."""
    for pattern in DATE_PATTERNS:
        match = pattern.match(text)
        if match:
            try:
                value = dt.date(*(int(g) for g in match.groups()))
            except ValueError:
                return None
            return value if EARLIEST_DATE <= value <= LATEST_DATE else None
    return None


def parse_period(text: str) -> str | None:
    match = PERIOD_PATTERN.match(text)
    if not match:
        return None
    year, month = int(match.group(1)), int(match.group(2))
    return f"{year:04d}-{month:02d}" if 1 <= month <= 12 and 1900 <= year <= 2100 else None


def parse_flag(text: str) -> bool | None:
    lowered = text.lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    return None


def period_start(period: str) -> dt.date:
    return dt.date(int(period[:4]), int(period[5:7]), 1)


# --- Repeats across the file ---------------------------------------------------------------------------


class FirstSeen:
    """Keys (int64) met so far in the file, with the row where each was first met and that row's hash."""

    def __init__(self):
        self.keys = np.empty(0, dtype=np.int64)
        self.rows = np.empty(0, dtype=np.int64)
        self.hashes = np.empty(0, dtype=np.uint64)

    def earlier_rows(
        self, keys: np.ndarray, rows: np.ndarray, mask: np.ndarray, hashes: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """For each row under mask: the row that first had its key (0 if none) and that row's hash.

        Remembers the keys met for the first time."""
        earlier = np.zeros(len(keys), dtype=np.int64)
        earlier_hash = np.zeros(len(keys), dtype=np.uint64)
        idx = np.flatnonzero(mask)
        if not len(idx):
            return earlier, earlier_hash
        order = np.argsort(keys[idx], kind="stable")
        idx = idx[order]
        k, r, h = keys[idx], rows[idx], hashes[idx]
        first = np.r_[True, k[1:] != k[:-1]]
        group = np.cumsum(first) - 1
        found_at = np.searchsorted(self.keys, k)
        found = np.zeros(len(k), dtype=bool)
        inside = found_at < len(self.keys)
        found[inside] = self.keys[found_at[inside]] == k[inside]
        before, before_hash = r[first][group], h[first][group]
        before[found] = self.rows[found_at[found]]
        before_hash[found] = self.hashes[found_at[found]]
        repeat = ~first | found
        earlier[idx[repeat]] = before[repeat]
        earlier_hash[idx[repeat]] = before_hash[repeat]
        new = first & ~found
        if new.any():
            keys_all = np.concatenate([self.keys, k[new]])
            order = np.argsort(keys_all, kind="stable")
            self.keys = keys_all[order]
            self.rows = np.concatenate([self.rows, r[new]])[order]
            self.hashes = np.concatenate([self.hashes, h[new]])[order]
        return earlier, earlier_hash


# --- A chunk -------------------------------------------------------------------------------------------


@dataclass
class Rejected:
    row_number: int
    values: dict[str, str]
    reasons: list[str]


@dataclass
class ChunkOutcome:
    total: int
    # Accepted rows by column: row_number, row_hash (16 hex characters), a typed array per declared field.
    accepted: dict[str, np.ndarray]
    rejected: list[Rejected] = field(default_factory=list)
    skipped_blank: int = 0

    @property
    def accepted_count(self) -> int:
        return len(self.accepted["row_number"])


@dataclass
class _Failures:
    """Reasons collected column by column: (mask of failing rows, reason or a function of the row's value)."""

    checks: list[tuple[np.ndarray, str | Callable[[int], str]]] = field(default_factory=list)

    def add(self, mask: np.ndarray, reason: str | Callable[[int], str]) -> None:
        if mask.any():
            self.checks.append((mask, reason))

    def reasons(self) -> dict[int, list[str]]:
        found: dict[int, list[str]] = {}
        for mask, reason in self.checks:
            for i in np.flatnonzero(mask).tolist():
                found.setdefault(i, []).append(reason if isinstance(reason, str) else reason(i))
        return found


class FileValidator:
    """Validates the chunks of one file in order; remembers what it has seen to find repeats."""

    def __init__(
        self,
        *,
        department: Department,
        codes: CodeBook,
        positions: dict[str, int],
        headers: Sequence[str],
        period: str | None,
        today: dt.date,
    ):
        self.department = department
        self.codes = codes
        self.positions = positions
        self.headers = list(headers)
        self.period = period
        self.today = today
        self.ids = FirstSeen()
        self.code_maps = {
            spec.name: self._code_map(spec.codeset) for spec in department.fields if spec.kind == Kind.CODE
        }
        self.max_lengths = {spec.name: self._max_length(department, spec) for spec in department.fields}
        self.checkers = {
            Kind.ID_NUMBER: self._id_number,
            Kind.TEXT: self._text,
            Kind.CODE: self._code,
            Kind.DATE: self._date,
            Kind.AMOUNT: self._number,
            Kind.INTEGER: self._number,
            Kind.FLAG: self._flag,
            Kind.PERIOD: self._period,
            Kind.DISABILITY_CERTIFICATE: self._certificate,
        }

    @staticmethod
    def _max_length(department: Department, spec: FieldSpec) -> int:
        """The declared limit, or the model field's if shorter. A declaration that says its lengths are its own
        (the registry tables, whose coded columns arrive as labels longer than the codes stored) keeps them, and
        so does a column that fills no field of the model."""
        if department.extra.get("declared_lengths"):
            return spec.max_length
        try:
            field = department.model._meta.get_field(spec.name)
        except FieldDoesNotExist:
            return spec.max_length
        return min(spec.max_length, getattr(field, "max_length", None) or 10**6)

    def _code_map(self, codeset: str) -> dict[str, str]:
        labels = self.codes.labels.get(codeset, {})
        if not labels:
            raise LookupError(_("数据字典中没有代码集“%(codeset)s”。") % {"codeset": codeset})
        mapping = {label: code for code, label in labels.items()}
        mapping.update({code: code for code in labels})
        return mapping

    def choose_period(self, frame: pd.DataFrame) -> str | None:
        """The batch's period: the most frequent valid 统计期 of the first chunk (the latest if tied)."""
        specs = [s for s in self.department.fields if s.kind == Kind.PERIOD and s.name in self.positions]
        if not specs:
            return None
        column = frame.iloc[:, self.positions[specs[0].name]].to_numpy(dtype=object)
        parsed = pd.Series(map_distinct(column, parse_period)).dropna()
        if parsed.empty:
            return None
        counts = parsed.value_counts()
        return max(counts[counts == counts.max()].index)

    def validate(self, frame: pd.DataFrame, first_row_number: int) -> ChunkOutcome:
        """One chunk: columns in the file's order, stripped strings; its first row has the given number."""
        cells = frame.to_numpy(dtype=object)
        row_numbers = np.arange(first_row_number, first_row_number + len(cells), dtype=np.int64)
        blank_row = (cells == "").all(axis=1)
        # Rows the reader could not split into fields (NUL, unbalanced quote, over-long line): their raw text
        # is in the first column; they are rejected with the reader's reason alone.
        reader_rejects: dict[int, str] = frame.attrs.get("reader_rejects") or {}
        if reader_rejects:
            blank_row[list(reader_rejects)] = False
        if blank_row.any():
            kept = np.flatnonzero(~blank_row)
            cells, row_numbers = cells[~blank_row], row_numbers[~blank_row]
            reader_rejects = {int(np.searchsorted(kept, pos)): reason for pos, reason in reader_rejects.items()}
        n = len(cells)
        failures = _Failures()
        clean: dict[str, np.ndarray] = {}
        self._id_key, self._id_valid = np.full(n, -1, dtype=np.int64), np.zeros(n, dtype=bool)
        self._id_text: np.ndarray | None = None
        for spec in self.department.fields:
            if spec.name not in self.positions:
                clean[spec.name] = self._absent(spec, n)
                continue
            raw = np.ascontiguousarray(cells[:, self.positions[spec.name]])
            blank = raw == ""
            if spec.required:
                failures.add(blank, _("%(column)s不能为空。") % {"column": spec.column})
            elif spec.required_when in self.positions:
                condition = self._flag_values(cells[:, self.positions[spec.required_when]])
                other = self.department.spec(spec.required_when).column
                failures.add(
                    blank & (condition == 1),
                    _("%(column)s不能为空（%(other)s为“是”时必填）。") % {"column": spec.column, "other": other},
                )
            clean[spec.name] = self.checkers[spec.kind](spec, raw, ~blank, failures)
        hashed = [spec.name for spec in self.department.fields if spec.kind != Kind.PERIOD]
        digest = content_digest([clean[name] for name in hashed], n)
        self._repeats(digest, row_numbers, failures)

        reasons = failures.reasons()
        for pos, reason in reader_rejects.items():
            reasons[pos] = [reason]
        positions = np.fromiter(sorted(reasons), dtype=np.int64, count=len(reasons))
        rejected = [
            Rejected(
                int(row_numbers[pos]),
                {RAW_LINE: cells[pos][0]} if pos in reader_rejects else self._original(cells[pos]),
                reasons[pos],
            )
            for pos in positions.tolist()
        ]
        keep = np.ones(n, dtype=bool)
        keep[positions] = False
        accepted = {"row_number": row_numbers[keep], "row_hash": hex_digest(digest[keep])}
        accepted.update({name: values[keep] for name, values in clean.items()})
        return ChunkOutcome(total=n, accepted=accepted, rejected=rejected, skipped_blank=int(blank_row.sum()))

    # --- One checker per kind: the column's clean values; failures added ------------------------------

    def _id_number(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        checked = check_id_numbers(raw, today=self.today)
        failures.add(present & ~checked.valid, lambda i: id_reason(raw[i], today=self.today))
        self._id_key, self._id_valid, self._id_text = checked.key, checked.valid, checked.normalised
        return checked.normalised

    def _certificate(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        upper = np.char.upper(raw.astype("U21"))
        n = len(upper)
        cp = upper.view(np.uint32).reshape(n, 21) if n else np.zeros((0, 21), dtype=np.uint32)
        category, grade = cp[:, 18].astype(np.int64) - 48, cp[:, 19].astype(np.int64) - 48
        head = upper.astype("U18")
        owner = self._id_text if self._id_text is not None else np.full(n, "", dtype=object)
        ok = (cp[:, 20] == 0) & (category >= 1) & (category <= 7) & (grade >= 1) & (grade <= 4)
        ok &= check_id_numbers(head.astype(object), today=self.today).valid & (head.astype(object) == owner)
        failures.add(present & ~ok, lambda i: _certificate_reason(str(upper[i]), str(owner[i])))
        return upper.astype(object)

    def _text(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        limit = self.max_lengths[spec.name]
        lengths = np.fromiter(map(len, raw), dtype=np.int64, count=len(raw))
        failures.add(
            lengths > limit,
            lambda i: (
                _("%(column)s超过 %(limit)s 个字符（%(length)s 个）。")
                % {"column": spec.column, "limit": limit, "length": lengths[i]}
            ),
        )
        return raw

    def _code(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        mapped = map_distinct(raw, self.code_maps[spec.name].get)
        labels = "、".join(self.codes.labels[spec.codeset].values())
        failures.add(
            present & np.equal(mapped, None),
            lambda i: (
                _("%(column)s“%(value)s”不在数据字典中（可填：%(allowed)s）。")
                % {"column": spec.column, "value": raw[i], "allowed": labels}
            ),
        )
        mapped[~present] = ""
        return mapped

    def _date(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        parsed = map_distinct(raw, parse_date, "datetime64[D]")
        failures.add(
            present & np.isnat(parsed),
            lambda i: (
                _("%(column)s“%(value)s”不是有效日期（可写作 2025-03-01、2025/3/1、20250301 或 2025年3月1日）。")
                % {"column": spec.column, "value": raw[i]}
            ),
        )
        return parsed

    def _number(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        number = to_numbers(raw, present)
        invalid = present & ~np.isfinite(number)
        if spec.kind == Kind.AMOUNT:
            failures.add(
                invalid, lambda i: _("%(column)s“%(value)s”不是有效金额。") % {"column": spec.column, "value": raw[i]}
            )
        else:
            failures.add(
                invalid, lambda i: _("%(column)s“%(value)s”不是有效整数。") % {"column": spec.column, "value": raw[i]}
            )
        number[invalid] = np.nan
        with np.errstate(invalid="ignore"):
            if spec.min_value is None:
                failures.add(
                    number < 0,
                    lambda i: _("%(column)s不能为负数（%(value)s）。") % {"column": spec.column, "value": raw[i]},
                )
            else:
                low = spec.min_value
                failures.add(
                    number < low,
                    lambda i: (
                        _("%(column)s“%(value)s”低于下限 %(limit)s。")
                        % {"column": spec.column, "value": raw[i], "limit": f"{low:,.0f}"}
                    ),
                )
            if spec.max_value is not None:
                limit = spec.max_value
                failures.add(
                    number > limit,
                    lambda i: (
                        _("%(column)s“%(value)s”超过上限 %(limit)s。")
                        % {"column": spec.column, "value": raw[i], "limit": f"{limit:,.0f}"}
                    ),
                )
            if spec.kind == Kind.INTEGER:
                fraction = np.isfinite(number) & (number != np.floor(number))
                failures.add(
                    fraction, lambda i: _("%(column)s“%(value)s”应为整数。") % {"column": spec.column, "value": raw[i]}
                )
                return number
        return np.round(number, 2)

    def _flag(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        flags = self._flag_values(raw)
        failures.add(
            flags < 0, lambda i: _("%(column)s“%(value)s”应填“是”或“否”。") % {"column": spec.column, "value": raw[i]}
        )
        return flags == 1

    def _period(self, spec: FieldSpec, raw: np.ndarray, present: np.ndarray, failures: _Failures):
        parsed = map_distinct(raw, parse_period)
        bad = present & np.equal(parsed, None)
        failures.add(
            bad,
            lambda i: _("%(column)s“%(value)s”应写作 YYYY-MM，如 2025-03。") % {"column": spec.column, "value": raw[i]},
        )
        if self.period:
            failures.add(
                present & ~bad & (parsed != self.period),
                lambda i: (
                    _("%(column)s %(value)s 与本批次的统计期 %(period)s 不一致。")
                    % {"column": spec.column, "value": parsed[i], "period": self.period}
                ),
            )
        parsed[np.equal(parsed, None)] = self.period or ""
        return parsed

    def _repeats(self, digest: np.ndarray, row_numbers: np.ndarray, failures: _Failures) -> None:
        """A later row with the ID number of an earlier one: "整行" if its content is the same too."""
        same_id, earlier_digest = self.ids.earlier_rows(self._id_key, row_numbers, self._id_valid, digest)
        copy = (same_id > 0) & (earlier_digest == digest)
        failures.add(copy, lambda i: _("整行与第 %(row)s 行重复。") % {"row": same_id[i]})
        failures.add((same_id > 0) & ~copy, lambda i: _("证件号码与第 %(row)s 行重复。") % {"row": same_id[i]})

    def _flag_values(self, raw: np.ndarray) -> np.ndarray:
        """1 for yes, 0 for no or blank, -1 for anything else."""
        return map_distinct(raw, _flag_number, np.int8)

    def _absent(self, spec: FieldSpec, n: int) -> np.ndarray:
        if spec.kind == Kind.FLAG:
            return np.zeros(n, dtype=bool)
        if spec.kind == Kind.DATE:
            return np.full(n, np.datetime64("NaT"), dtype="datetime64[D]")
        if spec.kind in (Kind.AMOUNT, Kind.INTEGER):
            return np.full(n, np.nan)
        return np.full(n, self.period or "" if spec.kind == Kind.PERIOD else "", dtype=object)

    def _original(self, values: np.ndarray) -> dict[str, str]:
        return {header: value for header, value in zip(self.headers, values.tolist(), strict=False) if header}


def to_numbers(raw: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Text to float64, NaN for blank or not a number (1,234.5 is 1234.5)."""
    return map_distinct(raw, _number, np.float64)


def _number(text: str) -> float:
    try:
        return float(text.replace(",", "")) if text else np.nan
    except ValueError:
        return np.nan


def _certificate_reason(number: str, id_number: str) -> str:
    try:
        validate_disability_certificate(number, id_number=id_number or None)
    except ValidationError as exc:
        return exc.messages[0]
    return _("残疾证号无效。")


def _flag_number(text: str) -> int:
    if text == "":
        return 0
    value = parse_flag(text)
    return -1 if value is None else int(value)


def content_digest(columns: Sequence[np.ndarray], n: int) -> np.ndarray:
    """A 64-bit hash per row of the business fields as normalised (so 2025/3/1 and 2025-03-01 agree)."""
    digest = np.full(n, 0xCBF29CE484222325, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for values in columns:
            if values.dtype.kind == "M":
                values = values.view(np.int64)
            column = pd.util.hash_array(values, hash_key=HASH_KEY)
            digest = (digest ^ column) * np.uint64(0x100000001B3)
    return digest


def hex_digest(digest: np.ndarray) -> np.ndarray:
    """16 hex characters per 64-bit digest, built without a Python call per row."""
    if not len(digest):
        return np.empty(0, dtype=object)
    pairs = _HEX[digest.astype(">u8").view(np.uint8).reshape(-1, 8)]
    return pairs.view("S16").ravel().astype("U16").astype(object)
