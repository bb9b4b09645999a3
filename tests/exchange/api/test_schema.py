"""The whole API against its own schema: property-based requests (schemathesis) to every operation, as a
department system with every scope, over a small county. No request may give a server error, and every answer
(status, headers, body) must be one the schema declares."""

import datetime as dt

import pytest
import schemathesis
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.factories import VILLAGE_A, make_household, make_person

ALL_SCOPES = ["push:health", "pull:education_pupils", "pull:health_premium", "pull:new_monitoring"]
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


# Loaded when the module is collected (the schema view reads no database). schemathesis's lazy fixture loader
# is not used: it renames pytest nodes through an attribute pytest 9 no longer has.
schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture(autouse=True)
def _keep_the_tests_connection():
    """The WSGI handler closes the database connection around each request (close_old_connections); inside a
    test's transaction that would close it under the test. Django's test client disconnects the same handler."""
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    yield
    signals.request_started.connect(close_old_connections)
    signals.request_finished.connect(close_old_connections)


@pytest.fixture
def county_with_people(regions):
    lifted = make_household(household_type="1", village_id=VILLAGE_A)
    make_person(lifted, relation="02", birth_date=dt.date(2014, 3, 2), school_status="22", education="")
    monitored = make_household(household_type="2", monitoring_type="2", risk_types=",01,", village_id=VILLAGE_A)
    make_person(monitored, relation="02", birth_date=dt.date(2009, 9, 1), school_status="31", education="")
    return [lifted, monitored]


@schema.parametrize()
@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_no_request_breaks_the_api_or_its_schema(case, make_caller, county_with_people):
    caller = make_caller(scopes=ALL_SCOPES, rate_per_minute=100_000)
    case.call_and_validate(headers={"Authorization": f"Bearer {caller.secret}"}, checks=CHECKS)
