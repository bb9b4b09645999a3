"""The villages of a generated county, with the weights and kinds that the generator draws from.

The demo county (雷山县) reads its villages from the region tree, loading fixtures/regions_leishan.csv when it
is missing. Any other county is read from its own statistical code list (a CSV as load_regions takes it):
the generator then needs no region in the database, and writes that county's files.
"""

from dataclasses import dataclass
from pathlib import Path

import numpy as np
from django.conf import settings

from demo.county.assumptions import COUNTY_CODE, COUNTY_NAME, COUNTY_PREFIX, HOME_PLACE, VILLAGE_DISASTER, YEARS
from demo.county.assumptions import DISASTER_SUBTYPE_WEIGHTS as SUBTYPES
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.services import level_of, load_regions_csv, read_region_rows

REGIONS_FILE = Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv"
COUNTY_DIGITS = PREFIX_LENGTH[Region.Level.COUNTY]
TOWNSHIP_DIGITS = PREFIX_LENGTH[Region.Level.TOWNSHIP]


class RegionListError(ValueError):
    """A region list the generator cannot write a county for (no county, several, no village)."""


@dataclass(frozen=True)
class CountyOfList:
    """What a region list says about its county: code, names, and its villages as (code, name, township)."""

    code: str
    name: str
    province_name: str
    villages: list[tuple[str, str, str]]

    @property
    def prefix(self) -> str:
        return self.code[:COUNTY_DIGITS]

    @property
    def home_place(self) -> str:
        """The county as a work place is written (贵州省雷山县)."""
        return f"{self.province_name}{self.name}"


def read_county(path: Path) -> CountyOfList:
    """The one county of a statistical code list and its villages (ordered by code)."""
    rows = read_region_rows(Path(path).read_bytes())
    names = {row.get("code", "").strip(): row.get("name", "").strip() for row in rows}
    levels = {code: level_of(code) for code in names if len(code) == 12 and code.isdigit()}
    counties = sorted(code for code, level in levels.items() if level == Region.Level.COUNTY)
    if len(counties) != 1:
        raise RegionListError(
            f"区划代码表 {Path(path).name} 须恰好包含一个县级区划，实际 {len(counties)} 个。"
        )
    county = counties[0]
    prefix = county[:COUNTY_DIGITS]
    villages = [
        (code, names[code], names.get(code[:TOWNSHIP_DIGITS].ljust(12, "0"), ""))
        for code in sorted(levels)
        if levels[code] == Region.Level.VILLAGE and code.startswith(prefix)
    ]
    if not villages:
        raise RegionListError(f"区划代码表 {Path(path).name} 中{names[county]}没有村级区划，无法生成。")
    province = names.get(county[: PREFIX_LENGTH[Region.Level.PROVINCE]].ljust(12, "0"), "")
    return CountyOfList(code=county, name=names[county], province_name=province, villages=villages)


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
    county_name: str = COUNTY_NAME
    home_place: str = HOME_PLACE  # the county as a work place: people who find work at home

    @classmethod
    def load(cls, seed: int, county: CountyOfList | None = None) -> "VillageBook":
        """The demo county's villages from the region tree, or a county's from its region list."""
        if county is not None:
            return cls.build(
                seed,
                codes=[code for code, _name, _township in county.villages],
                names=[name for _code, name, _township in county.villages],
                townships=[township for _code, _name, township in county.villages],
                county_name=county.name,
                home_place=county.home_place,
            )
        villages = list(village_queryset().select_related("parent"))
        if not villages:
            raise RuntimeError("演示县没有村级区划，无法生成。")
        return cls.build(
            seed,
            codes=[v.code for v in villages],
            names=[v.name for v in villages],
            townships=[v.parent.name if v.parent else "" for v in villages],
        )

    @classmethod
    def build(
        cls,
        seed: int,
        *,
        codes: list[str],
        names: list[str],
        townships: list[str],
        county_name: str = COUNTY_NAME,
        home_place: str = HOME_PLACE,
    ) -> "VillageBook":
        rng = np.random.default_rng([seed, 999_001])
        n = len(codes)
        kinds = ["shui" if "水族" in t else "town" if t.endswith("街道") else "default" for t in townships]
        disaster = rng.random((n, len(YEARS))) < VILLAGE_DISASTER
        subtype = rng.choice(list(SUBTYPES), size=(n, len(YEARS)), p=list(SUBTYPES.values()))
        return cls(
            codes=np.asarray(codes),
            names=np.asarray(names),
            township_names=np.asarray(townships),
            kinds=np.asarray(kinds),
            urban=np.asarray([name.endswith("社区") for name in names]),
            tourism=np.asarray([t == "西江镇" for t in townships]),
            weights=rng.dirichlet(np.full(n, 6.0)),
            groups=rng.integers(6, 16, size=n),
            disaster=disaster,
            disaster_subtype=subtype,
            county_name=county_name,
            home_place=home_place,
        )
