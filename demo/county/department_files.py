"""The three department files of the latest period, written chunk by chunk as the county is generated.

民政 (civil affairs) is a GBK-encoded CSV, 医保/卫健 (health) a UTF-8 CSV with a byte-order mark (as
Excel on Chinese Windows saves "CSV UTF-8"), 教育 (education) an XLSX workbook. Each is keyed by 证件号码
and 姓名 with the column headers the departments use. Rows agree with the generated household file except
the few where a fault of the kind real files have was injected; a manifest (JSON) beside each file counts
the rows and lists the faulty ones by kind, so that tests and the import feature can check themselves.
"""

import csv
import datetime as dt
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from demo.county import assumptions as A
from demo.county.draws import Table, integers, pick
from demo.county.ids import IdAllocator, wrong_check_character
from demo.county.names import (
    COLLEGES,
    FAMILY_NAMES,
    GIVEN,
    GRADUATE_SCHOOLS,
    HIGH_SCHOOLS,
    UNIVERSITIES,
    VOCATIONAL_SCHOOLS,
    township_short,
)
from demo.county.villages import VillageBook
from demo.county.xlsx import XlsxWriter
from households.validation import CodeBook

# Faults that change a row, as a share of rows; then rows added (unknown IDs, duplicates), as a share of rows.
ROW_FAULTS = {
    "bad_check_character": 0.005,
    "blank_required": 0.005,
    "unknown_code": 0.005,
    "mixed_date_format": 0.02,
}
ADDED_ROWS = {"unknown_id": 0.01, "duplicate_row": 0.005}
FAULTS = (*ROW_FAULTS, *ADDED_ROWS)
DATE_FORMATS = ("{y}/{m}/{d}", "{y}{m:02d}{d:02d}", "{y}年{m}月{d}日")

ID, NAME = "证件号码", "姓名"


@dataclass(frozen=True)
class Spec:
    key: str
    department: str
    filename: str
    encoding: str
    columns: tuple[str, ...]
    required: tuple[str, ...]
    code_column: str
    unknown_codes: tuple[str, ...]
    date_columns: tuple[str, ...]


CIVIL_AFFAIRS = Spec(
    key="civil_affairs",
    department="民政",
    filename=f"civil_affairs_{A.PERIOD}.csv",
    encoding="gbk",
    columns=(
        "统计期",
        "乡镇（街道）",
        "村（社区）",
        ID,
        NAME,
        "性别",
        "低保类别",
        "低保档次",
        "低保月保障金额（元）",
        "低保开始日期",
        "低保停止日期",
        "特困供养",
        "特困供养开始日期",
        "本年临时救助次数",
        "本年临时救助金额（元）",
        "最近临时救助日期",
        "最近临时救助金额（元）",
        "孤儿",
        "事实无人抚养儿童",
    ),
    required=(ID, NAME),
    code_column="低保类别",
    unknown_codes=("城镇低保", "五保户", "3"),
    date_columns=("低保开始日期", "低保停止日期", "特困供养开始日期", "最近临时救助日期"),
)
HEALTH = Spec(
    key="health",
    department="医保/卫健",
    filename=f"health_{A.PERIOD}.csv",
    encoding="utf-8-sig",
    columns=(
        "统计期",
        ID,
        NAME,
        "参保状态",
        "参保类型",
        "大病保险",
        "慢性病诊断",
        "大病诊断",
        "大病确诊日期",
        "年度累计自付费用（元）",
        "单次住院最高自付（元）",
        "月均门诊费用（元）",
    ),
    required=(ID, NAME, "参保类型"),
    code_column="参保类型",
    unknown_codes=("新农合", "商业保险", "3"),
    date_columns=("大病确诊日期",),
)
EDUCATION = Spec(
    key="education",
    department="教育",
    filename=f"education_{A.PERIOD}.xlsx",
    encoding="xlsx",
    columns=(
        "统计期",
        ID,
        NAME,
        "学校名称",
        "学段",
        "年级",
        "在校状态",
        "入学日期",
        "控辍保学",
        "资助项目",
        "资助金额（元）",
        "就读净成本（元）",
    ),
    required=(ID, NAME, "学校名称", "学段"),
    code_column="学段",
    unknown_codes=("技工学校", "成人教育", "9"),
    date_columns=("入学日期",),
)
SPECS = (CIVIL_AFFAIRS, HEALTH, EDUCATION)
INSURANCE_LABELS = {"resident": "城乡居民", "employee": "城镇职工"}
AID_PROJECTS = {
    1: "学前教育资助",
    2: "寄宿生生活补助",
    3: "寄宿生生活补助",
    4: "普通高中国家助学金",
    5: "中职国家助学金",
    6: "国家助学金",
    7: "国家助学金",
    8: "研究生国家助学金",
}


def parse_date(value: Any) -> dt.date | None:
    """Read a date in any of the formats the files use (for tests and a later importer)."""
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = str(value).strip()
    for pattern in ("%Y-%m-%d", "%Y/%m/%d", "%Y%m%d", "%Y年%m月%d日"):
        try:
            return dt.datetime.strptime(text, pattern).date()
        except ValueError:
            continue
    raise ValueError(f"不能识别的日期：{text}")


def _dates(values: np.ndarray) -> list[dt.date | None]:
    return values.astype("datetime64[D]").tolist()


def _yes(values: np.ndarray) -> list[str]:
    return np.where(values, "是", "否").tolist()


def _amount(values: np.ndarray) -> list[int | None]:
    return [int(v) if v else None for v in values.tolist()]


# --- Rows from the generated truth -------------------------------------------------------------------


def civil_affairs_rows(hh: Table, pp: Table, villages: VillageBook) -> list[list]:
    listed = (pp["dibao_class"] != "") | pp["tekun"] | (pp["relief_times"] > 0) | pp["orphan"]
    listed |= pp["unsupported_child"]
    idx = np.flatnonzero(listed)
    village = hh["village"][pp["hh"][idx]]
    urban = hh["urban"][pp["hh"][idx]]
    dibao = pp["dibao_class"][idx] != ""
    columns = [
        [A.PERIOD] * len(idx),
        villages.township_names[village].tolist(),
        villages.names[village].tolist(),
        pp["id_number"][idx].tolist(),
        pp["name"][idx].tolist(),
        np.where(pp["sex"][idx] == "1", "男", "女").tolist(),
        np.where(dibao, np.where(urban, "城市低保", "农村低保"), "").tolist(),
        pp["dibao_class"][idx].tolist(),
        _amount(pp["dibao_monthly"][idx]),
        _dates(pp["dibao_start"][idx]),
        _dates(pp["dibao_stop"][idx]),
        _yes(pp["tekun"][idx]),
        _dates(pp["tekun_start"][idx]),
        pp["relief_times"][idx].tolist(),
        pp["relief_total"][idx].tolist(),
        _dates(pp["relief_last_date"][idx]),
        _amount(pp["relief_last_amount"][idx]),
        _yes(pp["orphan"][idx]),
        _yes(pp["unsupported_child"][idx]),
    ]
    return [list(row) for row in zip(*columns, strict=True)]


def health_rows(hh: Table, pp: Table) -> list[list]:
    n = len(pp["age"])
    columns = [
        [A.PERIOD] * n,
        pp["id_number"].tolist(),
        pp["name"].tolist(),
        ["已参保"] * n,
        np.where(
            pp["employee_medical_insurance"], INSURANCE_LABELS["employee"], INSURANCE_LABELS["resident"]
        ).tolist(),
        _yes(pp["critical_illness_insurance"]),
        pp["chronic_diagnosis"].tolist(),
        pp["serious_diagnosis"].tolist(),
        _dates(pp["serious_diagnosis_date"]),
        pp["medical_self_pay"].astype(np.int64).tolist(),
        pp["max_stay_self_pay"].astype(np.int64).tolist(),
        pp["outpatient_monthly"].astype(np.int64).tolist(),
    ]
    return [list(row) for row in zip(*columns, strict=True)]


def _school_names(
    rng: np.random.Generator, hh: Table, pp: Table, villages: VillageBook, idx: np.ndarray, stage: np.ndarray
) -> list[str]:
    village = hh["village"][pp["hh"][idx]]
    u = rng.random((2, len(idx)))
    names = []
    county = villages.county_name
    for s, v, a, b in zip(stage.tolist(), village.tolist(), u[0].tolist(), u[1].tolist(), strict=True):
        township = str(villages.township_names[v])
        town = township.endswith("街道")
        short = township_short(township)
        if s == 1:
            names.append(f"{county}第一幼儿园" if town else f"{county}{short}中心幼儿园")
        elif s == 2:
            if town:
                names.append(f"{county}第一小学" if a < 0.5 else f"{county}第二小学")
            else:
                names.append(
                    f"{county}{short}中心小学" if a < 0.5 else f"{county}{township}{villages.names[v]}小学"
                )
        elif s == 3:
            names.append(f"{county}第三中学" if town else f"{county}{short}中学")
        else:
            pool = {
                4: HIGH_SCHOOLS,
                5: VOCATIONAL_SCHOOLS,
                6: COLLEGES,
                7: UNIVERSITIES,
                8: GRADUATE_SCHOOLS,
            }[s]
            names.append(pool[int(b * len(pool))].format(county=county))
    return names


def education_rows(
    rng: np.random.Generator, hh: Table, pp: Table, villages: VillageBook, codes: CodeBook
) -> list[list]:
    enrolled = pp["study_stage"] > 0
    idx = np.flatnonzero(enrolled | pp["dropout"])
    age = pp["age"][idx]
    school = pp["school_status"][idx]
    dropout = pp["dropout"][idx]
    # A child who dropped out is reported at the stage and grade last attended.
    last_grade = np.where(
        age - 6 <= 6,
        np.char.add("1", np.clip(age - 6, 1, 6).astype(str)),
        np.char.add("2", np.clip(age - 12, 1, 3).astype(str)),
    )
    code = np.where(dropout, last_grade, school)
    stage = np.where(dropout, np.where(np.char.startswith(last_grade, "1"), 2, 3), pp["study_stage"][idx])
    stage_names = [codes.attrs("school_status", c).get("stage", "") for c in code.tolist()]
    grade_names = [codes.label("school_status", c) for c in code.tolist()]
    first_digit = np.asarray([c[0] for c in code.tolist()])
    second_digit = np.asarray([int(c[1]) for c in code.tolist()], dtype=np.int64)
    grade_in_stage = np.where(np.isin(first_digit, list("12345")), second_digit, 1)
    grade_in_stage = np.where(code == "61", np.clip(age - 17, 1, 4), grade_in_stage)
    grade_in_stage = np.where(code == "02", np.clip(age - 2, 1, 3), grade_in_stage)
    entry_year = np.where(dropout, A.AS_OF.year - 1, A.AS_OF.year - (grade_in_stage - 1))
    entry = [dt.date(int(y), 9, 1) for y in entry_year.tolist()]
    aid = pp["student_aid"][idx]
    rain_dew = (aid > 0) & np.isin(stage, [5, 6]) & hh["lifted"][pp["hh"][idx]]
    project = [
        ("" if not a else AID_PROJECTS[s] + ("、雨露计划" if r else ""))
        for a, s, r in zip(aid.tolist(), stage.tolist(), rain_dew.tolist(), strict=True)
    ]
    columns = [
        [A.PERIOD] * len(idx),
        pp["id_number"][idx].tolist(),
        pp["name"][idx].tolist(),
        _school_names(rng, hh, pp, villages, idx, stage),
        stage_names,
        grade_names,
        np.where(dropout, "辍学", "在读").tolist(),
        entry,
        _yes(dropout),
        project,
        aid.tolist(),
        pp["net_study_cost"][idx].astype(np.int64).tolist(),
    ]
    return [list(row) for row in zip(*columns, strict=True)]


# --- Faults -------------------------------------------------------------------------------------------


def _other_date_format(value: dt.date, pick_format: int) -> str:
    return DATE_FORMATS[pick_format % len(DATE_FORMATS)].format(y=value.year, m=value.month, d=value.day)


def _stranger_names(rng: np.random.Generator, sex: np.ndarray) -> list[str]:
    family = pick(rng.random(len(sex)), FAMILY_NAMES)
    names = []
    for f, s, a, b in zip(
        family.tolist(),
        sex.tolist(),
        rng.random(len(sex)).tolist(),
        rng.random(len(sex)).tolist(),
        strict=True,
    ):
        pool = GIVEN[(s, 1)]
        names.append(f + pool[int(a * len(pool))] + (pool[int(b * len(pool))] if b < 0.5 else ""))
    return names


def inject_faults(
    rng: np.random.Generator, spec: Spec, rows: list[list], ids: IdAllocator
) -> list[tuple[list, str]]:
    """The rows with a few faults: each faulty row carries exactly one, named; clean rows carry ""."""
    n = len(rows)
    if n == 0:
        return []
    col = {name: i for i, name in enumerate(spec.columns)}
    u = rng.random((5, n))
    kinds = pick(u[0], {**ROW_FAULTS, "": 1 - sum(ROW_FAULTS.values())})
    out: list[tuple[float, list, str]] = []
    for i, (row, kind) in enumerate(zip(rows, kinds.tolist(), strict=True)):
        row = list(row)
        if kind == "bad_check_character" and row[col[ID]]:
            row[col[ID]] = wrong_check_character(row[col[ID]], int(u[1][i] * 10))
        elif kind == "blank_required":
            row[col[spec.required[int(u[1][i] * len(spec.required))]]] = ""
        elif kind == "unknown_code":
            row[col[spec.code_column]] = spec.unknown_codes[int(u[1][i] * len(spec.unknown_codes))]
        elif kind == "mixed_date_format":
            dated = [c for c in spec.date_columns if isinstance(row[col[c]], dt.date)]
            if dated:
                name = dated[int(u[1][i] * len(dated))]
                row[col[name]] = _other_date_format(row[col[name]], int(u[2][i] * 3))
            else:
                kind = ""
        out.append((float(i), row, kind))

    clean = [i for i, (_, _, kind) in enumerate(out) if not kind]
    if clean:
        for i in rng.choice(
            clean, size=min(rng.binomial(n, ADDED_ROWS["duplicate_row"]), len(clean)), replace=False
        ):
            out.append((i + 0.25, list(out[i][1]), "duplicate_row"))
        strangers = rng.binomial(n, ADDED_ROWS["unknown_id"])
        if strangers:
            templates = rng.choice(clean, size=strangers)
            ages = integers(rng.random(strangers), 1, 80)
            sex = np.where(rng.random(strangers) < 0.5, "1", "2")
            birth = (A.AS_OF.year - ages - 1970).astype("datetime64[Y]").astype("datetime64[D]") + integers(
                rng.random(strangers), 0, 364
            )
            numbers = ids.allocate(birth, sex)
            names = _stranger_names(rng, sex)
            positions = rng.random(strangers) * n
            for t, number, name, position in zip(
                templates.tolist(), numbers.tolist(), names, positions.tolist(), strict=True
            ):
                row = list(out[t][1])
                row[col[ID]], row[col[NAME]] = number, name
                out.append((int(position) + 0.5, row, "unknown_id"))
    out.sort(key=lambda item: item[0])
    return [(row, kind) for _, row, kind in out]


# --- Writing ------------------------------------------------------------------------------------------


class _CsvSink:
    def __init__(self, path: Path, encoding: str, header: tuple[str, ...]):
        self.handle = path.open("w", encoding=encoding, newline="")
        self.writer = csv.writer(self.handle)
        self.writer.writerow(header)

    def write(self, rows: list[list]) -> None:
        self.writer.writerows(rows)  # csv writes None as "" and a date as 2025-03-01

    def close(self) -> None:
        self.handle.close()


class _XlsxSink:
    def __init__(self, path: Path, header: tuple[str, ...]):
        self.writer = XlsxWriter(path, sheet="在校学生", columns=len(header))
        self.writer.append_rows([header])

    def write(self, rows: list[list]) -> None:
        self.writer.append_rows(rows)

    def close(self) -> None:
        self.writer.close()


@dataclass
class _Output:
    spec: Spec
    path: Path
    partial: Path
    sink: Any
    rows: int = 0
    fault_rows: dict[str, list[int]] = field(default_factory=lambda: {name: [] for name in FAULTS})


class DepartmentFiles:
    """Streams the three files into a directory; nothing appears under the final names until commit()."""

    def __init__(
        self, directory: Path, *, seed: int, ids: IdAllocator, codes: CodeBook, villages: VillageBook
    ):
        self.directory = Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.seed, self.ids, self.codes, self.villages = seed, ids, codes, villages
        self.outputs: dict[str, _Output] = {}
        for spec in SPECS:
            path = self.directory / spec.filename
            partial = path.with_name(path.name + ".partial")
            sink = (
                _XlsxSink(partial, spec.columns)
                if spec.encoding == "xlsx"
                else _CsvSink(partial, spec.encoding, spec.columns)
            )
            self.outputs[spec.key] = _Output(spec, path, partial, sink)

    def prepare(self, chunk_index: int, hh: Table, pp: Table) -> dict[str, list[tuple[list, str]]]:
        """A chunk's rows of each file, faults injected. Pure apart from the ID allocator, so it may run in
        the thread that generates the chunks."""
        rng = np.random.default_rng([self.seed, chunk_index, 7])
        truth = {
            "civil_affairs": civil_affairs_rows(hh, pp, self.villages),
            "health": health_rows(hh, pp),
            "education": education_rows(rng, hh, pp, self.villages, self.codes),
        }
        return {
            key: inject_faults(rng, self.outputs[key].spec, rows, self.ids) for key, rows in truth.items()
        }

    def write(self, prepared: dict[str, list[tuple[list, str]]]) -> None:
        for key, marked in prepared.items():
            output = self.outputs[key]
            for offset, (_, kind) in enumerate(marked, start=output.rows + 1):
                if kind:
                    output.fault_rows[kind].append(offset)
            output.sink.write([row for row, _ in marked])
            output.rows += len(marked)

    def commit(self) -> dict[str, dict]:
        manifests = {}
        for key, output in self.outputs.items():
            output.sink.close()
            os.replace(output.partial, output.path)
            manifest = self._manifest(output)
            manifest_path = output.path.with_name(output.path.name + ".manifest.json")
            manifest_path.write_text(json.dumps(manifest, ensure_ascii=False, indent=1), encoding="utf-8")
            manifests[key] = manifest
        return manifests

    def discard(self) -> None:
        for output in self.outputs.values():
            try:
                output.sink.close()
            finally:
                output.partial.unlink(missing_ok=True)

    def _manifest(self, output: _Output) -> dict:
        spec = output.spec
        with output.path.open("rb") as handle:
            digest = hashlib.file_digest(handle, "sha256").hexdigest()
        faults = {name: len(rows) for name, rows in output.fault_rows.items()}
        return {
            "department": spec.department,
            "file": spec.filename,
            "format": "xlsx" if spec.encoding == "xlsx" else "csv",
            "encoding": {"gbk": "GBK", "utf-8-sig": "UTF-8 with BOM", "xlsx": "XLSX (sheet 在校学生)"}[
                spec.encoding
            ],
            "period": A.PERIOD,
            "seed": self.seed,
            "key": [ID, NAME],
            "columns": list(spec.columns),
            "required": list(spec.required),
            "rows": output.rows,
            "row_numbering": "1 = the first data row after the one header row",
            "faults": faults,
            "faulty_rows_total": sum(faults.values()),
            "fault_rows": output.fault_rows,
            "fault_rules": {
                "bad_check_character": "证件号码 of a registered person with a wrong check character",
                "blank_required": f"one of {', '.join(spec.required)} left blank",
                "unknown_code": f"{spec.code_column} holds a value outside the code list "
                f"({', '.join(spec.unknown_codes)})",
                "mixed_date_format": "one date written as 2025/3/1, 20250301 or 2025年3月1日, not 2025-03-01",
                "unknown_id": "a valid 证件号码 of nobody in the household file",
                "duplicate_row": "an exact copy of the row before it",
            },
            "sha256": digest,
        }
