"""The linkage review page: unlinked records with candidates, confirm and dismiss buttons, scope."""

import datetime as dt

import pytest
from django.urls import reverse

from exchange.departments import CivilAffairsRecord
from exchange.linkage import find_candidates
from exchange.models import LinkCandidate
from povertycloud.audit.models import AuditEvent
from tests.exchange.records import make_batch, make_record, substitute
from tests.factories import VILLAGE_A, VILLAGE_B, make_household, make_person, resident_id

pytestmark = pytest.mark.django_db

URL = reverse("exchange:linkage")


@pytest.fixture
def setup(regions):
    """One county batch: a typo of a person in township A, one of a person in B, and a stranger."""
    batch = make_batch("civil_affairs")
    people = {}
    for key, village, sequence in (("a", VILLAGE_A, 11), ("b", VILLAGE_B, 12)):
        birth = dt.date(1966, 6, 6)
        household = make_household(with_head=False, village_id=village)
        people[key] = make_person(household, name=f"人{key}", birth_date=birth,
                                  id_number=resident_id(birth, sequence=sequence))
        make_record("civil_affairs", batch=batch, id_number=substitute(people[key].id_number, 11, "9"),
                    name=f"记录{key}")
    number = resident_id(dt.date(1950, 5, 5))
    stranger = make_record("civil_affairs", batch=batch, id_number=number, name="陌生人")
    find_candidates(region_code=batch.region_code, batch=batch)
    candidates = {key: LinkCandidate.objects.get(person=person) for key, person in people.items()}
    return {"batch": batch, "people": people, "candidates": candidates, "stranger": stranger}


def confirm_url(candidate) -> str:
    return reverse("exchange:confirm", args=[candidate.pk])


def dismiss_url(candidate) -> str:
    return reverse("exchange:dismiss", args=[candidate.pk])


def test_county_staff_see_every_unlinked_record_with_or_without_candidates(client, county_staff, setup):
    client.force_login(county_staff)
    html = client.get(URL).content.decode()
    assert html.count('data-testid="unlinked-row"') == 3
    assert "陌生人" in html and 'data-testid="no-candidate"' in html
    assert html.count('data-testid="candidate"') == 2
    assert setup["stranger"].id_number not in html  # masked
    assert f'data-testid="confirm-{setup["candidates"]["a"].pk}"' in html


def test_a_township_official_sees_the_candidates_of_their_township_only(client, official_a, setup):
    client.force_login(official_a)
    html = client.get(URL).content.decode()
    assert html.count('data-testid="unlinked-row"') == 1 and "记录a" in html
    assert "记录b" not in html and "陌生人" not in html


def test_an_auditor_sees_the_list_without_buttons(client, auditor, setup):
    client.force_login(auditor)
    html = client.get(URL).content.decode()
    assert html.count('data-testid="unlinked-row"') == 3 and 'data-testid="confirm-' not in html


def test_confirming_links_the_record_and_writes_the_audit_trail(client, official_a, setup):
    candidate, person = setup["candidates"]["a"], setup["people"]["a"]
    client.force_login(official_a)
    response = client.post(confirm_url(candidate), {"next": URL + "?department=civil_affairs"}, follow=True)
    assert response.redirect_chain[-1][0] == URL + "?department=civil_affairs"
    assert "已确认关联" in response.content.decode()
    record = CivilAffairsRecord.objects.get(id_number=candidate.id_number)
    assert record.person == person
    assert AuditEvent.objects.filter(action="review", object_pk=str(candidate.pk), actor=official_a).exists()
    # The record is linked now: no longer on the review list.
    assert "记录a" not in client.get(URL).content.decode()


def test_a_second_decision_is_refused_with_a_message(client, official_a, county_staff, setup):
    candidate = setup["candidates"]["a"]
    client.force_login(official_a)
    client.post(confirm_url(candidate))
    client.force_login(county_staff)
    response = client.post(dismiss_url(candidate), {"reason": "晚了一步"}, follow=True)
    assert "已由他人处理" in response.content.decode()
    candidate.refresh_from_db()
    assert candidate.status == "confirmed" and candidate.decided_by == official_a


def test_dismissing_keeps_the_candidate_with_the_reason(client, county_staff, setup):
    candidate = setup["candidates"]["b"]
    client.force_login(county_staff)
    client.post(dismiss_url(candidate), {"reason": "证件号码不同人"})
    candidate.refresh_from_db()
    assert candidate.status == "dismissed" and candidate.reason == "证件号码不同人"
    html = client.get(URL).content.decode()
    assert "已排除" in html and "证件号码不同人" in html and "county_staff" in html


def test_dismissing_without_a_reason_changes_nothing(client, county_staff, setup):
    candidate = setup["candidates"]["b"]
    client.force_login(county_staff)
    response = client.post(dismiss_url(candidate), {"reason": ""}, follow=True)
    assert "排除候选须填写原因" in response.content.decode()
    candidate.refresh_from_db()
    assert candidate.status == "pending"


def test_an_official_of_another_township_gets_not_found(client, official_b, setup):
    candidate = setup["candidates"]["a"]
    client.force_login(official_b)
    assert client.post(confirm_url(candidate)).status_code == 404
    assert client.post(dismiss_url(candidate), {"reason": "x"}).status_code == 404
    candidate.refresh_from_db()
    assert candidate.status == "pending"


def test_an_auditor_gets_forbidden(client, auditor, setup):
    candidate = setup["candidates"]["a"]
    client.force_login(auditor)
    assert client.post(confirm_url(candidate)).status_code == 403
    assert client.post(dismiss_url(candidate), {"reason": "x"}).status_code == 403
    candidate.refresh_from_db()
    assert candidate.status == "pending"


def test_decisions_need_post(client, county_staff, setup):
    client.force_login(county_staff)
    assert client.get(confirm_url(setup["candidates"]["a"])).status_code == 405


def test_an_unsafe_next_address_is_ignored(client, county_staff, setup):
    client.force_login(county_staff)
    response = client.post(confirm_url(setup["candidates"]["a"]), {"next": "https://evil.example/"})
    assert response.url == URL


def test_the_batch_filter_is_scoped(client, official_a, county_staff, setup):
    client.force_login(county_staff)
    html = client.get(URL + f"?batch={setup['batch'].pk}").content.decode()
    assert html.count('data-testid="unlinked-row"') == 3
    client.force_login(official_a)
    assert client.get(URL + f"?batch={setup['batch'].pk}").status_code == 404


def test_refreshing_candidates_is_for_county_staff(client, official_a, county_staff, setup,
                                                   django_capture_on_commit_callbacks):
    client.force_login(official_a)
    assert client.post(reverse("exchange:linkage_refresh")).status_code == 403
    client.force_login(county_staff)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(reverse("exchange:linkage_refresh"))
    assert response.status_code == 302


def test_the_page_query_count_does_not_grow_with_the_records(client, county_staff, setup,
                                                            django_assert_max_num_queries):
    client.force_login(county_staff)
    client.get(URL)
    with django_assert_max_num_queries(9) as few:
        client.get(URL)
    batch = setup["batch"]
    for i in range(20):
        make_record("civil_affairs", batch=batch, id_number=resident_id(dt.date(1951, 1, 1 + i), sequence=i),
                    name=f"外来{i}")
    with django_assert_max_num_queries(len(few.captured_queries)):
        client.get(URL)
