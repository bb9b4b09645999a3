"""Performance reports (成效考核): one row per generated report, with its progress while the background job
runs and, once done, its manifest (who, when, parameters, row counts, the SHA-256 of the data it read) and
the files stored under VAR_DIR/reports/<id>/."""

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _


class Report(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("生成中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("区划"))
    period_start = models.DateField(_("统计期起始日"))
    period_end = models.DateField(_("统计期截止日"))
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(_("进度（%）"), default=0)
    stage = models.CharField(_("当前步骤"), max_length=60, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name=_("发起人"),
    )
    requested_at = models.DateTimeField(_("发起时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    data_hash = models.CharField(_("数据摘要（SHA-256）"), max_length=64, blank=True)
    manifest = models.JSONField(_("清单"), default=dict, blank=True)
    error = models.TextField(_("错误"), blank=True)
    task_id = models.CharField(_("后台任务编号"), max_length=64, blank=True)
    # The files are written in the language of the person who asked for them (the content is language-free).
    language = models.CharField(
        _("文件语言"), max_length=10, choices=settings.LANGUAGES, default=settings.LANGUAGE_CODE
    )

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("成效考核报告")
        verbose_name_plural = _("成效考核报告")
        ordering = ["-requested_at", "-id"]
        indexes = [
            models.Index(fields=["region", "-requested_at"], name="report_region_requested_idx"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="report_period_end_after_start"
            ),
            models.CheckConstraint(condition=Q(progress__lte=100), name="report_progress_at_most_100"),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_id}

    @property
    def finished(self) -> bool:
        return self.status in (self.Status.SUCCEEDED, self.Status.FAILED)
