"""Row checks of a department file, each with its Chinese reason; repeats found across chunks."""

import datetime as dt

import numpy as np
import pandas as pd
import pytest
from django.core.exceptions import ValidationError

from exchange.departments import CIVIL_AFFAIRS, EDUCATION, HEALTH
from exchange.readers import match_header
from exchange.validate import FileValidator, check_id_numbers, parse_date, parse_period
from households.codes import codebook
from households.validation import parse_resident_id
from tests.exchange.files import (
    CIVIL_COLUMNS,
    EDUCATION_COLUMNS,
    HEALTH_COLUMNS,
    bad_check,
    civil_row,
    education_row,
    health_row,
    resident_ids,
)
from tests.factories import resident_id

pytestmark = pytest.mark.django_db
TODAY = dt.date(2025, 6, 1)
A = resident_id(dt.date(1980, 5, 17), sex="1", sequence=11)
B = resident_id(dt.date(1975, 2, 3), sex="2", sequence=12)
C = resident_id(dt.date(2012, 9, 30), sex="1", sequence=13)


def validator(department=HEALTH, header=HEALTH_COLUMNS, period="2025-03") -> FileValidator:
    match = match_header(department, list(header))
    return FileValidator(
        department=department,
        codes=codebook(),
        positions=match.positions,
        headers=match.headers,
        period=period,
        today=TODAY,
    )


def frame(rows) -> pd.DataFrame:
    return pd.DataFrame([[str(v) for v in row] for row in rows], dtype=object)


def check(rows, department=HEALTH, header=HEALTH_COLUMNS, **kwargs):
    return validator(department, header, **kwargs).validate(frame(rows), 1)


def reasons(outcome) -> dict[int, list[str]]:
    return {r.row_number: r.reasons for r in outcome.rejected}


# --- ID numbers ----------------------------------------------------------------------------------------


def test_a_valid_id_number_is_accepted_and_an_x_is_upper_cased():
    x_id = next(i for i in resident_ids(200, np.random.default_rng(3)).tolist() if i.endswith("X"))
    outcome = check([health_row(A, "张三"), health_row(x_id.lower(), "李四")])
    assert outcome.rejected == []
    assert outcome.accepted["id_number"].tolist() == [A, x_id]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("", "证件号码不能为空。"),
        ("52263419800517", "证件号码应为 18 位，这里是 14 位。"),
        ("52263419800517A01X", "证件号码前 17 位必须是数字，最后一位是数字或 X。"),
        ("111111111111111111", "证件号码看起来是占位号码（如全部相同或连续的数字），请填写真实号码。"),
        ("522634198002301234", "证件号码中的出生日期 19800230 不是有效日期。"),
        (resident_id(dt.date(2030, 1, 1)), "证件号码中的出生日期 2030-01-01 不合理。"),
    ],
)
def test_each_id_number_fault_has_its_reason(value, reason):
    assert reasons(check([health_row(value, "张三")])) == {1: [reason]}


def test_a_wrong_check_character_names_the_right_one():
    wrong = bad_check(A)
    [reason] = reasons(check([health_row(wrong, "张三")]))[1]
    assert reason == f"证件号码校验位错误：最后一位应为 {A[17]}，实际为 {wrong[17]}，请核对号码。"


def test_the_vectorised_id_check_agrees_with_the_scalar_one():
    rng = np.random.default_rng(11)
    good = resident_ids(3000, rng)
    mutated = good.copy().astype(object)
    for i in range(0, 3000, 3):
        position = int(rng.integers(0, 18))
        digit = str(int(rng.integers(0, 10)))
        mutated[i] = mutated[i][:position] + digit + mutated[i][position + 1 :]
    samples = np.concatenate(
        [
            good.astype(object),
            mutated,
            np.array(
                [
                    "",
                    "X" * 18,
                    "000000198001011234",
                    "123456789012345678",
                    "52263418000101123X",
                    "522634179912311234",
                    "52263419800517123",
                    "5226341980051712345",
                    "５２２６３４",
                ],
                dtype=object,
            ),
        ]
    )
    vectorised = check_id_numbers(samples, today=TODAY).valid

    def scalar(value: str) -> bool:
        try:
            parse_resident_id(value, today=TODAY)
        except ValidationError:
            return False
        return True

    assert vectorised.tolist() == [scalar(v) for v in samples.tolist()]


# --- Codes, dates, amounts, integers, flags, text, periods ---------------------------------------------


def test_a_code_may_be_given_by_its_label_or_its_code_and_the_code_is_kept():
    outcome = check([health_row(A, "张三", 参保类型="城镇职工"), health_row(B, "李四", 参保类型="1")])
    assert outcome.rejected == []
    assert outcome.accepted["insurance_type"].tolist() == ["2", "1"]


def test_a_value_outside_the_code_list_is_rejected_naming_the_choices():
    assert reasons(check([health_row(A, "张三", 参保类型="新农合")])) == {
        1: ["参保类型“新农合”不在数据字典中（可填：城乡居民、城镇职工）。"]
    }


def test_a_required_code_left_blank_is_rejected():
    rows = [education_row(A, "张三", 学段="")]
    assert reasons(check(rows, EDUCATION, EDUCATION_COLUMNS)) == {1: ["学段不能为空。"]}


def test_a_field_required_only_when_a_flag_is_yes():
    rows = [
        health_row(A, "张三", 参保状态="已参保", 参保类型=""),
        health_row(B, "李四", 参保状态="未参保", 参保类型=""),
    ]
    assert reasons(check(rows)) == {1: ["参保类型不能为空（参保状态为“是”时必填）。"]}


@pytest.mark.parametrize("written", ["2024-05-06", "2024/5/6", "20240506", "2024年5月6日", "2024.5.6"])
def test_dates_in_the_departments_formats_are_accepted_and_normalised(written):
    outcome = check([health_row(A, "张三", 大病确诊日期=written)])
    assert outcome.rejected == []
    assert outcome.accepted["serious_diagnosis_date"].tolist() == [dt.date(2024, 5, 6)]


@pytest.mark.parametrize("written", ["2024-02-30", "06/05/2024", "去年", "1800-01-01"])
def test_a_date_that_is_not_one_is_rejected(written):
    assert reasons(check([health_row(A, "张三", 大病确诊日期=written)])) == {
        1: [f"大病确诊日期“{written}”不是有效日期（可写作 2025-03-01、2025/3/1、20250301 或 2025年3月1日）。"]
    }


def test_the_same_content_written_in_two_date_formats_has_the_same_hash():
    first = check([health_row(A, "张三", 大病确诊日期="2024-05-06")])
    second = check([health_row(A, "张三", 大病确诊日期="2024年5月6日")])
    assert first.accepted["row_hash"].tolist() == second.accepted["row_hash"].tolist()
    other = check([health_row(A, "张三", 大病确诊日期="2024-05-07")])
    assert other.accepted["row_hash"].tolist() != first.accepted["row_hash"].tolist()


def test_amounts_must_be_numbers_not_negative_and_within_the_limit():
    rows = [
        health_row(A, "张三", **{"年度累计自付费用（元）": "1,234.5"}),
        health_row(B, "李四", **{"年度累计自付费用（元）": "很多"}),
        health_row(C, "王五", **{"年度累计自付费用（元）": "-5"}),
        health_row(
            resident_id(dt.date(1990, 1, 1), sequence=14), "赵六", **{"年度累计自付费用（元）": "6000000"}
        ),
    ]
    outcome = check(rows)
    assert reasons(outcome) == {
        2: ["年度累计自付费用（元）“很多”不是有效金额。"],
        3: ["年度累计自付费用（元）不能为负数（-5）。"],
        4: ["年度累计自付费用（元）“6000000”超过上限 5,000,000。"],
    }
    assert outcome.accepted["out_of_pocket_ytd"].tolist() == [1234.5]


def test_integers_must_be_whole_and_within_the_limit():
    rows = [
        civil_row(A, "张三", 本年临时救助次数="2"),
        civil_row(B, "李四", 本年临时救助次数="1.5"),
        civil_row(C, "王五", 本年临时救助次数="101"),
    ]
    assert reasons(check(rows, CIVIL_AFFAIRS, CIVIL_COLUMNS)) == {
        2: ["本年临时救助次数“1.5”应为整数。"],
        3: ["本年临时救助次数“101”超过上限 100。"],
    }


@pytest.mark.parametrize(
    ("written", "value"),
    [
        ("是", True),
        ("否", False),
        ("1", True),
        ("0", False),
        ("Y", True),
        ("n", False),
        ("已参保", True),
        ("未参保", False),
    ],
)
def test_flags_are_read_in_the_ways_departments_write_them(written, value):
    outcome = check([health_row(A, "张三", 参保状态=written, 参保类型="城乡居民")])
    assert outcome.accepted["insured"].tolist() == [value]


def test_a_flag_that_is_neither_yes_nor_no_is_rejected():
    assert reasons(check([health_row(A, "张三", 大病保险="也许")])) == {1: ["大病保险“也许”应填“是”或“否”。"]}


def test_text_longer_than_the_field_is_rejected():
    long_name = "欧阳" * 26
    assert reasons(check([health_row(A, long_name)])) == {1: ["姓名超过 50 个字符（52 个）。"]}


def test_a_period_must_be_a_month_and_the_batch_period():
    rows = [
        health_row(A, "张三", 统计期="2025年3月"),
        health_row(B, "李四", 统计期="2025-13"),
        health_row(C, "王五", 统计期="2025-02"),
    ]
    outcome = check(rows)
    assert reasons(outcome) == {
        2: ["统计期“2025-13”应写作 YYYY-MM，如 2025-03。"],
        3: ["统计期 2025-02 与本批次的统计期 2025-03 不一致。"],
    }
    assert outcome.accepted["period"].tolist() == ["2025-03"]
    assert parse_period("202503") == "2025-03" and parse_date("2025年3月1日") == dt.date(2025, 3, 1)


def test_every_reason_of_a_row_is_listed():
    outcome = check([health_row(bad_check(A), "", 参保类型="新农合", 大病保险="?")])
    assert len(reasons(outcome)[1]) == 4


# --- Repeats -------------------------------------------------------------------------------------------


def test_an_exact_repeat_and_a_repeated_id_number_are_rejected_pointing_at_the_first_row():
    rows = [
        health_row(A, "张三"),
        health_row(B, "李四"),
        health_row(A, "张三"),
        health_row(B, "李四", **{"年度累计自付费用（元）": "99"}),
    ]
    outcome = check(rows)
    assert reasons(outcome) == {3: ["整行与第 1 行重复。"], 4: ["证件号码与第 2 行重复。"]}
    assert outcome.accepted["row_number"].tolist() == [1, 2]


def test_repeats_are_found_across_chunks():
    checker = validator()
    first = checker.validate(frame([health_row(A, "张三"), health_row(B, "李四")]), 1)
    second = checker.validate(frame([health_row(C, "王五"), health_row(B, "李四"), health_row(A, "张")]), 3)
    assert first.rejected == []
    assert reasons(second) == {4: ["整行与第 2 行重复。"], 5: ["证件号码与第 1 行重复。"]}


def test_blank_rows_are_skipped_but_keep_their_row_numbers():
    blank = [""] * len(HEALTH_COLUMNS)
    outcome = check([health_row(A, "张三"), blank, health_row(B, "李四", 参保类型="x")])
    assert outcome.total == 2 and outcome.skipped_blank == 1
    assert list(reasons(outcome)) == [3]


def test_accepted_plus_rejected_is_the_total_of_a_chunk():
    rng = np.random.default_rng(5)
    ids = resident_ids(500, rng).tolist()
    rows = [health_row(i if k % 7 else bad_check(i), "张三") for k, i in enumerate(ids)]
    rows += rows[:30]
    outcome = check(rows)
    assert outcome.accepted_count + len(outcome.rejected) == outcome.total == 530
