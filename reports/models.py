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


class DashboardSnapshot(models.Model):
    """The dashboard's numbers for one region and period, computed by a background job (reports.dashboards)
    and read by the page: opening a dashboard never computes anything.

    A change that moves the numbers (an import, a scoring run, a decision, an assistance measure, an
    elimination; povertycloud.changes) sets changed_at and queues one refresh; the row keeps its last content
    while the refresh runs, so the page shows it with its age and says that an update is on its way."""

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("更新中")
        READY = "ready", _("已更新")
        FAILED = "failed", _("失败")

    region = models.ForeignKey("regions.Region", on_delete=models.CASCADE, related_name="+", verbose_name=_("区划"))
    period_start = models.DateField(_("统计期起始日"))
    period_end = models.DateField(_("统计期截止日"))
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    # What the page draws (headline numbers, township and month series), in the source language; empty until
    # the first refresh has finished.
    content = models.JSONField(_("内容"), default=dict, blank=True)
    data_hash = models.CharField(_("数据摘要（SHA-256）"), max_length=64, blank=True)
    computed_at = models.DateTimeField(_("数据更新时间"), null=True, blank=True)
    compute_seconds = models.FloatField(_("计算用时（秒）"), null=True, blank=True)
    queued_at = models.DateTimeField(_("排队时间"), null=True, blank=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    # The last change announced for the region (or a region above or below it) since which the content may
    # be out of date; a refresh that started before it leaves the row queued for another one.
    changed_at = models.DateTimeField(_("数据变更时间"), null=True, blank=True)
    # When someone last opened it (written at most once an hour): opened dashboards are kept fresh.
    viewed_at = models.DateTimeField(_("最近查看时间"), null=True, blank=True)
    error = models.TextField(_("错误"), blank=True)
    task_id = models.CharField(_("后台任务编号"), max_length=64, blank=True)

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("指标快照")
        verbose_name_plural = _("指标快照")
        constraints = [
            models.UniqueConstraint(fields=["region", "period_start", "period_end"], name="dashboard_snapshot_unique"),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")), name="dashboard_snapshot_end_after_start"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region_id} {self.period_start:%Y-%m-%d}–{self.period_end:%Y-%m-%d}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_id}

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
