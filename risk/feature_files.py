"""A region's features as files: one Parquet file per county, each computed by that county's task.

``write_region_features(region_code=…, as_of=…, folder=…, cluster=…)`` is the features job of a region above
county level (risk.partitions): each county's task reads its county and computes its features as of the date
(risk.features, the same frame scoring and training use); the job's process writes each county's file as its task
ends and lets the task's result go, so its memory holds one county's frame at a time. The files carry the internal
household id, the village code and the numeric features: no name or ID number. ``manage.py build_features``."""

import datetime as dt
from pathlib import Path

import pandas as pd

from risk.partitions import CountyProgress, county_partitions, runner_for
from risk.sources import Sources


def county_features(county: str, as_of: dt.date) -> pd.DataFrame:
    """A county's features as of the date (a task: it reads, nothing is written)."""
    return Sources.load(region_code=county).at(as_of)


def feature_file(folder: Path, county: str, as_of: dt.date) -> Path:
    return Path(folder) / f"features_{county}_{as_of.isoformat()}.parquet"


def write_region_features(
    *,
    region_code: str,
    as_of: dt.date,
    folder: Path,
    cluster: str | None = None,
    on_county: CountyProgress | None = None,
) -> dict[str, tuple[Path, int]]:
    """Write each county's features to folder; returns county → (file, households). A file is written whole
    under a temporary name and then renamed, so a failed job leaves no half-written file behind."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tell = on_county or (lambda county, state: None)
    counties = county_partitions(region_code)
    written: dict[str, tuple[Path, int]] = {}
    with runner_for(region_code, cluster) as runner:
        tasks = {county: runner.submit(county_features, county, as_of, key=f"features-{county}") for county in counties}
        for county, task, frame in runner.completed(tasks):
            path = feature_file(folder, county, as_of)
            partial = path.with_suffix(".parquet.partial")
            frame.rename_axis("household_id").to_parquet(partial)
            partial.replace(path)
            written[county] = (path, len(frame))
            runner.release([task])
            tell(county, "features")
    return written
