"""Import batches and department source records.

A source record is one department's statement about one person (keyed by ID number) in one batch. Records
keep their history: when a later batch says something different, the current version is closed
(valid_to) and a new one opened, so "what did civil affairs say about this person on date D, and which
batch said it" can always be answered. The department record models live in exchange.departments, imported at
the end of this module so that Django registers them in this app.

The tables keep the names they had when this app was part of households (db_table), so a database built
before the move keeps its batches and records: the migrations move the models' state only.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class ImportBatch(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", _("已接收")
        RUNNING = "running", _("导入中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    department = models.CharField(_("部门"), max_length=40)
    file_name = models.CharField(_("文件名"), max_length=255)
    stored_file = models.CharField(_("存储路径"), max_length=500, blank=True)
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    size_bytes = models.BigIntegerField(_("文件大小（字节）"), default=0)
    file_format = models.CharField(_("格式"), max_length=10)
    encoding = models.CharField(_("编码"), max_length=20, blank=True)
    period = models.CharField(_("统计期"), max_length=7, blank=True, help_text=_("YYYY-MM"))
    period_start = models.DateField(_("统计期起始日"), null=True, blank=True)
    region_code = models.CharField(_("区划代码"), max_length=12)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("上传人"),
    )
    uploaded_at = models.DateTimeField(_("上传时间"), auto_now_add=True)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.RECEIVED)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    total_rows = models.PositiveIntegerField(_("总行数"), default=0)
    accepted_rows = models.PositiveIntegerField(_("接收行数"), default=0)
    rejected_rows = models.PositiveIntegerField(_("拒收行数"), default=0)
    new_versions = models.PositiveIntegerField(_("新增或变更记录"), default=0)
    closed_versions = models.PositiveIntegerField(_("终止记录"), default=0)
    linked_rows = models.PositiveIntegerField(_("已关联到人"), default=0)
    unlinked_rows = models.PositiveIntegerField(_("未关联到人"), default=0)
    error = models.TextField(_("错误"), blank=True)
    note = models.TextField(_("说明"), blank=True, help_text=_("忽略的列、跳过的空行、新增和变更的记录数"))

    region_lookup = "region_code"

    class Meta:
        db_table = "households_importbatch"  # the table it had before the app moved out of households
        verbose_name = _("导入批次")
        verbose_name_plural = _("导入批次")
        ordering = ["-uploaded_at", "-id"]
        indexes = [
            models.Index(fields=["department", "sha256"], name="batch_department_sha_idx"),
            models.Index(
                fields=["region_code"], name="batch_region_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
        ]
        constraints = [
            # The same file (by content) is loaded once per department and region.
            models.UniqueConstraint(
                fields=["department", "sha256", "region_code"],
                condition=Q(status="succeeded"),
                name="batch_file_loaded_once",
            ),
            models.CheckConstraint(
                condition=~Q(status="succeeded")
                | Q(total_rows=models.F("accepted_rows") + models.F("rejected_rows")),
                name="batch_accepted_plus_rejected_is_total",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} {self.file_name}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code}


class RejectedRow(models.Model):
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="rejected", verbose_name=_("批次")
    )
    row_number = models.PositiveIntegerField(_("行号"), help_text=_("数据行序号，第 1 行是表头下的第一行"))
    values = models.JSONField(_("原始内容"))
    reasons = models.JSONField(_("拒收原因"))

    region_lookup = "batch__region_code"

    class Meta:
        db_table = "households_rejectedrow"  # the table it had before the app moved out of households
        verbose_name = _("拒收行")
        verbose_name_plural = _("拒收行")
        ordering = ["batch_id", "row_number"]
        indexes = [models.Index(fields=["batch", "row_number"], name="rejected_batch_row_idx")]

    def __str__(self) -> str:
        return f"{self.batch_id} 第 {self.row_number} 行"


class SourceRecord(models.Model):
    """Fields every department's records share. Concrete models add the department's own fields."""

    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="+", verbose_name=_("来源批次")
    )
    row_number = models.PositiveIntegerField(_("行号"))
    id_number = models.CharField(_("证件号码"), max_length=18)
    name = models.CharField(_("姓名"), max_length=50)
    person = models.ForeignKey(
        "households.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("关联人员"), db_constraint=False,
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    row_hash = models.CharField(_("内容摘要"), max_length=32)
    valid_from = models.DateField(_("生效日期"))
    valid_to = models.DateField(_("失效日期"), null=True, blank=True)

    region_lookup = "region_code"

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.name} {self.id_number[:6]}…"


class LinkCandidate(models.Model):
    """A person in the household file who may be the one an unlinked department record is about.

    Found by linkage.find_candidates; decided by an official of the person's township or county staff.
    One row per (department, record ID number, person): a dismissal stays dismissed when the finder runs
    again.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("待确认")
        CONFIRMED = "confirmed", _("已确认")
        DISMISSED = "dismissed", _("已排除")
        SUPERSEDED = "superseded", _("已失效")

    class Match(models.TextChoices):
        SUBSTITUTION = "substitution", _("证件号码一位不同")
        TRANSPOSITION = "transposition", _("证件号码相邻两位颠倒")
        NAME_BIRTH = "name_birth", _("姓名和出生日期相同")

    department = models.CharField(_("部门"), max_length=40)
    id_number = models.CharField(_("部门记录证件号码"), max_length=18)
    record_name = models.CharField(_("部门记录姓名"), max_length=50)
    record_id = models.BigIntegerField(_("部门记录编号"))
    batch = models.ForeignKey(
        ImportBatch, on_delete=models.PROTECT, related_name="link_candidates", verbose_name=_("来源批次")
    )
    person = models.ForeignKey(
        "households.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("候选人员"), db_constraint=False,
    )
    # Comma-separated Match values: a candidate can be both a typo and a name + birth date match.
    matches = models.CharField(_("匹配依据"), max_length=60)
    region_code = models.CharField(_("区划代码"), max_length=12, help_text=_("候选人员所在村"))
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.PENDING)
    found_at = models.DateTimeField(_("发现时间"), auto_now_add=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("处理人"),
    )
    decided_at = models.DateTimeField(_("处理时间"), null=True, blank=True)
    reason = models.TextField(_("原因"), blank=True)

    region_lookup = "region_code"

    class Meta:
        db_table = "households_linkcandidate"  # the table it had before the app moved out of households
        verbose_name = _("关联候选")
        verbose_name_plural = _("关联候选")
        ordering = ["department", "id_number", "id"]
        indexes = [
            # The review page: one department's records by ID number, and pending candidates in a region.
            models.Index(fields=["department", "id_number"], name="candidate_department_id_idx"),
            models.Index(
                fields=["region_code"], name="candidate_region_prefix_idx", opclasses=["varchar_pattern_ops"]
            ),
            models.Index(fields=["batch", "status"], name="candidate_batch_status_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["department", "id_number", "person"], name="candidate_once_per_record_and_person"
            ),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(reason=""), name="candidate_dismissal_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(status="superseded") | Q(decided_at__isnull=False),
                name="candidate_decision_has_time",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.department} {self.id_number[:4]}…{self.id_number[-4:]} → {self.person_id}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code}

    @property
    def match_codes(self) -> list[str]:
        return [code for code in self.matches.split(",") if code]

    @property
    def match_labels(self) -> list[str]:
        labels = dict(self.Match.choices)
        return [str(labels.get(code, code)) for code in self.match_codes]


# The department record models are declared beside their departments; importing them registers them here.
from exchange.departments import (  # noqa: E402, F401
    CivilAffairsRecord,
    DisabilityRecord,
    EducationRecord,
    HealthRecord,
)
