"""What a report of generated counties (tests.risk.counties) needs beyond the generated registry, so that every
section of it has numbers: monitoring thresholds, implemented and planned measures, decided and open risk cases,
approved eliminations with returns, and eligibility cross-check hits, spread over each county's households by
their position (the same recipe in every county, with amounts and dates that differ from county to county)."""

import datetime as dt
from decimal import Decimal

from eligibility.models import CrossCheck, CrossCheckHit
from households.models import Household
from households.monitoring import MonitoringThreshold
from resources.models import AssistanceMeasure, EliminationCase, MonitoringReturn
from tests.reports.builders import aware, case, measure, status
from tests.reports.cross_check_builders import _batch, _run

MEASURES = (("02", "0204"), ("04", "0401"), ("01", "0101"), ("03", None))
SOURCES = ("衔接资金", "", "财政专项", " ")


def _day(year: int, n: int) -> dt.date:
    return dt.date(year, 1 + n % 12, 1 + n % 28)


def _checks() -> tuple[CrossCheck, CrossCheck]:
    deceased, _ = CrossCheck.objects.get_or_create(
        code="region_deceased",
        defaults={
            "name": "监测对象已死亡（区域测试）",
            "subject": CrossCheck.Subject.MONITORED,
            "department": "ps_deaths",
            "condition": CrossCheck.Condition.HAS_RECORD,
            "outcome": CrossCheck.Outcome.EXIT_REVIEW,
        },
    )
    payment, _ = CrossCheck.objects.get_or_create(
        code="region_paid",
        defaults={
            "name": "死亡后仍发放补贴（区域测试）",
            "subject": CrossCheck.Subject.PAYMENT_LIST,
            "department": "ps_deaths",
            "condition": CrossCheck.Condition.PAID_AFTER_DATE,
            "field": "death_date",
            "payment_department": "subsidy_payments",
            "payment_date_field": "paid_on",
            "payment_amount_field": "amount",
            "outcome": CrossCheck.Outcome.PAYMENT_RECOVERY,
        },
    )
    return deceased, payment


def enrich_county(county: str, index: int, *, year: int = 2025, by=None) -> None:
    MonitoringThreshold.objects.update_or_create(
        region_id=county, year=year - 1, defaults={"amount": 6800 + 150 * index}
    )
    MonitoringThreshold.objects.update_or_create(region_id=county, year=year, defaults={"amount": 7000 + 150 * index})
    low, high = county[:6].ljust(12, "0"), county[:6].ljust(12, "9")
    households = list(Household.objects.filter(village_id__gte=low, village_id__lte=high).order_by("pk"))
    for n, household in enumerate(households):
        if n % 3 == 0:
            category, subtype = MEASURES[n % 4]
            extra = {"funding_source": SOURCES[n % 4]}
            if n % 9 == 0:
                extra["status"] = AssistanceMeasure.Status.PLANNED
            measure(household, category, subtype, 500 + 37 * n + 11 * index, _day(year, n + index), **extra)
        if n % 4 == 1:
            opened = _day(year, n + 2 * index)
            if n % 8 == 1:
                decided = min(opened + dt.timedelta(days=3 + n % 29), dt.date(year, 12, 31))
                case(household, opened, "monitored", decided)
                status(household, decided, "03", "2", ",01,07,")
            else:
                case(household, opened)
        if n % 10 == 7:
            status(household, _day(year - 1, n), "03", "1", ",01,")
            eliminated_on = _day(year, n + index)
            eliminated = status(household, eliminated_on, "05")
            elimination = EliminationCase.objects.create(
                household=household,
                region_code=household.village_id,
                status=EliminationCase.Status.APPROVED,
                method=(EliminationCase.Method.ASSISTED, EliminationCase.Method.NATURAL)[n // 10 % 2],
                visit_date=eliminated_on - dt.timedelta(days=20),
                application_reason="收入稳定",
                applied_at=aware(eliminated_on - dt.timedelta(days=19)),
                decided_at=aware(eliminated_on),
                status_change=eliminated,
            )
            if n % 20 == 7 and eliminated_on < dt.date(year, 12, 1):
                returned_on = eliminated_on + dt.timedelta(days=20)
                returned = status(household, returned_on, "06", "1", ",01,")
                MonitoringReturn.objects.create(
                    household=household,
                    region_code=household.village_id,
                    elimination=elimination,
                    status_change=returned,
                    eliminated_on=eliminated_on,
                    returned_on=returned_on,
                )
    deceased, payment = _checks()
    batch = _batch(county, f"死亡注销-{county}.csv")
    run = _run(county, dt.date(year, 3, 5 + index))
    for n, household in enumerate(households[:12]):
        paid = n % 2 == 1
        state = ("pending", "confirmed", "dismissed")[n % 3]
        decided = _day(year, n + 4) if state != "pending" else None
        CrossCheckHit.objects.create(
            cross_check=payment if paid else deceased,
            first_run=run,
            last_run=run,
            township_code=household.village_id[:9].ljust(12, "0") if n % 5 else "",
            region_code=household.village_id,
            household=household,
            id_number=f"{county[:6]}1940010{n:03d}X"[:18],
            name=f"测试{n}",
            evidence_department="ps_deaths",
            evidence_record_id=n + 1,
            evidence_batch=batch,
            payment_kind="subsidy_payments" if paid else "",
            payment_id=1000 + n if paid else 0,
            payment_date=dt.date(year, 2, 20) if paid else None,
            amount=Decimal(f"{300 + 45 * n + index}.25") if paid else None,
            detail="测试疑点",
            status=state,
            outcome=(payment if paid else deceased).outcome if state == "confirmed" else "",
            reason="同名不同人" if state == "dismissed" else "",
            decided_by=by if decided else None,
            decided_at=aware(decided) if decided else None,
        )


def enrich_counties(counties: list[str], *, year: int = 2025, by=None) -> None:
    for index, county in enumerate(counties):
        enrich_county(county, index, year=year, by=by)
