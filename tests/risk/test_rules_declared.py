"""Warning rules on departments declared as data: a rule names a declared column and values or a threshold
(住建 grade C/D for a monitored household → 因安全住房), with no code; a rule on an unknown key is reported, a
rule on a department not declared yet waits, and the others run."""

import datetime as dt
from pathlib import Path

import pytest
from django.conf import settings
from django.test import override_settings
from django.utils import translation

from exchange.feeds.declare import declare_from_file
from exchange.pipeline import import_department_file
from povertycloud.audit.models import AuditEvent
from risk.admin import WarningRuleForm
from risk.case_selectors import warnings_of
from risk.models import RiskCase, Warning, WarningRule
from risk.rules import evaluate_rules, run_warning_rules
from tests.exchange.files import write_csv
from tests.exchange.records import make_batch, make_record
from tests.factories import COUNTY, VILLAGE_A, make_household, make_person
from tests.risk.modelling import load_reference_data

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("regions")]
AS_OF = dt.date(2025, 12, 31)
HOUSING_FILE = Path(settings.BASE_DIR) / "fixtures" / "departments" / "housing.json"
COLUMNS = ["统计期", "证件号码", "姓名", "鉴定日期", "鉴定等级", "列入改造计划", "改造补助（元）"]
RULE = "housing-grade-cd-monitored"


@pytest.fixture(autouse=True)
def reference(regions):
    load_reference_data()


@pytest.fixture
def housing(admin_user):
    return declare_from_file(path=HOUSING_FILE, by=admin_user)[0]


def person_in(*, monitored: bool):
    household = make_household(village_id=VILLAGE_A, monitoring_type="1" if monitored else "", with_head=False)
    return make_person(household, birth_date=dt.date(1970, 3, 1))


def import_grades(tmp_path, by, rows: list[tuple]):
    lines = [["2025-11", person.id_number, person.name, "2025-10-08", grade, "否", ""] for person, grade in rows]
    return import_department_file(
        department="housing_appraisals",
        path=write_csv(tmp_path / "housing-2025-11.csv", COLUMNS, lines),
        by=by,
        region_code=COUNTY,
    )


def fired(code: str = RULE) -> set[int]:
    firings, skipped = evaluate_rules(as_of=AS_OF)
    assert code not in skipped
    return set(firings.loc[firings["rule_code"] == code, "person_id"])


def test_the_out_of_the_box_rules_name_declared_columns_and_risk_types():
    housing = WarningRule.objects.get(code=RULE)
    assert (housing.department, housing.field, housing.operator, housing.values) == (
        "housing_appraisals", "grade", "in_values", "C,D",
    )  # fmt: skip
    assert (housing.population, housing.risk_type) == ("monitored", "09")  # 因安全住房
    work = WarningRule.objects.get(code="employment-months-without-work")
    assert (work.department, work.field, work.operator, work.risk_type) == (
        "hr_employment", "months_without_work", "gte", "07",
    )  # fmt: skip
    assert work.default_threshold == 3


def test_a_c_or_d_grade_of_a_monitored_household_fires_with_its_source_record_and_batch(
    housing, county_staff, tmp_path
):
    c_grade, d_grade, a_grade = person_in(monitored=True), person_in(monitored=True), person_in(monitored=True)
    batch = import_grades(tmp_path, county_staff, [(c_grade, "C"), (d_grade, "D"), (a_grade, "A")])
    assert batch.linked_rows == 3
    assert fired() == {c_grade.pk, d_grade.pk}

    result = run_warning_rules(as_of=AS_OF)
    assert result.by_rule[RULE] == 2
    warning = Warning.objects.get(rule__code=RULE, person=c_grade)
    record = housing_record(warning)
    assert (warning.department, warning.batch_id, warning.value) == ("housing_appraisals", batch.pk, "C")
    assert record.person_id == c_grade.pk and record.data["grade"] == "C"
    assert warning.household_id == c_grade.household_id and warning.region_code == VILLAGE_A
    assert warning.rule.risk_type == "09"


def housing_record(warning: Warning):
    from exchange.declarations import get_department

    return get_department(warning.department).records().get(pk=warning.source_record_id)


def test_a_household_not_monitored_does_not_fire(housing, county_staff, tmp_path):
    ordinary = person_in(monitored=False)
    import_grades(tmp_path, county_staff, [(ordinary, "D")])
    assert fired() == set()


def test_the_case_page_names_the_declared_source_column_and_batch(housing, county_staff, official_b, tmp_path):
    person = person_in(monitored=True)
    batch = import_grades(tmp_path, county_staff, [(person, "D")])
    run_warning_rules(as_of=AS_OF)
    case = RiskCase.objects.create(
        household=person.household, region_code=VILLAGE_A, opened_on=AS_OF, due_on=AS_OF, warning_rules=[RULE]
    )
    (view,) = warnings_of(case, county_staff)
    assert view.department == "住建 农村住房安全鉴定" and view.phrase == "住建鉴定为 C/D 级危房"
    assert ("鉴定等级", "D（D 级）") in view.source_fields
    assert view.batch_label.startswith(f"#{batch.pk} ") and view.in_case
    with translation.override("en"):
        (english,) = warnings_of(case, county_staff)
        assert str(english.department) == "Housing: safety appraisals"
        assert ("Grade", "D（Grade D）") in [(str(label), value) for label, value in english.source_fields]
    assert warnings_of(case, official_b) == []  # another township's official sees none of it


def test_a_rule_on_an_unknown_declared_key_is_reported_and_the_others_still_run(housing, county_staff, tmp_path):
    person = person_in(monitored=True)
    import_grades(tmp_path, county_staff, [(person, "C")])
    WarningRule.objects.create(
        code="housing-typo", name="错字段", department="housing_appraisals", field="grades", operator="in_values",
        values="C", phrase="测试",
    )  # fmt: skip
    WarningRule.objects.create(
        code="housing-wrong-operator", name="错比较", department="housing_appraisals", field="grade",
        operator="gte", default_threshold=1, phrase="测试",
    )  # fmt: skip
    firings, skipped = evaluate_rules(as_of=AS_OF)
    assert "“grades”" in skipped["housing-typo"] and "grade（鉴定等级）" in skipped["housing-typo"]
    assert "不能用比较" in skipped["housing-wrong-operator"]
    assert set(firings["rule_code"]) == {RULE}


def test_a_rule_on_a_department_not_declared_yet_waits_with_its_reason(county_staff):
    person = person_in(monitored=True)
    make_record("health", batch=make_batch("health"), id_number=person.id_number, name=person.name,
                person=person, insured=False)  # fmt: skip
    _, skipped = evaluate_rules(as_of=AS_OF)
    assert "housing-grade-cd-monitored" not in skipped  # not an error of the rule: it waits
    result = run_warning_rules(as_of=AS_OF)
    assert "hr_employment" in result.skipped["employment-months-without-work"]
    assert "housing_appraisals" in result.skipped[RULE]
    assert result.by_rule == {"health-not-insured": 1}


def test_in_values_reads_a_typed_departments_code_field_too():
    WarningRule.objects.create(
        code="education-stage-test", name="学段", department="education", field="stage", operator="in_values",
        values="31, 32", phrase="测试",
    )  # fmt: skip
    high, primary = person_in(monitored=False), person_in(monitored=False)
    for person, stage in ((high, "31"), (primary, "12")):
        make_record("education", batch=make_batch("education"), id_number=person.id_number, name=person.name,
                    person=person, stage=stage)  # fmt: skip
    assert fired("education-stage-test") == {high.pk}


def test_in_values_without_values_is_reported():
    WarningRule.objects.create(
        code="education-no-values", name="学段", department="education", field="stage", operator="in_values",
        phrase="测试",
    )  # fmt: skip
    _, skipped = evaluate_rules(as_of=AS_OF)
    assert "C,D" in skipped["education-no-values"]


@override_settings(LANGUAGE_CODE="zh-hans")
def test_the_rule_admin_offers_declared_departments_and_checks_the_field_against_the_declaration(housing):
    data = {
        "code": "housing-b", "name": "B 级", "department": "housing_appraisals", "field": "grade",
        "operator": "in_values", "values": "B", "population": "all", "phrase": "测试", "active": "on",
    }  # fmt: skip
    form = WarningRuleForm(data=data)
    assert ("housing_appraisals", "住建 农村住房安全鉴定（housing_appraisals）") in form.fields["department"].choices
    assert form.is_valid(), form.errors
    wrong = WarningRuleForm(data={**data, "field": "colour"})
    assert not wrong.is_valid() and "colour" in wrong.errors["field"][0]
    unknown = WarningRuleForm(data={**data, "department": "no_such_department"})
    assert not unknown.is_valid() and "department" in unknown.errors


def test_only_administrators_write_a_declared_rule_in_the_admin_and_the_write_is_audited(
    housing, client, staff_official_a, admin_user
):
    data = {
        "code": "housing-b-admin", "name": "B 级", "department": "housing_appraisals", "field": "grade",
        "operator": "in_values", "values": "B", "population": "all", "risk_type": "09", "phrase": "测试",
        "active": "on", "thresholds-TOTAL_FORMS": "0", "thresholds-INITIAL_FORMS": "0",
    }  # fmt: skip
    client.force_login(staff_official_a)
    assert client.post("/admin/risk/warningrule/add/", data).status_code == 403
    client.force_login(admin_user)
    refused = client.post("/admin/risk/warningrule/add/", {**data, "field": "colour"})
    assert refused.status_code == 200 and not WarningRule.objects.filter(code="housing-b-admin").exists()
    assert client.post("/admin/risk/warningrule/add/", data).status_code == 302
    rule = WarningRule.objects.get(code="housing-b-admin")
    assert AuditEvent.objects.filter(entity="risk.warningrule", object_pk=str(rule.pk), actor=admin_user).exists()
