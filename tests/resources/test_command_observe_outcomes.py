"""manage.py observe_outcomes: a thin shell over observe_outcomes for a region."""

import pytest
from django.core.management import CommandError, call_command

from resources.models import OutcomeObservation
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B
from tests.resources.builders import income, monitored, set_thresholds, today

pytestmark = pytest.mark.django_db


@pytest.fixture
def household(regions):
    set_thresholds(7000)
    household = monitored(risk_types=",07,")
    income(household, today().year - 1, 9000, household_size=1, wage_income=9000)
    return household


def test_the_command_observes_the_followed_households_of_a_region(household, capsys):
    call_command("observe_outcomes", "--region", COUNTY)
    assert "观测 1 户" in capsys.readouterr().out
    indicators = set(OutcomeObservation.objects.filter(household=household).values_list("indicator", flat=True))
    assert OutcomeObservation.Indicator.PER_CAPITA_INCOME in indicators


def test_a_region_without_followed_households_observes_nothing(household, capsys):
    call_command("observe_outcomes", "--region", TOWNSHIP_B)
    assert "观测 0 户" in capsys.readouterr().out
    assert not OutcomeObservation.objects.exists()


def test_an_unknown_region_or_a_future_date_is_refused_and_nothing_is_observed(household):
    with pytest.raises(CommandError, match="区划代码 999999999999 不存在"):
        call_command("observe_outcomes", "--region", "999999999999")
    with pytest.raises(CommandError, match="观测日期不能晚于今天"):
        call_command("observe_outcomes", "--region", TOWNSHIP_A, "--as-of", "2999-01-01")
    assert not OutcomeObservation.objects.exists()


def test_an_auditor_cannot_observe(household, auditor):
    with pytest.raises(CommandError, match="审计人员"):
        call_command("observe_outcomes", "--region", COUNTY, "--user", auditor.username)
    assert not OutcomeObservation.objects.exists()
