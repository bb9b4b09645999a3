"""Fixtures of the API tests: department clients of the test county and of another county, with tokens."""

from collections.abc import Callable

import pytest
from rest_framework.test import APIClient

from exchange.api.models import ApiClient
from exchange.api.services import create_client, issue_token
from povertycloud.regions.models import Region
from tests.exchange.conftest import other_county, other_county_staff  # noqa: F401 (fixtures)
from tests.factories import COUNTY

ALL_PULLS = ["pull:education_pupils", "pull:health_premium", "pull:new_monitoring"]


class Caller:
    """A department system: its client, its token and an HTTP client that sends the token."""

    def __init__(self, client: ApiClient, secret: str):
        self.client, self.secret = client, secret
        self.http = APIClient()
        self.http.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")

    def get(self, url: str, **kwargs):
        return self.http.get(url, **kwargs)

    def post(self, url: str, data=None, **kwargs):
        kwargs.setdefault("format", "json")
        return self.http.post(url, data, **kwargs)


@pytest.fixture
def make_caller(admin_user) -> Callable[..., Caller]:
    def make(
        *,
        department: str = "health",
        scopes: list[str] | None = None,
        region: str = COUNTY,
        name: str = "县医保局",
        fields: dict | None = None,
        rate_per_minute: int = 1000,
        days: int = 30,
    ) -> Caller:
        client = create_client(
            name=name,
            department=department,
            region=Region.objects.get(code=region),
            scopes=scopes if scopes is not None else [f"push:{department}", *ALL_PULLS],
            fields=fields,
            rate_per_minute=rate_per_minute,
            by=admin_user,
        )
        issued = issue_token(client=client, by=admin_user, days=days)
        return Caller(client, issued.secret)

    return make


@pytest.fixture
def health_caller(make_caller) -> Caller:
    return make_caller()


@pytest.fixture
def other_county_caller(make_caller, other_county) -> Caller:  # noqa: F811
    return make_caller(region=other_county, name="他县医保局")
