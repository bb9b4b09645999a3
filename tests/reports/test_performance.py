"""A performance report computed from the small county of tests/reports/builders.py, whose answers are known."""

import pytest

from povertycloud.regions.models import Region
from reports.services import compute_for
from tests.factories import COUNTY, TOWNSHIP_A
from tests.reports.builders import END, START, small_county

pytestmark = pytest.mark.django_db


@pytest.fixture
def county(regions):
    return small_county()


def numbers_for(user, code: str = COUNTY) -> dict:
    report, _ = compute_for(region=Region.objects.get(code=code), start=START, end=END, user=user)
    return report.numbers


def test_the_county_report_has_the_known_answers(county, auditor):
    n = numbers_for(auditor)
    assert (n["monitored_households"], n["monitored_people"]) == (3, 6)
    assert (n["monitored_at_start"], n["identified"], n["identified_returned"]) == (1, 3, 1)
    assert (n["eliminated"], n["eliminated_assisted"], n["eliminated_natural"]) == (1, 1, 0)
    assert n["elimination_share"] == 0.25
    assert (n["decision_count"], n["decision_mean"], n["decision_median"], n["decision_max"]) == (2, 20.0, 20.0, 30)
    assert (n["decision_within_limit"], n["decision_within_limit_share"]) == (1, 0.5)
    assert (n["assistance_count"], n["assistance_mean"], n["without_assistance"]) == (1, 19.0, 1)
    assert (n["overdue_open"], n["decided_late"]) == (1, 1)
    assert (n["monitored"], n["with_measure"], n["with_measure_share"]) == (3, 1, 0.3333)
    assert (n["with_labour"], n["with_labour_and_development"], n["with_labour_and_development_share"]) == (2, 1, 0.5)
    assert (n["expected"], n["expected_in_place"], n["mandatory"], n["mandatory_missing"]) == (7, 2, 1, 1)
    assert (n["amount_total"], n["amount_measures"]) == (9000.0, 2)
    assert (n["income_assisted"], n["income_compared"], n["income_mean_change"], n["income_rose_share"]) == (
        1,
        1,
        1500.0,
        1.0,
    )
    assert (n["eliminated_by_end"], n["returned"], n["return_rate"]) == (1, 1, 1.0)
    assert (n["fgt_year"], n["fgt_households"], n["fgt_people"], n["fgt_poor_households"]) == (2024, 3, 9, 2)
    assert n["fgt_p0"] == pytest.approx(5 / 9, abs=1e-6)
    assert n["fgt_p1"] == pytest.approx((3 * 500 / 7000 + 2 * 4000 / 7000) / 9, abs=1e-6)
    assert n["fgt_p2"] == pytest.approx((3 * (500 / 7000) ** 2 + 2 * (4000 / 7000) ** 2) / 9, abs=1e-6)
    assert (n["population"], n["flagged"], n["poor"]) == (4, 3, 3)
    assert (n["exclusion_error"], n["inclusion_error"]) == (0.3333, 0.3333)


def test_a_township_report_counts_only_that_township(county, auditor):
    n = numbers_for(auditor, TOWNSHIP_A)
    assert (n["monitored_households"], n["identified"], n["eliminated"], n["amount_total"]) == (2, 2, 0, 9000.0)
    assert n["fgt_people"] == 5
