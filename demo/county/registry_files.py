"""The demo county's registry export, as the national monitoring system would hand it to a county.

Four CSV files (UTF-8 with a byte-order mark, as spreadsheet programs write them), with the national exports'
Chinese headers and the data dictionary's labels rather than codes: 户信息.csv (households), 成员信息.csv
(members), 收支信息.csv (every year's income survey, with a year column) and 状态变更.csv (the status
history). build_demo loads them through the registry import (exchange.registry), the same road a real county
takes; nothing of the generated county is written to the database directly.

Written a chunk at a time into .partial files, renamed when the county is complete (commit) or removed
(discard), so a half-written export is never mistaken for a whole one.
"""

import csv
import os
from pathlib import Path

import numpy as np
import pandas as pd

from demo.county import assumptions as A
from demo.county import incomes as income_model
from demo.county.draws import Table
from demo.county.monitoring import History
from exchange.registry.tables import HOUSEHOLD_FIELDS, INCOME_FIELDS, MEMBER_FIELDS, STATUS_FIELDS
from households.validation import CodeBook

FILE_NAMES = {
    "households": "户信息.csv",
    "members": "成员信息.csv",
    "incomes": "收支信息.csv",
    "status": "状态变更.csv",
}
ENCODING = "utf-8-sig"
LIST_SEPARATOR = "、"


def _coded(fields) -> dict[str, str]:
    return {spec.name: spec.codeset for spec in fields if spec.codeset}


MULTI = {"health": "health", "risk_types": "risk_type", "other_poverty_causes": "poverty_cause"}


class RegistryFiles:
    """``years``: the income years the export holds (a subset of A.YEARS, all of them by default); the
    county is simulated over every year either way, so the same seed gives the same households."""

    def __init__(self, out_dir: Path, *, codes: CodeBook, years: tuple[int, ...] = A.YEARS):
        self.years = tuple(years)
        self.year_columns = np.asarray([A.YEARS.index(year) for year in self.years], dtype=np.int64)
        self.directory = Path(out_dir)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.codes = codes
        self.rows = dict.fromkeys(FILE_NAMES, 0)
        self.handles = {}
        self.partials = {}
        for key, name in FILE_NAMES.items():
            partial = self.directory / f"{name}.partial"
            handle = partial.open("w", encoding=ENCODING, newline="")
            self.handles[key], self.partials[key] = handle, partial
        self._header("households", HOUSEHOLD_FIELDS)
        self._header("members", MEMBER_FIELDS)
        self._header("incomes", INCOME_FIELDS)
        self._header("status", STATUS_FIELDS)

    @property
    def paths(self) -> list[Path]:
        return [self.directory / name for name in FILE_NAMES.values()]

    def _header(self, key: str, fields) -> None:
        csv.writer(self.handles[key]).writerow([spec.column for spec in fields])

    def _label(self, codeset: str, values) -> np.ndarray:
        labels = self.codes.labels.get(codeset, {})
        series = pd.Series(np.asarray(values, dtype=object))
        return series.map(lambda code: labels.get(code, code) if code else "").to_numpy(dtype=object)

    def _labels(self, codeset: str, values) -> np.ndarray:
        labels = self.codes.labels.get(codeset, {})
        codes, uniques = pd.factorize(pd.Series(np.asarray(values, dtype=object)))
        texts = np.array(
            [LIST_SEPARATOR.join(labels.get(c, c) for c in str(u).split(",") if c) for u in uniques] + [""],
            dtype=object,
        )
        return texts[codes]

    def _flags(self, values) -> np.ndarray:
        return np.where(np.asarray(values, dtype=bool), "是", "否").astype(object)

    def _write(self, key: str, fields, columns: dict[str, np.ndarray]) -> None:
        frame = pd.DataFrame({spec.column: columns[spec.name] for spec in fields})
        frame.to_csv(self.handles[key], header=False, index=False, lineterminator="\r\n")
        self.rows[key] += len(frame)

    def _text_columns(self, table: Table, fields, skip: set[str]) -> dict[str, np.ndarray]:
        columns = {}
        coded, multi = _coded(fields), {k: v for k, v in MULTI.items() if any(s.name == k for s in fields)}
        for spec in fields:
            if spec.name in skip:
                continue
            values = table[spec.name]
            if spec.name in multi:
                columns[spec.name] = self._labels(multi[spec.name], values)
            elif spec.name in coded:
                columns[spec.name] = self._label(coded[spec.name], values)
            elif spec.kind == "flag":
                columns[spec.name] = self._flags(values)
            else:
                columns[spec.name] = np.asarray(values)
        return columns

    def write(self, hh: Table, pp: Table, incomes: Table, history: History) -> None:
        numbers = np.asarray(hh["number"], dtype=object)
        households = self._text_columns(
            hh, HOUSEHOLD_FIELDS, {"village_code", "lifted_year", "cultivated_land_mu", "forest_land_mu"}
        )
        households["village_code"] = np.asarray(hh["village_id"], dtype=object)
        households["lifted_year"] = np.asarray(hh["lifted_year"], dtype=object)
        households["cultivated_land_mu"] = np.round(hh["cultivated_land_mu"], 1)
        households["forest_land_mu"] = np.round(hh["forest_land_mu"], 1)
        self._write("households", HOUSEHOLD_FIELDS, households)

        members = self._text_columns(pp, MEMBER_FIELDS, {"household_number", "birth_date"})
        members["household_number"] = numbers[pp["hh"]]
        members["birth_date"] = pd.to_datetime(pp["birth_date"]).strftime("%Y-%m-%d").to_numpy()
        members["months_worked_away"] = np.asarray(pp["months_worked_away"], dtype=np.int64)
        self._write("members", MEMBER_FIELDS, members)

        years = len(self.years)
        h = len(numbers)
        kept = self.year_columns
        income = {
            "household_number": np.repeat(numbers, years),
            "year": np.tile(np.asarray(self.years), h),
            "household_size": incomes["household_size"][:, kept].reshape(-1),
            "survey_date": pd.DatetimeIndex(
                income_model.survey_dates(incomes["survey_day"])[:, kept].reshape(-1)
            ).strftime("%Y-%m-%d"),
        }
        for name in income_model.AMOUNT_FIELDS:
            income[name] = incomes[name][:, kept].reshape(-1)
        self._write("incomes", INCOME_FIELDS, income)

        status = {
            "household_number": numbers[np.asarray(history.household, dtype=np.int64)],
            "effective_date": [d.isoformat() for d in history.date],
            "event": self._label("status_event", history.event),
            "household_type": self._label("household_type", history.household_type),
            "poverty_attribute": self._label("poverty_attribute", history.poverty_attribute),
            "monitoring_type": self._label("monitoring_type", history.monitoring_type),
            "risk_types": self._labels("risk_type", history.risk_types),
            "reason": history.reason,
        }
        self._write("status", STATUS_FIELDS, status)

    def commit(self) -> dict[str, dict]:
        manifest = {}
        for key, name in FILE_NAMES.items():
            self.handles[key].close()
            os.replace(self.partials[key], self.directory / name)
            manifest[key] = {"file": name, "rows": self.rows[key], "encoding": ENCODING}
        return manifest

    def discard(self) -> None:
        for key in FILE_NAMES:
            self.handles[key].close()
            self.partials[key].unlink(missing_ok=True)
