"""A small county with known answers for the report tests: five households over two townships, in 2024.

- h1 西江村 (3 people): warned 2024-03-01, 纳入监测 2024-03-11 (10 days), 因务工就业不稳; 就业奖补 3,000 (衔接资金)
  from 2024-03-20 and a 公益岗位 6,000 (no funding source) from 2024-07-01, both implemented; income 5,000 →
  6,500 per person (2023 → 2024).
- h2 西江村 (2 people): warned 2024-05-01, 纳入监测 2024-05-31 (30 days, past its due date), 因病 and 因安全住房;
  only a planned 危房改造.
- h3 郎德上寨 (1 person, 71 and unable to work): monitored since 2023-06-01, risk eliminated 2024-08-01 (帮扶消除),
  back in monitoring 2024-11-01 (返贫致贫); its 产业奖补 ended 2023-12-31.
- h4 郎德上寨 (4 people): warned 2024-10-01, still open at the end of the year (overdue); income 8,000.
- h5 麻料村 (2 people): never warned; income 3,000.

The monitoring threshold is 6,800 (2023) and 7,000 (2024).
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.utils import timezone

from households.models import Household, IncomeRecord, StatusChange
from households.monitoring import MonitoringThreshold
from resources.models import AssistanceMeasure, EliminationCase, MonitoringReturn
from risk.models import RiskCase
from tests.factories import COUNTY, VILLAGE_A, VILLAGE_A2, VILLAGE_B, make_household, make_person

START, END = dt.date(2024, 1, 1), dt.date(2024, 12, 31)


def aware(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day, hour))


def status(household: Household, day: dt.date, event: str, monitoring_type: str = "", risk_types: str = ""):
    return StatusChange.objects.create(
        household=household,
        effective_date=day,
        event=event,
        household_type=household.household_type,
        monitoring_type=monitoring_type,
        risk_types=risk_types,
        reason="测试",
    )


def case(household: Household, opened: dt.date, state: str = "warned", decided: dt.date | None = None) -> RiskCase:
    return RiskCase.objects.create(
        household=household,
        region_code=household.village_id,
        status=state,
        opened_on=opened,
        due_on=opened + dt.timedelta(days=15),
        decided_at=aware(decided) if decided else None,
    )


def measure(household: Household, category: str, subtype: str | None, amount: int, start: dt.date, **extra: Any):
    values = {"status": AssistanceMeasure.Status.IMPLEMENTED, "funding_source": "", **extra}
    return AssistanceMeasure.objects.create(
        household=household,
        category_id=category,
        subtype_id=subtype,
        amount=Decimal(amount),
        start_date=start,
        **values,
    )


def income(household: Household, year: int, per_capita: int, size: int) -> IncomeRecord:
    return IncomeRecord.objects.create(
        household=household,
        year=year,
        household_size=size,
        wage_income=per_capita * size,
        survey_date=dt.date(year, 12, 20),
    )


def people(household: Household, count: int, **head: Any) -> None:
    make_person(household, relation="01", name="户主", **head)
    for n in range(count - 1):
        make_person(household, relation="03", name=f"成员{n}", birth_date=dt.date(1990 + n, 1, 1))


@dataclass
class County:
    h1: Household
    h2: Household
    h3: Household
    h4: Household
    h5: Household


def small_county() -> County:
    for year, amount in ((2023, 6800), (2024, 7000)):
        MonitoringThreshold.objects.update_or_create(region_id=COUNTY, year=year, defaults={"amount": amount})
    h1 = make_household(
        with_head=False, village_id=VILLAGE_A, household_type="2", monitoring_type="2", risk_types=",07,"
    )
    people(h1, 3)
    case(h1, dt.date(2024, 3, 1), "monitored", dt.date(2024, 3, 11))
    status(h1, dt.date(2024, 3, 11), "03", "2", ",07,")
    measure(h1, "02", "0204", 3000, dt.date(2024, 3, 20), funding_source="衔接资金")
    measure(h1, "04", "0401", 6000, dt.date(2024, 7, 1))
    income(h1, 2023, 5000, 3)
    income(h1, 2024, 6500, 3)

    h2 = make_household(
        with_head=False, village_id=VILLAGE_A, household_type="2", monitoring_type="2", risk_types=",01,09,"
    )
    people(h2, 2)
    case(h2, dt.date(2024, 5, 1), "monitored", dt.date(2024, 5, 31))
    status(h2, dt.date(2024, 5, 31), "03", "2", ",01,09,")
    measure(h2, "09", "0901", 20000, dt.date(2024, 6, 10), status=AssistanceMeasure.Status.PLANNED)

    h3 = make_household(
        with_head=False,
        village_id=VILLAGE_B,
        household_type="1",
        poverty_attribute="1",
        lifted_year=2018,
        monitoring_type="1",
        risk_types=",01,",
    )
    people(h3, 1, birth_date=dt.date(1953, 2, 1), labour_skill="4")
    status(h3, dt.date(2023, 6, 1), "03", "1", ",01,")
    measure(h3, "01", "0101", 5000, dt.date(2023, 7, 1), end_date=dt.date(2023, 12, 31))
    eliminated = status(h3, dt.date(2024, 8, 1), "05")
    elimination = EliminationCase.objects.create(
        household=h3,
        region_code=h3.village_id,
        status=EliminationCase.Status.APPROVED,
        method=EliminationCase.Method.ASSISTED,
        visit_date=dt.date(2024, 7, 1),
        application_reason="收入稳定",
        applied_at=aware(dt.date(2024, 7, 2)),
        decided_at=aware(dt.date(2024, 8, 1)),
        status_change=eliminated,
    )
    returned = status(h3, dt.date(2024, 11, 1), "06", "1", ",01,")
    MonitoringReturn.objects.create(
        household=h3,
        region_code=h3.village_id,
        elimination=elimination,
        status_change=returned,
        eliminated_on=dt.date(2024, 8, 1),
        returned_on=dt.date(2024, 11, 1),
    )

    h4 = make_household(with_head=False, village_id=VILLAGE_B, household_type="2")
    people(h4, 4)
    status(h4, dt.date(2020, 1, 1), "01")
    case(h4, dt.date(2024, 10, 1))
    income(h4, 2024, 8000, 4)

    h5 = make_household(with_head=False, village_id=VILLAGE_A2, household_type="2")
    people(h5, 2)
    income(h5, 2024, 3000, 2)
    return County(h1, h2, h3, h4, h5)
