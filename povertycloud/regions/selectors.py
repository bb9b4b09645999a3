"""Reads of the region tree. Descendants are found by code prefix: one indexed query, no recursion."""

from django.db.models import QuerySet

from povertycloud.regions.models import PREFIX_LENGTH, Region


def descendants(region: Region, *, include_self: bool = False, level: int | None = None) -> QuerySet[Region]:
    queryset = Region.objects.filter(code__startswith=region.prefix)
    if not include_self:
        queryset = queryset.exclude(code=region.code)
    if level is not None:
        queryset = queryset.filter(level=level)
    return queryset


def ancestors(region: Region) -> list[Region]:
    codes = [
        region.code[:length].ljust(12, "0")
        for level, length in PREFIX_LENGTH.items()
        if level < region.level
    ]
    by_code = Region.objects.in_bulk(codes)
    return [by_code[code] for code in codes if code in by_code]


def full_name(region: Region) -> str:
    return "".join(r.name for r in [*ancestors(region), region])


def townships_of(region: Region) -> QuerySet[Region]:
    is_township = region.level == Region.Level.TOWNSHIP
    return descendants(region, include_self=is_township, level=Region.Level.TOWNSHIP)


def villages_of(region: Region) -> QuerySet[Region]:
    return descendants(region, include_self=region.is_village, level=Region.Level.VILLAGE)
