"""Who may call the API: a usable token of an active client; every other caller is told why, in its language."""

import datetime as dt

import pytest
from django.utils import timezone

from exchange.api.models import ApiToken
from exchange.api.services import digest_of, revoke_token
from povertycloud.audit.models import AuditEvent

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


def test_a_client_with_a_usable_token_is_told_who_it_is(health_caller):
    answer = health_caller.get(ME)
    assert answer.status_code == 200
    body = answer.json()
    assert body["client"] == "县医保局"
    assert body["department"] == "health"
    assert body["region_code"] == "522634000000"
    assert body["readable_fields"]["health_premium"] == ["id_number", "name", "premium_category"]


def test_the_token_is_stored_only_as_its_digest(health_caller):
    token = ApiToken.objects.get(client=health_caller.client)
    assert token.digest == digest_of(health_caller.secret)
    assert health_caller.secret not in str(ApiToken.objects.values_list("prefix", "digest"))
    assert health_caller.secret not in str(list(AuditEvent.objects.values_list("changes", "note", "object_repr")))


def test_no_token_is_a_401_with_its_code(client):
    answer = client.get(ME)
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_missing"
    assert answer["WWW-Authenticate"].startswith("Bearer")


def test_an_unknown_token_is_a_401(client):
    answer = client.get(ME, HTTP_AUTHORIZATION="Bearer pc_00000000_nothing")
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_invalid"


def test_an_expired_token_is_refused(health_caller):
    ApiToken.objects.filter(client=health_caller.client).update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    answer = health_caller.get(ME)
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_expired"


def test_a_revoked_token_is_refused_and_the_revocation_is_audited(health_caller, admin_user):
    token = ApiToken.objects.get(client=health_caller.client)
    revoke_token(token=token, by=admin_user)
    answer = health_caller.get(ME)
    assert answer.status_code == 401
    assert answer.json()["code"] == "token_revoked"
    assert AuditEvent.objects.filter(entity="exchange.apitoken", object_pk=str(token.pk), action="update").exists()


def test_a_disabled_client_is_refused(health_caller):
    health_caller.client.active = False
    health_caller.client.save(update_fields=["active"])
    answer = health_caller.get(ME)
    assert answer.status_code == 401
    assert answer.json()["code"] == "client_disabled"


def test_messages_follow_the_callers_language(client):
    answer = client.get(ME, HTTP_ACCEPT_LANGUAGE="en", HTTP_AUTHORIZATION="Bearer nonsense")
    assert answer.status_code == 401
    assert answer.json()["message"] == "The token is not valid."


def test_a_client_over_its_rate_is_told_to_wait(make_caller):
    caller = make_caller(rate_per_minute=2)
    assert caller.get(ME).status_code == 200
    assert caller.get(ME).status_code == 200
    answer = caller.get(ME)
    assert answer.status_code == 429
    assert answer.json()["code"] == "throttled"
    assert int(answer["Retry-After"]) > 0


def test_one_clients_rate_does_not_spend_anothers(make_caller):
    first = make_caller(rate_per_minute=1)
    second = make_caller(rate_per_minute=1, name="县教育局", department="education")
    assert first.get(ME).status_code == 200
    assert first.get(ME).status_code == 429
    assert second.get(ME).status_code == 200


def test_only_an_administrator_creates_clients_and_issues_tokens(county_staff, regions):
    from django.core.exceptions import PermissionDenied

    from exchange.api.services import create_client
    from povertycloud.regions.models import Region

    with pytest.raises(PermissionDenied):
        create_client(
            name="县医保局", department="health", region=Region.objects.get(code="522634000000"),
            scopes=["push:health"], by=county_staff,
        )


def test_unknown_scopes_and_fields_are_refused(admin_user, regions):
    from django.core.exceptions import ValidationError

    from exchange.api.services import create_client
    from povertycloud.regions.models import Region

    county = Region.objects.get(code="522634000000")
    with pytest.raises(ValidationError):
        create_client(name="x", department="health", region=county, scopes=["pull:everything"], by=admin_user)
    with pytest.raises(ValidationError):
        create_client(
            name="x", department="health", region=county, scopes=[], fields={"health_premium": ["bank_account"]},
            by=admin_user,
        )
    with pytest.raises(ValidationError):
        create_client(name="x", department="police", region=county, scopes=[], by=admin_user)
