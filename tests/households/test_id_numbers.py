"""Resident ID numbers (GB 11643-1999) and disability certificate numbers."""

import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from households.validation import (
    id_check_character,
    parse_resident_id,
    validate_disability_certificate,
    validate_id_number,
)
from tests.factories import resident_id

STANDARD_EXAMPLE = "11010519491231002X"  # the example printed in GB 11643-1999
OTHER_PUBLISHED_EXAMPLE = "440524188001010014"


def iso_7064_mod_11_2(body: str) -> str:
    """The check character computed the other way the standard states it: Σ aᵢ·2^(17−i) mod 11."""
    total = sum(int(digit) * pow(2, 17 - index, 11) for index, digit in enumerate(body))
    value = (12 - total % 11) % 11
    return "X" if value == 10 else str(value)


def with_check(body: str) -> str:
    return body + id_check_character(body)


def message_of(exc_info: pytest.ExceptionInfo) -> str:
    return " ".join(exc_info.value.messages)


# --- Valid numbers -----------------------------------------------------------------------------------


def test_the_standards_published_example_is_valid():
    resident = parse_resident_id(STANDARD_EXAMPLE)
    assert resident.number == STANDARD_EXAMPLE
    assert resident.region_code == "110105"
    assert resident.birth_date == dt.date(1949, 12, 31)
    assert resident.sequence == "002"
    assert resident.sex == "2"  # even sequence digit: female


def test_another_widely_published_example_is_valid():
    resident = parse_resident_id(OTHER_PUBLISHED_EXAMPLE)
    assert resident.region_code == "440524"
    assert resident.birth_date == dt.date(1880, 1, 1)
    assert resident.sex == "1"  # odd sequence digit: male


@pytest.mark.parametrize("number", [STANDARD_EXAMPLE, OTHER_PUBLISHED_EXAMPLE])
def test_check_character_of_published_examples_is_reproduced(number):
    assert id_check_character(number[:17]) == number[17]


@pytest.mark.parametrize(
    "body",
    [
        "52263419800517001",
        "52263420120229013",  # born on a leap day
        "52263419561002202",
        "11010119900307747",
        "32010619991231998",
        "52263420050101003",
    ],
)
def test_check_character_agrees_with_the_iso_7064_formulation(body):
    assert id_check_character(body) == iso_7064_mod_11_2(body)
    number = body + iso_7064_mod_11_2(body)
    assert parse_resident_id(number).number == number


def test_every_check_character_value_occurs_and_is_accepted():
    """Walk sequence numbers until each of 1 0 X 9 … 2 has been produced once; all of them parse."""
    seen = {}
    for sequence in range(1, 400):
        number = with_check(f"522634198005{17:02d}{sequence:03d}")
        seen.setdefault(number[-1], number)
    assert set(seen) == set("10X98765432")
    for number in seen.values():
        assert parse_resident_id(number).number == number


def test_lower_case_x_is_accepted_as_capital_x():
    resident = parse_resident_id(STANDARD_EXAMPLE.lower())
    assert resident.number == STANDARD_EXAMPLE


def test_surrounding_spaces_are_ignored():
    assert parse_resident_id(f"  {STANDARD_EXAMPLE} ").number == STANDARD_EXAMPLE


def test_the_django_field_validator_accepts_a_valid_number():
    validate_id_number(STANDARD_EXAMPLE)


def test_test_factory_builds_valid_numbers_of_the_requested_sex():
    male = parse_resident_id(resident_id(dt.date(1980, 5, 17), sex="1"))
    female = parse_resident_id(resident_id(dt.date(1980, 5, 17), sex="2"))
    assert (male.sex, female.sex) == ("1", "2")


# --- Refused numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize("wrong", [c for c in "0123456789X" if c != "X"])
def test_wrong_check_character_is_refused_and_the_right_one_is_named(wrong):
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(STANDARD_EXAMPLE[:17] + wrong)
    assert exc_info.value.code == "id_check"
    assert "校验位" in message_of(exc_info)
    assert "应为 X" in message_of(exc_info)


def test_a_single_mistyped_digit_is_caught_by_the_check_character():
    typo = "11010519491231003X"  # 002 → 003
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(typo)
    assert exc_info.value.code == "id_check"


@pytest.mark.parametrize(
    "number",
    [
        STANDARD_EXAMPLE[:17],  # 17 characters
        STANDARD_EXAMPLE + "1",  # 19 characters
        "110105491231002",  # an old 15-digit number
        "",
    ],
)
def test_wrong_length_is_refused_with_a_chinese_message(number):
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(number)
    assert exc_info.value.code in {"id_length", "id_blank"}
    assert "证件号码" in message_of(exc_info)


def test_length_message_says_how_long_the_number_was():
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(STANDARD_EXAMPLE[:17])
    assert "18 位" in message_of(exc_info)
    assert "17 位" in message_of(exc_info)


@pytest.mark.parametrize(
    "number",
    [
        "11010519491231O02X",  # letter O instead of zero
        "1101051949123100XX",  # X before the last place
        "110105194912310 2X",
        "１１０１０５１９４９１２３１００２Ｘ",  # full-width digits
        "４４０５２４１８８００１０１００１４",  # full-width digits only (a Unicode \d matches them)
        "٤٤٠٥٢٤١٨٨٠٠١٠١٠٠١٤",  # Arabic-Indic digits
    ],
)
def test_letters_or_other_characters_are_refused(number):
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(number)
    assert exc_info.value.code == "id_characters"
    assert "数字" in message_of(exc_info)


@pytest.mark.parametrize("date", ["19900230", "19901301", "19900000", "19000229"])
def test_impossible_birth_date_is_refused(date):
    number = with_check(f"522634{date}012")
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(number)
    assert exc_info.value.code == "id_birth_date"
    assert "不是有效日期" in message_of(exc_info)


def test_a_leap_day_is_a_valid_birth_date():
    assert parse_resident_id(with_check("52263420000229012")).birth_date == dt.date(2000, 2, 29)


def test_future_birth_date_is_refused():
    number = with_check("52263420300101012")
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(number, today=dt.date(2025, 6, 1))
    assert exc_info.value.code == "id_birth_date"
    assert "不合理" in message_of(exc_info)


def test_born_today_is_accepted_but_tomorrow_is_not():
    today = dt.date(2025, 6, 1)
    assert parse_resident_id(with_check("52263420250601012"), today=today).birth_date == today
    with pytest.raises(ValidationError):
        parse_resident_id(with_check("52263420250602012"), today=today)


@pytest.mark.parametrize(
    "number",
    [
        "111111111111111111",
        "000000000000000000",
        "888888888888888888",
        "123456789012345678",
        with_check("12345678901234567"),  # sequential digits even with a correct check character
        with_check("00000019900101012"),  # no region
    ],
)
def test_placeholder_numbers_are_refused(number):
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(number)
    assert exc_info.value.code == "id_placeholder"
    assert "占位" in message_of(exc_info)


def test_the_django_field_validator_refuses_a_bad_number():
    with pytest.raises(ValidationError):
        validate_id_number("11010519491231002Y")


# --- Disability certificate numbers (ID + category + grade) ------------------------------------------


def test_a_twenty_character_disability_certificate_is_valid():
    validate_disability_certificate(STANDARD_EXAMPLE + "42", id_number=STANDARD_EXAMPLE)


def test_disability_certificate_accepts_lower_case_x():
    validate_disability_certificate(STANDARD_EXAMPLE.lower() + "11", id_number=STANDARD_EXAMPLE)


@pytest.mark.parametrize("category", ["0", "8", "9", "A"])
def test_disability_certificate_with_bad_category_digit_is_refused(category):
    with pytest.raises(ValidationError) as exc_info:
        validate_disability_certificate(f"{STANDARD_EXAMPLE}{category}2")
    assert "残疾类别" in message_of(exc_info)
    assert "1–7" in message_of(exc_info)


@pytest.mark.parametrize("grade", ["0", "5", "9"])
def test_disability_certificate_with_bad_grade_is_refused(grade):
    with pytest.raises(ValidationError) as exc_info:
        validate_disability_certificate(f"{STANDARD_EXAMPLE}4{grade}")
    assert "残疾等级" in message_of(exc_info)
    assert "1–4" in message_of(exc_info)


def test_disability_certificate_of_someone_else_is_refused():
    with pytest.raises(ValidationError) as exc_info:
        validate_disability_certificate(STANDARD_EXAMPLE + "42", id_number=OTHER_PUBLISHED_EXAMPLE)
    assert "前 18 位" in message_of(exc_info)
    assert "一致" in message_of(exc_info)


@pytest.mark.parametrize("number", [STANDARD_EXAMPLE, STANDARD_EXAMPLE + "4", STANDARD_EXAMPLE + "421"])
def test_disability_certificate_of_wrong_length_is_refused(number):
    with pytest.raises(ValidationError) as exc_info:
        validate_disability_certificate(number)
    assert "20 位" in message_of(exc_info)


def test_disability_certificate_whose_id_part_is_invalid_is_refused():
    with pytest.raises(ValidationError) as exc_info:
        validate_disability_certificate("11010519491231002542")
    assert "校验位" in message_of(exc_info)


def test_birth_year_before_1800_is_refused():
    with pytest.raises(ValidationError) as exc_info:
        parse_resident_id(with_check("52263417991231012"))
    assert exc_info.value.code == "id_birth_date"
