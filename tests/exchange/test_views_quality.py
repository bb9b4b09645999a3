"""The data-quality page: counts per township, items with person, household, record and batch."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from exchange.models import QualityRun
from tests.exchange.records import make_batch, make_record
from tests.factories import (
    COUNTY,
    TOWNSHIP_A,
    TOWNSHIP_B,
    VILLAGE_A,
    VILLAGE_B,
    make_household,
    make_person,
    resident_id,
)

pytestmark = pytest.mark.django_db

URL = reverse("exchange:quality")


@pytest.fixture
def contradictions(regions):
    """In township A: civil affairs says 低保 while the file does not. In B: nobody has basic insurance."""
    batch = make_batch("civil_affairs", region_code=COUNTY)
    in_a = make_household(with_head=False, village_id=VILLAGE_A)
    in_b = make_household(with_head=False, village_id=VILLAGE_B)
    birth = dt.date(1972, 7, 7)
    a = make_person(in_a, name="甲", birth_date=birth, id_number=resident_id(birth, sequence=1), dibao="")
    b = make_person(in_b, name="乙", birth_date=birth, id_number=resident_id(birth, sequence=2),
                    resident_medical_insurance=False)
    record = make_record(
        "civil_affairs", batch=batch, id_number=a.id_number, name="甲", person=a, dibao_type="2"
    )
    return {"a": a, "b": b, "record": record, "batch": batch}


def test_county_staff_see_counts_per_township(client, county_staff, contradictions):
    client.force_login(county_staff)
    html = client.get(URL + "?period=2025-03").content.decode()
    assert f'data-township="{TOWNSHIP_A}"' in html and f'data-township="{TOWNSHIP_B}"' in html
    assert "西江镇" in html and "郎德镇" in html
    assert 'data-testid="quality-items"' not in html  # no township chosen yet


def test_a_township_lists_each_item_with_person_household_record_and_batch(client, county_staff,
                                                                           contradictions):
    a, record, batch = contradictions["a"], contradictions["record"], contradictions["batch"]
    client.force_login(county_staff)
    html = client.get(URL + f"?township={TOWNSHIP_A}&period=2025-03").content.decode()
    assert 'data-rule="dibao_department_only"' in html
    assert "甲" in html and a.id_number not in html and a.id_number[:10] + "********" in html
    assert reverse("households:detail", args=[a.household_id]) in html
    assert f"#{record.pk}" in html and "农村低保" in html
    assert reverse("exchange:batch", args=[batch.pk]) in html
    assert 'data-rule="insurance_none_in_file"' not in html  # that one is in township B


def test_an_official_sees_only_their_township(client, official_a, contradictions):
    client.force_login(official_a)
    html = client.get(URL).content.decode()
    assert f'data-township="{TOWNSHIP_A}"' in html and f'data-township="{TOWNSHIP_B}"' not in html
    assert 'data-rule="dibao_department_only"' in html  # their own township is shown at once
    # The county's batch is named, not linked: the official cannot open it.
    assert reverse("exchange:batch", args=[contradictions["batch"].pk]) not in html
    assert f"批次 #{contradictions['batch'].pk}" in html


def test_another_township_is_not_found(client, official_a, contradictions):
    client.force_login(official_a)
    assert client.get(URL + f"?township={TOWNSHIP_B}").status_code == 404
    assert client.get(URL + "?township=999999999999").status_code == 404


def test_an_auditor_may_read_the_page(client, auditor, contradictions):
    client.force_login(auditor)
    response = client.get(URL + f"?township={TOWNSHIP_B}")
    assert response.status_code == 200
    assert 'data-rule="insurance_none_in_file"' in response.content.decode()


def test_rules_waiting_for_a_department_file_are_named(client, county_staff, contradictions):
    client.force_login(county_staff)
    html = client.get(URL).content.decode()
    assert "义务教育年龄儿童无在校记录" in html and 'data-testid="skipped-rule"' in html


def test_the_page_query_count_is_bounded(client, county_staff, contradictions, django_assert_max_num_queries):
    client.force_login(county_staff)
    client.get(URL + f"?township={TOWNSHIP_A}")
    with django_assert_max_num_queries(35):
        client.get(URL + f"?township={TOWNSHIP_A}")


def test_more_items_cost_no_more_queries(client, county_staff, contradictions):
    """Each kind of row (people, records, batches) is read once for the page, however many items it lists."""

    client.force_login(county_staff)
    url = URL + f"?township={TOWNSHIP_A}&period=2025-03"
    client.get(url)
    with CaptureQueriesContext(connection) as few:
        client.get(url)
    birth = dt.date(1980, 1, 1)
    for sequence in range(3, 7):
        person = make_person(make_household(with_head=False, village_id=VILLAGE_A), name=f"丙{sequence}",
                             birth_date=birth, id_number=resident_id(birth, sequence=sequence), dibao="")
        make_record("civil_affairs", batch=contradictions["batch"], id_number=person.id_number, name=person.name,
                    person=person, dibao_type="2")
    QualityRun.objects.all().delete()
    client.get(url)  # the counts and items are computed again (at once in the tests)
    with CaptureQueriesContext(connection) as many:
        html = client.get(url).content.decode()
    assert html.count('data-rule="dibao_department_only"') == 5
    assert html.count(reverse("exchange:batch", args=[contradictions["batch"].pk])) == 5
    assert len(many) <= len(few)
