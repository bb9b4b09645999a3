"""The assistance catalogue and the risk type → measure expectations as the rest of the app reads them:
loaded from their tables (filled from fixtures/ by a data migration, edited by administrators), cached."""

import csv
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import transaction

from households.validation import split_codes
from resources.models import AssistanceCategory, AssistanceSubtype, ExpectedMeasure

CACHE_KEY = "resources:catalogue"
CACHE_SECONDS = 300
CATALOGUE_CSV = Path(settings.BASE_DIR) / "fixtures" / "assistance_catalogue.csv"
EXPECTATIONS_CSV = Path(settings.BASE_DIR) / "fixtures" / "assistance_expected_measures.csv"

# Codes that rules name (fixtures/assistance_catalogue.csv gives their labels and limits).
CATEGORY_SOCIAL_PROTECTION = "08"  # 综合保障
SUBTYPE_DIBAO, SUBTYPE_TEKUN, SUBTYPE_DISABILITY_ALLOWANCES = "0801", "0802", "0803"


@dataclass(frozen=True)
class Category:
    code: str
    name: str
    development: bool


@dataclass(frozen=True)
class Subtype:
    code: str
    category: str
    name: str
    attributes: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    @property
    def max_amount(self) -> int | None:
        return self.attributes.get("max_amount")

    @property
    def max_months(self) -> int | None:
        return self.attributes.get("max_months")

    @property
    def person_required(self) -> bool:
        return bool(self.attributes.get("person_required"))


@dataclass(frozen=True)
class Expectation:
    risk_type: str
    name: str
    categories: tuple[str, ...]
    subtypes: tuple[str, ...]
    mandatory: bool
    condition: str

    def satisfied_by(self, category: str, subtype: str | None) -> bool:
        return category in self.categories and (not self.subtypes or (subtype or "") in self.subtypes)


@dataclass
class Catalogue:
    categories: dict[str, Category]
    subtypes: dict[str, Subtype]
    expectations: list[Expectation]

    def subtypes_of(self, category: str) -> list[Subtype]:
        return [s for s in self.subtypes.values() if s.category == category]

    def label(self, category: str, subtype: str | None = None) -> str:
        if subtype and subtype in self.subtypes:
            return self.subtypes[subtype].name
        found = self.categories.get(category)
        return found.name if found else category

    def expectations_for(self, risk_types: list[str]) -> list[Expectation]:
        wanted = set(risk_types)
        return [e for e in self.expectations if e.risk_type in wanted]

    @property
    def development_categories(self) -> set[str]:
        return {code for code, c in self.categories.items() if c.development}


def catalogue() -> Catalogue:
    found = cache.get(CACHE_KEY)
    if found is None:
        categories = {
            c.code: Category(c.code, c.name, c.development)
            for c in AssistanceCategory.objects.filter(active=True)
        }
        subtypes = {
            s.code: Subtype(s.code, s.category_id, s.name, s.attributes or {})
            for s in AssistanceSubtype.objects.filter(active=True, category__active=True)
        }
        expectations = [
            Expectation(
                risk_type=e.risk_type,
                name=e.name,
                categories=tuple(split_codes(e.categories)),
                subtypes=tuple(split_codes(e.subtypes)),
                mandatory=e.mandatory,
                condition=e.condition,
            )
            for e in ExpectedMeasure.objects.all()
        ]
        found = Catalogue(categories=categories, subtypes=subtypes, expectations=expectations)
        cache.set(CACHE_KEY, found, CACHE_SECONDS)
    return found


def forget_catalogue() -> None:
    cache.delete(CACHE_KEY)


def _wrapped(value: str) -> str:
    codes = split_codes(value)
    return f",{','.join(codes)}," if codes else ""


@transaction.atomic
def load_catalogue(
    catalogue_path: Path = CATALOGUE_CSV,
    expectations_path: Path = EXPECTATIONS_CSV,
    *,
    category_model=AssistanceCategory,
    subtype_model=AssistanceSubtype,
    expectation_model=ExpectedMeasure,
) -> tuple[int, int]:
    """Create or update categories, sub-types and expectations from the CSVs; rows an administrator added
    stay. Returns (catalogue rows, expectation rows)."""
    rows = expectations = 0
    with catalogue_path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            category, _ = category_model.objects.update_or_create(
                code=row["category_code"],
                defaults={
                    "name": row["category_name"],
                    "development": row["development"] == "1",
                    "description": row["category_description"],
                    "sort_order": int(row["category_order"]),
                },
            )
            if row["subtype_code"]:
                subtype_model.objects.update_or_create(
                    code=row["subtype_code"],
                    defaults={
                        "category": category,
                        "name": row["subtype_name"],
                        "description": row["subtype_description"],
                        "attributes": json.loads(row["subtype_attributes"]) if row["subtype_attributes"] else {},
                        "sort_order": int(row["subtype_order"]),
                    },
                )
            rows += 1
    with expectations_path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            expectation_model.objects.update_or_create(
                risk_type=row["risk_type"],
                name=row["name"],
                defaults={
                    "categories": _wrapped(row["categories"]),
                    "subtypes": _wrapped(row["subtypes"]),
                    "mandatory": row["mandatory"] == "1",
                    "condition": row["condition"],
                    "sort_order": int(row["sort_order"]),
                },
            )
            expectations += 1
    forget_catalogue()
    return rows, expectations
