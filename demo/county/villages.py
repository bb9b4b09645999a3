"""The villages of the demo county, with the weights and kinds that the generator draws from."""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from demo.county.assumptions import COUNTY_CODE, COUNTY_PREFIX, VILLAGE_DISASTER, YEARS
from demo.county.assumptions import DISASTER_SUBTYPE_WEIGHTS as SUBTYPES
from povertycloud.regions.models import Region
from povertycloud.regions.services import load_regions_csv

REGIONS_FILE = Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv"


def ensure_regions() -> bool:
    """Load the demo county's region tree if it is missing. True if it had to be loaded."""
    if Region.objects.filter(code=COUNTY_CODE).exists() and village_queryset().exists():
        return False
    load_regions_csv(REGIONS_FILE)
    return True


def village_queryset():
    return Region.objects.filter(level=Region.Level.VILLAGE, code__startswith=COUNTY_PREFIX).order_by("code")


@dataclass
class VillageBook:
    codes: np.ndarray  # 12-digit codes
    names: np.ndarray
    township_names: np.ndarray
    kinds: np.ndarray  # "default" | "shui" | "town"
    urban: np.ndarray  # a 社区 of the county town: 城市低保, little land
    tourism: np.ndarray  # villages of 西江镇 live partly from tourism
    weights: np.ndarray
    groups: np.ndarray  # how many 村民小组
    disaster: np.ndarray  # (villages, years) bool: hit by a natural disaster that year
    disaster_subtype: np.ndarray  # (villages, years) code of the disaster

    @classmethod
    def load(cls, seed: int) -> "VillageBook":
        villages = list(village_queryset().select_related("parent"))
        if not villages:
            raise RuntimeError("演示县没有村级区划，无法生成。")
        rng = np.random.default_rng([seed, 999_001])
        n = len(villages)
        townships = [v.parent.name if v.parent else "" for v in villages]
        kinds = ["shui" if "水族" in t else "town" if t.endswith("街道") else "default" for t in townships]
        disaster = rng.random((n, len(YEARS))) < VILLAGE_DISASTER
        subtype = rng.choice(list(SUBTYPES), size=(n, len(YEARS)), p=list(SUBTYPES.values()))
        return cls(
            codes=np.asarray([v.code for v in villages]),
            names=np.asarray([v.name for v in villages]),
            township_names=np.asarray(townships),
            kinds=np.asarray(kinds),
            urban=np.asarray([v.name.endswith("社区") for v in villages]),
            tourism=np.asarray([t == "西江镇" for t in townships]),
            weights=rng.dirichlet(np.full(n, 6.0)),
            groups=rng.integers(6, 16, size=n),
            disaster=disaster,
            disaster_subtype=subtype,
        )
