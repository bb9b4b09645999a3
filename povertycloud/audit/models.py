from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

APPEND_ONLY_UPDATE = "审计记录只能追加，不能修改。"
APPEND_ONLY_DELETE = "审计记录只能追加，不能删除。"


class AuditEventQuerySet(models.QuerySet):
    """Bulk UPDATE and DELETE refused in Python too, so that SQLite (no trigger) behaves like PostgreSQL."""

    def update(self, **kwargs):
        raise RuntimeError(APPEND_ONLY_UPDATE)

    def bulk_update(self, objs, fields, batch_size=None):
        raise RuntimeError(APPEND_ONLY_UPDATE)

    def delete(self):
        raise RuntimeError(APPEND_ONLY_DELETE)

    delete.queryset_only = True


class AuditEvent(models.Model):
    """One row per write, review, export or sensitive read. Append-only: never updated, never deleted."""

    class Action(models.TextChoices):
        CREATE = "create", _("新增")
        UPDATE = "update", _("修改")
        DELETE = "delete", _("删除")
        REVEAL = "reveal", _("查看敏感信息")
        EXPORT = "export", _("导出")
        IMPORT = "import", _("导入")
        REVIEW = "review", _("审核决定")
        LOGIN_FAILED = "login_failed", _("登录失败")

    at = models.DateTimeField(_("时间"), default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("操作人"),
    )
    actor_username = models.CharField(_("操作人账号"), max_length=150, blank=True)
    action = models.CharField(_("操作"), max_length=20, choices=Action.choices)
    entity = models.CharField(_("对象类型"), max_length=100)
    object_pk = models.CharField(_("对象编号"), max_length=64, blank=True)
    object_repr = models.CharField(_("对象"), max_length=200, blank=True)
    region_code = models.CharField(_("区划代码"), max_length=12, blank=True)
    household_id = models.BigIntegerField(_("户"), null=True, blank=True)
    changes = models.JSONField(_("变更内容"), default=dict, blank=True)
    note = models.TextField(_("说明"), blank=True)

    objects = AuditEventQuerySet.as_manager()

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("审计记录")
        verbose_name_plural = _("审计记录")
        ordering = ["-at", "-id"]
        indexes = [
            models.Index(fields=["household_id", "-at"], name="audit_household_at_idx"),
            models.Index(fields=["entity", "object_pk"], name="audit_entity_object_idx"),
            models.Index(
                fields=["region_code"], name="audit_region_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]

    def __str__(self) -> str:
        action = self.get_action_display()
        return f"{self.at:%Y-%m-%d %H:%M} {self.actor_username} {action} {self.object_repr}"

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise RuntimeError(APPEND_ONLY_UPDATE)
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise RuntimeError(APPEND_ONLY_DELETE)
