"""The national monitoring system's registry exports, table by table: their Chinese column headers, how each
column is read, and which table a file (or a workbook's sheet) is.

A county's export has a household table (户信息), a member table (成员信息) and an income table with a year
column (收支信息); a status history table (状态变更) is read when present. Headers are the names the national
exports use, which are also the household file's own field names; a few variants seen in exports are accepted
as aliases. Coded columns take the code or its label from the data dictionary (户类型 "1" or "脱贫户");
multi-valued columns (健康状况, 风险类型, 其他致贫原因) take codes or labels separated by 、 , ， ; or ；.

Each table is declared with the department declarations' vocabulary (FieldSpec, Kind), so that the
exchange's column checks (exchange.validate) read it; the registry's own checks (checks.py) add the
household file's row validators and the checks across tables.
"""

from dataclasses import dataclass, field

from django.utils.translation import gettext_lazy as _

from exchange.declarations import Department, FieldSpec, Kind
from exchange.readers import FileRefused, header_key
from households.models import Household, IncomeRecord, Person, StatusChange

REGISTRY = "registry"  # ImportBatch.department of a registry import
HOUSEHOLDS, MEMBERS, INCOMES, STATUS = "households", "members", "incomes", "status"
TABLE_ORDER = (HOUSEHOLDS, MEMBERS, INCOMES, STATUS)
REQUIRED_TABLES = (HOUSEHOLDS, MEMBERS)

# Multi-valued coded columns: read as text, split and mapped in checks.py.
MULTI_CODED = {"health": "health", "risk_types": "risk_type", "other_poverty_causes": "poverty_cause"}
MONEY_LIMIT = 10_000_000


def _f(column: str, name: str, kind: Kind = Kind.TEXT, **extra) -> FieldSpec:
    return FieldSpec(column=column, name=name, kind=kind, **extra)


HOUSEHOLD_FIELDS = (
    _f("户编号", "number", required=True, max_length=30),
    _f("行政区划代码", "village_code", required=True, max_length=12),
    _f("村民小组", "group_name", max_length=30),
    _f("联系电话", "phone", max_length=20),
    _f("银行账号", "bank_account", max_length=32),
    _f("户类型", "household_type", Kind.CODE, required=True, codeset="household_type"),
    _f("贫困户属性", "poverty_attribute", Kind.CODE, codeset="poverty_attribute"),
    _f("脱贫年度", "lifted_year", Kind.INTEGER, max_value=2100),
    _f("监测对象类别", "monitoring_type", Kind.CODE, codeset="monitoring_type"),
    _f("整户无劳动能力", "whole_household_unable_to_work", Kind.FLAG),
    _f("风险类型", "risk_types", max_length=60),
    _f("自然灾害类型", "disaster_subtype", Kind.CODE, codeset="disaster_subtype"),
    _f("主要致贫原因", "main_poverty_cause", Kind.CODE, codeset="poverty_cause"),
    _f("其他致贫原因", "other_poverty_causes", max_length=40),
    _f("危房等级", "housing_grade", Kind.CODE, codeset="housing_grade"),
    _f("饮水安全", "safe_drinking_water", Kind.FLAG),
    _f("卫生厕所", "sanitary_toilet", Kind.FLAG),
    _f("通入户路", "road_to_door", Kind.FLAG),
    _f("主要燃料", "fuel", Kind.CODE, codeset="fuel"),
    _f("耕地面积（亩）", "cultivated_land_mu", Kind.AMOUNT, max_value=100_000),
    _f("林地面积（亩）", "forest_land_mu", Kind.AMOUNT, max_value=100_000),
)

MEMBER_FIELDS = (
    _f("户编号", "household_number", required=True, max_length=30),
    _f("证件号码", "id_number", Kind.ID_NUMBER, required=True),
    _f("姓名", "name", required=True, max_length=50),
    _f("性别", "sex", Kind.CODE, codeset="sex"),
    _f("出生日期", "birth_date", Kind.DATE),
    _f("民族", "ethnicity", Kind.CODE, codeset="ethnicity"),
    _f("与户主关系", "relation", Kind.CODE, required=True, codeset="relation"),
    _f("健康状况", "health", max_length=40),
    _f("残疾类别", "disability_category", Kind.CODE, codeset="disability_category"),
    _f("残疾等级", "disability_grade", Kind.CODE, codeset="disability_grade"),
    _f("残疾证号", "disability_certificate", Kind.DISABILITY_CERTIFICATE),
    _f("劳动技能", "labour_skill", Kind.CODE, codeset="labour_skill"),
    _f("文化程度", "education", Kind.CODE, codeset="education"),
    _f("在校生状况", "school_status", Kind.CODE, codeset="school_status"),
    _f("务工时间（月）", "months_worked_away", Kind.INTEGER, max_value=12),
    _f("务工地点", "work_place", max_length=60),
    _f("务工单位", "employer", max_length=100),
    _f("公益性岗位", "public_welfare_job", Kind.FLAG),
    _f("公益性岗位（月）", "public_welfare_months", Kind.INTEGER, max_value=12),
    _f("城乡居民基本医疗保险", "resident_medical_insurance", Kind.FLAG),
    _f("城镇职工基本医疗保险", "employee_medical_insurance", Kind.FLAG),
    _f("大病保险", "critical_illness_insurance", Kind.FLAG),
    _f("养老保险", "pension_insurance", Kind.FLAG),
    _f("低保", "dibao", Kind.CODE, codeset="dibao_type"),
    _f("特困供养", "tekun", Kind.FLAG),
)

INCOME_AMOUNTS = (
    *IncomeRecord.INCOME_FIELDS,
    "production_cost",
    *IncomeRecord.NON_INCOME_FIELDS,
    "compliant_medical_spending",
    "compliant_education_spending",
)
INCOME_FIELDS = (
    _f("户编号", "household_number", required=True, max_length=30),
    _f("年度", "year", Kind.INTEGER, required=True, max_value=2100),
    _f("家庭人口", "household_size", Kind.INTEGER, max_value=99),
    *(
        _f(str(IncomeRecord._meta.get_field(name).verbose_name), name, Kind.AMOUNT, max_value=MONEY_LIMIT)
        for name in INCOME_AMOUNTS
    ),
    _f("调查日期", "survey_date", Kind.DATE),
)

STATUS_FIELDS = (
    _f("户编号", "household_number", required=True, max_length=30),
    _f("生效日期", "effective_date", Kind.DATE, required=True),
    _f("事件", "event", Kind.CODE, required=True, codeset="status_event"),
    _f("户类型", "household_type", Kind.CODE, required=True, codeset="household_type"),
    _f("贫困户属性", "poverty_attribute", Kind.CODE, codeset="poverty_attribute"),
    _f("监测对象类别", "monitoring_type", Kind.CODE, codeset="monitoring_type"),
    _f("风险类型", "risk_types", max_length=60),
    _f("原因", "reason", max_length=500),
)

# Header variants seen in national exports → the column name above.
ALIASES = {
    "户码": "户编号",
    "户主户编号": "户编号",
    "村代码": "行政区划代码",
    "所在村代码": "行政区划代码",
    "统计用区划代码": "行政区划代码",
    "联系方式": "联系电话",
    "开户银行账号": "银行账号",
    "银行卡号": "银行账号",
    "身份证号码": "证件号码",
    "身份证号": "证件号码",
    "证件号码（身份证号）": "证件号码",
    "与户主关系（代码）": "与户主关系",
    "住房安全等级": "危房等级",
    "是否饮水安全": "饮水安全",
    "是否有卫生厕所": "卫生厕所",
    "是否通入户路": "通入户路",
    "务工时间": "务工时间（月）",
    "公益性岗位月数": "公益性岗位（月）",
    "是否特困供养": "特困供养",
    "低保类别": "低保",
    "家庭人口数": "家庭人口",
    "收入年度": "年度",
    "变更日期": "生效日期",
    "变更事件": "事件",
    "变更原因": "原因",
}


@dataclass(frozen=True)
class Table:
    slug: str
    name: str
    model: type
    fields: tuple[FieldSpec, ...]
    # Headers that, all present, say that a file is this table.
    signature: tuple[str, ...]
    key: tuple[str, ...] = field(default=())

    def declaration(self) -> Department:
        """The table in the department declarations' form, for exchange.validate.FileValidator."""
        return Department(
            slug=f"registry_{self.slug}",
            name=str(self.name),
            model=self.model,
            fields=self.fields,
            extra={"declared_lengths": True},
        )


TABLES = {
    HOUSEHOLDS: Table(HOUSEHOLDS, _("户信息"), Household, HOUSEHOLD_FIELDS, ("户编号", "户类型"), ("number",)),
    MEMBERS: Table(MEMBERS, _("成员信息"), Person, MEMBER_FIELDS, ("户编号", "证件号码", "与户主关系"), ("id_number",)),
    INCOMES: Table(
        INCOMES, _("收支信息"), IncomeRecord, INCOME_FIELDS, ("户编号", "年度"), ("household_number", "year")
    ),
    STATUS: Table(STATUS, _("状态变更"), StatusChange, STATUS_FIELDS, ("户编号", "生效日期", "事件"), ()),
}


def canonical_headers(headers: list[str]) -> list[str]:
    """The file's headers with known variants replaced by the names above (matching ignores width and spaces)."""
    aliases = {header_key(alias): column for alias, column in ALIASES.items()}
    return [aliases.get(header_key(h), h) for h in headers]


def identify(headers: list[str], *, where: str) -> Table:
    """Which table a header row belongs to: the most specific table whose signature columns are all there."""
    keys = {header_key(h) for h in canonical_headers(headers)}
    matches = [t for t in TABLES.values() if all(header_key(c) in keys for c in t.signature)]
    if not matches:
        expected = "；".join(f"{t.name}：{'、'.join(t.signature)}" for t in TABLES.values())
        raise FileRefused(
            _("无法识别%(where)s是哪一张表：表头中没有任何一张表的必备列（%(expected)s）。")
            % {"where": where, "expected": expected}
        )
    return max(matches, key=lambda t: len(t.signature))
