"""Risk: department warning rules, model versions, scores with explanations, and the cases county staff decide.

The model and the rules propose; people decide. Nothing here changes a household's status except a case
decided 纳入监测 by county staff, through households.services.change_household_status.
"""

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class WarningRule(models.Model):
    """A department early-warning rule (部门筛查预警), declared as data: a field of a department's records
    compared with a threshold, for a population. Thresholds are per region (WarningThreshold)."""

    class Operator(models.TextChoices):
        GTE = "gte", "≥"
        GT = "gt", ">"
        IS_TRUE = "is_true", _("为是")
        IS_FALSE = "is_false", _("为否")
        WITHIN_DAYS = "within_days", _("距今天数不超过")
        STOPPED = "stopped", _("已停止")
        AT_LEAST_COUNT = "at_least_count", _("次数不少于")
        IN_VALUES = "in_values", _("取值属于")

    class Population(models.TextChoices):
        ALL = "all", _("所有人")
        LIFTED = "lifted", _("脱贫人口")
        MONITORED = "monitored", _("监测对象")
        OTHERS = "others", _("其他农村人口")
        NOT_LIFTED = "not_lifted", _("脱贫人口以外")
        NOT_MONITORED = "not_monitored", _("监测对象以外")
        COMPULSORY_AGE = "compulsory_age", _("义务教育阶段适龄儿童（6–15 岁）")

    code = models.SlugField(_("规则代码"), max_length=60, unique=True)
    name = models.CharField(_("名称"), max_length=100)
    department = models.CharField(_("部门"), max_length=40)
    field = models.CharField(_("字段"), max_length=60)
    operator = models.CharField(_("比较"), max_length=20, choices=Operator.choices)
    population = models.CharField(_("适用人群"), max_length=20, choices=Population.choices, default=Population.ALL)
    default_threshold = models.DecimalField(_("默认阈值"), max_digits=12, decimal_places=2, null=True, blank=True)
    values = models.CharField(
        _("取值"), max_length=200, blank=True, help_text=_("比较为“取值属于”时的代码或取值，逗号分隔，例如 C,D")
    )
    risk_type = models.CharField(_("对应风险类型"), max_length=4, blank=True)
    phrase = models.CharField(_("预警说明"), max_length=100, help_text=_("写给工作人员看的一句话"))
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("预警规则")
        verbose_name_plural = _("预警规则")
        ordering = ["department", "code"]

    def __str__(self) -> str:
        return self.name


class WarningThreshold(models.Model):
    """A rule's threshold for a region (a county, a city or a province); the nearest ancestor's applies."""

    rule = models.ForeignKey(WarningRule, on_delete=models.CASCADE, related_name="thresholds", verbose_name=_("规则"))
    region = models.ForeignKey("regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("区划"))
    value = models.DecimalField(_("阈值"), max_digits=12, decimal_places=2)

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("预警阈值")
        verbose_name_plural = _("预警阈值")
        constraints = [models.UniqueConstraint(fields=["rule", "region"], name="warning_threshold_per_region")]

    def __str__(self) -> str:
        return f"{self.rule} {self.region_id}: {self.value}"


class Warning(models.Model):
    """A rule fired for a person: which rule, the value, the source record and its batch."""

    rule = models.ForeignKey(WarningRule, on_delete=models.PROTECT, related_name="warnings", verbose_name=_("规则"))
    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    person = models.ForeignKey(
        "households.Person", on_delete=models.SET_NULL, null=True, blank=True, related_name="+",
        verbose_name=_("人员"),
    )
    value = models.CharField(_("值"), max_length=60)
    threshold = models.DecimalField(_("阈值"), max_digits=12, decimal_places=2, null=True, blank=True)
    department = models.CharField(_("部门"), max_length=40)
    source_record_id = models.BigIntegerField(_("来源记录"))
    batch = models.ForeignKey(
        "exchange.ImportBatch", on_delete=models.PROTECT, related_name="+", verbose_name=_("来源批次")
    )
    as_of = models.DateField(_("截至日期"))
    raised_at = models.DateTimeField(_("预警时间"), auto_now_add=True)
    region_code = models.CharField(_("区划代码"), max_length=12)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("预警")
        verbose_name_plural = _("预警")
        ordering = ["-raised_at"]
        indexes = [
            models.Index(fields=["household", "as_of"], name="warning_household_idx"),
            models.Index(fields=["region_code", "rule"], name="warning_region_rule_idx",
                         opclasses=["varchar_pattern_ops", ""]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "department", "source_record_id", "as_of"], name="warning_once_per_record_and_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} {self.value}"


class RiskModel(models.Model):
    """A trained model version, stored with everything needed to reproduce and judge it."""

    class Target(models.TextChoices):
        POOR_NOW = "poor_now", _("当前致贫可能性")
        RETURN = "return", _("12 个月内返贫（致贫）可能性")

    class Kind(models.TextChoices):
        XGBOOST = "xgboost", "XGBoost"
        LOGISTIC = "logistic", _("逻辑回归（基线）")
        RULES = "rules", _("仅预警规则（基线）")
        PMT = "pmt", _("代理家计调查 OLS（基线）")

    version = models.CharField(_("版本"), max_length=40, unique=True)
    target = models.CharField(_("预测目标"), max_length=20, choices=Target.choices)
    kind = models.CharField(_("模型类型"), max_length=20, choices=Kind.choices)
    data_cutoff = models.DateField(_("数据截止日期"))
    train_years = models.JSONField(_("训练年度"), default=list)
    test_year = models.PositiveSmallIntegerField(_("检验年度"), null=True, blank=True)
    features = models.JSONField(_("特征"), default=list)
    parameters = models.JSONField(_("参数"), default=dict)
    seed = models.IntegerField(_("随机种子"), default=0)
    data_hash = models.CharField(_("训练数据摘要"), max_length=64, blank=True)
    metrics = models.JSONField(_("评估指标"), default=dict)
    evaluation = models.JSONField(_("评估详情"), default=dict, help_text=_("校准曲线、分乡镇指标等"))
    artifact = models.BinaryField(_("模型文件"), editable=False)
    trained_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("训练人"),
    )
    trained_at = models.DateTimeField(_("训练时间"), auto_now_add=True)
    active = models.BooleanField(_("启用"), default=False)
    activated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("启用人"),
    )
    activated_at = models.DateTimeField(_("启用时间"), null=True, blank=True)
    # Whether the model beat the best of its baselines on held-out data (risk.training.BASELINE_METRIC);
    # null for models stored before it was recorded. One that did not is activated only by an override.
    beats_baseline = models.BooleanField(_("优于最佳基线"), null=True, blank=True)
    baseline_comparison = models.JSONField(_("与基线比较"), default=dict, blank=True)
    override_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("强制启用人"),
    )
    override_at = models.DateTimeField(_("强制启用时间"), null=True, blank=True)
    override_reason = models.TextField(_("强制启用理由"), blank=True)

    class Meta:
        verbose_name = _("风险模型")
        verbose_name_plural = _("风险模型")
        ordering = ["-trained_at"]
        constraints = [
            models.UniqueConstraint(fields=["target"], condition=Q(active=True), name="one_active_model_per_target"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.version}"


class ScoringRun(models.Model):
    as_of = models.DateField(_("截至日期"))
    poor_model = models.ForeignKey(RiskModel, on_delete=models.PROTECT, related_name="+", verbose_name=_("致贫模型"))
    # Null when the county had no active return model (one year of income): the run scored p_poor only.
    return_model = models.ForeignKey(
        RiskModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+", verbose_name=_("返贫模型")
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    started_at = models.DateTimeField(_("开始时间"), auto_now_add=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    households_scored = models.PositiveIntegerField(_("评分户数"), default=0)
    explained = models.PositiveIntegerField(_("附解释户数"), default=0)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("发起人"),
    )

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("评分批次")
        verbose_name_plural = _("评分批次")
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.as_of} {self.region_code}"


class RiskScore(models.Model):
    """One household's scores in one run. Every score names the models that made it (through its run).
    p_return is null when the run had no return model (a county with one year of income)."""

    class Level(models.TextChoices):
        HIGH = "high", _("高")
        MEDIUM = "medium", _("中")
        LOW = "low", _("低")

    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="scores", verbose_name=_("评分批次"))
    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    p_poor = models.FloatField(_("当前致贫概率"))
    p_return = models.FloatField(_("返贫概率"), null=True, blank=True)
    level = models.CharField(_("风险等级"), max_length=8, choices=Level.choices)
    factors = models.JSONField(_("主要因素"), default=list, help_text=_("[{'phrase': …, 'contribution': …}]"))

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("风险评分")
        verbose_name_plural = _("风险评分")
        indexes = [
            models.Index(fields=["run", "-p_return"], name="score_run_return_idx"),
            models.Index(fields=["run", "region_code", "-p_return"], name="score_run_region_idx"),
            # The risk list sorted by p_poor instead (risk.list_selectors.risk_page).
            models.Index(fields=["run", "-p_poor"], name="score_run_poor_idx"),
            models.Index(fields=["run", "region_code", "-p_poor"], name="score_run_region_poor_idx"),
        ]
        constraints = [models.UniqueConstraint(fields=["run", "household"], name="score_once_per_run")]

    def __str__(self) -> str:
        shown = self.p_return if self.p_return is not None else self.p_poor
        return f"{self.household_id} {shown:.2f}"


class RiskListTag(models.Model):
    """What the risk list filters on, stored in the shape its queries need (risk.list_tags): one narrow row
    per (score, tag) for the few households that carry it — a risk type (the household's own or of a warning
    raised in the run's region up to the run's date), a warning rule of one of its cases, its case status —
    with the score's region code, so a filter reads one index range (run, tag, region) of the user's region
    instead of scanning households, warnings or cases. Kept current by risk.list_tags."""

    run = models.ForeignKey(ScoringRun, on_delete=models.CASCADE, related_name="+", verbose_name=_("评分批次"))
    score = models.ForeignKey(RiskScore, on_delete=models.CASCADE, related_name="list_tags", verbose_name=_("评分"))
    # No foreign key: the row only mirrors the score's household for syncing by household.
    household_id = models.BigIntegerField(_("户"), db_index=True)
    region_code = models.CharField(_("区划代码"), max_length=12)
    tag = models.CharField(_("标记"), max_length=70)
    due_on = models.DateField(_("办结时限"), null=True, blank=True)
    # The score's probabilities (a score never changes once its run is done): a page filtered by a tag is
    # read from the tag's rows in the list's order and stops after one page, instead of walking the whole
    # run in that order and probing each score for the tag (a rare tag with no match read every score).
    p_poor = models.FloatField(_("当前致贫概率"), null=True, blank=True)
    p_return = models.FloatField(_("返贫概率"), null=True, blank=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("风险名单标记")
        verbose_name_plural = _("风险名单标记")
        indexes = [
            models.Index(fields=["run", "tag", "region_code"], name="list_tag_run_tag_region_idx"),
            models.Index(fields=["run", "tag", "-p_return", "-score"], name="list_tag_return_idx"),
            models.Index(fields=["run", "tag", "-p_poor", "-score"], name="list_tag_poor_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.score_id} {self.tag}"


class RiskCase(models.Model):
    """A household on the risk list, through review: 预警 → 核实中 → 纳入监测 or 排除 (domain.md §4)."""

    class Status(models.TextChoices):
        WARNED = "warned", _("预警")
        VERIFYING = "verifying", _("核实中")
        MONITORED = "monitored", _("纳入监测")
        EXCLUDED = "excluded", _("排除")

    household = models.ForeignKey(
        "households.Household", on_delete=models.PROTECT, related_name="+", verbose_name=_("户")
    )
    region_code = models.CharField(_("区划代码"), max_length=12)
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.WARNED)
    opened_on = models.DateField(_("首次预警日期"))
    due_on = models.DateField(_("办结时限"), help_text=_("首次预警后 15 天"))
    score = models.ForeignKey(
        RiskScore, on_delete=models.SET_NULL, null=True, blank=True, related_name="+", verbose_name=_("评分")
    )
    warning_rules = models.JSONField(_("触发的预警规则"), default=list)
    assigned_to = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("核实人"),
    )
    visit_date = models.DateField(_("入户核实日期"), null=True, blank=True)
    visit_notes = models.TextField(_("入户核实情况"), blank=True)
    consent_signed = models.BooleanField(_("已签署授权承诺"), default=False)
    monitoring_type = models.CharField(_("监测对象类别"), max_length=4, blank=True)
    risk_types = models.CharField(_("风险类型"), max_length=40, blank=True)
    decision_reason = models.TextField(_("决定理由"), blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("决定人"),
    )
    decided_at = models.DateTimeField(_("决定时间"), null=True, blank=True)
    created_at = models.DateTimeField(_("创建时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    region_lookup = "region_code"

    class Meta:
        verbose_name = _("风险核实")
        verbose_name_plural = _("风险核实")
        ordering = ["due_on", "id"]
        indexes = [
            models.Index(fields=["region_code", "status", "due_on"], name="case_region_status_idx",
                         opclasses=["varchar_pattern_ops", "", ""]),
            # The case list's default page: open cases by deadline, read in order until a page is full (a
            # county of a million people has some 20,000 open cases; without it each page sorts them all).
            models.Index(fields=["due_on", "id"], condition=Q(status__in=["warned", "verifying"]),
                         name="case_open_due_idx"),
        ]
        constraints = [
            # One open case per household: a new warning joins it instead of opening another.
            models.UniqueConstraint(
                fields=["household"],
                condition=Q(status__in=["warned", "verifying"]),
                name="one_open_case_per_household",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.get_status_display()}"

    def audit_context(self) -> dict:
        return {"region_code": self.region_code, "household_id": self.household_id}


class ReviewCapacity(models.Model):
    """How many households a township can verify at home in one review round (the top N of the risk list)."""

    region = models.OneToOneField(
        "regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("乡镇"), primary_key=True
    )
    households = models.PositiveIntegerField(_("每轮核实户数"), default=30)

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("核实能力")
        verbose_name_plural = _("核实能力")

    def __str__(self) -> str:
        return f"{self.region}: {self.households}"


class ReviewQuota(models.Model):
    """A county's own default review quota for townships without a ReviewCapacity row: a number of
    households per township and round, or a share of the township's households scored. County staff of the
    county edit it (risk.capacity.set_review_quota)."""

    region = models.OneToOneField(
        "regions.Region", on_delete=models.PROTECT, related_name="+", verbose_name=_("县"), primary_key=True
    )
    households = models.PositiveIntegerField(
        _("每个乡镇每轮核实户数"), null=True, blank=True, help_text=_("留空则按比例")
    )
    share = models.DecimalField(
        _("核实比例（占乡镇评分户数）"), max_digits=4, decimal_places=3, null=True, blank=True,
        help_text=_("0.001–1，例如 0.1 即 10%"),
    )
    updated_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("修改人"),
    )
    updated_at = models.DateTimeField(_("修改时间"), auto_now=True)

    region_lookup = "region_id"

    class Meta:
        verbose_name = _("县核实名额")
        verbose_name_plural = _("县核实名额")
        constraints = [
            models.CheckConstraint(
                condition=Q(share__isnull=True) | (Q(share__gt=0) & Q(share__lte=1)), name="review_quota_share_0_1"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region}: {self.households or '—'} / {self.share or '—'}"


class CaseEvent(models.Model):
    """Every state change of a case, with who, when and why (the audit trail has them too)."""

    case = models.ForeignKey(RiskCase, on_delete=models.PROTECT, related_name="events", verbose_name=_("核实"))
    from_status = models.CharField(_("原状态"), max_length=12, blank=True)
    to_status = models.CharField(_("新状态"), max_length=12)
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("操作人"),
    )
    at = models.DateTimeField(_("时间"), auto_now_add=True)
    note = models.TextField(_("说明"), blank=True)

    class Meta:
        verbose_name = _("核实记录")
        verbose_name_plural = _("核实记录")
        ordering = ["case_id", "at", "id"]

    def __str__(self) -> str:
        return f"{self.case_id} {self.from_status}→{self.to_status}"


class Job(models.Model):
    """A background job of the risk side (refreshing the risk list, training) while it is queued, runs and
    ends. At most one of each kind is queued or running at a time: the partial unique constraint makes a
    second start fail in the database, whoever checks first (risk.jobs.start_job)."""

    class Kind(models.TextChoices):
        REFRESH = "refresh", _("更新风险名单")
        TRAIN = "train", _("训练模型")

    class Status(models.TextChoices):
        QUEUED = "queued", _("排队中")
        RUNNING = "running", _("运行中")
        SUCCEEDED = "succeeded", _("已完成")
        FAILED = "failed", _("失败")

    kind = models.CharField(_("任务"), max_length=12, choices=Kind.choices)
    region_code = models.CharField(_("区划代码"), max_length=12, blank=True, help_text=_("空表示全部地区"))
    status = models.CharField(_("状态"), max_length=12, choices=Status.choices, default=Status.QUEUED)
    task_id = models.CharField(_("后台任务编号"), max_length=64, blank=True)
    parameters = models.JSONField(_("参数"), default=dict, blank=True)
    result = models.JSONField(_("结果"), default=dict, blank=True)
    # A job over several counties (risk.partitions): each county's code, name and the steps it has done.
    progress = models.JSONField(_("进度"), default=dict, blank=True)
    error = models.TextField(_("错误"), blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("发起人"),
    )
    requested_at = models.DateTimeField(_("发起时间"), auto_now_add=True)
    started_at = models.DateTimeField(_("开始时间"), null=True, blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("后台任务")
        verbose_name_plural = _("后台任务")
        ordering = ["-requested_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(status__in=["queued", "running"]), name="one_active_job_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.get_status_display()}"

    # What a county's task has done, in the words the job page shows (risk.jobs.CountyTracker writes the keys).
    STEP_LABELS = {
        "rules": _("预警规则"),
        "features": _("特征已写出"),
        "scored": _("特征与概率"),
        "written": _("写入评分"),
        "prepared": _("训练数据"),
        "trained": _("训练完成"),
    }

    @property
    def county_progress(self) -> list[dict]:
        """[{code, name, steps: [label, …]}] of a job over several counties, in county order ([] otherwise)."""
        counties = (self.progress or {}).get("counties") or {}
        if len(counties) < 2:
            return []
        return [
            {
                "code": code,
                "name": counties[code].get("name", code),
                "steps": [str(self.STEP_LABELS.get(step, step)) for step in counties[code].get("done", [])],
            }
            for code in sorted(counties)
        ]

    @property
    def active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


# The risk list's stored filter values follow single-row saves through signals connected there.
from risk import list_tags  # noqa: E402, F401
