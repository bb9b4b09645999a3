"""Linkage review: candidates for unlinked department records, and confirming or dismissing them."""

import datetime as dt

import pytest
from django.core.exceptions import PermissionDenied, ValidationError

from exchange import linkage
from exchange.departments import CivilAffairsRecord
from exchange.linkage import AlreadyDecided, confirm_link, dismiss_link, find_candidates, id_keys
from exchange.models import LinkCandidate
from povertycloud.audit.models import AuditEvent
from tests.exchange.records import make_batch, make_record, substitute, transpose
from tests.factories import VILLAGE_A, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db

BIRTH = dt.date(1975, 8, 21)


@pytest.fixture
def person(regions):
    household = make_household(with_head=False, village_id=VILLAGE_A)
    return make_person(household, name="王大山", birth_date=BIRTH, id_number=resident_id(BIRTH, sequence=37))


@pytest.fixture
def batch(regions):
    return make_batch("civil_affairs")


def candidates_of(record) -> list[LinkCandidate]:
    return list(LinkCandidate.objects.filter(id_number=record.id_number).order_by("pk"))


# --- Finding ---------------------------------------------------------------------------------------------


def test_ids_become_integer_keys_that_differ_when_the_ids_differ():
    keys, _, _, formed = id_keys(
        ["52263419750821037X", "522634197508210371", "5226341975082103", "", None, "52263419750821037X12"]
    )
    assert formed.tolist() == [True, True, False, False, False, False]
    assert keys[0] != keys[1] and keys[0] > 0 and keys[2] == -1 and keys[5] == -1


def test_variants_include_every_substitution_and_adjacent_transposition():
    number = "522634197508210375"
    _rows, keys, kinds = linkage.id_variants([number])
    by_key = {key: linkage.KINDS[kind] for key, kind in zip(keys.tolist(), kinds.tolist(), strict=True)}
    (typo,), _, _, _ = id_keys([substitute(number, 9, "9")])
    (swapped,), _, _, _ = id_keys([transpose(number, 12)])
    (check_swapped,), _, _, _ = id_keys([transpose(number, 16)])
    (check_typo,), _, _, _ = id_keys([number[:17] + "X"])
    assert by_key[typo] == "substitution"
    assert by_key[swapped] == "transposition"
    assert by_key[check_swapped] == "transposition"
    assert by_key[check_typo] == "substitution"
    (own,), _, _, _ = id_keys([number])
    assert own not in by_key


def test_a_one_digit_typo_finds_the_registered_person(person, batch):
    record = make_record("civil_affairs", batch=batch, id_number=substitute(person.id_number, 10, "5"),
                         name="王大山")
    result = find_candidates(region_code=batch.region_code, batch=batch)
    assert result.unlinked == 1 and result.created == 1
    (candidate,) = candidates_of(record)
    assert candidate.person == person
    assert "substitution" in candidate.match_codes
    assert candidate.status == LinkCandidate.Status.PENDING
    assert candidate.region_code == VILLAGE_A  # the person's village: their township decides
    assert candidate.record_id == record.pk and candidate.batch == batch


def test_a_transposition_finds_the_registered_person(person, batch):
    number = transpose(person.id_number, 14)
    assert number != person.id_number
    record = make_record("civil_affairs", batch=batch, id_number=number, name="另一个名字")
    find_candidates(region_code=batch.region_code, batch=batch)
    (candidate,) = candidates_of(record)
    assert candidate.person == person and candidate.match_codes == ["transposition"]


def test_same_name_and_birth_date_from_the_id_finds_the_person(person, batch):
    other_id = resident_id(BIRTH, region="520102", sequence=88)  # born the same day, another region's ID
    record = make_record("civil_affairs", batch=batch, id_number=other_id, name="王大山")
    find_candidates(region_code=batch.region_code, batch=batch)
    (candidate,) = candidates_of(record)
    assert candidate.person == person and candidate.match_codes == ["name_birth"]


def test_same_name_but_other_birth_date_is_no_candidate(person, batch):
    record = make_record("civil_affairs", batch=batch, id_number=resident_id(dt.date(1990, 1, 1), sequence=5),
                         name="王大山")
    find_candidates(region_code=batch.region_code, batch=batch)
    assert candidates_of(record) == []


def test_a_typo_with_the_same_name_and_birth_date_carries_both_reasons(person, batch):
    record = make_record("civil_affairs", batch=batch, id_number=substitute(person.id_number, 15, "9"),
                         name="王大山")
    find_candidates(region_code=batch.region_code, batch=batch)
    (candidate,) = candidates_of(record)
    assert candidate.match_codes == ["substitution", "name_birth"]


def test_unlinked_record_without_candidates_stays_unlinked_and_is_counted(person, batch):
    number = resident_id(dt.date(1960, 2, 2))
    stranger = make_record("civil_affairs", batch=batch, id_number=number, name="陌生人")
    result = find_candidates(region_code=batch.region_code, batch=batch)
    assert result.unlinked == 1 and result.created == 0
    stranger.refresh_from_db()
    assert stranger.person_id is None and stranger.valid_to is None


def test_linked_records_are_not_reviewed(person, batch):
    make_record("civil_affairs", batch=batch, id_number=person.id_number, name="王大山", person=person)
    assert find_candidates(region_code=batch.region_code, batch=batch).unlinked == 0


def test_a_record_whose_id_was_registered_after_the_import_is_linked_exactly(regions, batch):
    number = resident_id(dt.date(1988, 3, 3), sequence=21)
    record = make_record("civil_affairs", batch=batch, id_number=number, name="后登记")
    household = make_household(with_head=False)
    make_person(household, id_number=number, name="后登记", birth_date=dt.date(1988, 3, 3))
    result = find_candidates(region_code=batch.region_code, batch=batch)
    record.refresh_from_db()
    assert result.linked_exactly == 1 and record.person.id_number == number
    assert record.region_code == VILLAGE_A


def test_the_finder_runs_a_fixed_number_of_queries(regions, batch, django_assert_max_num_queries):
    household = make_household(with_head=False)
    people = [
        make_person(
            household, name=f"人{i}", birth_date=dt.date(1970, 1, 1 + i), relation="01" if i == 0 else "20",
            id_number=resident_id(dt.date(1970, 1, 1 + i), sequence=40 + i),
        )
        for i in range(12)
    ]
    for person in people[:2]:
        make_record("civil_affairs", batch=batch, id_number=substitute(person.id_number, 8, "3"), name="x")
    with django_assert_max_num_queries(30) as small:
        find_candidates(region_code=batch.region_code, batch=batch)
    few = len(small.captured_queries)
    batch2 = make_batch("health")
    for person in people:
        make_record("health", batch=batch2, id_number=substitute(person.id_number, 8, "3"), name="x")
    with django_assert_max_num_queries(few) as large:
        find_candidates(region_code=batch2.region_code, batch=batch2)
    assert LinkCandidate.objects.filter(department="health").count() == len(people)
    assert len(large.captured_queries) <= few


def test_running_the_finder_again_adds_nothing(person, batch):
    make_record("civil_affairs", batch=batch, id_number=substitute(person.id_number, 10, "5"), name="王大山")
    find_candidates(region_code=batch.region_code, batch=batch)
    assert find_candidates(region_code=batch.region_code).created == 0
    assert LinkCandidate.objects.count() == 1


# --- Deciding --------------------------------------------------------------------------------------------


@pytest.fixture
def candidate(person, batch):
    record = make_record("civil_affairs", batch=batch, id_number=substitute(person.id_number, 10, "5"),
                         name="王大山", dibao_type="2")
    find_candidates(region_code=batch.region_code, batch=batch)
    return LinkCandidate.objects.get(id_number=record.id_number)


def test_confirming_links_the_current_record_and_is_audited(candidate, official_a, person):
    earlier = make_batch("civil_affairs", period="2025-01", period_start=dt.date(2025, 1, 1))
    closed = make_record(
        "civil_affairs", batch=earlier, id_number=candidate.id_number, name="王大山",
        valid_to=dt.date(2025, 3, 1),
    )
    assert confirm_link(by=official_a, candidate=candidate) == 1
    current = CivilAffairsRecord.objects.get(id_number=candidate.id_number, valid_to__isnull=True)
    assert current.person == person and current.region_code == VILLAGE_A
    closed.refresh_from_db()
    assert closed.person_id is None  # history is left as it was
    candidate.refresh_from_db()
    assert candidate.status == "confirmed" and candidate.decided_by == official_a and candidate.decided_at
    event = AuditEvent.objects.get(entity="exchange.linkcandidate", object_pk=str(candidate.pk))
    assert event.action == "review" and event.actor == official_a
    assert event.household_id == person.household_id and event.region_code == VILLAGE_A
    assert candidate.id_number not in event.object_repr  # masked


def test_confirming_one_candidate_retires_the_others_of_the_same_record(candidate, county_staff, person):
    twin = make_person(person.household, name="王大山", birth_date=BIRTH, relation="20",
                       id_number=resident_id(BIRTH, sequence=12))
    other = LinkCandidate.objects.create(
        department=candidate.department, id_number=candidate.id_number, record_name="王大山",
        record_id=candidate.record_id, batch=candidate.batch, person=twin, matches="name_birth",
        region_code=VILLAGE_A,
    )
    confirm_link(by=county_staff, candidate=candidate)
    other.refresh_from_db()
    assert other.status == "superseded"
    with pytest.raises(AlreadyDecided):
        confirm_link(by=county_staff, candidate=other)


def test_a_second_decision_is_refused(candidate, official_a, county_staff):
    stale = LinkCandidate.objects.get(pk=candidate.pk)
    confirm_link(by=official_a, candidate=candidate)
    with pytest.raises(AlreadyDecided):
        confirm_link(by=county_staff, candidate=stale)
    with pytest.raises(AlreadyDecided):
        dismiss_link(by=county_staff, candidate=stale, reason="不是同一人")
    stale.refresh_from_db()
    assert stale.status == "confirmed" and stale.decided_by == official_a
    assert AuditEvent.objects.filter(entity="exchange.linkcandidate").count() == 1


def test_dismissal_is_kept_with_who_when_and_why(candidate, official_a, batch):
    dismiss_link(by=official_a, candidate=candidate, reason="同名同生日，但不是本人")
    candidate.refresh_from_db()
    assert candidate.status == "dismissed" and candidate.reason == "同名同生日，但不是本人"
    assert candidate.decided_by == official_a and candidate.decided_at is not None
    record = CivilAffairsRecord.objects.get(id_number=candidate.id_number)
    assert record.person_id is None
    event = AuditEvent.objects.get(entity="exchange.linkcandidate", object_pk=str(candidate.pk))
    assert event.note == "同名同生日，但不是本人"
    # Looking again proposes nothing new and leaves the dismissal as it was.
    assert find_candidates(region_code=batch.region_code).created == 0
    candidate.refresh_from_db()
    assert candidate.status == "dismissed"


def test_dismissal_needs_a_reason(candidate, official_a):
    with pytest.raises(ValidationError):
        dismiss_link(by=official_a, candidate=candidate, reason="  ")
    candidate.refresh_from_db()
    assert candidate.status == "pending"


def test_an_auditor_cannot_decide(candidate, auditor):
    with pytest.raises(PermissionDenied):
        confirm_link(by=auditor, candidate=candidate)
    with pytest.raises(PermissionDenied):
        dismiss_link(by=auditor, candidate=candidate, reason="x")


def test_an_official_of_another_township_cannot_decide(candidate, official_b):
    with pytest.raises(PermissionDenied):
        confirm_link(by=official_b, candidate=candidate)
    candidate.refresh_from_db()
    assert candidate.status == "pending"


def test_a_confirmed_link_carries_over_to_a_later_version_of_the_record(candidate, official_a, person):
    confirm_link(by=official_a, candidate=candidate)
    CivilAffairsRecord.objects.filter(id_number=candidate.id_number).update(valid_to=dt.date(2025, 4, 1))
    later = make_batch("civil_affairs", period="2025-04", period_start=dt.date(2025, 4, 1))
    record = make_record("civil_affairs", batch=later, id_number=candidate.id_number, name="王大山")
    result = find_candidates(region_code=later.region_code, batch=later)
    record.refresh_from_db()
    assert result.relinked == 1 and record.person == person


def test_pending_candidates_of_a_record_linked_elsewhere_are_retired(candidate, batch, person):
    CivilAffairsRecord.objects.filter(id_number=candidate.id_number).update(person=person)
    find_candidates(region_code=batch.region_code)
    candidate.refresh_from_db()
    assert candidate.status == "superseded"


def test_people_of_another_township_in_the_county_are_candidates_too(regions, batch):
    household = make_household(with_head=False, village_id=VILLAGE_B)
    person = make_person(household, name="李四", birth_date=BIRTH, id_number=resident_id(BIRTH, sequence=44))
    number = substitute(person.id_number, 11, "0")
    record = make_record("civil_affairs", batch=batch, id_number=number, name="李四")
    find_candidates(region_code=batch.region_code, batch=batch)
    (candidate,) = candidates_of(record)
    assert candidate.region_code == VILLAGE_B


def test_a_candidate_whose_person_left_the_household_file_is_retired(candidate, person, batch, official_a):
    person.delete()
    candidate.refresh_from_db()
    assert candidate.person_id is None
    with pytest.raises(ValidationError):
        confirm_link(by=official_a, candidate=candidate)
    find_candidates(region_code=batch.region_code)
    candidate.refresh_from_db()
    assert candidate.status == "superseded"
