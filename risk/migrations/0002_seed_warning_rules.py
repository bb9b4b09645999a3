from decimal import Decimal

from django.db import migrations

# The department early-warning rules of domain.md §3, with their default thresholds. Administrators change a
# threshold per region (WarningThreshold) or switch a rule off; risk/rules.py evaluates them.
# For "within_days" and "stopped" rules the threshold is the number of days looked back from the run's date.
RULES = [
    {
        "code": "health-self-pay-lifted",
        "name": "脱贫人口年度累计医疗自付费用高",
        "department": "health",
        "field": "out_of_pocket_ytd",
        "operator": "gte",
        "population": "lifted",
        "default_threshold": Decimal("5000"),
        "risk_type": "01",
        "phrase": "脱贫人口年度累计医疗自付费用达到预警线",
    },
    {
        "code": "health-self-pay-others",
        "name": "其他农村人口年度累计医疗自付费用高",
        "department": "health",
        "field": "out_of_pocket_ytd",
        "operator": "gte",
        "population": "not_lifted",
        "default_threshold": Decimal("20000"),
        "risk_type": "01",
        "phrase": "年度累计医疗自付费用达到预警线",
    },
    {
        "code": "health-stay-monitored",
        "name": "监测对象单次住院自付费用高",
        "department": "health",
        "field": "max_stay_self_pay",
        "operator": "gt",
        "population": "monitored",
        "default_threshold": Decimal("6000"),
        "risk_type": "01",
        "phrase": "监测对象单次住院自付费用超过预警线",
    },
    {
        "code": "health-stay-others",
        "name": "单次住院自付费用高",
        "department": "health",
        "field": "max_stay_self_pay",
        "operator": "gt",
        "population": "not_monitored",
        "default_threshold": Decimal("10000"),
        "risk_type": "01",
        "phrase": "单次住院自付费用超过预警线",
    },
    {
        "code": "health-outpatient",
        "name": "月均门诊费用高",
        "department": "health",
        "field": "monthly_outpatient_cost",
        "operator": "gte",
        "population": "all",
        "default_threshold": Decimal("500"),
        "risk_type": "01",
        "phrase": "月均门诊费用达到预警线",
    },
    {
        "code": "health-not-insured",
        "name": "未参加基本医疗保险",
        "department": "health",
        "field": "insured",
        "operator": "is_false",
        "population": "all",
        "default_threshold": None,
        "risk_type": "01",
        "phrase": "未参加基本医疗保险",
    },
    {
        "code": "health-new-serious-illness",
        "name": "新确诊大病",
        "department": "health",
        "field": "serious_diagnosis_date",
        "operator": "within_days",
        "population": "all",
        "default_threshold": Decimal("365"),
        "risk_type": "01",
        "phrase": "一年内新确诊大病",
    },
    {
        "code": "civil-dibao-stopped",
        "name": "低保停止但收入仍低于监测标准",
        "department": "civil_affairs",
        "field": "dibao_stop",
        "operator": "stopped",
        "population": "all",
        "default_threshold": Decimal("365"),
        "risk_type": "",
        "phrase": "低保已停止，家庭人均纯收入仍低于监测标准",
    },
    {
        "code": "civil-tekun-stopped",
        "name": "特困供养停止但收入仍低于监测标准",
        "department": "civil_affairs",
        "field": "tekun",
        "operator": "stopped",
        "population": "all",
        "default_threshold": Decimal("365"),
        "risk_type": "",
        "phrase": "特困供养已停止，家庭人均纯收入仍低于监测标准",
    },
    {
        "code": "civil-relief-repeated",
        "name": "本年多次临时救助",
        "department": "civil_affairs",
        "field": "relief_count",
        "operator": "at_least_count",
        "population": "all",
        "default_threshold": Decimal("2"),
        "risk_type": "",
        "phrase": "本年多次接受临时救助",
    },
    {
        "code": "education-dropout",
        "name": "义务教育阶段辍学",
        "department": "education",
        "field": "dropout",
        "operator": "is_true",
        "population": "compulsory_age",
        "default_threshold": None,
        "risk_type": "03",
        "phrase": "有义务教育阶段适龄儿童辍学",
    },
    {
        "code": "education-study-cost",
        "name": "就读净成本高",
        "department": "education",
        "field": "net_study_cost",
        "operator": "gt",
        "population": "all",
        "default_threshold": Decimal("10000"),
        "risk_type": "03",
        "phrase": "就读净成本超过预警线",
    },
]


def seed(apps, schema_editor):
    WarningRule = apps.get_model("risk", "WarningRule")
    for rule in RULES:
        WarningRule.objects.update_or_create(code=rule["code"], defaults=rule)


def unseed(apps, schema_editor):
    WarningRule = apps.get_model("risk", "WarningRule")
    WarningRule.objects.filter(code__in=[rule["code"] for rule in RULES], warnings__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("risk", "0001_initial")]
    operations = [migrations.RunPython(seed, unseed)]
