"""Every data-quality rule of households/validation.py, checked against the shipped data dictionary."""

import datetime as dt
import re
from dataclasses import replace
from typing import Any

import pytest
from django.core.exceptions import ValidationError

from households.codes import codebook
from households.validation import (
    CodeBook,
    Issue,
    errors_only,
    household_issues,
    household_member_issues,
    income_issues,
    join_codes,
    person_issues,
    raise_for_errors,
    shared_phone_issue,
    split_codes,
)
from tests.factories import person_values, resident_id

ON = dt.date(2025, 9, 1)
CHINESE = re.compile(r"[\u4e00-\u9fff]")
AMOUNTS = ("wage_income", "farming_income", "production_cost", "education_aid")


@pytest.fixture
def codes(db) -> CodeBook:
    """The data dictionary as shipped (fixtures/data_dictionary.csv, loaded by migration)."""
    return codebook()


def born(age: int) -> dt.date:
    """A birth date that makes someone `age` years old on ON."""
    return dt.date(ON.year - age, 3, 1)


def person(age: int = 45, **overrides: Any) -> dict[str, Any]:
    return person_values(birth_date=born(age), **overrides)


def child(age: int, school_status: str, **overrides: Any) -> dict[str, Any]:
    values = {"relation": "03", "labour_skill": "5", "education": "", "school_status": school_status}
    values.update(overrides)
    return person(age, **values)


def issues_on(issues: list[Issue], field: str) -> list[Issue]:
    return [issue for issue in issues if issue.field == field]


def the_issue(issues: list[Issue], field: str, *, containing: str = "", severity: str = "error") -> Issue:
    """The one issue on `field` (containing a phrase), with a Chinese message of the given severity."""
    found = [i for i in issues_on(issues, field) if containing in i.message]
    assert found, f"no issue on {field!r} containing {containing!r}; got {issues}"
    issue = found[0]
    assert CHINESE.search(issue.message), issue.message
    assert issue.severity == severity
    return issue


def no_issue(issues: list[Issue], field: str) -> None:
    assert issues_on(issues, field) == [], issues_on(issues, field)


# --- The data dictionary as shipped ------------------------------------------------------------------


def test_shipped_dictionary_holds_the_codes_that_the_rules_name(codes):
    assert codes.label("sex", "1") == "男"
    assert codes.label("relation", "01") == "户主"
    assert codes.label("relation", "02") == "配偶"
    assert codes.label("health", "1") == "健康"
    assert codes.label("health", "4") == "残疾"
    assert codes.label("labour_skill", "4") == "丧失劳动力"
    assert codes.label("labour_skill", "5") == "无劳动力"
    assert codes.label("household_type", "1") == "脱贫户"
    assert codes.label("household_type", "2") == "一般农户"
    assert codes.label("risk_type", "04") == "因自然灾害"


def test_shipped_dictionary_gives_school_stage_ages(codes):
    assert codes.attrs("school_status", "21") == {"stage": "初中", "min_age": 12, "max_age": 17}
    assert codes.attrs("school_status", "31") == {"stage": "高中", "min_age": 15, "max_age": 20}
    assert codes.attrs("school_status", "41") == {"stage": "中职", "min_age": 15, "max_age": 20}
    assert codes.attrs("school_status", "61")["min_age"] == 18


def test_shipped_dictionary_has_every_ethnic_group(codes):
    assert len([c for c in codes.labels["ethnicity"] if c <= "56"]) == 56


# --- Multi-valued codes ------------------------------------------------------------------------------


def test_split_codes_accepts_chinese_commas_and_spaces():
    assert split_codes("04，2 , ,1") == ["04", "2", "1"]
    assert split_codes(None) == []
    assert split_codes(["2", " 4 ", ""]) == ["2", "4"]


def test_join_codes_wraps_sorted_unique_codes_in_commas():
    assert join_codes(["4", "2", "4"]) == ",2,4,"
    assert join_codes([]) == ""


# --- One person --------------------------------------------------------------------------------------


def test_a_well_filled_adult_has_no_issues(codes):
    assert person_issues(person(), codes=codes, on=ON) == []


def test_a_well_filled_pupil_has_no_issues(codes):
    assert person_issues(child(13, "21"), codes=codes, on=ON) == []


def test_sex_must_match_the_17th_digit_of_the_id(codes):
    male_id = resident_id(born(45), sex="1")
    no_issue(person_issues(person(id_number=male_id, sex="1"), codes=codes, on=ON), "sex")
    issues = person_issues(person(id_number=male_id, sex="2"), codes=codes, on=ON)
    issue = the_issue(issues, "sex", containing="第 17 位")
    assert "男" in issue.message


def test_sex_is_required(codes):
    the_issue(person_issues(person(sex=""), codes=codes, on=ON), "sex", containing="不能为空")


def test_birth_date_must_match_the_id(codes):
    values = person()
    no_issue(person_issues(values, codes=codes, on=ON), "birth_date")
    values["birth_date"] = values["birth_date"] + dt.timedelta(days=1)
    issue = the_issue(person_issues(values, codes=codes, on=ON), "birth_date", containing="证件号码")
    assert born(45).isoformat() in issue.message


def test_a_bad_id_number_is_reported_on_its_field(codes):
    issues = person_issues(person(id_number="110105194912310021"), codes=codes, on=ON)
    the_issue(issues, "id_number", containing="校验位")


def test_education_and_school_status_may_not_both_be_filled(codes):
    issues = person_issues(child(13, "21", education="2"), codes=codes, on=ON)
    the_issue(issues, "school_status", containing="只能填写一项")


def test_education_or_school_status_must_be_filled(codes):
    issues = person_issues(person(education="", school_status=""), codes=codes, on=ON)
    the_issue(issues, "education", containing="必须填写其中一项")


def test_under_16_must_be_recorded_without_labour(codes):
    no_issue(person_issues(child(10, "14", labour_skill="5"), codes=codes, on=ON), "labour_skill")
    issues = person_issues(child(10, "14", labour_skill="1"), codes=codes, on=ON)
    issue = the_issue(issues, "labour_skill", containing="未满 16 周岁")
    assert "无劳动力" in issue.message


def test_sixteen_year_old_may_have_labour(codes):
    no_issue(person_issues(person(16, labour_skill="1"), codes=codes, on=ON), "labour_skill")


@pytest.mark.parametrize("labour", ["4", "5"])
def test_healthy_working_age_non_student_without_labour_is_a_warning_not_an_error(codes, labour):
    issues = person_issues(person(35, labour_skill=labour), codes=codes, on=ON)
    issue = the_issue(issues, "labour_skill", containing="请核实", severity="warning")
    assert not issue.is_error
    assert errors_only(issues) == []
    raise_for_errors(issues)  # a warning never blocks a save


@pytest.mark.parametrize(
    "overrides",
    [
        {"health": ",2,"},  # long-term chronic illness
        {"birth_age": 65},  # older than 60
        {"birth_age": 20, "education": "", "school_status": "61"},  # a student
    ],
    ids=["ill", "over-60", "student"],
)
def test_no_labour_warning_when_there_is_a_reason(codes, overrides):
    overrides = dict(overrides)
    age = overrides.pop("birth_age", 35)
    issues = person_issues(person(age, labour_skill="5", **overrides), codes=codes, on=ON)
    no_issue(issues, "labour_skill")


@pytest.mark.parametrize(
    ("stage", "age", "plausible"),
    [
        ("21", 12, True),  # 七年级 (初中 12–17)
        ("23", 17, True),
        ("21", 11, False),
        ("23", 18, False),
        ("31", 15, True),  # 普通高中 (15–20)
        ("33", 20, True),
        ("31", 14, False),
        ("33", 21, False),
        ("41", 15, True),  # 中职 (15–20)
        ("43", 20, True),
        ("41", 13, False),
        ("42", 25, False),
        ("61", 18, True),  # 本科 (≥ 18)
        ("61", 17, False),
    ],
)
def test_school_stage_must_be_plausible_for_age(codes, stage, age, plausible):
    labour = "5" if age < 16 else "3"
    issues = person_issues(child(age, stage, labour_skill=labour), codes=codes, on=ON)
    if plausible:
        no_issue(issues, "school_status")
    else:
        issue = the_issue(issues, "school_status", containing="不符")
        assert f"{age} 岁" in issue.message
        assert codes.label("school_status", stage) in issue.message


def test_school_stage_ages_are_read_from_the_dictionary_not_from_code(codes):
    stricter = replace(
        codes,
        attributes={
            **codes.attributes,
            "school_status": {
                **codes.attributes["school_status"],
                "21": {"stage": "初中", "min_age": 13, "max_age": 15},
            },
        },
    )
    values = child(12, "21")
    no_issue(person_issues(values, codes=codes, on=ON), "school_status")
    the_issue(person_issues(values, codes=stricter, on=ON), "school_status", containing="13–15 岁")


def test_exactly_one_basic_medical_insurance_none_is_an_error(codes):
    issues = person_issues(
        person(resident_medical_insurance=False, employee_medical_insurance=False), codes=codes, on=ON
    )
    the_issue(issues, "resident_medical_insurance", containing="未参加基本医疗保险")


def test_exactly_one_basic_medical_insurance_both_is_an_error(codes):
    issues = person_issues(
        person(resident_medical_insurance=True, employee_medical_insurance=True), codes=codes, on=ON
    )
    the_issue(issues, "employee_medical_insurance", containing="只能参加一项")


def test_employee_insurance_alone_is_fine(codes):
    issues = person_issues(
        person(resident_medical_insurance=False, employee_medical_insurance=True), codes=codes, on=ON
    )
    assert issues == []


def test_disabled_person_needs_category_and_grade(codes):
    the_issue(
        person_issues(person(health=",4,"), codes=codes, on=ON), "disability_category", containing="残疾类别"
    )
    the_issue(
        person_issues(person(health=",4,", disability_category="4"), codes=codes, on=ON),
        "disability_category",
        containing="残疾等级",
    )
    fine = person(health=",2,4,", disability_category="4", disability_grade="2", labour_skill="3")
    assert person_issues(fine, codes=codes, on=ON) == []


@pytest.mark.parametrize("given", [{"disability_category": "4"}, {"disability_grade": "2"}])
def test_disability_category_or_grade_needs_health_disabled(codes, given):
    issues = person_issues(person(health=",2,", **given), codes=codes, on=ON)
    the_issue(issues, "disability_category", containing="应包含“残疾”")


def test_disability_certificate_must_match_category_grade_and_id(codes):
    values = person(health=",4,", disability_category="4", disability_grade="2", labour_skill="3")
    values["disability_certificate"] = values["id_number"] + "42"
    assert person_issues(values, codes=codes, on=ON) == []

    values["disability_certificate"] = values["id_number"] + "12"
    the_issue(person_issues(values, codes=codes, on=ON), "disability_certificate", containing="残疾类别")
    values["disability_certificate"] = values["id_number"] + "43"
    the_issue(person_issues(values, codes=codes, on=ON), "disability_certificate", containing="残疾等级")
    values["disability_certificate"] = "11010519491231002X42"
    the_issue(person_issues(values, codes=codes, on=ON), "disability_certificate", containing="前 18 位")


def test_healthy_may_not_be_combined_with_another_state(codes):
    no_issue(person_issues(person(health=",1,"), codes=codes, on=ON), "health")
    issues = person_issues(person(health=",1,2,"), codes=codes, on=ON)
    the_issue(issues, "health", containing="“健康”不能")


def test_health_is_required(codes):
    the_issue(person_issues(person(health=""), codes=codes, on=ON), "health", containing="不能为空")


@pytest.mark.parametrize(
    ("field", "bad_code"),
    [
        ("ethnicity", "77"),
        ("relation", "55"),
        ("labour_skill", "9"),
        ("education", "9"),
        ("dibao", "7"),
        ("sex", "3"),
    ],
)
def test_codes_missing_from_the_dictionary_are_refused(codes, field, bad_code):
    issues = person_issues(person(**{field: bad_code}), codes=codes, on=ON)
    issue = the_issue(issues, field, containing="不在数据字典中")
    assert bad_code in issue.message


def test_unknown_health_code_is_refused(codes):
    the_issue(
        person_issues(person(health=",8,"), codes=codes, on=ON), "health", containing="“8”不在数据字典中"
    )


def test_an_inactive_code_is_refused(codes):
    book = replace(codes, labels={**codes.labels, "ethnicity": {"01": "汉族"}})
    no_issue(person_issues(person(ethnicity="01"), codes=book, on=ON), "ethnicity")
    the_issue(
        person_issues(person(ethnicity="06"), codes=book, on=ON), "ethnicity", containing="不在数据字典中"
    )


def test_public_welfare_months_need_a_public_welfare_job(codes):
    no_issue(
        person_issues(person(public_welfare_job=True, public_welfare_months=6), codes=codes, on=ON),
        "public_welfare_months",
    )
    issues = person_issues(person(public_welfare_months=6), codes=codes, on=ON)
    the_issue(issues, "public_welfare_months", containing="公益性岗位")


def test_months_worked_away_cannot_exceed_twelve(codes):
    no_issue(person_issues(person(months_worked_away=12), codes=codes, on=ON), "months_worked_away")
    the_issue(person_issues(person(months_worked_away=13), codes=codes, on=ON), "months_worked_away")


# --- Members of one household ------------------------------------------------------------------------


def family() -> list[dict[str, Any]]:
    return [
        person(45, name="王大", sex="1", relation="01"),
        person(43, name="李二", sex="2", relation="02"),
        child(13, "21", name="王小", sex="2"),
    ]


def test_a_head_a_spouse_of_the_other_sex_and_a_child_is_fine(codes):
    assert household_member_issues(family(), codes=codes) == []


def test_a_household_needs_a_head(codes):
    members = [m for m in family() if m["relation"] != "01"]
    the_issue(household_member_issues(members, codes=codes), "relation", containing="必须有一名户主")


def test_a_household_has_only_one_head(codes):
    members = [*family(), person(70, name="王老", relation="01")]
    issue = the_issue(household_member_issues(members, codes=codes), "relation", containing="只能有一名户主")
    assert "王大" in issue.message and "王老" in issue.message


def test_a_household_has_at_most_one_spouse(codes):
    members = [*family(), person(40, name="赵三", sex="2", relation="02")]
    the_issue(household_member_issues(members, codes=codes), "relation", containing="最多一名配偶")


def test_head_and_spouse_of_the_same_sex_is_an_error(codes):
    members = family()
    members[1] = person(43, name="李二", sex="1", relation="02")
    the_issue(household_member_issues(members, codes=codes), "sex", containing="性别相同")


def test_the_same_id_twice_in_one_household_is_an_error(codes):
    members = family()
    members[2]["id_number"] = members[0]["id_number"]
    issue = the_issue(household_member_issues(members, codes=codes), "id_number", containing="重复")
    assert members[0]["id_number"] in issue.message


def test_the_same_id_in_lower_case_counts_as_a_repeat(codes):
    members = family()
    members[1]["id_number"] = "11010519491231002X"
    members[2]["id_number"] = "11010519491231002x"
    the_issue(household_member_issues(members, codes=codes), "id_number", containing="重复")


# --- The household -----------------------------------------------------------------------------------


def lifted(**overrides: Any) -> dict[str, Any]:
    values = {
        "household_type": "1",
        "poverty_attribute": "1",
        "lifted_year": 2018,
        "main_poverty_cause": "01",
        "other_poverty_causes": ",07,",
        "phone": "13812345678",
        "bank_account": "6217000012345678",
        "housing_grade": "A",
    }
    values.update(overrides)
    return values


def ordinary(**overrides: Any) -> dict[str, Any]:
    values = {"household_type": "2", "housing_grade": "B"}
    values.update(overrides)
    return values


def test_a_well_filled_lifted_household_has_no_issues(codes):
    assert household_issues(lifted(), codes=codes) == []


def test_a_well_filled_ordinary_household_has_no_issues(codes):
    assert household_issues(ordinary(), codes=codes) == []


def test_household_type_is_required_and_coded(codes):
    the_issue(
        household_issues(ordinary(household_type=""), codes=codes), "household_type", containing="不能为空"
    )
    the_issue(
        household_issues(ordinary(household_type="7"), codes=codes), "household_type", containing="数据字典"
    )


@pytest.mark.parametrize(
    ("missing", "field"),
    [
        ("poverty_attribute", "poverty_attribute"),
        ("lifted_year", "lifted_year"),
        ("main_poverty_cause", "main_poverty_cause"),
    ],
)
def test_lifted_household_needs_attribute_year_and_cause(codes, missing, field):
    issues = household_issues(lifted(**{missing: None if missing == "lifted_year" else ""}), codes=codes)
    the_issue(issues, field, containing="脱贫户须填写")


def test_lifted_year_must_be_between_2014_and_2020(codes):
    no_issue(household_issues(lifted(lifted_year=2014), codes=codes), "lifted_year")
    the_issue(household_issues(lifted(lifted_year=2021), codes=codes), "lifted_year", containing="2014–2020")
    the_issue(household_issues(lifted(lifted_year=2013), codes=codes), "lifted_year", containing="2014–2020")


@pytest.mark.parametrize(
    ("given", "field"),
    [
        ({"poverty_attribute": "1"}, "poverty_attribute"),
        ({"lifted_year": 2018}, "poverty_attribute"),
        ({"main_poverty_cause": "01"}, "main_poverty_cause"),
        ({"other_poverty_causes": ",05,"}, "other_poverty_causes"),
    ],
)
def test_ordinary_household_has_no_poverty_attribute_year_or_cause(codes, given, field):
    issues = household_issues(ordinary(**given), codes=codes)
    the_issue(issues, field, containing="一般农户")


def test_at_most_five_risk_types(codes):
    no_issue(
        household_issues(ordinary(monitoring_type="2", risk_types=",01,02,03,05,07,"), codes=codes),
        "risk_types",
    )
    issues = household_issues(ordinary(monitoring_type="2", risk_types=",01,02,03,05,07,08,"), codes=codes)
    the_issue(issues, "risk_types", containing="最多 5 项")


def test_unknown_risk_type_is_refused(codes):
    issues = household_issues(ordinary(monitoring_type="2", risk_types=",01,55,"), codes=codes)
    the_issue(issues, "risk_types", containing="“55”不在数据字典中")


def test_monitoring_object_needs_a_risk_type(codes):
    no_issue(household_issues(ordinary(monitoring_type="2", risk_types=",08,"), codes=codes), "risk_types")
    issues = household_issues(ordinary(monitoring_type="2", risk_types=""), codes=codes)
    the_issue(issues, "risk_types", containing="至少填写一项风险类型")


def test_unknown_monitoring_type_is_refused(codes):
    issues = household_issues(ordinary(monitoring_type="9", risk_types=",01,"), codes=codes)
    the_issue(issues, "monitoring_type", containing="不在数据字典中")


def test_natural_disaster_risk_needs_a_disaster_subtype(codes):
    good = ordinary(monitoring_type="3", risk_types=",04,", disaster_subtype="1")
    assert household_issues(good, codes=codes) == []
    issues = household_issues(ordinary(monitoring_type="3", risk_types=",04,"), codes=codes)
    the_issue(issues, "disaster_subtype", containing="须填写灾害类型")


def test_disaster_subtype_needs_natural_disaster_risk(codes):
    issues = household_issues(
        ordinary(monitoring_type="3", risk_types=",01,", disaster_subtype="1"), codes=codes
    )
    the_issue(issues, "disaster_subtype", containing="没有“因自然灾害”")


def test_unknown_disaster_subtype_is_refused(codes):
    issues = household_issues(
        ordinary(monitoring_type="3", risk_types=",04,", disaster_subtype="8"), codes=codes
    )
    the_issue(issues, "disaster_subtype", containing="不在数据字典中")


def test_at_most_two_other_poverty_causes(codes):
    no_issue(household_issues(lifted(other_poverty_causes=",05,07,"), codes=codes), "other_poverty_causes")
    issues = household_issues(lifted(other_poverty_causes=",05,07,09,"), codes=codes)
    the_issue(issues, "other_poverty_causes", containing="最多 2 项")


def test_other_poverty_causes_do_not_repeat_the_main_cause(codes):
    issues = household_issues(lifted(main_poverty_cause="01", other_poverty_causes=",01,07,"), codes=codes)
    the_issue(issues, "other_poverty_causes", containing="不能与主要致贫原因重复")


def test_unknown_poverty_causes_are_refused(codes):
    the_issue(household_issues(lifted(main_poverty_cause="55"), codes=codes), "main_poverty_cause")
    the_issue(
        household_issues(lifted(other_poverty_causes=",66,"), codes=codes),
        "other_poverty_causes",
        containing="“66”",
    )


@pytest.mark.parametrize("phone", ["13812345678", "0855-3331234", "08553331234", "010-12345678"])
def test_phone_may_be_a_mobile_or_a_landline_with_area_code(codes, phone):
    no_issue(household_issues(ordinary(phone=phone), codes=codes), "phone")


@pytest.mark.parametrize("phone", ["12345", "138123456789", "3331234", "1381234567a", "+8613812345678"])
def test_malformed_phone_is_refused(codes, phone):
    the_issue(household_issues(ordinary(phone=phone), codes=codes), "phone", containing="手机号")


@pytest.mark.parametrize("account", ["6217000012345678", "6217 0000 1234 5678 901", "622202123456"])
def test_bank_account_of_12_to_30_digits_is_accepted(codes, account):
    no_issue(household_issues(ordinary(bank_account=account), codes=codes), "bank_account")


@pytest.mark.parametrize("account", ["62170000", "6217-0000-1234-5678", "62170000abcd1234", "6" * 31])
def test_malformed_bank_account_is_refused(codes, account):
    the_issue(
        household_issues(ordinary(bank_account=account), codes=codes),
        "bank_account",
        containing="12–30 位数字",
    )


def test_unknown_housing_grade_and_fuel_are_refused(codes):
    issues = household_issues(ordinary(housing_grade="E", fuel="7"), codes=codes)
    the_issue(issues, "housing_grade", containing="不在数据字典中")
    the_issue(issues, "fuel", containing="不在数据字典中")


def test_the_same_phone_on_another_household_is_a_warning():
    issue = shared_phone_issue("13812345678", ["H001", "H002"])
    assert issue is not None and issue.severity == "warning" and "H001" in issue.message
    assert shared_phone_issue("13812345678", []) is None


# --- A year's income ---------------------------------------------------------------------------------


def income(**overrides: Any) -> dict[str, Any]:
    values = {"year": 2024, "household_size": 3, "wage_income": "12000", "production_cost": "2000.50"}
    values.update(overrides)
    return values


def test_a_well_filled_income_has_no_issues():
    assert income_issues(income(), amount_fields=AMOUNTS, on=ON) == []


def test_negative_amount_is_refused():
    issues = income_issues(income(farming_income="-1"), amount_fields=AMOUNTS, on=ON)
    the_issue(issues, "farming_income", containing="不能为负数")


def test_amount_that_is_not_a_number_is_refused():
    issues = income_issues(income(wage_income="一万"), amount_fields=AMOUNTS, on=ON)
    the_issue(issues, "wage_income", containing="不是有效数字")


def test_future_year_is_refused():
    no_issue(income_issues(income(year=ON.year), amount_fields=AMOUNTS, on=ON), "year")
    issues = income_issues(income(year=ON.year + 1), amount_fields=AMOUNTS, on=ON)
    the_issue(issues, "year", containing="未来年度")


def test_year_is_required():
    the_issue(income_issues(income(year=None), amount_fields=AMOUNTS, on=ON), "year", containing="不能为空")


@pytest.mark.parametrize("size", [0, -2, None])
def test_household_size_below_one_is_refused(size):
    issues = income_issues(income(household_size=size), amount_fields=AMOUNTS, on=ON)
    the_issue(issues, "household_size", containing="至少为 1 人")


# --- From issues to a ValidationError ----------------------------------------------------------------


def test_raise_for_errors_keys_messages_by_field_and_ignores_warnings():
    with pytest.raises(ValidationError) as exc_info:
        raise_for_errors(
            [
                Issue("phone", "联系电话格式错误。"),
                Issue("phone", "联系电话重复。"),
                Issue("labour_skill", "请核实。", "warning"),
            ]
        )
    assert exc_info.value.message_dict == {"phone": ["联系电话格式错误。", "联系电话重复。"]}


def test_raise_for_errors_passes_when_there_are_no_errors():
    raise_for_errors([])
