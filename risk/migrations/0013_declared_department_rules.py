from decimal import Decimal

from django.db import migrations

# Warning rules on departments declared as data (fixtures/departments/*.json), written as data like those of
# 0002: no code names the departments. A rule whose department is not declared yet waits (risk.rules skips it
# with the reason) and runs once an administrator declares the department.
RULES = [
    {
        "code": "housing-grade-cd-monitored",
        "name": "监测对象住房鉴定为 C/D 级危房",
        "department": "housing_appraisals",
        "field": "grade",
        "operator": "in_values",
        "values": "C,D",
        "population": "monitored",
        "default_threshold": None,
        "risk_type": "09",
        "phrase": "住建鉴定为 C/D 级危房",
    },
    {
        "code": "employment-months-without-work",
        "name": "连续无工作月数达到预警线",
        "department": "hr_employment",
        "field": "months_without_work",
        "operator": "gte",
        "values": "",
        "population": "all",
        "default_threshold": Decimal("3"),
        "risk_type": "07",
        "phrase": "人社登记连续无工作月数达到预警线",
    },
]


def seed(apps, schema_editor):
    WarningRule = apps.get_model("risk", "WarningRule")
    for rule in RULES:
        WarningRule.objects.get_or_create(code=rule["code"], defaults=rule)


def unseed(apps, schema_editor):
    WarningRule = apps.get_model("risk", "WarningRule")
    WarningRule.objects.filter(code__in=[rule["code"] for rule in RULES], warnings__isnull=True).delete()


class Migration(migrations.Migration):
    dependencies = [("risk", "0012_warning_rule_values")]
    operations = [migrations.RunPython(seed, unseed)]
