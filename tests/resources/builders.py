"""Builders for the assistance tests: monitored households with their status history, measures, incomes
and department records, written through the ORM (the services under test are called by the tests)."""

import datetime as dt
import hashlib
import itertools
from decimal import Decimal
from typing import Any

from django.utils import timezone

from exchange.departments import CivilAffairsRecord, EducationRecord, HealthRecord
from exchange.models import ImportBatch
from households.models import Household, IncomeRecord, StatusChange
from households.monitoring import MonitoringThreshold
from resources.models import AssistanceMeasure
from resources.services import add_months
from tests.factories import COUNTY, VILLAGE_A, make_household, make_person

_sequence = itertools.count(1)


def today() -> dt.date:
    return timezone.localdate()


def months_ago(months: int) -> dt.date:
    return add_months(today(), -months)


def set_thresholds(amount: int = 7000, years: range | None = None) -> None:
    for year in years or range(today().year - 4, today().year + 1):
        MonitoringThreshold.objects.update_or_create(region_id=COUNTY, year=year, defaults={"amount": amount})


def monitored(
    *,
    village: str = VILLAGE_A,
    risk_types: str = ",07,",
    monitoring_type: str = "2",
    entered: dt.date | None = None,
    head: str = "户主",
    **overrides: Any,
) -> Household:
    """A monitored household with its head (working age, 普通劳动力) and its 纳入监测 status change."""
    household = make_household(
        with_head=False, village_id=village, monitoring_type=monitoring_type, risk_types=risk_types, **overrides
    )
    make_person(household, name=head)
    StatusChange.objects.create(
        household=household, effective_date=entered or months_ago(8), event="03", household_type="2",
        monitoring_type=monitoring_type, risk_types=risk_types, reason="纳入监测",
    )
    return household


def measure(household: Household, *, category: str = "02", subtype: str | None = "0204", **overrides: Any):
    values = {
        "category_id": category,
        "subtype_id": subtype,
        "start_date": months_ago(6),
        "status": AssistanceMeasure.Status.IMPLEMENTED,
        "amount": Decimal("1000"),
    }
    values.update(overrides)
    return AssistanceMeasure.objects.create(household=household, **values)


def income(household: Household, year: int, per_capita: int, **overrides: Any) -> IncomeRecord:
    values = {"year": year, "household_size": 1, "wage_income": per_capita, "survey_date": dt.date(year, 12, 31)}
    values.update(overrides)
    return IncomeRecord.objects.create(household=household, **values)


def batch(department: str = "civil_affairs") -> ImportBatch:
    digest = hashlib.sha256(str(next(_sequence)).encode()).hexdigest()
    return ImportBatch.objects.create(
        department=department, file_name=f"{department}.csv", sha256=digest, file_format="csv",
        region_code=COUNTY, status=ImportBatch.Status.SUCCEEDED, period_start=months_ago(3),
    )


def _record_values(person, source_batch: ImportBatch) -> dict[str, Any]:
    return {
        "batch": source_batch, "row_number": next(_sequence), "id_number": person.id_number, "name": person.name,
        "person": person, "region_code": person.household.village_id, "row_hash": "x" * 32,
        "valid_from": months_ago(3), "period": months_ago(3).strftime("%Y-%m"),
    }


def civil_affairs(person, **fields: Any) -> CivilAffairsRecord:
    return CivilAffairsRecord.objects.create(**_record_values(person, batch("civil_affairs")), **fields)


def health_record(person, **fields: Any) -> HealthRecord:
    return HealthRecord.objects.create(**_record_values(person, batch("health")), **fields)


def education_record(person, **fields: Any) -> EducationRecord:
    values = {"school_name": "西江小学", "stage": "2"}
    values.update(fields)
    return EducationRecord.objects.create(**_record_values(person, batch("education")), **values)
