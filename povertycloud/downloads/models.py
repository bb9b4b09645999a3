"""A file prepared in the background for one user (an export), kept for DOWNLOAD_RETENTION_HOURS."""

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class Download(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("生成中")
        SUCCEEDED = "succeeded", _("可下载")
        FAILED = "failed", _("失败")
        EXPIRED = "expired", _("已过期")

    kind = models.CharField(_("类型"), max_length=64)
    parameters = models.JSONField(_("参数"), default=dict, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="downloads", verbose_name=_("申请人")
    )
    region_code = models.CharField(_("区划代码"), max_length=12, blank=True)
    language = models.CharField(max_length=16, blank=True)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(_("进度"), default=0)
    stage = models.CharField(_("阶段"), max_length=100, blank=True)
    file_name = models.CharField(_("文件名"), max_length=200, blank=True)
    stored_path = models.CharField(max_length=300, blank=True)  # relative to VAR_DIR/downloads
    size = models.BigIntegerField(_("大小（字节）"), null=True, blank=True)
    sha256 = models.CharField(max_length=64, blank=True)
    task_id = models.CharField(max_length=64, blank=True)
    # How often the cleanup queued it again because its task had vanished (services.recover_vanished_downloads).
    requeued = models.PositiveSmallIntegerField(_("重新排队次数"), default=0)
    created_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    expires_at = models.DateTimeField(_("过期时间"), null=True, blank=True)
    fetched_at = models.DateTimeField(_("首次下载时间"), null=True, blank=True)
    error = models.TextField(_("错误"), blank=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("下载")
        verbose_name_plural = _("下载")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["requested_by", "-created_at"], name="download_user_created_idx"),
            # The header's badge: the user's finished files not yet fetched.
            models.Index(fields=["requested_by", "status", "fetched_at"], name="download_user_ready_idx"),
            models.Index(fields=["status", "expires_at"], name="download_status_expires_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        # Every download has a region, so the 我的下载 list can go through the region scope: the requester's
        # own where the producer names none (an administrator without a region keeps none).
        if not self.region_code and self.requested_by_id:
            self.region_code = getattr(self.requested_by, "region_id", None) or ""
        super().save(*args, **kwargs)

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)
