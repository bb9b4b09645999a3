"""generate_county: the synthetic demo county, written as the files a real county has.

The county comes out as the national system's registry export (registry_files.py: households, members, every
year's income, status history) and the latest period's department files (department_files.py). Nothing is
written to the household file here: load_county imports the export through the registry import
(exchange.registry), the road a real county's data takes.

Each chunk of about CHUNK_PERSONS people is drawn from its own random stream ([seed, chunk]), so the same seed
gives the same county, and memory stays flat however many people are asked for.

By default the county is the demo county (雷山县, fixtures/regions_leishan.csv) with every income year of
A.YEARS. ``regions_file`` writes another county instead — any county's statistical code list: its code, its
villages and the region part of its people's ID numbers are read from the list, and the database's region
tree is not touched — and ``income_years`` limits the income table to some years (one year: a county that
has only its latest survey). The county is simulated over A.YEARS either way.
"""

import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.core.exceptions import ValidationError

from demo.county import assumptions as A
from demo.county import incomes as income_model
from demo.county import monitoring, population, shocks
from demo.county.department_files import DepartmentFiles
from demo.county.draws import Table
from demo.county.ids import IdAllocator
from demo.county.registry_files import FILE_NAMES as REGISTRY_FILE_NAMES
from demo.county.registry_files import RegistryFiles
from demo.county.villages import CountyOfList, RegionListError, VillageBook, ensure_regions, read_county
from exchange.models import ImportBatch
from exchange.registry.service import import_registry
from households.codes import codebook
from households.validation import CodeBook, household_issues, household_member_issues, person_issues

CHUNK_PERSONS = 20_000
CHECKED_PER_CHUNK = 40  # households of each chunk run through the validators before they are written

PERSON_COLUMNS = (
    "id_number",
    "disability_certificate",
    "name",
    "sex",
    "ethnicity",
    "relation",
    "health",
    "disability_category",
    "disability_grade",
    "labour_skill",
    "education",
    "school_status",
    "months_worked_away",
    "work_place",
    "employer",
    "public_welfare_job",
    "public_welfare_months",
    "resident_medical_insurance",
    "employee_medical_insurance",
    "critical_illness_insurance",
    "pension_insurance",
    "dibao",
    "tekun",
)
HOUSEHOLD_COLUMNS = (
    "number",
    "village_id",
    "group_name",
    "phone",
    "bank_account",
    "household_type",
    "poverty_attribute",
    "monitoring_type",
    "whole_household_unable_to_work",
    "risk_types",
    "disaster_subtype",
    "main_poverty_cause",
    "other_poverty_causes",
    "housing_grade",
    "safe_drinking_water",
    "sanitary_toilet",
    "road_to_door",
    "fuel",
)


class GenerationError(Exception):
    """Generated data failed the household file's validators (a bug in the generator), or the county asked
    for cannot be generated (a region list without one county and its villages, an income year outside
    A.YEARS)."""


@dataclass
class Summary:
    seed: int
    persons: int = 0
    households: int = 0
    incomes: int = 0
    status_changes: int = 0
    monitored: int = 0
    below_threshold: dict[int, int] = field(default_factory=lambda: dict.fromkeys(A.YEARS, 0))
    county_code: str = A.COUNTY_CODE
    county_name: str = A.COUNTY_NAME
    income_years: tuple[int, ...] = A.YEARS
    regions_loaded: bool = False
    seconds: float = 0.0
    out_dir: str = ""
    files: dict[str, dict] = field(default_factory=dict)
    registry_files: dict[str, dict] = field(default_factory=dict)
    registry_paths: list[Path] = field(default_factory=list)

    def note(self) -> str:
        below = "、".join(f"{year} 年 {count} 户" for year, count in self.below_threshold.items())
        return (
            f"生成{self.county_name}（{self.county_code}，种子 {self.seed}）：{self.households} 户 {self.persons} 人，"
            f"年度收支 {self.incomes} 条，状态变更 {self.status_changes} 条，"
            f"当前监测对象 {self.monitored} 户；人均纯收入低于监测标准：{below}。"
            f"户档案导出文件和部门数据文件写入 {self.out_dir}。"
        )


@dataclass
class Chunk:
    hh: Table
    pp: Table
    incomes: Table
    history: monitoring.History
    department_rows: dict = field(default_factory=dict)


def build_chunk(
    seed: int,
    index: int,
    persons: int,
    villages: VillageBook,
    serials: np.ndarray,
    ids: IdAllocator,
    codes: CodeBook,
) -> Chunk:
    rng = np.random.default_rng([seed, index])
    hh, pp = population.compose(rng, persons, villages, serials, ids)
    population.describe_people(rng, hh, pp, home_place=villages.home_place)
    population.describe_households(rng, hh, pp)
    drawn = shocks.draw(rng, hh, pp, villages)
    shocks.apply_to_people(rng, hh, pp, drawn)
    incomes = income_model.compute(rng, hh, pp, drawn)
    history = monitoring.history(rng, hh, pp, incomes, drawn, codes)
    return Chunk(hh, pp, incomes, history)


def person_values(pp: Table, i: int) -> dict:
    values = {name: pp[name][i].item() for name in PERSON_COLUMNS}
    values["birth_date"] = pp["birth_date"][i].item()
    return values


def household_values(hh: Table, i: int) -> dict:
    values = {name: hh[name][i].item() for name in HOUSEHOLD_COLUMNS}
    values["lifted_year"] = int(hh["lifted_year"][i]) if hh["lifted_year"][i] else None
    return values


def check_sample(chunk: Chunk, codes: CodeBook, count: int = CHECKED_PER_CHUNK) -> None:
    """Run the household file's validators over the first households of a chunk: an error is a bug here."""
    problems = []
    members_of = np.searchsorted(chunk.pp["hh"], np.arange(min(count, len(chunk.hh["size"])) + 1))
    for i in range(len(members_of) - 1):
        members = [person_values(chunk.pp, k) for k in range(members_of[i], members_of[i + 1])]
        issues = [issue for m in members for issue in person_issues(m, codes=codes, on=A.AS_OF)]
        issues += household_member_issues(members, codes=codes)
        issues += household_issues(household_values(chunk.hh, i), codes=codes)
        problems += [
            f"{chunk.hh['number'][i]} {issue.field}: {issue.message}" for issue in issues if issue.is_error
        ]
    if problems:
        raise GenerationError("生成的数据未通过校验：\n" + "\n".join(problems[:20]))


def _chunk_sizes(persons: int, chunk_persons: int) -> list[int]:
    full, rest = divmod(persons, chunk_persons)
    return [chunk_persons] * full + ([rest] if rest else [])


class _Producer(threading.Thread):
    """Builds the chunks (numpy, Python) while the main thread writes the previous one (mostly waiting on
    the database), so that the two overlap. Everything that draws from a random stream or the ID allocator
    runs here, in chunk order, so the result does not depend on timing."""

    def __init__(
        self,
        *,
        seed: int,
        sizes: list[int],
        villages: VillageBook,
        serials: np.ndarray,
        ids: IdAllocator,
        codes: CodeBook,
        files: DepartmentFiles,
    ):
        super().__init__(name="generate-county", daemon=True)
        self.seed, self.sizes, self.villages, self.serials, self.ids = seed, sizes, villages, serials, ids
        self.codes, self.files = codes, files
        self.chunks: queue.Queue = queue.Queue(maxsize=1)
        self.stopped = threading.Event()

    def _put(self, item) -> None:
        while not self.stopped.is_set():
            try:
                self.chunks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def run(self) -> None:
        try:
            for index, size in enumerate(self.sizes):
                if self.stopped.is_set():
                    return
                chunk = build_chunk(self.seed, index, size, self.villages, self.serials, self.ids, self.codes)
                check_sample(chunk, self.codes)
                chunk.department_rows = self.files.prepare(index, chunk.hh, chunk.pp)
                self._put(chunk)
            self._put(None)
        except BaseException as exc:  # handed to the main thread, which raises it
            self._put(exc)

    def __iter__(self):
        while True:
            item = self.chunks.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self.stopped.set()
        self.join(timeout=30)


def generate_county(
    *,
    persons: int,
    seed: int,
    out_dir: Path,
    progress: Callable[[int], None] | None = None,
    chunk_persons: int = CHUNK_PERSONS,
    regions_file: Path | None = None,
    income_years: tuple[int, ...] | list[int] | None = None,
) -> Summary:
    """A county's registry export and department files into out_dir (docs/demo-county.md): the demo
    county by default, or the county of ``regions_file`` (a statistical code list); every year of A.YEARS
    in the income table, or only ``income_years``."""
    if persons < 1:
        raise ValueError("人数至少为 1。")
    started = time.monotonic()
    years = _income_years(income_years)
    county = _county(regions_file)
    summary = Summary(seed=seed, out_dir=str(out_dir), income_years=years)
    if county is None:
        summary.regions_loaded = ensure_regions()
    else:
        summary.county_code, summary.county_name = county.code, county.name
        summary.below_threshold = dict.fromkeys(A.YEARS, 0)
    codes = codebook()
    villages = VillageBook.load(seed, county)
    ids = IdAllocator(county.prefix if county is not None else A.ID_REGION, last_day=A.AS_OF)
    serials = np.zeros(len(villages.codes), dtype=np.int64)
    files: DepartmentFiles | None = None
    registry: RegistryFiles | None = None
    producer: _Producer | None = None
    try:
        registry = RegistryFiles(out_dir, codes=codes, years=years)
        files = DepartmentFiles(out_dir, seed=seed, ids=ids, codes=codes, villages=villages)
        producer = _Producer(
            seed=seed,
            sizes=_chunk_sizes(persons, chunk_persons),
            villages=villages,
            serials=serials,
            ids=ids,
            codes=codes,
            files=files,
        )
        producer.start()
        for chunk in producer:
            registry.write(chunk.hh, chunk.pp, chunk.incomes, chunk.history)
            files.write(chunk.department_rows)
            _count(summary, chunk, len(chunk.hh["size"]), len(chunk.history))
            if progress:
                progress(len(chunk.pp["age"]))
    except BaseException:
        if producer is not None:
            producer.stop()
        if files is not None:
            files.discard()
        if registry is not None:
            registry.discard()
        raise
    summary.registry_files = registry.commit()
    summary.registry_paths = registry.paths
    summary.files = files.commit()
    summary.seconds = time.monotonic() - started
    return summary


def _income_years(years) -> tuple[int, ...]:
    if years is None:
        return A.YEARS
    chosen = tuple(sorted({int(year) for year in years}))
    outside = [year for year in chosen if year not in A.YEARS]
    if not chosen or outside:
        raise GenerationError(
            f"收支年度须在 {A.YEARS[0]}–{A.YEARS[-1]} 之间（至少一年），"
            f"实际为：{'、'.join(map(str, chosen)) or '无'}。"
        )
    return chosen


def _county(regions_file: Path | None) -> CountyOfList | None:
    if regions_file is None:
        return None
    try:
        return read_county(Path(regions_file))
    except RegionListError as exc:
        raise GenerationError(str(exc)) from exc
    except ValidationError as exc:  # a list whose headers or encoding cannot be read
        raise GenerationError("；".join(exc.messages)) from exc


def load_county(*, summary_or_dir: "Summary | Path", by=None, region_code: str | None = None) -> ImportBatch:
    """Import a generated county's registry export through the registry import, as a real county would:
    into the summary's county (or ``region_code``, the demo county by default for a folder)."""
    if isinstance(summary_or_dir, Summary):
        directory, region_code = Path(summary_or_dir.out_dir), region_code or summary_or_dir.county_code
    else:
        directory = Path(summary_or_dir)
    paths = [directory / name for name in REGISTRY_FILE_NAMES.values()]
    return import_registry(region_code=region_code or A.COUNTY_CODE, paths=paths, by=by, as_of=A.AS_OF)


def _count(summary: Summary, chunk: Chunk, households: int, changes: int) -> None:
    summary.persons += len(chunk.pp["age"])
    summary.households += households
    summary.incomes += households * len(summary.income_years)
    summary.status_changes += changes
    summary.monitored += int((chunk.hh["monitoring_type"] != "").sum())
    per_capita = income_model.per_capita(chunk.incomes)
    for j, year in enumerate(A.YEARS):
        summary.below_threshold[year] += int((per_capita[:, j] < A.MONITORING_THRESHOLDS[year]).sum())
