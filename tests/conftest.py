"""Shared fixtures: the demo county's region tree, and one user of each role in two townships."""

from pathlib import Path

import pytest
from django.conf import settings
from django.core.cache import cache
from django.utils import translation

from povertycloud.accounts.models import Role, User
from povertycloud.regions.services import load_regions_csv
from tests.factories import (
    COUNTY,
    TOWNSHIP_A,
    TOWNSHIP_B,
    fill_assistance_catalogue,
    fill_data_dictionary,
    fill_warning_rules,
)

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(autouse=True)
def default_language():
    """Every test starts and ends in the default language: a request in English leaves English active in the
    thread (LocaleMiddleware activates, nothing deactivates), and the next test would read English messages."""
    translation.deactivate()
    yield
    translation.deactivate()


@pytest.fixture(autouse=True)
def _data_dictionary(request):
    """The code tables, warning rules and assistance catalogue that migrations fill are emptied by the flush after
    each transactional test: refill them before every transactional test (ordinary tests run first, inside
    transactions, and never see a flush).

    (Loading through load_data_dictionary() costs a second or two a test; two bulk inserts do the same.)
    """
    marker = request.node.get_closest_marker("django_db")
    transactional = "transactional_db" in request.fixturenames or "live_server" in request.fixturenames or (
        marker is not None and marker.kwargs.get("transaction")
    )
    if not transactional:
        return
    request.getfixturevalue("transactional_db")
    fill_data_dictionary()
    fill_warning_rules()
    fill_assistance_catalogue()


@pytest.fixture(autouse=True)
def _downloads_in_a_temporary_directory(settings, tmp_path):
    """Exports prepared in the background (povertycloud.downloads) are written under the test's own directory."""
    settings.DOWNLOADS_DIR = tmp_path / "downloads"


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def regions(db):
    load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")


def _user(username: str, role: str, region_code: str | None, **extra) -> User:
    user = User(username=username, role=role, region_id=region_code, first_name=username, **extra)
    user.set_password(PASSWORD)
    user.save()
    return user


@pytest.fixture
def official_a(regions) -> User:
    return _user("official_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A)


@pytest.fixture
def official_b(regions) -> User:
    return _user("official_b", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_B)


@pytest.fixture
def county_staff(regions) -> User:
    return _user("county_staff", Role.COUNTY_STAFF, COUNTY)


@pytest.fixture
def auditor(regions) -> User:
    return _user("auditor", Role.AUDITOR, COUNTY)


@pytest.fixture
def admin_user(regions) -> User:
    return _user("administrator", Role.ADMIN, None, is_staff=True, is_superuser=True)


@pytest.fixture
def staff_official_a(regions) -> User:
    """A township official with admin access but not superuser: the admin must scope them too."""
    user = _user("staff_official_a", Role.TOWNSHIP_OFFICIAL, TOWNSHIP_A, is_staff=True)
    from django.contrib.auth.models import Permission

    user.user_permissions.set(Permission.objects.filter(content_type__app_label="households"))
    return user
