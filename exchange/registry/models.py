"""What a registry import leaves for people to settle: conflicts between the export and officials' edits.

Imported by exchange.models so that Django registers the model in the exchange app.
"""

from django.apps import apps
from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class RegistryConflict(models.Model):
    """A field the export would change that an official edited in the system after the previous import.

    Neither side was overwritten: the household file keeps the official's value until the township settles
    the conflict, taking the export's value or keeping its own."""

    class Status(models.TextChoices):
        OPEN = "open", _("待处理")
        KEPT = "kept", _("保留系统值")
        TAKEN = "taken", _("采用导出值")

    batch = models.ForeignKey(
        "exchange.ImportBatch", on_delete=models.PROTECT, related_name="conflicts", verbose_name=_("导入批次")
    )
    entity = models.CharField(_("对象类型"), max_length=40)
    object_id = models.BigIntegerField(_("对象编号"))
    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    field = models.CharField(_("字段"), max_length=60)
    system_value = models.TextField(_("系统中的值"), blank=True)
    export_value = models.TextField(_("导出文件中的值"), blank=True)
    region_code = models.CharField(_("区划代码"), max_length=12)
    status = models.CharField(_("状态"), max_length=8, choices=Status.choices, default=Status.OPEN)
    settled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("处理人"),
    )
    settled_at = models.DateTimeField(_("处理时间"), null=True, blank=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("户档案导入冲突")
        verbose_name_plural = _("户档案导入冲突")
        ordering = ["region_code", "household_id", "id"]
        indexes = [
            models.Index(fields=["region_code", "status"], name="conflict_region_status_idx",
                         opclasses=["varchar_pattern_ops", "varchar_pattern_ops"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(status="open") | Q(settled_at__isnull=False), name="conflict_settled_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.entity} {self.object_id} {self.field}"

    @property
    def field_label(self) -> str:
        """The field as the household file names it (离开日期), not its column name."""
        try:
            return str(apps.get_model(self.entity)._meta.get_field(self.field).verbose_name)
        except (LookupError, ValueError, FieldDoesNotExist):
            return self.field

    def audit_context(self) -> dict:
        return {"region_code": self.region_code, "household_id": self.household_id}


class RegistryRowChange(models.Model):
    """The values a registry import changed in a row that was already in the household file, as they were
    before it: what undoing the import puts back. Rows the import inserted carry its batch id
    (``source_batch``) and have no entry here; members it closed have one with ``left_on`` empty before."""

    batch = models.ForeignKey(
        "exchange.ImportBatch", on_delete=models.PROTECT, related_name="registry_changes", verbose_name=_("导入批次")
    )
    entity = models.CharField(_("对象类型"), max_length=40)  # households.household, .person or .incomerecord
    object_id = models.BigIntegerField(_("对象编号"))
    before = models.JSONField(_("导入前的值"))  # field name → value as JSON (dates ISO, decimals as text)
    version_after = models.PositiveIntegerField(_("导入后的版本"))

    class Meta:
        verbose_name = _("户档案导入修改")
        verbose_name_plural = _("户档案导入修改")
        indexes = [models.Index(fields=["batch", "entity"], name="registry_change_batch_idx")]

    def __str__(self) -> str:
        return f"{self.batch_id} {self.entity} {self.object_id}"
