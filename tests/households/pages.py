"""Household page test helpers. Files are written through the services, so they are audited."""

import datetime as dt
from typing import Any

from households import services
from households.models import Household
from tests.factories import VILLAGE_A, household_values, person_values


def make_file(by: Any, *, village: str = VILLAGE_A, head: str = "户主甲", **overrides: Any) -> Household:
    """A household with its 户主, created through the services by `by` (an official of its township)."""
    household = services.create_household(by=by, data=household_values(village_id=village, **overrides))
    services.add_person(by=by, household=household, data=person_values(name=head))
    household.refresh_from_db()
    return household


def add_spouse(by: Any, household: Household, **overrides: Any):
    values = person_values(name="配偶乙", sex="2", relation="02", birth_date=dt.date(1982, 2, 3))
    values.update(overrides)
    return services.add_person(by=by, household=household, data=values)


def sql_of(captured) -> str:
    return "\n".join(query["sql"] for query in captured.captured_queries)


MULTI_FIELDS = {"health", "risk_types", "other_poverty_causes"}


def post_data(values: dict[str, Any]) -> dict[str, Any]:
    """Values as a browser submits them: checkboxes only when ticked, dates as text, multi-codes as lists."""
    data: dict[str, Any] = {}
    for name, value in values.items():
        if value is None:
            data[name] = ""
        elif isinstance(value, bool):
            if value:
                data[name] = "on"
        elif isinstance(value, dt.date):
            data[name] = value.isoformat()
        elif name in MULTI_FIELDS and isinstance(value, str):
            data[name] = [code for code in value.split(",") if code]
        else:
            data[name] = value
    return data


def form_data(form, **changes: Any) -> dict[str, Any]:
    """What a browser would post back from an unbound form, with some fields changed."""
    values = {name: form[name].value() for name in form.fields}
    values.update(changes)
    return post_data(values)
