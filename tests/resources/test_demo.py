"""The demo assistance on a small factory-built county: measures matched to risks, outcomes observed,
a few households through the elimination steps."""

import datetime as dt

import pytest

from demo.steps.resources import record_demo_assistance
from povertycloud.accounts.models import Role
from resources.checks import plan_checks
from resources.models import AssistanceMeasure, EliminationCase, OutcomeObservation
from tests.conftest import _user
from tests.factories import COUNTY, TOWNSHIP_A, VILLAGE_A2, VILLAGE_B, make_person
from tests.resources.builders import monitored, months_ago
from tests.resources.eligible import eligible_household

pytestmark = pytest.mark.django_db


@pytest.fixture
def county(official_a, official_b, county_staff):
    _user("reviewer_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)  # the applicant cannot pass the township review
    households = []
    for _ in range(6):
        household = eligible_household()
        household.members.update(public_welfare_job=True)
        AssistanceMeasure.objects.filter(household=household).delete()
        households.append(household)
    housing = monitored(village=VILLAGE_A2, risk_types=",02,09,", housing_grade="D", entered=months_ago(3))
    make_person(housing, name="重残", relation="03", birth_date=dt.date(1998, 1, 1), health=",4,",
                disability_category="4", disability_grade="1", labour_skill="5")
    households.append(housing)
    households.append(monitored(village=VILLAGE_B, risk_types=",06,10,"))
    return households


def test_demo_records_matched_measures_observes_and_eliminates_some(county):
    counts = record_demo_assistance(region_code=COUNTY, seed=7)
    assert counts["measures"] == AssistanceMeasure.objects.count() > len(county)
    assert counts["observations"] == OutcomeObservation.objects.count() > 0
    housing = county[6]
    kinds = set(AssistanceMeasure.objects.filter(household=housing).values_list("category_id", "subtype_id"))
    assert ("08", "0803") in kinds or ("09", "0901") in kinds
    assert counts["eliminations_applied"] == EliminationCase.objects.count() >= 1
    assert counts["eliminations_approved"] == EliminationCase.objects.filter(status="approved").count()
    applied = counts["eliminations_applied"]
    assert applied >= 3 and counts["eliminations_approved"] == max(0, applied - 4)
    approved = EliminationCase.objects.filter(status="approved").select_related("household")
    assert all(case.household.monitoring_type == "" for case in approved)
    issues = plan_checks(county[0].__class__.objects.all(), as_of=months_ago(0))
    assert len(issues) < len(county)  # the demo plans are mostly complete


def test_running_the_demo_again_adds_no_measures(county):
    record_demo_assistance(region_code=COUNTY, seed=7)
    before = AssistanceMeasure.objects.count()
    assert record_demo_assistance(region_code=COUNTY, seed=7)["measures"] == 0
    assert AssistanceMeasure.objects.count() == before


def test_without_reviewers_the_elimination_steps_are_skipped(regions):
    monitored(risk_types=",09,")
    counts = record_demo_assistance(region_code=COUNTY, seed=1)
    assert counts["measures"] >= 1 and counts["eliminations_applied"] == 0
