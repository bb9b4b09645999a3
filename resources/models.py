"""Assistance (帮扶措施, domain.md §5): the catalogue and the risk type → measure expectations (both data,
edited by administrators), the measures recorded for households, outcome observations over time, and
risk elimination (风险消除, domain.md §4) with its review chain and returns to monitoring."""

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class AssistanceCategory(models.Model):
    """One of the fourteen categories the national system records (产业帮扶 … 基础设施建设)."""

    code = models.CharField(_("代码"), max_length=4, primary_key=True)
    name = models.CharField(_("名称"), max_length=40, unique=True)
    development = models.BooleanField(
        _("开发式"), default=False, help_text=_("产业、就业、金融、公益岗位等开发式帮扶")
    )
    description = models.TextField(_("说明"), blank=True)
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("帮扶类别")
        verbose_name_plural = _("帮扶类别")
        ordering = ["sort_order", "code"]

    def __str__(self) -> str:
        return self.name


class AssistanceSubtype(models.Model):
    """A sub-type of a category (小额信贷 under 金融帮扶), with its limits as attributes:
    max_amount (yuan), max_months, person_required, member_condition ("disabled")."""

    code = models.CharField(_("代码"), max_length=6, primary_key=True)
    category = models.ForeignKey(
        AssistanceCategory, on_delete=models.PROTECT, related_name="subtypes", verbose_name=_("类别")
    )
    name = models.CharField(_("名称"), max_length=40)
    description = models.TextField(_("说明"), blank=True)
    attributes = models.JSONField(_("属性"), default=dict, blank=True, help_text=_("如金额上限、期限上限"))
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("帮扶子类")
        verbose_name_plural = _("帮扶子类")
        ordering = ["category__sort_order", "sort_order", "code"]
        constraints = [models.UniqueConstraint(fields=["category", "name"], name="subtype_name_unique_in_category")]

    def __str__(self) -> str:
        return f"{self.category.name}·{self.name}"


class ExpectedMeasure(models.Model):
    """What a risk type calls for: a measure of one of `categories` (and, if given, of one of `subtypes`).

    Mandatory expectations are plan checks; `condition` narrows one to households where it applies."""

    class Condition(models.TextChoices):
        ALWAYS = "", _("总是")
        SEVERE_DISABILITY = "severe_disability", _("家中有一、二级残疾人")

    risk_type = models.CharField(_("风险类型"), max_length=4)
    name = models.CharField(_("名称"), max_length=40)
    # Comma-wrapped codes like Household.risk_types (",06,07,").
    categories = models.CharField(_("帮扶类别"), max_length=60)
    subtypes = models.CharField(_("帮扶子类"), max_length=60, blank=True)
    mandatory = models.BooleanField(_("必须落实"), default=False)
    condition = models.CharField(
        _("适用条件"), max_length=30, choices=Condition.choices, default=Condition.ALWAYS, blank=True
    )
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)

    class Meta:
        verbose_name = _("风险对应措施")
        verbose_name_plural = _("风险对应措施")
        ordering = ["risk_type", "sort_order", "id"]
        constraints = [models.UniqueConstraint(fields=["risk_type", "name"], name="expected_measure_unique")]

    def __str__(self) -> str:
        return f"{self.risk_type} → {self.name}"


class AssistanceMeasure(models.Model):
    class Status(models.TextChoices):
        IMPLEMENTED = "implemented", _("已实施")
        PLANNED = "planned", _("尚未实施")

    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    person = models.ForeignKey(
        "households.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("帮扶对象（成员）"),
    )
    # Kept when the member later leaves the household file (person becomes NULL).
    person_name = models.CharField(_("成员姓名"), max_length=50, blank=True)
    category = models.ForeignKey(
        AssistanceCategory, on_delete=models.PROTECT, related_name="+", verbose_name=_("帮扶类别")
    )
    subtype = models.ForeignKey(
        AssistanceSubtype, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("帮扶子类"),
    )
    amount = models.DecimalField(_("金额（元）"), max_digits=12, decimal_places=2, default=Decimal("0"))
    funding_source = models.CharField(_("资金来源"), max_length=100, blank=True)
    start_date = models.DateField(_("开始日期"))
    end_date = models.DateField(_("结束日期"), null=True, blank=True)
    responsible_unit = models.CharField(_("责任单位"), max_length=100, blank=True)
    helper_name = models.CharField(_("帮扶责任人"), max_length=50, blank=True)
    helper_unit = models.CharField(_("帮扶责任人单位"), max_length=100, blank=True)
    helper_phone = models.CharField(_("帮扶责任人电话"), max_length=20, blank=True)
    risk_types = models.CharField(_("针对的风险类型"), max_length=40, blank=True)
    status = models.CharField(_("实施状态"), max_length=12, choices=Status.choices, default=Status.PLANNED)
    note = models.TextField(_("备注"), blank=True)
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("录入人"),
    )
    created_at = models.DateTimeField(_("录入时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    region_lookup = "household__village_id"

    class Meta:
        verbose_name = _("帮扶措施")
        verbose_name_plural = _("帮扶措施")
        ordering = ["household_id", "-start_date", "-id"]
        indexes = [
            # The household page and the set-based checks read a household's (or many households') measures.
            models.Index(fields=["household", "start_date"], name="measure_household_start_idx"),
            models.Index(fields=["category", "subtype"], name="measure_category_idx"),
        ]
        constraints = [
            models.CheckConstraint(condition=Q(amount__gte=0), name="measure_amount_not_negative"),
            models.CheckConstraint(
                condition=Q(end_date__isnull=True) | Q(end_date__gte=models.F("start_date")),
                name="measure_ends_after_start",
            ),
        ]

    def __str__(self) -> str:
        kind = self.subtype.name if self.subtype_id else self.category.name
        return f"{self.household} {kind} {self.start_date:%Y-%m-%d}"

    def audit_context(self) -> dict:
        return {"region_code": self.household.village_id, "household_id": self.household_id}

    @property
    def risk_type_codes(self) -> list[str]:
        return [code for code in self.risk_types.split(",") if code]


class OutcomeObservation(models.Model):
    """One indicator of one household on one date, traced to the data it was read from."""

    class Indicator(models.TextChoices):
        PER_CAPITA_INCOME = "per_capita_income", _("人均纯收入")
        MEMBERS_WORKING = "members_working", _("务工就业人数")
        CHILDREN_ENROLLED = "children_enrolled", _("义务教育阶段适龄儿童在校")
        MEDICAL_INSURANCE = "medical_insurance", _("全员参加基本医疗保险")
        HOUSING_SAFE = "housing_safe", _("住房安全")
        WATER_SAFE = "water_safe", _("饮水安全")

    class Source(models.TextChoices):
        HOUSEHOLD_FILE = "household_file", _("户档案")
        INCOME_SURVEY = "income_survey", _("收支调查")
        DEPARTMENT = "department", _("部门数据")

    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    indicator = models.CharField(_("指标"), max_length=24, choices=Indicator.choices)
    observed_on = models.DateField(_("观测日期"))
    value = models.DecimalField(_("值"), max_digits=14, decimal_places=2)
    base = models.DecimalField(
        _("基数"), max_digits=14, decimal_places=2, null=True, blank=True,
        help_text=_("如适龄儿童人数、家庭成员人数；收入为当年监测标准"),
    )
    target_met = models.BooleanField(_("达标"), null=True, blank=True)
    detail = models.CharField(_("说明"), max_length=200, blank=True)
    source = models.CharField(_("来源"), max_length=16, choices=Source.choices)
    source_model = models.CharField(_("来源记录类型"), max_length=60, blank=True)
    source_record_id = models.BigIntegerField(_("来源记录"), null=True, blank=True)
    batch = models.ForeignKey(
        "exchange.ImportBatch", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("来源批次"),
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("观测人"),
    )
    recorded_at = models.DateTimeField(_("记录时间"), auto_now=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("成效观测")
        verbose_name_plural = _("成效观测")
        ordering = ["household_id", "indicator", "observed_on"]
        indexes = [
            models.Index(fields=["region_code", "indicator", "observed_on"], name="outcome_region_idx",
                         opclasses=["varchar_pattern_ops", "", ""]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["household", "indicator", "observed_on"], name="outcome_once_per_household_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household_id} {self.get_indicator_display()} {self.observed_on:%Y-%m-%d}"


class EliminationCase(models.Model):
    """风险消除: application → 乡镇审核 → 县级审定, the same chain as identification. Never deleted."""

    class Status(models.TextChoices):
        APPLIED = "applied", _("已申请")
        TOWNSHIP_APPROVED = "township_approved", _("乡镇审核通过")
        APPROVED = "approved", _("县级审定：风险消除")
        REJECTED = "rejected", _("不予消除")

    class Method(models.TextChoices):
        ASSISTED = "assisted", _("帮扶消除")
        NATURAL = "natural", _("自然消除")

    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    status = models.CharField(_("状态"), max_length=20, choices=Status.choices, default=Status.APPLIED)
    method = models.CharField(_("消除方式"), max_length=10, choices=Method.choices)
    visit_date = models.DateField(_("入户核实日期"))
    application_reason = models.TextField(_("申请理由"))
    applied_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("申请人"),
    )
    applied_at = models.DateTimeField(_("申请时间"))
    notice_from = models.DateField(_("村内公示开始"), null=True, blank=True)
    notice_to = models.DateField(_("村内公示结束"), null=True, blank=True)
    township_reason = models.TextField(_("乡镇审核意见"), blank=True)
    township_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("乡镇审核人"),
    )
    township_at = models.DateTimeField(_("乡镇审核时间"), null=True, blank=True)
    decision_reason = models.TextField(_("县级审定意见"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("审定人"),
    )
    decided_at = models.DateTimeField(_("审定时间"), null=True, blank=True)
    conditions = models.JSONField(_("消除条件核查结果"), default=list)
    status_change = models.ForeignKey(
        "households.StatusChange", on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("状态变更记录"),
    )
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("风险消除")
        verbose_name_plural = _("风险消除")
        ordering = ["-applied_at", "-id"]
        indexes = [
            models.Index(fields=["region_code", "status"], name="elimination_region_status_idx",
                         opclasses=["varchar_pattern_ops", ""]),
            models.Index(fields=["household", "status"], name="elimination_household_idx"),
            # The review list, newest first, a page at a time (resources.selectors.elimination_page).
            models.Index(fields=["-applied_at", "-id"], name="elimination_applied_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["household"], condition=Q(status__in=["applied", "township_approved"]),
                name="one_open_elimination_per_household",
            ),
            models.CheckConstraint(
                condition=~Q(status="approved") | Q(decided_at__isnull=False), name="elimination_approval_dated"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.get_status_display()}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code, "household_id": self.household_id}


class EliminationEvent(models.Model):
    """Every step of an elimination, with who, when, why and the conditions as they were then."""

    case = models.ForeignKey(
        EliminationCase, on_delete=models.PROTECT, related_name="events", verbose_name=_("风险消除")
    )
    from_status = models.CharField(_("原状态"), max_length=20, blank=True)
    to_status = models.CharField(_("新状态"), max_length=20)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("操作人"),
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    note = models.TextField(_("说明"), blank=True)

    class Meta:
        verbose_name = _("风险消除办理记录")
        verbose_name_plural = _("风险消除办理记录")
        ordering = ["case_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.from_status}→{self.to_status}"


class MonitoringReturn(models.Model):
    """A household that came back into monitoring after its risk was eliminated (返贫致贫)."""

    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    elimination = models.OneToOneField(
        EliminationCase, on_delete=models.PROTECT, related_name="return_record", verbose_name=_("此前的风险消除")
    )
    status_change = models.OneToOneField(
        "households.StatusChange", on_delete=models.PROTECT, related_name="+", verbose_name=_("重新纳入监测记录")
    )
    eliminated_on = models.DateField(_("风险消除日期"))
    returned_on = models.DateField(_("重新纳入监测日期"))
    recorded_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("返贫致贫记录")
        verbose_name_plural = _("返贫致贫记录")
        ordering = ["-returned_on", "-id"]
        indexes = [models.Index(fields=["household"], name="return_household_idx")]

    def __str__(self) -> str:
        return f"{self.household} {self.returned_on:%Y-%m-%d}"
