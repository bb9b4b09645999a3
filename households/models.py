"""The household file (一户一档): households, members, yearly income, status history, data dictionary."""

from decimal import Decimal

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q, Value
from django.db.models.expressions import CombinedExpression
from django.utils.translation import gettext_lazy as _

from households.validation import validate_id_number


class CodeSet(models.Model):
    """One coded field of the data dictionary, e.g. 与户主关系."""

    slug = models.SlugField(_("代码集"), max_length=40, primary_key=True)
    name = models.CharField(_("名称"), max_length=60)
    description = models.TextField(_("说明"), blank=True)

    class Meta:
        verbose_name = _("代码集")
        verbose_name_plural = _("数据字典")
        ordering = ["slug"]

    def __str__(self) -> str:
        return f"{self.name}（{self.slug}）"


class Code(models.Model):
    codeset = models.ForeignKey(
        CodeSet, on_delete=models.CASCADE, related_name="codes", verbose_name=_("代码集")
    )
    code = models.CharField(_("代码"), max_length=20)
    label = models.CharField(_("名称"), max_length=60)
    label_en = models.CharField(_("英文名称"), max_length=100, blank=True)
    meaning = models.TextField(_("含义"), blank=True)
    attributes = models.JSONField(
        _("属性"), default=dict, blank=True, help_text=_("例如在校阶段的合理年龄范围")
    )
    sort_order = models.PositiveSmallIntegerField(_("排序"), default=0)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("代码")
        verbose_name_plural = _("代码")
        ordering = ["codeset", "sort_order", "code"]
        constraints = [models.UniqueConstraint(fields=["codeset", "code"], name="code_unique_in_codeset")]

    def __str__(self) -> str:
        return f"{self.code} {self.label}"


money = {"max_digits": 12, "decimal_places": 2, "default": Decimal("0")}
area = {"max_digits": 8, "decimal_places": 2, "default": Decimal("0")}


class Household(models.Model):
    number = models.CharField(_("户编号"), max_length=30, unique=True)
    village = models.ForeignKey(
        "regions.Region", on_delete=models.PROTECT, related_name="households", verbose_name=_("村")
    )
    group_name = models.CharField(_("村民小组"), max_length=30, blank=True)
    phone = models.CharField(_("联系电话"), max_length=20, blank=True)
    bank_account = models.CharField(_("银行账号"), max_length=32, blank=True)
    household_type = models.CharField(_("户类型"), max_length=4)
    poverty_attribute = models.CharField(_("贫困户属性"), max_length=4, blank=True)
    lifted_year = models.PositiveSmallIntegerField(
        _("脱贫年度"), null=True, blank=True, validators=[MinValueValidator(2014), MaxValueValidator(2020)]
    )
    monitoring_type = models.CharField(_("监测对象类别"), max_length=4, blank=True)
    whole_household_unable_to_work = models.BooleanField(_("整户无劳动能力"), default=False)
    # Comma-separated codes, wrapped in commas (",01,05,") so "contains ,05," finds one exactly.
    risk_types = models.CharField(_("风险类型"), max_length=40, blank=True)
    disaster_subtype = models.CharField(_("自然灾害类型"), max_length=4, blank=True)
    main_poverty_cause = models.CharField(_("主要致贫原因"), max_length=4, blank=True)
    other_poverty_causes = models.CharField(_("其他致贫原因"), max_length=20, blank=True)
    housing_grade = models.CharField(_("危房等级"), max_length=2, blank=True)
    safe_drinking_water = models.BooleanField(_("饮水安全"), default=True)
    sanitary_toilet = models.BooleanField(_("卫生厕所"), default=False)
    road_to_door = models.BooleanField(_("通入户路"), default=True)
    fuel = models.CharField(_("主要燃料"), max_length=4, blank=True)
    cultivated_land_mu = models.DecimalField(_("耕地面积（亩）"), **area)
    forest_land_mu = models.DecimalField(_("林地面积（亩）"), **area)
    source_batch = models.PositiveIntegerField(
        _("来源批次"), null=True, blank=True, help_text=_("最后写入该户的户档案导入批次；空表示在系统中录入")
    )
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_at = models.DateTimeField(_("建档时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    region_lookup = "village_id"

    class Meta:
        verbose_name = _("户")
        verbose_name_plural = _("户")
        ordering = ["village_id", "number"]
        indexes = [
            # Plain btree: the list pages scope by a code range and sort by (village, number) on the same index.
            models.Index(fields=["village", "number"], name="household_village_number_idx"),
            models.Index(fields=["household_type"], name="household_type_idx"),
            models.Index(fields=["monitoring_type"], name="household_monitoring_idx"),
            models.Index(fields=["updated_at"], name="household_updated_idx"),  # the API's changed_since
            # The list filtered by monitoring type (any or one) or by a risk type walks only the households that
            # have one (a tenth of a county), in the list's order: a rare type is found without reading every
            # household of the region. Partial indexes on existing columns, so every write path keeps them.
            models.Index(
                fields=["village", "number"], name="household_monitored_idx", condition=~Q(monitoring_type="")
            ),
            models.Index(fields=["village", "number"], name="household_at_risk_idx", condition=~Q(risk_types="")),
        ]

    def __str__(self) -> str:
        return self.number

    def audit_context(self) -> dict:
        return {"region_code": self.village_id, "household_id": self.pk}

    @property
    def risk_type_codes(self) -> list[str]:
        return [code for code in self.risk_types.split(",") if code]


class PresentMembers(models.Manager):
    """Members still in their household: one who left (``left_on``) stays in the file but counts nowhere."""

    def get_queryset(self):
        return super().get_queryset().filter(left_on__isnull=True)


class Person(models.Model):
    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="members", verbose_name=_("户")
    )
    id_number = models.CharField(_("证件号码"), max_length=18, unique=True, validators=[validate_id_number])
    disability_certificate = models.CharField(_("残疾证号"), max_length=20, blank=True)
    name = models.CharField(_("姓名"), max_length=50)
    sex = models.CharField(_("性别"), max_length=1)
    birth_date = models.DateField(_("出生日期"))
    ethnicity = models.CharField(_("民族"), max_length=4, default="01")
    relation = models.CharField(_("与户主关系"), max_length=4)
    # Multi-valued, comma-wrapped like Household.risk_types.
    health = models.CharField(_("健康状况"), max_length=20, default=",1,")
    disability_category = models.CharField(_("残疾类别"), max_length=2, blank=True)
    disability_grade = models.CharField(_("残疾等级"), max_length=2, blank=True)
    labour_skill = models.CharField(_("劳动技能"), max_length=2)
    education = models.CharField(_("文化程度"), max_length=2, blank=True)
    school_status = models.CharField(_("在校生状况"), max_length=2, blank=True)
    months_worked_away = models.PositiveSmallIntegerField(
        _("务工时间（月）"), default=0, validators=[MaxValueValidator(12)]
    )
    work_place = models.CharField(_("务工地点"), max_length=60, blank=True)
    employer = models.CharField(_("务工单位"), max_length=100, blank=True)
    public_welfare_job = models.BooleanField(_("公益性岗位"), default=False)
    public_welfare_months = models.PositiveSmallIntegerField(
        _("公益性岗位（月）"), default=0, validators=[MaxValueValidator(12)]
    )
    resident_medical_insurance = models.BooleanField(_("城乡居民基本医疗保险"), default=False)
    employee_medical_insurance = models.BooleanField(_("城镇职工基本医疗保险"), default=False)
    critical_illness_insurance = models.BooleanField(_("大病保险"), default=False)
    pension_insurance = models.BooleanField(_("养老保险"), default=False)
    dibao = models.CharField(_("低保"), max_length=2, blank=True)
    tekun = models.BooleanField(_("特困供养"), default=False)
    # A member who left (death, marriage out, moved away, or no longer in the county's export) is closed, not
    # deleted: the row keeps every value and the date; Person.objects no longer returns it.
    left_on = models.DateField(_("离开日期"), null=True, blank=True)
    left_reason = models.CharField(_("离开原因"), max_length=200, blank=True)
    # The household's village code, kept on the member so that a name search reads only the members of the
    # user's region, from one index on (region_code, name), instead of every member in the database. A copy
    # of Household.village_id: households.services sets it; blank means "not filled yet" (rows written in
    # bulk before fill_person_regions ran), and searches treat a blank one through its household.
    region_code = models.CharField(_("所在村代码"), max_length=12, blank=True, default="", editable=False)
    source_batch = models.PositiveIntegerField(
        _("来源批次"), null=True, blank=True, help_text=_("最后写入该成员的户档案导入批次；空表示在系统中录入")
    )
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_at = models.DateTimeField(_("建档时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    region_lookup = "household__village_id"

    everyone = models.Manager()  # including members who left: identity checks, the registry import, history
    objects = PresentMembers()

    class Meta:
        default_manager_name = "objects"
        base_manager_name = "everyone"
        verbose_name = _("家庭成员")
        verbose_name_plural = _("家庭成员")
        ordering = ["household_id", "relation", "birth_date"]
        indexes = [
            models.Index(fields=["name", "birth_date"], name="person_name_birth_idx"),
            # Incremental pulls of the department API (changed_since: exchange.api.pull).
            models.Index(fields=["updated_at"], name="person_updated_idx"),
            # Present members by region and name, with the household: a search reads the region's names from the
            # index alone (an index-only scan), not every member's row from the table.
            models.Index(
                fields=["region_code", "name", "household"], name="person_region_name_idx",
                condition=Q(left_on__isnull=True),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~(~Q(education="") & ~Q(school_status="")), name="person_education_xor_school_db"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def audit_context(self) -> dict:
        return {"region_code": self.household.village_id, "household_id": self.household_id}

    @property
    def health_codes(self) -> list[str]:
        return [code for code in self.health.split(",") if code]


class PersonNameGram(models.Model):
    """Every one- and two-character piece of a present member's name, with the member's household and village:
    what the household list's name search looks up, in the shape it looks it up in.

    A name searched "anywhere in the name" (LIKE '%欧%') cannot use an index: the search used to read every
    member name of the user's region, 270–370 ms for county staff at a million people. Here one index on
    (gram, region_code, household_id) answers a one- or two-character search directly (an index-only range
    for a rare name, one probe per household for a common one), and a longer text through one of its
    two-character pieces, then the member's whole name (households.selectors).

    Not a foreign key: a side table rebuilt from Person, which nothing refers to and which refers to nothing
    (the registry import's undo deletes members in one statement, and refuses to when anything refers to
    them). households.services.refresh_name_grams keeps it current: after every bulk write (the registry
    import and its undo, for the region they wrote) and, through the signals below, after each saved member.
    Members who left have no rows. Rows written in the same village as before keep their key."""

    pk = models.CompositePrimaryKey("region_code", "person_id", "gram")
    # The household's village code (Household.village_id) when the row was written.
    region_code = models.CharField(_("所在村代码"), max_length=12)
    person_id = models.BigIntegerField(_("成员"))
    gram = models.CharField(_("姓名片段"), max_length=2)
    household_id = models.BigIntegerField(_("户"))

    class Meta:
        verbose_name = _("姓名检索片段")
        verbose_name_plural = _("姓名检索片段")
        indexes = [models.Index(fields=["gram", "region_code", "household_id"], name="name_gram_search_idx")]

    def __str__(self) -> str:
        return self.gram


def _person_saved(sender, instance: Person, raw: bool = False, **kwargs) -> None:
    """A member saved one at a time (the services, the admin, a fixture): their name pieces follow at once.
    Bulk writes (COPY, queryset updates) send no signal: their callers refresh the region instead."""
    if raw:  # loaddata: the fixture's rows are refreshed with the region
        return
    from households.services import refresh_person_name_grams

    refresh_person_name_grams(instance)


def _person_deleted(sender, instance: Person, **kwargs) -> None:
    from households.services import forget_person_name_grams

    forget_person_name_grams(instance)


models.signals.post_save.connect(_person_saved, sender=Person, dispatch_uid="households_person_name_grams")
models.signals.post_delete.connect(_person_deleted, sender=Person, dispatch_uid="households_person_name_grams")


# 家庭纯收入 = income that counts (not education aid, medical reimbursement, ... loans) − production costs.
NET_INCOME = (
    F("wage_income") + F("farming_income") + F("livestock_income") + F("forestry_income")
    + F("other_business_income") + F("property_income") + F("dibao_income") + F("tekun_income")
    + F("pension_income") + F("eco_compensation_income") + F("disability_allowance_income")
    + F("other_transfer_income") - F("production_cost")
)


class IncomeRecord(models.Model):
    """One year's income survey (收支) of a household."""

    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="incomes", verbose_name=_("户")
    )
    year = models.PositiveSmallIntegerField(
        _("年度"), validators=[MinValueValidator(2014), MaxValueValidator(2100)]
    )
    household_size = models.PositiveSmallIntegerField(_("家庭人口"), validators=[MinValueValidator(1)])
    wage_income = models.DecimalField(_("工资性收入"), **money)
    farming_income = models.DecimalField(_("种植业收入"), **money)
    livestock_income = models.DecimalField(_("养殖业收入"), **money)
    forestry_income = models.DecimalField(_("林业收入"), **money)
    other_business_income = models.DecimalField(_("其他生产经营性收入"), **money)
    property_income = models.DecimalField(_("财产性收入"), **money)
    dibao_income = models.DecimalField(_("低保金"), **money)
    tekun_income = models.DecimalField(_("特困供养金"), **money)
    pension_income = models.DecimalField(_("养老金"), **money)
    eco_compensation_income = models.DecimalField(_("生态补偿金"), **money)
    disability_allowance_income = models.DecimalField(_("残疾人补贴"), **money)
    other_transfer_income = models.DecimalField(_("其他转移性收入"), **money)
    production_cost = models.DecimalField(_("生产经营性支出"), **money)
    # Recorded but kept out of 纯收入: not stable income.
    education_aid = models.DecimalField(_("教育资助"), **money)
    medical_reimbursement = models.DecimalField(_("医疗报销"), **money)
    housing_subsidy = models.DecimalField(_("住房补贴"), **money)
    temporary_relief = models.DecimalField(_("临时救助"), **money)
    insurance_payout = models.DecimalField(_("保险赔付"), **money)
    loans = models.DecimalField(_("借贷"), **money)
    compliant_medical_spending = models.DecimalField(_("合规自付医疗支出"), **money)
    compliant_education_spending = models.DecimalField(_("合规自付教育支出"), **money)
    survey_date = models.DateField(_("调查日期"), null=True, blank=True)
    source_batch = models.PositiveIntegerField(
        _("来源批次"), null=True, blank=True, help_text=_("最后写入该年收支的户档案导入批次；空表示在系统中录入")
    )
    net_income = models.GeneratedField(
        expression=NET_INCOME,
        output_field=models.DecimalField(max_digits=14, decimal_places=2),
        db_persist=True,
        verbose_name=_("家庭纯收入"),
    )
    per_capita_net_income = models.GeneratedField(
        # The divisor is household_size * 1.0 (a real number) so that SQLite divides 10000 / 3 as 3333.33, not
        # as integers (3333): SQLite casts every decimal step to NUMERIC, which turns 10000.0 back into 10000.
        # On PostgreSQL the literal 1.0 is numeric and the division stays exact.
        expression=CombinedExpression(
            NET_INCOME,
            "/",
            F("household_size") * Value(1.0),
            output_field=models.DecimalField(max_digits=14, decimal_places=2),
        ),
        output_field=models.DecimalField(max_digits=14, decimal_places=2),
        db_persist=True,
        verbose_name=_("人均纯收入"),
    )
    version = models.PositiveIntegerField(_("版本"), default=1)
    created_at = models.DateTimeField(_("录入时间"), auto_now_add=True)
    updated_at = models.DateTimeField(_("更新时间"), auto_now=True)

    region_lookup = "household__village_id"

    INCOME_FIELDS = (
        "wage_income", "farming_income", "livestock_income", "forestry_income", "other_business_income",
        "property_income", "dibao_income", "tekun_income", "pension_income", "eco_compensation_income",
        "disability_allowance_income", "other_transfer_income",
    )
    NON_INCOME_FIELDS = (
        "education_aid", "medical_reimbursement", "housing_subsidy", "temporary_relief", "insurance_payout",
        "loans",
    )

    class Meta:
        verbose_name = _("年度收支")
        verbose_name_plural = _("年度收支")
        ordering = ["household_id", "year"]
        constraints = [
            models.UniqueConstraint(fields=["household", "year"], name="income_one_per_household_year"),
            models.CheckConstraint(condition=Q(household_size__gte=1), name="income_household_size_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.year}"

    def audit_context(self) -> dict:
        return {"region_code": self.household.village_id, "household_id": self.household_id}


class StatusChange(models.Model):
    """A dated change of a household's type, monitoring type or risk types, with its reason. Never deleted."""

    household = models.ForeignKey(
        Household, on_delete=models.PROTECT, related_name="status_history", verbose_name=_("户")
    )
    effective_date = models.DateField(_("生效日期"))
    event = models.CharField(_("事件"), max_length=4)
    household_type = models.CharField(_("户类型"), max_length=4)
    poverty_attribute = models.CharField(_("贫困户属性"), max_length=4, blank=True)
    monitoring_type = models.CharField(_("监测对象类别"), max_length=4, blank=True)
    risk_types = models.CharField(_("风险类型"), max_length=40, blank=True)
    reason = models.TextField(_("原因"))
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+",
        verbose_name=_("记录人"),
    )
    source_batch = models.PositiveIntegerField(
        _("来源批次"), null=True, blank=True, help_text=_("写入该条变更的户档案导入批次；空表示在系统中录入")
    )
    recorded_at = models.DateTimeField(_("记录时间"), auto_now_add=True)

    region_lookup = "household__village_id"

    class Meta:
        verbose_name = _("状态变更")
        verbose_name_plural = _("状态变更")
        ordering = ["household_id", "effective_date", "id"]
        indexes = [
            models.Index(fields=["household", "effective_date"], name="status_household_date_idx"),
            # Households identified since a date (the department API's new-monitoring pull, changed_since).
            models.Index(fields=["recorded_at"], name="status_recorded_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.household} {self.effective_date} {self.event}"

    def audit_context(self) -> dict:
        return {"region_code": self.household.village_id, "household_id": self.household_id}


# Thresholds live in their own module; importing it here registers the model in this app.
from households.monitoring import MonitoringThreshold  # noqa: E402, F401
