"""A declared department feed (DepartmentFeed) with its columns (FeedColumn), and the records of every declared
feed (DeclaredRecord: the shared SourceRecord fields, and the declared columns in ``data``)."""

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Left
from django.utils.translation import gettext_lazy as _

from exchange.declarations import Kind
from exchange.models import BatchRangeIndex, SourceRecord

SLUG_PATTERN = r"^[a-z][a-z0-9_]{1,39}$"
KEY_PATTERN = r"^[a-z][a-z0-9_]{0,39}$"
COUNTY_DIGITS = 6

KIND_LABELS = {
    Kind.ID_NUMBER: _("证件号码"),
    Kind.TEXT: _("文本"),
    Kind.CODE: _("代码（数据字典）"),
    Kind.DATE: _("日期"),
    Kind.AMOUNT: _("金额"),
    Kind.INTEGER: _("整数"),
    Kind.FLAG: _("是/否"),
    Kind.PERIOD: _("统计期（YYYY-MM）"),
    Kind.DISABILITY_CERTIFICATE: _("残疾证号"),
}


class DepartmentFeed(models.Model):
    """One department's file as an administrator declares it: what it is called, whether each file is the whole
    list (those missing are no longer listed) and which columns it has (FeedColumn)."""

    slug = models.CharField(
        _("部门代码"), max_length=40, unique=True,
        validators=[RegexValidator(SLUG_PATTERN, _("部门代码由小写字母、数字和下划线组成，以字母开头，2–40 个字符。"))],
        help_text=_("文件、接口和预警规则用它指称本部门，例如 public_security_deaths。"),
    )
    name = models.CharField(_("名称"), max_length=60)
    name_en = models.CharField(_("英文名称"), max_length=100, blank=True)
    description = models.TextField(_("说明"), blank=True)
    full_snapshot = models.BooleanField(
        _("每期全量报送"), default=True, help_text=_("是：文件中没有的人视为不再在册；否：文件只含变化。")
    )
    active = models.BooleanField(_("启用"), default=True)
    version = models.PositiveIntegerField(_("声明版本"), default=1)
    created_at = models.DateTimeField(_("声明时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("修改人"),
    )

    class Meta:
        verbose_name = _("部门声明")
        verbose_name_plural = _("部门声明")
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name}（{self.slug}）"


class FeedColumn(models.Model):
    """One column of a declared feed: the header as the department writes it, the key rules and features use,
    how it is read (kind, code table) and checked (required, limits)."""

    feed = models.ForeignKey(DepartmentFeed, on_delete=models.CASCADE, related_name="columns", verbose_name=_("部门"))
    position = models.PositiveSmallIntegerField(_("顺序"), default=0)
    column = models.CharField(_("列名（表头）"), max_length=60)
    label_en = models.CharField(_("英文列名"), max_length=100, blank=True)
    key = models.CharField(
        _("字段代码"), max_length=40,
        validators=[RegexValidator(KEY_PATTERN, _("字段代码由小写字母、数字和下划线组成，以字母开头。"))],
        help_text=_("证件号码列的代码为 id_number，姓名列为 name，统计期列为 period。"),
    )
    kind = models.CharField(_("类型"), max_length=24, choices=[(k.value, label) for k, label in KIND_LABELS.items()])
    required = models.BooleanField(_("必填"), default=False)
    codeset = models.ForeignKey(
        "households.CodeSet", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("代码集"), help_text=_("类型为代码时必填"),
    )
    min_value = models.DecimalField(_("下限"), max_digits=14, decimal_places=2, null=True, blank=True)
    max_value = models.DecimalField(_("上限"), max_digits=14, decimal_places=2, null=True, blank=True)
    max_length = models.PositiveSmallIntegerField(_("最大长度"), default=100)
    required_when = models.CharField(
        _("何时必填"), max_length=40, blank=True, help_text=_("另一个是/否列的字段代码：该列为“是”时本列必填")
    )
    sensitive = models.BooleanField(
        _("健康等敏感信息"), default=False, help_text=_("是：无权查看健康信息的角色在页面和导出中看到“已隐藏”")
    )

    class Meta:
        verbose_name = _("部门声明的列")
        verbose_name_plural = _("部门声明的列")
        ordering = ["feed", "position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["feed", "key"], name="feed_column_key_once"),
            models.UniqueConstraint(fields=["feed", "column"], name="feed_column_header_once"),
        ]

    def __str__(self) -> str:
        return f"{self.column}（{self.key}）"


class DeclaredRecord(SourceRecord):
    """One version of what a declared department said about a person. ``department`` is the feed's slug (the
    same name ImportBatch.department carries); the declared columns other than ID number and name are in
    ``data``, keyed by their field codes (dates as ISO text, amounts as numbers, flags as true/false)."""

    department = models.CharField(_("部门"), max_length=40)
    period = models.CharField(_("统计期"), max_length=7, blank=True)
    data = models.JSONField(_("内容"), default=dict)

    class Meta:
        verbose_name = _("声明部门记录")
        verbose_name_plural = _("声明部门记录")
        indexes = [
            models.Index(fields=["department", "id_number", "valid_from"], name="declared_dept_id_valid_idx"),
            models.Index(fields=["person"], name="declared_person_idx"),
            BatchRangeIndex(fields=["batch"], name="declared_batch_idx"),
            models.Index(fields=["region_code"], name="declared_region_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(
                fields=["closed_by"], condition=Q(closed_by__isnull=False), name="declared_closed_by_idx"
            ),
        ]
        constraints = [
            models.UniqueConstraint(
                models.F("department"),
                models.F("id_number"),
                Left("region_code", COUNTY_DIGITS),
                condition=Q(valid_to__isnull=True),
                name="declared_one_current_per_person_county",
            )
        ]
