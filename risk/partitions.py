"""How a region-wide job of the risk side splits: one county a partition (povertycloud.cluster runs them).

A region above county level (a prefecture, a province) is split into its counties that have households; a county
or a township is one partition and runs in this process, as it always did."""

from collections.abc import Callable
from contextlib import contextmanager

from django.db import connection
from django.utils.translation import gettext as _

from households.models import Household
from povertycloud.cluster import IN_PROCESS, InProcess, open_runner
from povertycloud.regions.models import Region
from povertycloud.regions.selectors import descendants

# Told as each county's task ends: (county code, what ended: "scored", "written", …).
CountyProgress = Callable[[str, str], None]


def _region(region_code: str) -> Region:
    region = Region.objects.filter(code=region_code).first()
    if region is None:
        raise ValueError(_("区划代码 %(code)s 不存在。") % {"code": region_code})
    return region


def above_county(region_code: str) -> bool:
    return _region(region_code).level < Region.Level.COUNTY


def has_households(region: Region) -> bool:
    low, high = region.prefix.ljust(12, "0"), region.prefix.ljust(12, "9")  # a range the village index seeks
    return Household.objects.filter(village_id__gte=low, village_id__lte=high).exists()


def county_partitions(region_code: str) -> list[str]:
    """The partitions of a job over region_code: its counties with households, in code order (the region itself
    when it is a county or below)."""
    region = _region(region_code)
    if region.level >= Region.Level.COUNTY:
        return [region.code]
    counties = [c for c in descendants(region, level=Region.Level.COUNTY).order_by("code") if has_households(c)]
    return [county.code for county in counties]


@contextmanager
def runner_for(region_code: str, cluster: str | None):
    """Dask for a region above county level (unless cluster is "none"); this process for a county.

    Tasks read through connections of their own, which see committed data only: a job started inside a
    transaction that may hold its caller's uncommitted writes runs in this process unless a cluster is named."""
    if cluster == IN_PROCESS or not above_county(region_code) or (cluster is None and connection.in_atomic_block):
        yield InProcess()
        return
    with open_runner(cluster) as runner:
        yield runner
