"""Cross-check hits for the page tests, made directly with the models, with real evidence: the 公安 死亡注销 feed
declared from fixtures/departments/public_security.json and a file of it imported through the pipeline (one
batch, its records linked to the people of the household file).

- deceased_a: 张建国 of 西江镇 西江村 (official A's township) died; pending
- deceased_b: 李秀兰 of 郎德镇 郎德上寨 (official B's township) died; pending
- payment_a: a 惠民惠农 subsidy of 1,200.50 paid to 张建国 on 2025-03-20, after his death; pending
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
from exchange.pipeline import import_department_file
from tests.exchange.files import write_csv
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B, VILLAGE_A, VILLAGE_B, make_household, make_person

DEATH_COLUMNS = ["统计期", "证件号码", "姓名", "死亡日期", "注销日期", "注销原因"]
DEPARTMENTS = Path(settings.BASE_DIR) / "fixtures" / "departments"


@dataclass
class World:
    deceased: CrossCheck
    payment: CrossCheck
    run: CrossCheckRun
    batch: ImportBatch
    deceased_a: CrossCheckHit
    deceased_b: CrossCheckHit
    payment_a: CrossCheckHit


def cross_check_world(*, by, tmp_path: Path) -> World:
    """`by` imports the file and started the run (county staff, or an administrator)."""
    declare_from_file(path=DEPARTMENTS / "public_security.json", by=by)
    home_a = make_household(village_id=VILLAGE_A, with_head=False, monitoring_type="1")
    person_a = make_person(home_a, name="张建国", birth_date=dt.date(1950, 3, 8))
    home_b = make_household(number="522634103200000901", village_id=VILLAGE_B, with_head=False, monitoring_type="1")
    person_b = make_person(home_b, name="李秀兰", sex="2", birth_date=dt.date(1948, 6, 1))
    rows = [
        ["2025-03", person_a.id_number, person_a.name, "2025-02-14", "2025-02-20", "病故"],
        ["2025-03", person_b.id_number, person_b.name, "2025-01-05", "", "病故"],
    ]
    batch = import_department_file(
        department="ps_deaths",
        path=write_csv(tmp_path / "deaths.csv", DEATH_COLUMNS, rows),
        by=by,
        region_code=COUNTY,
    )
    assert batch.accepted_rows == 2, batch.status
    record_a = DeclaredRecord.objects.get(department="ps_deaths", id_number=person_a.id_number)
    record_b = DeclaredRecord.objects.get(department="ps_deaths", id_number=person_b.id_number)

    deceased = CrossCheck.objects.create(
        code="page_deceased",
        name="监测对象家庭成员已死亡",
        name_en="Member of a monitored household has died",
        subject=CrossCheck.Subject.MONITORED,
        department="ps_deaths",
        condition=CrossCheck.Condition.HAS_RECORD,
        outcome=CrossCheck.Outcome.EXIT_REVIEW,
    )
    payment = CrossCheck.objects.create(
        code="page_subsidy_after_death",
        name="死亡后仍发放补贴",
        name_en="Subsidy paid after death",
        subject=CrossCheck.Subject.PAYMENT_LIST,
        department="ps_deaths",
        condition=CrossCheck.Condition.PAID_AFTER_DATE,
        field="death_date",
        payment_department="subsidy_payments",
        payment_date_field="paid_on",
        payment_amount_field="amount",
        outcome=CrossCheck.Outcome.PAYMENT_RECOVERY,
    )
    run = CrossCheckRun.objects.create(
        county_code=COUNTY,
        as_of=dt.date(2025, 4, 1),
        started_by=by,
        finished_at=timezone.now(),
        hits_found=3,
        hits_new=3,
        by_check={deceased.code: 2, payment.code: 1},
    )

    def hit(check, person, record, township, **extra) -> CrossCheckHit:
        return CrossCheckHit.objects.create(
            cross_check=check,
            first_run=run,
            last_run=run,
            township_code=township,
            region_code=person.household.village_id,
            household=person.household,
            person=person,
            id_number=person.id_number,
            name=person.name,
            evidence_department="ps_deaths",
            evidence_record_id=record.pk,
            evidence_batch=batch,
            **extra,
        )

    return World(
        deceased=deceased,
        payment=payment,
        run=run,
        batch=batch,
        deceased_a=hit(deceased, person_a, record_a, TOWNSHIP_A, detail="死亡日期 2025-02-14"),
        deceased_b=hit(deceased, person_b, record_b, TOWNSHIP_B, detail="死亡日期 2025-01-05"),
        payment_a=hit(
            payment,
            person_a,
            record_a,
            TOWNSHIP_A,
            payment_kind="subsidy_payments",
            payment_id=4242,
            payment_date=dt.date(2025, 3, 20),
            amount=Decimal("1200.50"),
            detail="发放日期晚于死亡日期",
        ),
    )
