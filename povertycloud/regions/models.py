from django.db import models
from django.utils.translation import gettext_lazy as _

# Significant digits of the 12-digit statistical code at each level (统计用区划代码).
PREFIX_LENGTH = {1: 2, 2: 4, 3: 6, 4: 9, 5: 12}
LEVEL_NAMES = {1: _("省"), 2: _("市"), 3: _("县"), 4: _("乡镇"), 5: _("村")}


class Region(models.Model):
    class Level(models.IntegerChoices):
        PROVINCE = 1, _("省")
        CITY = 2, _("市")
        COUNTY = 3, _("县")
        TOWNSHIP = 4, _("乡镇")
        VILLAGE = 5, _("村")

    code = models.CharField(_("区划代码"), max_length=12, primary_key=True)
    name = models.CharField(_("名称"), max_length=100)
    level = models.PositiveSmallIntegerField(_("层级"), choices=Level.choices)
    parent = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
        verbose_name=_("上级"),
    )

    # Everything scoped to a region is found by the prefix of its code.
    region_lookup = "code"

    class Meta:
        verbose_name = _("行政区划")
        verbose_name_plural = _("行政区划")
        ordering = ["code"]
        indexes = [
            # LIKE 'prefix%' on PostgreSQL needs a pattern index under a non-C collation.
            models.Index(fields=["code"], name="region_code_prefix_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["parent", "code"], name="region_parent_code_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(level__gte=1, level__lte=5), name="region_level_1_to_5"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def prefix(self) -> str:
        return self.code[: PREFIX_LENGTH[self.level]]

    @property
    def is_village(self) -> bool:
        return self.level == self.Level.VILLAGE

    def contains(self, code: str) -> bool:
        return code.startswith(self.prefix)
