"""Fixtures of the exchange tests: a second county (the shared region tree has one) and its county staff."""

import pytest

from povertycloud.accounts.models import Role, User
from povertycloud.regions.models import Region
from tests.conftest import PASSWORD

OTHER_COUNTY = "522601000000"  # 凯里市 (a county-level city of the same prefecture)
OTHER_TOWNSHIP = "522601001000"
OTHER_VILLAGE = "522601001200"


@pytest.fixture
def other_county(regions) -> str:
    Region.objects.create(code=OTHER_COUNTY, name="凯里市", level=3, parent_id="522600000000")
    Region.objects.create(code=OTHER_TOWNSHIP, name="大十字街道", level=4, parent_id=OTHER_COUNTY)
    Region.objects.create(code=OTHER_VILLAGE, name="某村", level=5, parent_id=OTHER_TOWNSHIP)
    return OTHER_COUNTY


@pytest.fixture
def other_county_staff(other_county) -> User:
    user = User(username="other_county_staff", role=Role.COUNTY_STAFF, region_id=OTHER_COUNTY, first_name="他县")
    user.set_password(PASSWORD)
    user.save()
    return user
