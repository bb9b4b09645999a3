"""The county's next registry export, half a year on, loaded as a real county loads its new export.

The national system's export of 30 June holds the same households and income surveys as the first one, but
some members have left (deaths, marriages out, moves): their rows are no longer in 成员信息.csv. Before it
arrives, a township official has edited one of those members in the system. The import (exchange.registry)
closes the members who left (kept in the file with the export's date), and lists the one the official
edited as a conflict for the township to settle instead of closing them silently. The demo thereby shows
the batch page's closed count, the household page's members who left and the conflicts page with real
rows, all through the same import a county uses.

``write_follow_up_export(first_dir, out_dir, seed=...)`` writes the files; ``import_follow_up_export(...)``
makes the official's edit and imports them.
"""

import datetime as dt
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from demo.county.registry_files import ENCODING, FILE_NAMES
from exchange.models import ImportBatch
from exchange.registry.service import import_registry
from households import services
from households.models import Person

AS_OF = dt.date(2026, 6, 30)
LEFT_SHARE = 0.004  # about four in a thousand members a half-year: deaths, marriages out, moves
HEAD_LABEL = "户主"


@dataclass
class FollowUp:
    directory: Path
    paths: list[Path]
    left_ids: list[str] = field(default_factory=list)


def write_follow_up_export(first_dir: Path, out_dir: Path, *, seed: int, township_prefix: str = "") -> FollowUp:
    """The first export's four files, with a sample of members (never a household head) left out; at least
    one of them lives in the township of ``township_prefix`` when it has any member to spare."""
    first_dir, out_dir = Path(first_dir), Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    members = pd.read_csv(first_dir / FILE_NAMES["members"], dtype=str, encoding=ENCODING, keep_default_na=False)
    not_head = members["与户主关系"].to_numpy() != HEAD_LABEL
    others = np.flatnonzero(not_head)
    count = max(1, round(LEFT_SHARE * len(members))) if len(others) else 0
    rng = np.random.default_rng(seed + 626)
    chosen = set(rng.choice(others, size=min(count, len(others)), replace=False).tolist())
    if township_prefix:
        households = pd.read_csv(
            first_dir / FILE_NAMES["households"], dtype=str, encoding=ENCODING, keep_default_na=False,
            usecols=["户编号", "行政区划代码"],
        )
        in_township = set(households.loc[households["行政区划代码"].str.startswith(township_prefix), "户编号"])
        local = np.flatnonzero(not_head & members["户编号"].isin(in_township).to_numpy())
        if len(local) and not chosen & set(local.tolist()):
            chosen.add(int(rng.choice(local)))
    rows = np.asarray(sorted(chosen), dtype=np.int64)
    left = members.iloc[rows]
    members.drop(index=members.index[rows]).to_csv(out_dir / FILE_NAMES["members"], index=False, encoding=ENCODING)
    for key in ("households", "incomes", "status"):
        shutil.copyfile(first_dir / FILE_NAMES[key], out_dir / FILE_NAMES[key])
    paths = [out_dir / FILE_NAMES[key] for key in FILE_NAMES]
    return FollowUp(directory=out_dir, paths=paths, left_ids=left["证件号码"].tolist())


def import_follow_up_export(
    follow_up: FollowUp, *, region_code: str, official, importer
) -> ImportBatch:
    """An official's edit of one leaving member of their township, then the export's import by ``importer``."""
    leaving = Person.objects.filter(
        id_number__in=follow_up.left_ids, household__village__code__startswith=official.region.prefix
    ).order_by("pk").first()
    if leaving is not None:
        services.update_person(
            by=official, person=leaving, data={"months_worked_away": (leaving.months_worked_away + 3) % 13},
            expected_version=leaving.version,
        )
    return import_registry(region_code=region_code, paths=follow_up.paths, by=importer, as_of=AS_OF)
