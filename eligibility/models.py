"""Cross-checks declared as data, their runs and their hits (each verified by an official)."""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class CrossCheck(models.Model):
    """One eligibility check (比对规则): who is checked (subject), against which department's records, under
    which condition, and what a confirmed hit leads to (outcome). Administrators declare and edit them."""

    class Subject(models.TextChoices):
        MEMBERS = "members", _("户档案在册成员")
        MONITORED = "monitored", _("监测对象家庭成员")
        ASSISTED = "assisted", _("享受帮扶的家庭成员")
        MEASURES = "measures", _("帮扶措施（资金发放）")
        PAYMENT_LIST = "payment_list", _("部门发放名单")

    class Condition(models.TextChoices):
        HAS_RECORD = "has_record", _("在该部门有当前记录")
        VALUE_IN = "value_in", _("字段取值属于")
        VALUE_GTE = "value_gte", _("字段不小于")
        FLAG_TRUE = "flag_true", _("字段为是")
        PAID_AFTER_DATE = "paid_after_date", _("发放日期晚于该部门记录的日期")
        NOT_IN_REGISTRY = "not_in_registry", _("不在户档案中")

    class Outcome(models.TextChoices):
        EXIT_REVIEW = "exit_review", _("转入退出或标注审核")
        PAYMENT_RECOVERY = "payment_recovery", _("转入资金追回")

    code = models.SlugField(_("比对代码"), max_length=60, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    name_en = models.CharField(_("英文名称"), max_length=150, blank=True)
    description = models.TextField(_("说明"), blank=True)
    subject = models.CharField(_("比对对象"), max_length=20, choices=Subject.choices)
    department = models.CharField(_("比对部门"), max_length=40, help_text=_("提供证据记录的部门代码"))
    condition = models.CharField(_("条件"), max_length=20, choices=Condition.choices)
    field = models.CharField(_("字段"), max_length=40, blank=True, help_text=_("条件用到的字段代码"))
    values = models.CharField(_("取值"), max_length=200, blank=True, help_text=_("“字段取值属于”的取值，逗号分隔"))
    threshold = models.DecimalField(_("阈值"), max_digits=14, decimal_places=2, null=True, blank=True)
    payment_department = models.CharField(
        _("发放名单部门"), max_length=40, blank=True, help_text=_("比对对象为部门发放名单时，名单所在部门的代码")
    )
    payment_date_field = models.CharField(_("发放日期字段"), max_length=40, blank=True)
    payment_amount_field = models.CharField(_("发放金额字段"), max_length=40, blank=True)
    outcome = models.CharField(_("核实属实后"), max_length=20, choices=Outcome.choices)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("比对规则")
        verbose_name_plural = _("比对规则")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class CrossCheckRun(models.Model):
    """One run of the active checks over a county on a date."""

    county_code = models.CharField(_("县区划代码"), max_length=12)
    as_of = models.DateField(_("比对日期"))
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("发起人"),
    )
    hits_found = models.PositiveIntegerField(_("发现疑点"), default=0)
    hits_new = models.PositiveIntegerField(_("新增疑点"), default=0)
    by_check = models.JSONField(_("各规则疑点数"), default=dict, blank=True)

    region_lookup = "county_code"

    class Meta:
        verbose_name = _("比对运行")
        verbose_name_plural = _("比对运行")
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["county_code", "-started_at"], name="crosscheck_run_county_idx")]

    def __str__(self) -> str:
        return f"{self.county_code} {self.as_of}"


class CrossCheckHit(models.Model):
    """A person (or a payee) a check found, with the evidence, until an official verifies it.

    One hit per check, ID number and evidence record: a later run finds the same hit again (last_seen_run) and a
    dismissed hit stays dismissed. Confirmed hits go to the check's outcome (exit review or payment recovery),
    which people carry out; nothing here changes a household."""

    class Status(models.TextChoices):
        PENDING = "pending", _("待核实")
        CONFIRMED = "confirmed", _("核实属实")
        DISMISSED = "dismissed", _("核实排除")

    cross_check = models.ForeignKey(
        CrossCheck, on_delete=models.PROTECT, related_name="hits", verbose_name=_("比对规则")
    )
    first_run = models.ForeignKey(
        CrossCheckRun, on_delete=models.PROTECT, related_name="+", verbose_name=_("首次发现")
    )
    last_run = models.ForeignKey(
        CrossCheckRun, on_delete=models.PROTECT, related_name="+", verbose_name=_("最近发现")
    )
    township_code = models.CharField(_("乡镇区划代码"), max_length=12)
    region_code = models.CharField(_("区划代码"), max_length=12)
    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("户"),
    )
    person = models.ForeignKey(
        "households.Person", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("人员"),
    )
    id_number = models.CharField(_("证件号码"), max_length=18)
    name = models.CharField(_("姓名"), max_length=50, blank=True)
    # The evidence: the department record (its table and id) and the batch that brought it (来源可溯).
    evidence_department = models.CharField(_("证据部门"), max_length=40)
    evidence_record_id = models.BigIntegerField(_("证据记录"))
    evidence_batch = models.ForeignKey(
        "exchange.ImportBatch", on_delete=models.PROTECT, related_name="+", verbose_name=_("证据批次")
    )
    # For payment checks: the payment (an assistance measure or a payment-list record), its date and amount.
    payment_kind = models.CharField(_("发放记录类型"), max_length=20, blank=True)
    payment_id = models.BigIntegerField(_("发放记录"), default=0, help_text=_("0：不是发放比对"))
    payment_date = models.DateField(_("发放日期"), null=True, blank=True)
    amount = models.DecimalField(_("金额（元）"), max_digits=14, decimal_places=2, null=True, blank=True)
    detail = models.CharField(_("疑点说明"), max_length=300, blank=True)
    status = models.CharField(_("核实状态"), max_length=12, choices=Status.choices, default=Status.PENDING)
    outcome = models.CharField(_("后续处理"), max_length=20, choices=CrossCheck.Outcome.choices, blank=True)
    reason = models.TextField(_("核实说明"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("核实人"),
    )
    decided_at = models.DateTimeField(_("核实时间"), null=True, blank=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("比对疑点")
        verbose_name_plural = _("比对疑点")
        ordering = ["township_code", "cross_check_id", "id"]
        indexes = [
            models.Index(fields=["township_code", "status"], name="crosscheck_hit_township_idx"),
            models.Index(fields=["region_code"], name="crosscheck_hit_region_idx", opclasses=["varchar_pattern_ops"]),
            models.Index(fields=["cross_check", "status"], name="crosscheck_hit_check_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["cross_check", "id_number", "evidence_record_id", "payment_kind", "payment_id"],
                name="crosscheck_hit_once",
            ),
            models.CheckConstraint(
                condition=~Q(status="dismissed") | ~Q(reason=""), name="crosscheck_dismissal_has_reason"
            ),
            models.CheckConstraint(
                condition=Q(status="pending") | Q(decided_at__isnull=False), name="crosscheck_decision_has_time"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.cross_check_id} {self.id_number[:6]}…"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code}
