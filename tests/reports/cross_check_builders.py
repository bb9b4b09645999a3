"""Eligibility cross-check hits with known answers for the report and export tests, made directly with the models.

Three checks (test codes, so that checks loaded from fixtures do not collide): a 死亡 check of monitored people
(exit review), a payment-after-death check of a payment list (payment recovery), a vehicle check with no hit.
Evidence: the 公安 死亡注销 feed declared from fixtures/departments/public_security.json, one import batch of it
per county, a DeclaredRecord per hit.

Found in 2024 (the run of 2024-03-05) in 雷山县 (COUNTY):
- h1 deceased, 西江镇 西江村, pending
- h2 deceased, 西江镇 麻料村, confirmed 2024-06-01 (exit review)
- h3 payment, 西江镇 西江村, 1,200.50, confirmed 2024-07-01 (payment recovery); the name is a formula
- h4 payment, 郎德镇 郎德上寨, 800, dismissed 2024-08-01 with a reason that holds an ID number
- h5 payment, 郎德镇 郎德上寨, 500, confirmed 2025-01-10 (after the end of 2024: pending at the end)
Not counted for 2024: h6 deceased, 郎德镇, found by the run of 2023-12-20; h7 payment of 9,999 in another county
(522601, 凯里市), confirmed.
"""

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from exchange.feeds.declare import declare_from_file
from exchange.feeds.models import DeclaredRecord
from exchange.models import ImportBatch
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A, VILLAGE_A2, VILLAGE_B, resident_id

OTHER_COUNTY, OTHER_TOWNSHIP, OTHER_VILLAGE = "522601000000", "522601100000", "522601100200"
FORMULA_NAME = '=HYPERLINK("http://x.example","点击")'
DISMISSED_ID = "522634199001011234"
DISMISS_REASON = f"同名不同人，户籍证件号码为 {DISMISSED_ID}"


def aware(day: dt.date, hour: int = 10) -> dt.datetime:
    return timezone.make_aware(dt.datetime(day.year, day.month, day.day, hour))


@dataclass
class Hits:
    deceased: CrossCheck
    payment: CrossCheck
    vehicle: CrossCheck
    batch: ImportBatch
    other_batch: ImportBatch
    hits: dict[str, CrossCheckHit]


def _run(county: str, day: dt.date) -> CrossCheckRun:
    run = CrossCheckRun.objects.create(county_code=county, as_of=day, finished_at=aware(day, 11))
    CrossCheckRun.objects.filter(pk=run.pk).update(started_at=aware(day))
    run.refresh_from_db()
    return run


def _batch(region: str, file_name: str) -> ImportBatch:
    return ImportBatch.objects.create(
        department="ps_deaths",
        file_name=file_name,
        sha256="0" * 64,
        file_format="csv",
        period="2024-02",
        region_code=region,
        status="succeeded",
    )


def cross_check_hits(by) -> Hits:
    declare_from_file(path=Path(settings.BASE_DIR) / "fixtures" / "departments" / "public_security.json", by=by)
    deceased = CrossCheck.objects.create(
        code="test_deceased",
        name="监测对象已死亡（测试）",
        subject=CrossCheck.Subject.MONITORED,
        department="ps_deaths",
        condition=CrossCheck.Condition.HAS_RECORD,
        outcome=CrossCheck.Outcome.EXIT_REVIEW,
    )
    payment = CrossCheck.objects.create(
        code="test_paid_after_death",
        name="死亡后仍发放补贴（测试）",
        subject=CrossCheck.Subject.PAYMENT_LIST,
        department="ps_deaths",
        condition=CrossCheck.Condition.PAID_AFTER_DATE,
        field="death_date",
        payment_department="subsidy_payments",
        payment_date_field="paid_on",
        payment_amount_field="amount",
        outcome=CrossCheck.Outcome.PAYMENT_RECOVERY,
    )
    vehicle = CrossCheck.objects.create(
        code="test_vehicle",
        name="家庭成员有机动车（测试）",
        subject=CrossCheck.Subject.MEMBERS,
        department="ps_vehicles",
        condition=CrossCheck.Condition.VALUE_IN,
        field="vehicle_type",
        values="K3,K2",
        outcome=CrossCheck.Outcome.EXIT_REVIEW,
    )
    batch = _batch(COUNTY, "公安死亡注销-2024-02.csv")
    other_batch = _batch(OTHER_COUNTY, "凯里死亡注销-2024-02.csv")
    run_2024, run_2023, run_other = (
        _run(COUNTY, dt.date(2024, 3, 5)),
        _run(COUNTY, dt.date(2023, 12, 20)),
        _run(OTHER_COUNTY, dt.date(2024, 4, 1)),
    )
    specs = {
        # key: check, run, township, village, status, decided on, amount, name, reason
        "h1": (deceased, run_2024, TOWNSHIP_A, VILLAGE_A, "pending", None, None, "张一", ""),
        "h2": (deceased, run_2024, TOWNSHIP_A, VILLAGE_A2, "confirmed", dt.date(2024, 6, 1), None, "李二", "属实"),
        "h3": (payment, run_2024, TOWNSHIP_A, VILLAGE_A, "confirmed", dt.date(2024, 7, 1), "1200.50", FORMULA_NAME, ""),
        "h4": (
            payment,
            run_2024,
            TOWNSHIP_B,
            VILLAGE_B,
            "dismissed",
            dt.date(2024, 8, 1),
            "800",
            "赵四",
            DISMISS_REASON,
        ),
        "h5": (payment, run_2024, TOWNSHIP_B, VILLAGE_B, "confirmed", dt.date(2025, 1, 10), "500", "钱五", ""),
        "h6": (deceased, run_2023, TOWNSHIP_B, VILLAGE_B, "pending", None, None, "孙六", ""),
        "h7": (payment, run_other, OTHER_TOWNSHIP, OTHER_VILLAGE, "confirmed", dt.date(2024, 5, 1), "9999", "周七", ""),
    }
    hits = {}
    for n, (key, (check, run, township, village, status, decided, amount, name, reason)) in enumerate(specs.items()):
        id_number = resident_id(dt.date(1940, 1, 1 + n), region=village[:6])
        evidence_batch = other_batch if village == OTHER_VILLAGE else batch
        record = DeclaredRecord.objects.create(
            batch=evidence_batch,
            row_number=n + 2,
            id_number=id_number,
            name=name,
            region_code=village,
            row_hash=f"{n:032d}",
            valid_from=dt.date(2024, 2, 1),
            department="ps_deaths",
            period="2024-02",
            data={"death_date": "2024-01-15", "reason": "病故"},
        )
        paid = check is payment
        hits[key] = CrossCheckHit.objects.create(
            cross_check=check,
            first_run=run,
            last_run=run,
            township_code=township,
            region_code=village,
            id_number=id_number,
            name=name,
            evidence_department="ps_deaths",
            evidence_record_id=record.pk,
            evidence_batch=evidence_batch,
            payment_kind="subsidy_payments" if paid else "",
            payment_id=1000 + n if paid else 0,
            payment_date=dt.date(2024, 2, 20) if paid else None,
            amount=Decimal(amount) if amount else None,
            detail="死亡日期 2024-01-15",
            status=status,
            outcome=check.outcome if status == "confirmed" else "",
            reason=reason,
            decided_by=by if decided else None,
            decided_at=aware(decided) if decided else None,
        )
    return Hits(deceased, payment, vehicle, batch, other_batch, hits)
