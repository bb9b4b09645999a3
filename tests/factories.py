"""Small builders of valid test data. Each returns saved objects; override any field by keyword."""

import csv
import datetime as dt
import functools
import itertools
import json
from pathlib import Path
from typing import Any

from django.conf import settings

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


@functools.cache
def _dictionary_rows() -> tuple[dict[str, str], ...]:
    path = Path(settings.BASE_DIR) / "fixtures" / "data_dictionary.csv"
    with path.open(encoding="utf-8") as handle:
        return tuple(csv.DictReader(handle))


SEEDED_RULE_MIGRATIONS = ("risk.migrations.0002_seed_warning_rules", "risk.migrations.0013_declared_department_rules")


def fill_warning_rules() -> None:
    """The department warning rules as their data migrations seed them, when a flush has emptied the table (a
    region-wide job run in a transactional test evaluates them)."""
    import importlib

    from django.apps import apps

    from risk.models import WarningRule

    if not WarningRule.objects.exists():
        for module in SEEDED_RULE_MIGRATIONS:
            importlib.import_module(module).seed(apps, None)


def fill_assistance_catalogue() -> None:
    """The assistance categories, subtypes and expected measures as their data migration loads them, when a flush
    has emptied them (a report built in a transactional test records measures)."""
    from resources.catalogue import load_catalogue
    from resources.models import AssistanceCategory

    if not AssistanceCategory.objects.exists():
        load_catalogue()


def fill_data_dictionary() -> None:
    """The code tables as the data migration fills them, when a flush has emptied them (two bulk inserts: loading
    through load_data_dictionary() costs a second or two a test)."""
    from households.codes import forget_codebook
    from households.models import Code, CodeSet

    if not Code.objects.exists():
        rows = _dictionary_rows()
        codesets = {}
        for row in rows:
            slug = row["codeset"]
            codesets.setdefault(
                slug, CodeSet(slug=slug, name=row["codeset_name"], description=row["codeset_description"])
            )
        CodeSet.objects.bulk_create(codesets.values(), ignore_conflicts=True)
        Code.objects.bulk_create(
            [
                Code(
                    codeset_id=row["codeset"],
                    code=row["code"],
                    label=row["label"],
                    label_en=row.get("label_en", ""),
                    meaning=row["meaning"],
                    attributes=json.loads(row["attributes"]) if row["attributes"] else {},
                    sort_order=int(row["sort_order"]),
                )
                for row in rows
            ]
        )
    forget_codebook()
