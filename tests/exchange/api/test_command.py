"""manage.py api_client: an administrator creates a client and its token from the command line."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from exchange.api.models import ApiClient, ApiToken
from exchange.api.services import digest_of

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("api_client", *args, stdout=out)
    return out.getvalue()


def test_create_prints_the_token_once_and_stores_its_digest(admin_user):
    out = run(
        "create", "--name", "县医保局", "--department", "health", "--region", "522634000000",
        "--scope", "push:health", "--scope", "pull:health_premium", "--by", admin_user.username,
    )
    secret = out.strip().splitlines()[-1]
    client = ApiClient.objects.get(name="县医保局")
    assert client.scopes == ["push:health", "pull:health_premium"]
    assert ApiToken.objects.get(client=client).digest == digest_of(secret)
    assert secret not in run("list")


def test_revoke_by_prefix(admin_user):
    out = run(
        "create", "--name", "县教育局", "--department", "education", "--region", "522634000000",
        "--by", admin_user.username,
    )
    prefix = "_".join(out.strip().splitlines()[-1].split("_")[:2])  # pc_<8 hex>
    run("revoke", "--token", prefix, "--by", admin_user.username)
    assert ApiToken.objects.get(prefix=prefix).revoked_at is not None


def test_only_an_administrator_may_and_bad_input_changes_nothing(county_staff, admin_user):
    with pytest.raises(CommandError):
        run("create", "--name", "x", "--department", "health", "--region", "522634000000", "--by", "county_staff")
    with pytest.raises(CommandError):
        run("create", "--name", "x", "--department", "health", "--region", "999999999999", "--by", "administrator")
    with pytest.raises(CommandError):
        run(
            "create", "--name", "x", "--department", "health", "--region", "522634000000", "--scope", "pull:all",
            "--by", "administrator",
        )
    with pytest.raises(CommandError):
        run("create", "--name", "x", "--department", "health", "--region", "522634000000")
    assert not ApiClient.objects.exists()
