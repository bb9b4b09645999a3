"""The department warning-rule engine: each seeded rule fires exactly where domain.md §3 says, thresholds are
per region (nearest ancestor wins), and a run writes each warning once per day."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.management import call_command

from exchange.models import ImportBatch
from households.monitoring import MonitoringThreshold, thresholds_for
from povertycloud.audit.models import AuditEvent
from risk.models import Warning, WarningRule, WarningThreshold
from risk.rules import evaluate_rules, run_warning_rules
from tests.exchange.records import make_batch, make_record
from tests.factories import TOWNSHIP_A, VILLAGE_A, VILLAGE_B, make_household, make_income, make_person
from tests.risk.modelling import load_reference_data, status

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("regions")]
AS_OF = dt.date(2025, 12, 31)
PERIOD_START = dt.date(2025, 12, 1)


@pytest.fixture(autouse=True)
def reference(regions):
    load_reference_data()


def batch(department: str, start: dt.date = PERIOD_START) -> ImportBatch:
    return make_batch(department, period=f"{start:%Y-%m}", period_start=start)


def person_with(
    department: str,
    *,
    lifted=False,
    monitored=False,
    per_person_income=20000,
    village=VILLAGE_A,
    birth=dt.date(1970, 3, 1),
    source: ImportBatch | None = None,
    **fields,
):
    household = make_household(
        village_id=village,
        household_type="1" if lifted else "2",
        lifted_year=2018 if lifted else None,
        with_head=False,
    )
    person = make_person(household, birth_date=birth)
    make_income(household, year=2025, household_size=1, wage_income=per_person_income, production_cost=0)
    if monitored:
        status(household, dt.date(2025, 4, 1), "03", monitoring_type="1", risk_types=",01,")
    if department == "health":
        fields.setdefault("insured", True)
    record = make_record(
        department,
        batch=source or batch(department),
        id_number=person.id_number,
        name=person.name,
        person=person,
        **fields,
    )
    return person, record


def fired(code: str, **kwargs) -> set[int]:
    firings, skipped = evaluate_rules(as_of=AS_OF, **kwargs)
    assert not skipped
    return set(firings.loc[firings["rule_code"] == code, "person_id"])


CASES = [
    # (rule, department, person options, record fields that fire, record fields that do not)
    (
        "health-self-pay-lifted",
        "health",
        {"lifted": True},
        {"out_of_pocket_ytd": Decimal("5000")},
        {"out_of_pocket_ytd": Decimal("4999")},
    ),
    (
        "health-self-pay-others",
        "health",
        {},
        {"out_of_pocket_ytd": Decimal("20000")},
        {"out_of_pocket_ytd": Decimal("19999")},
    ),
    (
        "health-stay-monitored",
        "health",
        {"monitored": True},
        {"max_stay_self_pay": Decimal("6001")},
        {"max_stay_self_pay": Decimal("6000")},
    ),
    (
        "health-stay-others",
        "health",
        {},
        {"max_stay_self_pay": Decimal("10001")},
        {"max_stay_self_pay": Decimal("10000")},
    ),
    (
        "health-outpatient",
        "health",
        {},
        {"monthly_outpatient_cost": Decimal("500")},
        {"monthly_outpatient_cost": Decimal("499")},
    ),
    ("health-not-insured", "health", {}, {"insured": False}, {"insured": True}),
    (
        "health-new-serious-illness",
        "health",
        {},
        {"serious_diagnosis": "肺癌", "serious_diagnosis_date": dt.date(2025, 3, 1)},
        {"serious_diagnosis": "肺癌", "serious_diagnosis_date": dt.date(2024, 11, 1)},
    ),
    (
        "civil-dibao-stopped",
        "civil_affairs",
        {"per_person_income": 7000},
        {"dibao_type": "2", "dibao_start": dt.date(2019, 1, 1), "dibao_stop": dt.date(2025, 7, 1)},
        {"dibao_type": "2", "dibao_start": dt.date(2019, 1, 1)},
    ),
    ("civil-relief-repeated", "civil_affairs", {}, {"relief_count": 2}, {"relief_count": 1}),
    ("education-dropout", "education", {"birth": dt.date(2012, 5, 1)}, {"dropout": True}, {"dropout": False}),
    (
        "education-study-cost",
        "education",
        {"birth": dt.date(2008, 5, 1)},
        {"net_study_cost": Decimal("10001")},
        {"net_study_cost": Decimal("10000")},
    ),
]


@pytest.mark.parametrize(("code", "department", "options", "firing", "quiet"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_fires_at_its_threshold_and_not_below(code, department, options, firing, quiet):
    yes, _ = person_with(department, **options, **firing)
    no, _ = person_with(department, **options, **quiet)
    assert fired(code) >= {yes.pk}
    assert no.pk not in fired(code)


@pytest.mark.parametrize(
    ("code", "department", "options", "fields"),
    [
        ("health-self-pay-lifted", "health", {"lifted": False}, {"out_of_pocket_ytd": Decimal("6000")}),
        ("health-stay-monitored", "health", {"monitored": False}, {"max_stay_self_pay": Decimal("7000")}),
        ("health-stay-others", "health", {"monitored": True}, {"max_stay_self_pay": Decimal("10500")}),
        ("education-dropout", "education", {"birth": dt.date(2008, 5, 1)}, {"dropout": True}),
        (
            "civil-dibao-stopped",
            "civil_affairs",
            {"per_person_income": 12000},
            {"dibao_type": "2", "dibao_start": dt.date(2019, 1, 1), "dibao_stop": dt.date(2025, 7, 1)},
        ),
    ],
    ids=["not-lifted", "not-monitored", "monitored", "above-compulsory-age", "above-the-income-threshold"],
)
def test_a_rule_keeps_to_its_population(code, department, options, fields):
    person, _ = person_with(department, **options, **fields)
    assert person.pk not in fired(code)


def test_tekun_stopped_is_read_from_the_record_history_for_a_household_still_below_the_threshold():
    march = batch("civil_affairs", dt.date(2025, 3, 1))
    person, record = person_with(
        "civil_affairs", per_person_income=6000, source=march, tekun=True, tekun_start=dt.date(2020, 1, 1)
    )
    record.valid_to = dt.date(2025, 9, 1)
    record.save()
    september = batch("civil_affairs", dt.date(2025, 9, 1))
    make_record(
        "civil_affairs",
        batch=september,
        id_number=person.id_number,
        name=person.name,
        person=person,
        tekun=False,
    )
    firings, _ = evaluate_rules(as_of=AS_OF)
    row = firings[firings["rule_code"] == "civil-tekun-stopped"].iloc[0]
    assert row["person_id"] == person.pk
    assert row["source_record_id"] == record.pk and row["batch_id"] == march.pk
    assert row["value"] == "2025-09-01"


def test_the_nearest_regional_threshold_wins_over_the_default():
    rule = WarningRule.objects.get(code="health-self-pay-lifted")
    WarningThreshold.objects.create(rule=rule, region_id="522634000000", value=Decimal("8000"))
    WarningThreshold.objects.create(rule=rule, region_id=TOWNSHIP_A, value=Decimal("3000"))
    in_a, _ = person_with("health", lifted=True, village=VILLAGE_A, out_of_pocket_ytd=Decimal("3500"))
    _in_b, _ = person_with("health", lifted=True, village=VILLAGE_B, out_of_pocket_ytd=Decimal("7000"))
    in_b_high, _ = person_with("health", lifted=True, village=VILLAGE_B, out_of_pocket_ytd=Decimal("8000"))
    firings, _ = evaluate_rules(as_of=AS_OF)
    chosen = firings[firings["rule_code"] == rule.code].set_index("person_id")
    assert set(chosen.index) == {in_a.pk, in_b_high.pk}
    assert chosen.loc[in_a.pk, "threshold"] == 3000
    assert chosen.loc[in_b_high.pk, "threshold"] == 8000


def test_an_inactive_rule_does_not_fire():
    person, _ = person_with("health", insured=False)
    WarningRule.objects.filter(code="health-not-insured").update(active=False)
    assert person.pk not in fired("health-not-insured")


def test_a_record_not_valid_on_the_date_does_not_fire():
    later = batch("health", dt.date(2026, 1, 1))
    person, _ = person_with("health", source=later, insured=False)
    assert person.pk not in fired("health-not-insured")


def test_a_run_writes_each_warning_once_per_day_with_its_source():
    person, record = person_with("health", lifted=True, out_of_pocket_ytd=Decimal("12345.50"))
    first = run_warning_rules(as_of=AS_OF)
    again = run_warning_rules(as_of=AS_OF)
    assert first.created == 1 and again.created == 0 and again.fired == 1
    warning = Warning.objects.get()
    assert warning.rule.code == "health-self-pay-lifted"
    assert (warning.person_id, warning.household_id) == (person.pk, person.household_id)
    assert warning.value == "12345.50" and warning.threshold == Decimal("5000")
    assert (warning.source_record_id, warning.batch_id, warning.department) == (
        record.pk,
        record.batch_id,
        "health",
    )
    assert warning.region_code == VILLAGE_A and warning.as_of == AS_OF
    run_warning_rules(as_of=AS_OF + dt.timedelta(days=1))
    assert Warning.objects.count() == 2


def test_the_command_runs_the_rules_as_of_a_date(capsys):
    person_with("education", birth=dt.date(2012, 5, 1), dropout=True)
    call_command("run_warning_rules", "--as-of", "2025-12-31")
    assert "新增 1 条" in capsys.readouterr().out
    assert Warning.objects.filter(rule__code="education-dropout").count() == 1


def test_a_rule_declared_on_an_unknown_field_is_skipped_with_a_reason():
    WarningRule.objects.create(
        code="health-typo",
        name="错字段",
        department="health",
        field="no_such_field",
        operator="gte",
        default_threshold=1,
        phrase="测试",
    )
    _, skipped = evaluate_rules(as_of=AS_OF)
    assert "no_such_field" in skipped["health-typo"]


# --- Thresholds in the admin -----------------------------------------------------------------------------


def test_the_monitoring_threshold_admin_is_scoped_and_only_administrators_write(client, staff_official_a, admin_user):
    MonitoringThreshold.objects.create(region_id=TOWNSHIP_A, year=2026, amount=Decimal("8500"), source="乡镇")
    client.force_login(staff_official_a)
    listing = client.get("/admin/households/monitoringthreshold/")
    assert listing.status_code == 200
    page = listing.content.decode()
    assert "8500" in page and "520000000000" not in page  # the province's rows are outside the township
    assert client.get("/admin/households/monitoringthreshold/add/").status_code == 403

    client.force_login(admin_user)
    response = client.post(
        "/admin/households/monitoringthreshold/add/",
        {"region": "522634000000", "year": "2026", "amount": "8400", "source": "县定"},
    )
    assert response.status_code == 302
    assert thresholds_for(VILLAGE_A)[2026] == Decimal("8500")  # the township's own value is nearer
    assert thresholds_for(VILLAGE_B)[2026] == Decimal("8400")
    event = AuditEvent.objects.filter(entity="households.monitoringthreshold").get()
    assert event.actor == admin_user and event.changes["amount"]["after"] == "8400"
