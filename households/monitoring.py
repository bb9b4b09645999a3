"""Monitoring income thresholds (监测范围): per region and year, edited by administrators (domain.md §4)."""

import csv
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from povertycloud.regions.models import PREFIX_LENGTH


class MonitoringThreshold(models.Model):
    """Per-capita net income (yuan/year) below which a household is within the monitoring range.

    Set per province (or a city or county that sets its own) and per year; the most specific region's
    value applies."""

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("区划"))
    year = models.PositiveSmallIntegerField(_("年度"))
    amount = models.DecimalField(_("监测标准（元/人·年）"), max_digits=10, decimal_places=2)
    source = models.CharField(_("来源"), max_length=200, blank=True)

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("监测标准")
        verbose_name_plural = _("监测标准")
        ordering = ["region_id", "year"]
        constraints = [
            models.UniqueConstraint(fields=["region", "year"], name="threshold_per_region_year"),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="threshold_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.year}: {self.amount}"


def ancestor_codes(region_code: str) -> list[str]:
    """The region and its ancestors, most specific first (522634101200 → …, 522634000000, 520000000000)."""
    codes = []
    for length in sorted(PREFIX_LENGTH.values(), reverse=True):
        code = region_code[:length].ljust(12, "0")
        if code not in codes:
            codes.append(code)
    return codes


def thresholds_for(region_code: str) -> dict[int, Decimal]:
    """{year: amount} for a region, each year taken from the most specific region that sets it."""
    ancestors = ancestor_codes(region_code)
    rank = {code: i for i, code in enumerate(ancestors)}
    chosen: dict[int, tuple[int, Decimal]] = {}
    for code, year, amount in MonitoringThreshold.objects.filter(region_id__in=ancestors).values_list(
        "region_id", "year", "amount"
    ):
        if year not in chosen or rank[code] < chosen[year][0]:
            chosen[year] = (rank[code], amount)
    return {year: amount for year, (_, amount) in sorted(chosen.items())}


def threshold_for(region_code: str, year: int) -> Decimal | None:
    return thresholds_for(region_code).get(int(year))


def load_thresholds_csv(path: Path, *, model=MonitoringThreshold) -> int:
    """Create or update thresholds from a CSV with region_code, year, amount, source."""
    count = 0
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            model.objects.update_or_create(
                region_id=row["region_code"], year=int(row["year"]),
                defaults={"amount": Decimal(row["amount"]), "source": row["source"]},
            )
            count += 1
    return count


DEMO_THRESHOLDS = Path(settings.BASE_DIR) / "fixtures" / "monitoring_thresholds_demo.csv"
