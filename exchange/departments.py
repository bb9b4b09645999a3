"""The departments whose files the county receives: their record models and their declarations."""

from django.db import models
from django.db.models.functions import Left
from django.utils.translation import gettext_lazy as _

from exchange.declarations import Department, FieldSpec, Kind, declare
from exchange.models import BatchRangeIndex, SourceRecord

money = {"max_digits": 12, "decimal_places": 2, "null": True, "blank": True}
COUNTY_DIGITS = 6


def one_current_per_person_and_county(prefix: str) -> models.UniqueConstraint:
    """At most one current version per ID number in each county (the first six digits of region_code).

    A county's department writes only its own records (exchange.load): when a household moves from county A
    to county B, B's file opens B's version while A's stays current until A's next file no longer lists the
    person. Each county's history stays its own; neither batch touches the other's records.
    """
    return models.UniqueConstraint(
        models.F("id_number"),
        Left("region_code", COUNTY_DIGITS),
        condition=models.Q(valid_to__isnull=True),
        name=f"{prefix}_one_current_per_person_county",
    )


def closed_by_index(prefix: str) -> models.Index:
    """Versions a batch closed (rollback reopens them); only closed versions are in it, so new rows cost nothing."""
    return models.Index(
        fields=["closed_by"], condition=models.Q(closed_by__isnull=False), name=f"{prefix}_closed_by_idx"
    )


class CivilAffairsRecord(SourceRecord):
    """民政: 低保, 特困供养, 临时救助, 孤儿 and 事实无人抚养儿童."""

    period = models.CharField(_("统计期"), max_length=7)
    township_name = models.CharField(_("乡镇（街道）"), max_length=50, blank=True)
    village_name = models.CharField(_("村（社区）"), max_length=50, blank=True)
    sex_label = models.CharField(_("性别"), max_length=2, blank=True)
    dibao_type = models.CharField(_("低保类别"), max_length=2, blank=True)
    dibao_class = models.CharField(_("低保档次"), max_length=10, blank=True)
    dibao_monthly_amount = models.DecimalField(_("低保月保障金额（元）"), **money)
    dibao_start = models.DateField(_("低保开始日期"), null=True, blank=True)
    dibao_stop = models.DateField(_("低保停止日期"), null=True, blank=True)
    tekun = models.BooleanField(_("特困供养"), default=False)
    tekun_start = models.DateField(_("特困供养开始日期"), null=True, blank=True)
    relief_count = models.PositiveIntegerField(_("本年临时救助次数"), default=0)
    relief_amount = models.DecimalField(_("本年临时救助金额（元）"), **money)
    last_relief_date = models.DateField(_("最近临时救助日期"), null=True, blank=True)
    last_relief_amount = models.DecimalField(_("最近临时救助金额（元）"), **money)
    orphan = models.BooleanField(_("孤儿"), default=False)
    unsupported_child = models.BooleanField(_("事实无人抚养儿童"), default=False)

    class Meta:
        db_table = "households_civilaffairsrecord"  # the table it had before the app moved out of households
        verbose_name = _("民政记录")
        verbose_name_plural = _("民政记录")
        indexes = [
            models.Index(fields=["id_number", "valid_from"], name="civil_id_valid_idx"),
            models.Index(fields=["person"], name="civil_person_idx"),
            BatchRangeIndex(fields=["batch"], name="civil_batch_idx"),
            models.Index(fields=["region_code"], name="civil_region_idx", opclasses=["varchar_pattern_ops"]),
            closed_by_index("civil"),
        ]
        constraints = [one_current_per_person_and_county("civil")]


class HealthRecord(SourceRecord):
    """医保/卫健: insurance, illness, out-of-pocket medical cost."""

    period = models.CharField(_("统计期"), max_length=7)
    insured = models.BooleanField(_("已参保"), default=False)
    insurance_type = models.CharField(_("参保类型"), max_length=2, blank=True)
    critical_illness_insurance = models.BooleanField(_("大病保险"), default=False)
    chronic_diagnosis = models.CharField(_("慢性病诊断"), max_length=100, blank=True)
    serious_diagnosis = models.CharField(_("大病诊断"), max_length=100, blank=True)
    serious_diagnosis_date = models.DateField(_("大病确诊日期"), null=True, blank=True)
    out_of_pocket_ytd = models.DecimalField(_("年度累计自付费用（元）"), **money)
    max_stay_self_pay = models.DecimalField(_("单次住院最高自付（元）"), **money)
    monthly_outpatient_cost = models.DecimalField(_("月均门诊费用（元）"), **money)

    class Meta:
        db_table = "households_healthrecord"  # the table it had before the app moved out of households
        verbose_name = _("医保卫健记录")
        verbose_name_plural = _("医保卫健记录")
        indexes = [
            models.Index(fields=["id_number", "valid_from"], name="health_id_valid_idx"),
            models.Index(fields=["person"], name="health_person_idx"),
            BatchRangeIndex(fields=["batch"], name="health_batch_idx"),
            models.Index(fields=["region_code"], name="health_region_idx", opclasses=["varchar_pattern_ops"]),
            closed_by_index("health"),
        ]
        constraints = [one_current_per_person_and_county("health")]


class EducationRecord(SourceRecord):
    """教育: enrolment, 控辍保学 dropout, student aid, net cost of study."""

    period = models.CharField(_("统计期"), max_length=7)
    school_name = models.CharField(_("学校名称"), max_length=100)
    stage = models.CharField(_("学段"), max_length=20)
    grade = models.CharField(_("年级"), max_length=20, blank=True)
    enrolment_status = models.CharField(_("在校状态"), max_length=10, blank=True)
    enrolment_date = models.DateField(_("入学日期"), null=True, blank=True)
    dropout = models.BooleanField(_("控辍保学"), default=False)
    aid_project = models.CharField(_("资助项目"), max_length=100, blank=True)
    aid_amount = models.DecimalField(_("资助金额（元）"), **money)
    net_study_cost = models.DecimalField(_("就读净成本（元）"), **money)

    class Meta:
        db_table = "households_educationrecord"  # the table it had before the app moved out of households
        verbose_name = _("教育记录")
        verbose_name_plural = _("教育记录")
        indexes = [
            models.Index(fields=["id_number", "valid_from"], name="education_id_valid_idx"),
            models.Index(fields=["person"], name="education_person_idx"),
            BatchRangeIndex(fields=["batch"], name="education_batch_idx"),
            models.Index(fields=["region_code"], name="education_region_idx", opclasses=["varchar_pattern_ops"]),
            closed_by_index("education"),
        ]
        constraints = [one_current_per_person_and_county("education")]


class DisabilityRecord(SourceRecord):
    """残联: disability certificates (残疾证) and the two disability allowances (残疾人两项补贴)."""

    period = models.CharField(_("统计期"), max_length=7)
    certificate = models.CharField(_("残疾证号"), max_length=20)
    disability_category = models.CharField(_("残疾类别"), max_length=2)
    disability_grade = models.CharField(_("残疾等级"), max_length=2)
    issue_date = models.DateField(_("发证日期"), null=True, blank=True)
    certificate_status = models.CharField(_("证件状态"), max_length=10, blank=True)
    living_allowance = models.BooleanField(_("困难残疾人生活补贴"), default=False)
    care_allowance = models.BooleanField(_("重度残疾人护理补贴"), default=False)
    monthly_allowance = models.DecimalField(_("两项补贴月金额（元）"), **money)

    class Meta:
        db_table = "households_disabilityrecord"  # the table it had before the app moved out of households
        verbose_name = _("残联记录")
        verbose_name_plural = _("残联记录")
        indexes = [
            models.Index(fields=["id_number", "valid_from"], name="disability_id_valid_idx"),
            models.Index(fields=["person"], name="disability_person_idx"),
            BatchRangeIndex(fields=["batch"], name="disability_batch_idx"),
            models.Index(fields=["region_code"], name="disability_region_idx", opclasses=["varchar_pattern_ops"]),
            closed_by_index("disability"),
        ]
        constraints = [one_current_per_person_and_county("disability")]


ID_AND_NAME = (
    FieldSpec("证件号码", "id_number", Kind.ID_NUMBER, required=True),
    FieldSpec("姓名", "name", Kind.TEXT, required=True, max_length=50),
)

CIVIL_AFFAIRS = declare(
    Department(
        slug="civil_affairs",
        name=_("民政"),
        model=CivilAffairsRecord,
        description=_("低保、特困供养、临时救助、孤儿和事实无人抚养儿童名单，每期全量报送。"),
        fields=(
            FieldSpec("统计期", "period", Kind.PERIOD, required=True),
            FieldSpec("乡镇（街道）", "township_name", max_length=50),
            FieldSpec("村（社区）", "village_name", max_length=50),
            *ID_AND_NAME,
            FieldSpec("性别", "sex_label", max_length=2),
            FieldSpec("低保类别", "dibao_type", Kind.CODE, codeset="dibao_type"),
            FieldSpec("低保档次", "dibao_class", max_length=10),
            FieldSpec("低保月保障金额（元）", "dibao_monthly_amount", Kind.AMOUNT, max_value=10_000),
            FieldSpec("低保开始日期", "dibao_start", Kind.DATE),
            FieldSpec("低保停止日期", "dibao_stop", Kind.DATE),
            FieldSpec("特困供养", "tekun", Kind.FLAG),
            FieldSpec("特困供养开始日期", "tekun_start", Kind.DATE),
            FieldSpec("本年临时救助次数", "relief_count", Kind.INTEGER, max_value=100),
            FieldSpec("本年临时救助金额（元）", "relief_amount", Kind.AMOUNT, max_value=500_000),
            FieldSpec("最近临时救助日期", "last_relief_date", Kind.DATE),
            FieldSpec("最近临时救助金额（元）", "last_relief_amount", Kind.AMOUNT, max_value=500_000),
            FieldSpec("孤儿", "orphan", Kind.FLAG),
            FieldSpec("事实无人抚养儿童", "unsupported_child", Kind.FLAG),
        ),
    )
)

HEALTH = declare(
    Department(
        slug="health",
        name=_("医保/卫健"),
        model=HealthRecord,
        description=_("参保、大病保险、慢性病和大病诊断、年度累计自付费用，每期全量报送。"),
        fields=(
            FieldSpec("统计期", "period", Kind.PERIOD, required=True),
            *ID_AND_NAME,
            FieldSpec("参保状态", "insured", Kind.FLAG, required=True),
            FieldSpec("参保类型", "insurance_type", Kind.CODE, codeset="insurance_type", required_when="insured"),
            FieldSpec("大病保险", "critical_illness_insurance", Kind.FLAG),
            FieldSpec("慢性病诊断", "chronic_diagnosis"),
            FieldSpec("大病诊断", "serious_diagnosis"),
            FieldSpec("大病确诊日期", "serious_diagnosis_date", Kind.DATE),
            FieldSpec("年度累计自付费用（元）", "out_of_pocket_ytd", Kind.AMOUNT, max_value=5_000_000),
            FieldSpec("单次住院最高自付（元）", "max_stay_self_pay", Kind.AMOUNT, max_value=5_000_000),
            FieldSpec("月均门诊费用（元）", "monthly_outpatient_cost", Kind.AMOUNT, max_value=1_000_000),
        ),
    )
)

EDUCATION = declare(
    Department(
        slug="education",
        name=_("教育"),
        model=EducationRecord,
        description=_("在校学生、控辍保学、学生资助和就读净成本，每期全量报送。"),
        fields=(
            FieldSpec("统计期", "period", Kind.PERIOD, required=True),
            *ID_AND_NAME,
            FieldSpec("学校名称", "school_name", required=True),
            FieldSpec("学段", "stage", Kind.CODE, required=True, codeset="school_stage"),
            FieldSpec("年级", "grade", max_length=20),
            FieldSpec("在校状态", "enrolment_status", max_length=10),
            FieldSpec("入学日期", "enrolment_date", Kind.DATE),
            FieldSpec("控辍保学", "dropout", Kind.FLAG),
            FieldSpec("资助项目", "aid_project"),
            FieldSpec("资助金额（元）", "aid_amount", Kind.AMOUNT, max_value=200_000),
            FieldSpec("就读净成本（元）", "net_study_cost", Kind.AMOUNT, max_value=1_000_000),
        ),
    )
)

DISABILITY = declare(
    Department(
        slug="disability",
        name=_("残联"),
        model=DisabilityRecord,
        description=_("持证残疾人（残疾证号、类别、等级）和残疾人两项补贴，每期全量报送。"),
        fields=(
            FieldSpec("统计期", "period", Kind.PERIOD, required=True),
            *ID_AND_NAME,
            FieldSpec("残疾证号", "certificate", Kind.DISABILITY_CERTIFICATE, required=True),
            FieldSpec("残疾类别", "disability_category", Kind.CODE, required=True, codeset="disability_category"),
            FieldSpec("残疾等级", "disability_grade", Kind.CODE, required=True, codeset="disability_grade"),
            FieldSpec("发证日期", "issue_date", Kind.DATE),
            FieldSpec("证件状态", "certificate_status", max_length=10),
            FieldSpec("困难残疾人生活补贴", "living_allowance", Kind.FLAG),
            FieldSpec("重度残疾人护理补贴", "care_allowance", Kind.FLAG),
            FieldSpec("两项补贴月金额（元）", "monthly_allowance", Kind.AMOUNT, max_value=10_000),
        ),
    )
)
