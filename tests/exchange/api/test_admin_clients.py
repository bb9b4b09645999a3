"""The admin of department API clients: created and changed through the audited services, a token shown once
with only its digest stored, revoking, shares read-only, and everyone but administrators refused."""

import hashlib

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from exchange.api.models import ApiClient, ApiToken, Share
from exchange.api.services import create_client, issue_token
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.regions.models import Region
from tests.conftest import PASSWORD
from tests.factories import COUNTY

pytestmark = pytest.mark.django_db


def client_form(**overrides) -> dict:
    data = {
        "name": "县医保局",
        "department": "health",
        "region": COUNTY,
        "purpose": "落实城乡居民医保参保资助",
        "rate_per_minute": "60",
        "active": "on",
        "scopes": ["push:health", "pull:health_premium"],
        "fields_health_premium": ["name", "premium_category", "village_name"],
        "tokens-TOTAL_FORMS": "0",
        "tokens-INITIAL_FORMS": "0",
        "tokens-MIN_NUM_FORMS": "0",
        "tokens-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


@pytest.fixture
def health_client(admin_user) -> ApiClient:
    return create_client(
        name="县医保局", department="health", region=Region.objects.get(code=COUNTY), by=admin_user,
        scopes=["pull:health_premium"],
    )


def test_an_administrator_creates_a_client_through_the_audited_service(client, admin_user):
    client.force_login(admin_user)
    add = reverse("admin:exchange_apiclient_add")
    form = client.get(add).content.decode()
    assert 'value="pull:new_monitoring"' in form and 'name="fields_education_pupils"' in form
    # The readable fields offered start from each dataset's least.
    assert 'name="fields_health_premium" value="premium_category"' in form
    response = client.post(add, client_form())
    assert response.status_code == 302, response.content.decode()[:3000]
    created = ApiClient.objects.get()
    assert created.scopes == ["push:health", "pull:health_premium"] and created.rate_per_minute == 60
    assert created.fields["health_premium"] == ["id_number", "name", "premium_category", "village_name"]
    assert created.fields["education_pupils"] == ["id_number", "name", "school_status", "household_type"]
    assert created.created_by == admin_user and created.active
    event = AuditEvent.objects.get(entity="exchange.apiclient", action="create")
    assert event.actor == admin_user and event.object_pk == str(created.pk)


def test_a_change_goes_through_update_client_with_before_and_after(client, admin_user, health_client):
    client.force_login(admin_user)
    change = reverse("admin:exchange_apiclient_change", args=[health_client.pk])
    page = client.get(change).content.decode()
    assert 'name="department"' not in page and 'name="region"' not in page  # read-only once created
    data = client_form(scopes=["pull:health_premium", "pull:new_monitoring"], active="", rate_per_minute="30")
    del data["department"], data["region"]
    response = client.post(change, data)
    assert response.status_code == 302, response.content.decode()[:3000]
    health_client.refresh_from_db()
    assert not health_client.active and health_client.rate_per_minute == 30
    assert health_client.scopes == ["pull:health_premium", "pull:new_monitoring"]
    event = AuditEvent.objects.get(entity="exchange.apiclient", action="update")
    assert event.changes["active"] == {"before": True, "after": False}
    assert event.changes["scopes"]["after"] == ["pull:health_premium", "pull:new_monitoring"]


def test_an_unknown_scope_or_field_is_refused_by_the_form(client, admin_user):
    client.force_login(admin_user)
    response = client.post(
        reverse("admin:exchange_apiclient_add"), client_form(scopes=["pull:everything"], fields_health_premium=["x"])
    )
    assert response.status_code == 200 and not ApiClient.objects.exists()


def test_a_token_is_shown_once_and_only_its_digest_stored(client, admin_user, health_client):
    client.force_login(admin_user)
    change = reverse("admin:exchange_apiclient_change", args=[health_client.pk])
    issue = reverse("admin:exchange_apiclient_issue_token", args=[health_client.pk])
    assert issue in client.get(change).content.decode()
    assert "不会再次显示" not in client.get(issue).content.decode()
    response = client.post(issue, {"days": "90"})
    html = response.content.decode()
    assert response.status_code == 200 and response["Cache-Control"] == "no-store"
    secret = html.split('data-testid="issued-token">')[1].split("<")[0]
    assert secret.startswith("pc_") and "不会再次显示" in html
    token = ApiToken.objects.get(client=health_client)
    assert token.digest == hashlib.sha256(secret.encode()).hexdigest() and secret.startswith(token.prefix)
    assert 89 <= (token.expires_at - token.created_at).days <= 90
    # Nothing keeps the token itself: not the token's row, the audit trail, nor any later page.
    stored = [str(v) for v in ApiToken.objects.values_list().get()]
    assert not any(secret in value for value in stored)
    assert not any(secret in str(e.changes) + e.object_repr + e.note for e in AuditEvent.objects.all())
    assert AuditEvent.objects.filter(entity="exchange.apitoken", action="create").count() == 1
    assert secret not in client.get(change).content.decode()
    assert secret not in client.get(reverse("admin:exchange_apitoken_change", args=[token.pk])).content.decode()


def test_a_bad_validity_issues_nothing(client, admin_user, health_client):
    client.force_login(admin_user)
    issue = reverse("admin:exchange_apiclient_issue_token", args=[health_client.pk])
    for days in ("0", "100000", "x", ""):
        assert client.post(issue, {"days": days}).status_code == 200
    assert not ApiToken.objects.exists()


def test_revoking_goes_through_the_service(client, admin_user, health_client):
    first = issue_token(client=health_client, by=admin_user).token
    second = issue_token(client=health_client, by=admin_user).token
    client.force_login(admin_user)
    revoke = reverse("admin:exchange_apitoken_revoke", args=[first.pk])
    assert revoke in client.get(reverse("admin:exchange_apiclient_change", args=[health_client.pk])).content.decode()
    assert "吊销令牌" in client.get(revoke).content.decode()
    first.refresh_from_db()
    assert first.revoked_at is None  # a GET only asks
    assert 'data-testid="token-revoked"' in client.post(revoke).content.decode()
    first.refresh_from_db()
    assert first.revoked_at is not None and first.revoked_by == admin_user and not first.usable
    # The list's action revokes through the service too.
    response = client.post(
        reverse("admin:exchange_apitoken_changelist"),
        {"action": "revoke_selected", "_selected_action": [first.pk, second.pk]},
    )
    assert response.status_code == 302
    second.refresh_from_db()
    assert second.revoked_at is not None
    assert AuditEvent.objects.filter(entity="exchange.apitoken", action="update").count() == 2


def test_tokens_and_shares_are_read_only(client, admin_user, health_client):
    token = issue_token(client=health_client, by=admin_user).token
    share = Share.objects.create(client=health_client, token=token, endpoint="/api/v1/pull/health_premium/",
                                 dataset="health_premium", purpose="资助", fields=["id_number"], region_code=COUNTY)
    client.force_login(admin_user)
    assert client.get(reverse("admin:exchange_share_changelist")).status_code == 200
    assert client.get(reverse("admin:exchange_sharedperson_changelist")).status_code == 200
    assert client.get(reverse("admin:exchange_share_change", args=[share.pk])).status_code == 200
    for name in ("exchange_share_add", "exchange_sharedperson_add", "exchange_apitoken_add"):
        assert client.get(reverse(f"admin:{name}")).status_code == 403
    assert client.get(reverse("admin:exchange_share_delete", args=[share.pk])).status_code == 403
    assert client.post(reverse("admin:exchange_share_change", args=[share.pk]), {"purpose": "x"}).status_code == 403
    share.refresh_from_db()
    assert share.purpose == "资助"


@pytest.mark.parametrize("role", [Role.COUNTY_STAFF, Role.AUDITOR, Role.TOWNSHIP_OFFICIAL])
def test_staff_who_are_not_administrators_are_refused(client, admin_user, health_client, role):
    user = User(username=f"staff_{role}", role=role, region_id=COUNTY, is_staff=True)
    user.set_password(PASSWORD)
    user.save()
    user.user_permissions.set(Permission.objects.filter(content_type__app_label="exchange"))
    token = issue_token(client=health_client, by=admin_user).token
    client.force_login(user)
    for url in (
        reverse("admin:exchange_apiclient_changelist"),
        reverse("admin:exchange_apiclient_add"),
        reverse("admin:exchange_apiclient_change", args=[health_client.pk]),
        reverse("admin:exchange_apiclient_issue_token", args=[health_client.pk]),
        reverse("admin:exchange_apitoken_changelist"),
        reverse("admin:exchange_apitoken_revoke", args=[token.pk]),
        reverse("admin:exchange_share_changelist"),
    ):
        assert client.get(url).status_code == 403, url
    assert client.post(reverse("admin:exchange_apiclient_issue_token", args=[health_client.pk]),
                       {"days": "30"}).status_code == 403
    assert client.post(reverse("admin:exchange_apitoken_revoke", args=[token.pk])).status_code == 403
    assert ApiToken.objects.count() == 1 and ApiToken.objects.get().revoked_at is None
    assert client.post(reverse("admin:exchange_apiclient_add"), client_form(name="私建")).status_code == 403
    assert not ApiClient.objects.filter(name="私建").exists()
    assert "接口客户端" not in client.get(reverse("admin:index")).content.decode()
