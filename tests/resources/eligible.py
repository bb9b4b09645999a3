"""A monitored household that meets every risk elimination condition; tests break one condition each."""

from households.models import Household
from tests.resources.builders import income, measure, monitored, months_ago, set_thresholds, today


def eligible_household(**overrides) -> Household:
    set_thresholds(7000)
    household = monitored(risk_types=",07,", entered=months_ago(8), **overrides)
    measure(household, category="02", subtype="0204", start_date=months_ago(7))
    income(household, today().year - 2, 9000)
    income(household, today().year - 1, 9500)
    return household
