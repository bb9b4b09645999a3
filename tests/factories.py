"""Small builders of valid test data. Each returns saved objects; override any field by keyword."""

import datetime as dt
import itertools
from typing import Any

from households.models import Household, IncomeRecord, Person
from households.validation import id_check_character

_sequence = itertools.count(1)

TOWNSHIP_A = "522634101000"  # 西江镇
TOWNSHIP_B = "522634103000"  # 郎德镇
VILLAGE_A = "522634101200"  # 西江村
VILLAGE_A2 = "522634101201"  # 麻料村
VILLAGE_B = "522634103200"  # 郎德上寨
COUNTY = "522634000000"


def resident_id(birth: dt.date, *, sex: str = "1", region: str = "522634", sequence: int | None = None) -> str:
    """A valid 18-character ID: odd sequence digit for men ("1"), even for women ("2")."""
    seq = sequence if sequence is not None else next(_sequence) % 50
    last = (seq * 2 + (1 if sex == "1" else 0)) % 10
    body = f"{region}{birth:%Y%m%d}{seq % 100:02d}{last}"
    return body + id_check_character(body)


def person_values(**overrides: Any) -> dict[str, Any]:
    birth = overrides.pop("birth_date", dt.date(1980, 5, 17))
    sex = overrides.pop("sex", "1")
    values = {
        "id_number": resident_id(birth, sex=sex),
        "name": "张三",
        "sex": sex,
        "birth_date": birth,
        "ethnicity": "06",
        "relation": "01",
        "health": ",1,",
        "labour_skill": "1",
        "education": "3",
        "school_status": "",
        "resident_medical_insurance": True,
        "employee_medical_insurance": False,
    }
    values.update(overrides)
    return values


def household_values(**overrides: Any) -> dict[str, Any]:
    values = {
        "number": f"5226341012{next(_sequence):08d}",
        "village_id": VILLAGE_A,
        "household_type": "2",
        "phone": "",
        "housing_grade": "A",
    }
    values.update(overrides)
    return values


def make_household(*, with_head: bool = True, **overrides: Any) -> Household:
    household = Household.objects.create(**household_values(**overrides))
    if with_head:
        make_person(household)
    return household


def make_person(household: Household, **overrides: Any) -> Person:
    return Person.objects.create(household=household, **person_values(**overrides))


def make_income(household: Household, year: int = 2024, **overrides: Any) -> IncomeRecord:
    values = {"year": year, "household_size": 1, "wage_income": 12000, "production_cost": 2000}
    values.update(overrides)
    return IncomeRecord.objects.create(household=household, **values)
