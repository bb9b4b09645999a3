"""A region of several generated counties under one prefecture, built through the roads a real county takes
(its code list, the registry export, its department files): the region-wide jobs split it one county a
partition (risk.partitions). Used by the tests of those jobs and by tests/benchmarks/bench_cluster.py."""

import csv
from pathlib import Path

from django.conf import settings

from demo.county.department_files import CIVIL_AFFAIRS, EDUCATION, HEALTH
from demo.county.generator import generate_county, load_county
from exchange.pipeline import import_department_file
from households.monitoring import DEMO_THRESHOLDS, load_thresholds_csv
from povertycloud.regions.services import load_regions_csv

PREFECTURE = "522600000000"  # 黔东南州: the demo county's prefecture
LEISHAN = Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv"
FIRST_COUNTY = 522690  # the generated counties take codes 522690, 522691, …: not real ones, none is the demo's


def county_code(index: int) -> str:
    return f"{FIRST_COUNTY + index}000000"


def regions_file_of(
    index: int, folder: Path, *, prefix: str | None = None, prefecture: tuple[str, str] | None = None
) -> Path:
    """The demo county's code list moved to county `index` (6-digit code `prefix`, by default FIRST_COUNTY + index)
    of the demo's prefecture, or of `prefecture` (code, name) in the same province: township and village codes kept
    below the new county code, the county's name marked with the index."""
    prefix = prefix or str(FIRST_COUNTY + index)
    path = folder / f"regions_{prefix}.csv"
    with LEISHAN.open(encoding="utf-8") as source, path.open("w", encoding="utf-8", newline="") as target:
        rows = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=rows.fieldnames)
        writer.writeheader()
        for row in rows:
            level = int(row["level"])
            if level == 2 and prefecture:
                row["code"], row["name"] = prefecture
            elif level >= 3:
                row["code"] = prefix + row["code"][6:]
                if level > 3:
                    row["parent_code"] = prefix + row["parent_code"][6:]
                else:
                    row["name"] = f"{row['name']}{index + 1}"
                    if prefecture:
                        row["parent_code"] = prefecture[0]
            writer.writerow(row)
    return path


def province_thresholds(folder: Path) -> Path:
    """The demo table's lines of the province (贵州 52), which every county of it takes; not the demo county's."""
    path = folder / "thresholds_52.csv"
    with DEMO_THRESHOLDS.open(encoding="utf-8") as source, path.open("w", encoding="utf-8", newline="") as target:
        rows = csv.DictReader(source)
        writer = csv.DictWriter(target, fieldnames=rows.fieldnames)
        writer.writeheader()
        writer.writerows(row for row in rows if row["region_code"] == "520000000000")
    return path


def build_counties(folder: Path, *, counties: int, persons: int, seed: int = 31, departments: bool = True) -> list[str]:
    """Generate and import `counties` counties of `persons` people each; returns their codes."""
    codes = []
    for index in range(counties):
        out = folder / f"county_{index}"
        out.mkdir(parents=True, exist_ok=True)
        regions = regions_file_of(index, folder)
        load_regions_csv(regions)
        if index == 0:
            load_thresholds_csv(province_thresholds(folder))
        summary = generate_county(persons=persons, seed=seed + index, out_dir=out, regions_file=regions)
        load_county(summary_or_dir=summary)
        for spec in (CIVIL_AFFAIRS, HEALTH, EDUCATION) if departments else ():
            import_department_file(
                department=spec.key, path=out / spec.filename, by=None, region_code=summary.county_code
            )
        codes.append(summary.county_code)
    return codes
