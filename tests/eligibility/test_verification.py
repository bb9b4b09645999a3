"""A hit is verified once, by an official of its region: confirmed (it goes to its check's outcome) or dismissed
with a reason; audited; nothing in the household changes."""

import datetime as dt
from decimal import Decimal

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection

from eligibility.models import CrossCheckHit
from eligibility.services import AlreadyDecided, confirm_hit, dismiss_hit, may_verify, run_cross_checks
from households.models import Household, Person
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.services import snapshot
from resources.catalogue import load_catalogue
from resources.models import AssistanceMeasure
from tests.eligibility.builders import declare_departments, import_rows, load_checks
from tests.factories import COUNTY, VILLAGE_A, make_household, make_person
from tests.households.races import meeting_before, run_together
from tests.resources.builders import measure

AS_OF = dt.date(2025, 12, 31)


def world(admin_user, tmp_path) -> CrossCheckHit:
    """A lifted household in township A whose member died before a measure paid to him: one pending hit of
    measure_after_death (and one of deceased_assisted)."""
    declare_departments(admin_user)
    load_checks(admin_user)
    household = make_household(with_head=False, village_id=VILLAGE_A, household_type="1")
    dead = make_person(household, name="李四")
    measure(household, person=dead, start_date=dt.date(2025, 10, 1), amount=Decimal("1200"))
    row = {"id_number": dead.id_number, "name": dead.name, "death_date": "2025-08-03"}
    import_rows("ps_deaths", [row], tmp_path)
    run_cross_checks(county_code=COUNTY, as_of=AS_OF, by=admin_user)
    return CrossCheckHit.objects.get(cross_check__code="measure_after_death")


@pytest.fixture
def hit(admin_user, tmp_path):
    return world(admin_user, tmp_path)


def household_state(hit: CrossCheckHit) -> tuple:
    household = Household.objects.get(pk=hit.household_id)
    members = [snapshot(p) for p in Person.everyone.filter(household=household).order_by("pk")]
    measures = [snapshot(m) for m in AssistanceMeasure.objects.filter(household=household).order_by("pk")]
    return snapshot(household), members, measures


@pytest.mark.django_db
def test_confirming_sets_the_outcome_who_and_when_and_is_audited(hit, official_a):
    confirmed = confirm_hit(hit=hit, by=official_a, note="已入户核实，死亡属实")

    assert (confirmed.status, confirmed.outcome, confirmed.decided_by) == ("confirmed", "payment_recovery", official_a)
    assert confirmed.decided_at is not None and confirmed.reason == "已入户核实，死亡属实"
    event = AuditEvent.objects.get(entity="eligibility.crosscheckhit", object_pk=str(hit.pk))
    assert (event.action, event.actor, event.region_code, event.household_id) == (
        "review", official_a, hit.region_code, hit.household_id
    )
    assert event.changes["status"] == {"before": "pending", "after": "confirmed"}
    assert event.changes["outcome"] == {"before": "", "after": "payment_recovery"}


@pytest.mark.django_db
def test_dismissing_needs_a_reason_and_keeps_it(hit, county_staff):
    with pytest.raises(ValidationError, match="理由"):
        dismiss_hit(hit=hit, by=county_staff, reason="  ")
    assert CrossCheckHit.objects.get(pk=hit.pk).status == "pending"

    dismissed = dismiss_hit(hit=hit, by=county_staff, reason="同名同姓，证件号码录入有误，已更正")

    assert (dismissed.status, dismissed.outcome) == ("dismissed", "")
    assert dismissed.reason == "同名同姓，证件号码录入有误，已更正"
    assert AuditEvent.objects.filter(entity="eligibility.crosscheckhit", object_pk=str(hit.pk)).count() == 1


@pytest.mark.django_db
def test_a_hit_decided_already_cannot_be_decided_again(hit, official_a, county_staff):
    confirm_hit(hit=hit, by=official_a)
    with pytest.raises(AlreadyDecided):
        dismiss_hit(hit=hit, by=county_staff, reason="不属实")
    assert CrossCheckHit.objects.get(pk=hit.pk).status == "confirmed"


@pytest.mark.django_db(transaction=True)
@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="two concurrent transactions need PostgreSQL")
def test_two_officials_at_once_one_wins_and_the_other_is_told(admin_user, official_a, county_staff, tmp_path):
    load_catalogue()  # the flush after an earlier transactional test empties what the data migration loaded
    hit = world(admin_user, tmp_path)
    decide_confirm, barrier = meeting_before(confirm_hit)

    def decide_dismiss(**kwargs):
        barrier.wait()
        return dismiss_hit(**kwargs)

    outcomes = run_together(
        lambda: decide_confirm(hit=hit, by=official_a),
        lambda: decide_dismiss(hit=hit, by=county_staff, reason="不属实"),
    )

    kinds = sorted(kind for kind, _value in outcomes)
    assert kinds == ["error", "ok"], outcomes
    [error] = [value for kind, value in outcomes if kind == "error"]
    assert isinstance(error, AlreadyDecided)
    final = CrossCheckHit.objects.get(pk=hit.pk)
    winner = official_a if outcomes[0][0] == "ok" else county_staff
    assert final.decided_by == winner and final.status == ("confirmed" if winner == official_a else "dismissed")
    assert AuditEvent.objects.filter(entity="eligibility.crosscheckhit", object_pk=str(hit.pk)).count() == 1


@pytest.mark.django_db
def test_an_official_of_another_township_is_denied(hit, official_b):
    assert not may_verify(official_b, hit)
    with pytest.raises(PermissionDenied):
        confirm_hit(hit=hit, by=official_b)
    with pytest.raises(PermissionDenied):
        dismiss_hit(hit=hit, by=official_b, reason="不属实")
    assert CrossCheckHit.objects.get(pk=hit.pk).status == "pending"


@pytest.mark.django_db
def test_an_auditor_is_denied(hit, auditor):
    assert not may_verify(auditor, hit)
    with pytest.raises(PermissionDenied):
        confirm_hit(hit=hit, by=auditor)
    assert not AuditEvent.objects.filter(entity="eligibility.crosscheckhit").exists()


@pytest.mark.django_db
def test_officials_of_the_township_county_staff_and_administrators_may_verify(
    hit, official_a, county_staff, admin_user
):
    assert may_verify(official_a, hit) and may_verify(county_staff, hit) and may_verify(admin_user, hit)


@pytest.mark.django_db
def test_a_township_official_may_not_verify_a_payee_placed_at_the_county(hit, official_a, county_staff):
    CrossCheckHit.objects.filter(pk=hit.pk).update(region_code=COUNTY, township_code=COUNTY)
    hit.refresh_from_db()
    assert not may_verify(official_a, hit) and may_verify(county_staff, hit)


@pytest.mark.django_db
def test_nothing_in_the_household_changes_when_a_hit_is_confirmed(hit, official_a, admin_user, tmp_path):
    before = household_state(hit)
    confirm_hit(hit=hit, by=official_a, note="属实")
    other = CrossCheckHit.objects.get(cross_check__code="deceased_assisted")
    dismiss_hit(hit=other, by=official_a, reason="已核实")
    assert household_state(hit) == before
