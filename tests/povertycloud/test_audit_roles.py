"""The audit trail cannot be emptied, and changes to who may see and do what are audited.

On PostgreSQL: TRUNCATE is refused like UPDATE and DELETE, and the application's role (setup_database_roles)
can read and append but neither change, delete, truncate nor switch off the trigger.
Everywhere: users' role, region, sensitive access and password changes, data dictionary and threshold edits in
the admin, each leave a row with before and after; a password is never written.
"""

import io
import os
import uuid
from decimal import Decimal

import pytest
from django.contrib.auth.hashers import make_password
from django.core.management import call_command
from django.db import DatabaseError, connection, transaction
from django.test import Client

from households.models import Code, CodeSet
from households.monitoring import MonitoringThreshold
from povertycloud.accounts.models import Role, User
from povertycloud.audit.models import AuditEvent
from povertycloud.audit.roles import Roles, audit_table_is_protected, setup_roles
from povertycloud.audit.services import record_event
from tests.conftest import PASSWORD
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B

pytestmark = pytest.mark.django_db

def _refused(sql: str, params=None) -> str:
    """Run sql in a savepoint; return the error message (the test fails if it is not refused)."""
    with pytest.raises(DatabaseError) as raised, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
    return str(raised.value)


# --- TRUNCATE ----------------------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_truncate_of_the_audit_table_is_refused_even_for_a_superuser():
    record_event(actor=None, action="export", entity="x", note="keep me")
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # no deferred checks pending: the trigger must refuse
    message = _refused("TRUNCATE audit_auditevent")
    assert "append-only" in message
    message = _refused("TRUNCATE audit_auditevent CASCADE")
    assert "append-only" in message
    assert AuditEvent.objects.filter(note="keep me").exists()


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="the trigger exists on PostgreSQL only")
def test_the_truncate_trigger_is_a_statement_trigger_before_truncate():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tgtype FROM pg_trigger WHERE tgname = 'audit_event_no_truncate' "
            "AND tgrelid = 'audit_auditevent'::regclass"
        )
        (tgtype,) = cursor.fetchone()
    # TRIGGER_TYPE_BEFORE (2) and TRIGGER_TYPE_TRUNCATE (32), not ROW (1).
    assert tgtype & 2 and tgtype & 32 and not tgtype & 1


# --- The application's role --------------------------------------------------------------------------


@pytest.fixture
def roles():
    """Roles of this test only (roles are shared by the whole cluster), created in the test's transaction and
    gone with its rollback."""
    suffix = uuid.uuid4().hex[:8]
    roles = Roles(owner=f"pc_test_owner_{suffix}", app=f"pc_test_app_{suffix}")
    setup_roles(roles)
    return roles


@pytest.fixture
def as_app(roles):
    with connection.cursor() as cursor:
        cursor.execute(f"SET ROLE {roles.app}")
    yield roles
    with connection.cursor() as cursor:
        cursor.execute("RESET ROLE")


INSERT = (
    "INSERT INTO audit_auditevent (at, actor_username, action, entity, object_pk, object_repr, region_code, "
    "changes, note) VALUES (now(), 'app', 'export', 'x', '', '', '', '{}', %s) RETURNING id"
)


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_setup_makes_the_owner_own_the_audit_table_and_its_trigger_function(roles):
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_get_userbyid(relowner) FROM pg_class WHERE oid = 'audit_auditevent'::regclass")
        assert cursor.fetchone()[0] == roles.owner
        cursor.execute("SELECT pg_get_userbyid(proowner) FROM pg_proc WHERE proname = 'audit_refuse_change'")
        assert cursor.fetchone()[0] == roles.owner
        cursor.execute("SELECT rolcanlogin, rolsuper FROM pg_roles WHERE rolname = %s", [roles.app])
        assert cursor.fetchone() == (True, False)
        cursor.execute("SELECT rolcanlogin FROM pg_roles WHERE rolname = %s", [roles.owner])
        assert cursor.fetchone() == (False,)
        cursor.execute("SELECT pg_has_role(%s, %s, 'MEMBER')", [roles.app, roles.owner])
        assert cursor.fetchone() == (False,)


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_application_role_may_read_and_append_to_the_audit_trail(as_app):
    with connection.cursor() as cursor:
        cursor.execute(INSERT, ["appended by the app"])
        (pk,) = cursor.fetchone()
        cursor.execute("SELECT note FROM audit_auditevent WHERE id = %s", [pk])
        assert cursor.fetchone() == ("appended by the app",)
    assert audit_table_is_protected()[0] is True


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditevent SET note = 'tampered'",
        "DELETE FROM audit_auditevent",
        "TRUNCATE audit_auditevent",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_no_truncate",
        "ALTER TABLE audit_auditevent DISABLE TRIGGER ALL",
        "DROP TRIGGER audit_event_append_only ON audit_auditevent",
        "CREATE OR REPLACE FUNCTION audit_refuse_change() RETURNS trigger AS $$ BEGIN RETURN NEW; END $$ "
        "LANGUAGE plpgsql",
        "ALTER TABLE audit_auditevent OWNER TO CURRENT_USER",
        "DROP TABLE audit_auditevent",
        "SET session_replication_role = replica",
    ],
    ids=["update", "delete", "truncate", "disable-update-trigger", "disable-truncate-trigger",
         "disable-all-triggers", "drop-trigger", "replace-function", "take-ownership", "drop-table",
         "replica-mode"],
)
def test_the_application_role_cannot_change_or_empty_the_audit_trail(as_app, statement):
    with connection.cursor() as cursor:
        cursor.execute(INSERT, ["must survive"])
    _refused(statement)
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditevent WHERE note = 'must survive'")
        assert cursor.fetchone() == (1,)


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_application_role_keeps_normal_rights_on_the_other_tables(as_app, official_a):
    with connection.cursor() as cursor:
        cursor.execute("UPDATE accounts_user SET unit = 'app' WHERE id = %s", [official_a.pk])
        assert cursor.rowcount == 1
        cursor.execute("SELECT count(*) FROM households_household")
        cursor.execute("CREATE TEMP TABLE pc_scratch (id int)")  # the department import's staging table


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_application_works_through_the_orm_as_the_application_role(as_app, official_a):
    """A login (which writes a failure to the audit trail) and a write through the ORM, as the app role."""
    client = Client()
    client.post("/accounts/login/", {"username": "official_a", "password": "wrong-password-1"})
    assert AuditEvent.objects.filter(action="login_failed", object_repr="official_a").exists()
    with pytest.raises(RuntimeError):
        AuditEvent.objects.all().delete()  # refused by the application too, before the database refuses it


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_check_says_a_superuser_connection_is_not_protected():
    protected, why = audit_table_is_protected()
    assert protected is False and "superuser" in why


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_command_prints_its_sql_without_apply_and_changes_nothing():
    out = io.StringIO()
    call_command("setup_database_roles", owner="pc_never_owner", app="pc_never_app", stdout=out)
    text = out.getvalue()
    assert "GRANT SELECT, INSERT ON" in text and "dry run" in text
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM pg_roles WHERE rolname IN ('pc_never_owner', 'pc_never_app')")
        assert cursor.fetchone() == (0,)


@pytest.mark.postgres_only
@pytest.mark.skipif(connection.vendor != "postgresql", reason="roles exist on PostgreSQL only")
def test_the_command_applies_and_may_run_twice():
    suffix = uuid.uuid4().hex[:8]
    for _ in range(2):
        call_command("setup_database_roles", owner=f"pc_o_{suffix}", app=f"pc_a_{suffix}", apply=True,
                     stdout=io.StringIO())
    with connection.cursor() as cursor:
        cursor.execute("SELECT has_table_privilege(%s, 'audit_auditevent', 'UPDATE')", [f"pc_a_{suffix}"])
        assert cursor.fetchone() == (False,)


def test_role_names_are_plain_identifiers():
    with pytest.raises(ValueError):
        Roles(owner="owner; DROP TABLE x", app="app")


# --- Users --------------------------------------------------------------------------------------------


def user_events(user: User):
    return AuditEvent.objects.filter(entity="accounts.user", object_pk=str(user.pk)).order_by("pk")


def test_creating_a_user_is_audited_without_the_password(regions):
    user = User(username="newcomer", role=Role.TOWNSHIP_OFFICIAL, region_id=TOWNSHIP_A)
    user.set_password(PASSWORD)
    user.save()
    event = user_events(user).get()
    assert event.action == "create"
    assert event.changes["role"] == {"before": None, "after": "township_official"}
    assert event.changes["region"] == {"before": None, "after": TOWNSHIP_A}
    assert event.changes["password"]["after"] == "（已设置）"
    assert PASSWORD not in str(event.changes) and user.password not in str(event.changes) + event.note
    assert event.region_code == TOWNSHIP_A


def test_changes_of_role_region_and_sensitive_access_are_audited_with_before_and_after(official_a):
    official_a.role = Role.AUDITOR
    official_a.region_id = COUNTY
    official_a.sensitive_data_access = True
    official_a.save()
    event = user_events(official_a).last()
    assert event.action == "update"
    assert event.changes == {
        "role": {"before": "township_official", "after": "auditor"},
        "region": {"before": TOWNSHIP_A, "after": COUNTY},
        "sensitive_data_access": {"before": False, "after": True},
    }


def test_a_password_change_is_audited_as_a_change_never_its_value(official_a):
    old_hash = official_a.password
    official_a.set_password("another-secret-password-7")
    official_a.save()
    event = user_events(official_a).last()
    assert event.changes == {"password": {"before": "（已设置）", "after": "（已修改）"}}
    text = str(event.changes) + event.note + event.object_repr
    assert "another-secret-password-7" not in text and official_a.password not in text and old_hash not in text


def test_saving_a_user_with_nothing_audited_changed_writes_nothing(official_a):
    before = user_events(official_a).count()
    official_a.first_name = "新名字"
    official_a.save()
    official_a.save(update_fields=["last_login"])
    assert user_events(official_a).count() == before


def test_logging_in_writes_no_user_change(official_a):
    before = user_events(official_a).count()
    assert Client().post("/accounts/login/", {"username": "official_a", "password": PASSWORD}).status_code == 302
    assert user_events(official_a).count() == before


def test_a_rehash_of_the_password_at_login_is_not_a_password_change(official_a, settings):
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    User.objects.filter(pk=official_a.pk).update(password=make_password(PASSWORD, hasher="md5"))
    before = user_events(official_a).count()
    assert Client().post("/accounts/login/", {"username": "official_a", "password": PASSWORD}).status_code == 302
    official_a.refresh_from_db()
    assert official_a.password.startswith("pbkdf2_")  # re-hashed and saved
    assert user_events(official_a).count() == before


def test_changes_in_the_admin_are_audited_with_the_administrator_as_actor(admin_user, official_a):
    client = Client()
    client.force_login(admin_user)
    response = client.get(f"/admin/accounts/user/{official_a.pk}/change/")
    form = response.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data.update(role=Role.COUNTY_STAFF, region=COUNTY, sensitive_data_access="on")
    data.pop("password", None)
    data["date_joined_0"], data["date_joined_1"] = official_a.date_joined.strftime("%Y-%m-%d %H:%M:%S").split()
    data.pop("date_joined", None)
    data["last_login_0"] = data["last_login_1"] = ""
    data["groups"] = []
    data["user_permissions"] = []
    data["is_active"] = "on"
    response = client.post(f"/admin/accounts/user/{official_a.pk}/change/", data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    event = user_events(official_a).last()
    assert event.actor == admin_user and event.actor_username == "administrator"
    assert event.changes["role"] == {"before": "township_official", "after": "county_staff"}
    assert event.changes["region"] == {"before": TOWNSHIP_A, "after": COUNTY}
    assert event.changes["sensitive_data_access"] == {"before": False, "after": True}


def test_a_password_set_in_the_admin_is_audited_without_its_value(admin_user, official_a):
    client = Client()
    client.force_login(admin_user)
    new = "admin-chosen-password-42"
    response = client.post(
        f"/admin/accounts/user/{official_a.pk}/password/",
        {"password1": new, "password2": new, "usable_password": "true"},
    )
    assert response.status_code == 302
    event = user_events(official_a).last()
    assert event.actor == admin_user and set(event.changes) == {"password"}
    assert new not in str(event.changes) + event.note


def test_createsuperuser_is_audited(db, monkeypatch):
    monkeypatch.setitem(os.environ, "DJANGO_SUPERUSER_PASSWORD", "superuser-password-99")
    call_command("createsuperuser", interactive=False, username="root2", email="r@example.org",
                 stdout=io.StringIO())
    user = User.objects.get(username="root2")
    event = user_events(user).get()
    assert event.action == "create" and event.actor_username == "system"
    assert event.changes["is_superuser"] == {"before": None, "after": True}
    assert "superuser-password-99" not in str(event.changes)


def test_the_demo_users_setup_is_audited(regions):
    from demo.users import ensure_demo_users

    created = ensure_demo_users()
    for _spec, user in created:
        assert user_events(user).filter(action="create").exists()


def test_a_removed_user_is_audited(regions):
    user = User.objects.create_user(username="leaver", password=PASSWORD, role=Role.AUDITOR, region_id=TOWNSHIP_B)
    pk = user.pk
    user.delete()
    assert AuditEvent.objects.filter(entity="accounts.user", object_pk=str(pk), action="delete").exists()


# --- Data dictionary and thresholds in the admin ------------------------------------------------------


def _inline_management(prefix: str, total: int, initial: int) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total), f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0", f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def test_data_dictionary_edits_in_the_admin_are_audited_with_before_and_after(admin_user):
    codeset = CodeSet.objects.create(slug="test_set", name="测试", description="旧说明")
    code = Code.objects.create(codeset=codeset, code="1", label="旧名称", sort_order=1)
    client = Client()
    client.force_login(admin_user)
    data = {
        "slug": "test_set", "name": "测试", "description": "新说明",
        **_inline_management("codes", 2, 1),
        "codes-0-id": str(code.pk), "codes-0-codeset": "test_set", "codes-0-code": "1",
        "codes-0-label": "新名称", "codes-0-meaning": "", "codes-0-attributes": "{}", "codes-0-sort_order": "1",
        "codes-0-active": "on",
        "codes-1-codeset": "test_set", "codes-1-code": "2", "codes-1-label": "新增", "codes-1-meaning": "",
        "codes-1-attributes": "{}", "codes-1-sort_order": "2", "codes-1-active": "on",
    }
    response = client.post("/admin/households/codeset/test_set/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    set_event = AuditEvent.objects.get(entity="households.codeset", object_pk="test_set")
    assert set_event.changes == {"description": {"before": "旧说明", "after": "新说明"}}
    assert set_event.actor == admin_user
    changed = AuditEvent.objects.get(entity="households.code", object_pk=str(code.pk), action="update")
    assert changed.changes == {"label": {"before": "旧名称", "after": "新名称"}}
    added = AuditEvent.objects.get(entity="households.code", action="create")
    assert added.changes["label"] == {"before": None, "after": "新增"}


def test_removing_a_code_in_the_admin_is_audited(admin_user):
    codeset = CodeSet.objects.create(slug="test_set", name="测试")
    code = Code.objects.create(codeset=codeset, code="1", label="将删除", sort_order=1)
    client = Client()
    client.force_login(admin_user)
    data = {
        "slug": "test_set", "name": "测试", "description": "",
        **_inline_management("codes", 1, 1),
        "codes-0-id": str(code.pk), "codes-0-codeset": "test_set", "codes-0-code": "1", "codes-0-label": "将删除",
        "codes-0-meaning": "", "codes-0-attributes": "{}", "codes-0-sort_order": "1", "codes-0-active": "on",
        "codes-0-DELETE": "on",
    }
    assert client.post("/admin/households/codeset/test_set/change/", data).status_code == 302
    event = AuditEvent.objects.get(entity="households.code", action="delete")
    assert event.object_pk == str(code.pk) and event.changes["label"] == {"before": "将删除", "after": None}


def test_monitoring_threshold_edits_in_the_admin_are_audited(admin_user, regions):
    threshold = MonitoringThreshold.objects.create(region_id=COUNTY, year=2031, amount=Decimal("9000"))
    client = Client()
    client.force_login(admin_user)
    response = client.post(
        f"/admin/households/monitoringthreshold/{threshold.pk}/change/",
        {"region": COUNTY, "year": "2031", "amount": "9500", "source": "县文件"},
    )
    assert response.status_code == 302
    event = AuditEvent.objects.get(entity="households.monitoringthreshold", action="update")
    assert event.changes["amount"] == {"before": "9000", "after": "9500"}


def test_warning_thresholds_edited_inline_on_a_rule_are_audited(admin_user, regions):
    from risk.models import WarningRule, WarningThreshold

    rule = WarningRule.objects.create(
        code="test_rule", name="测试规则", department="health", field="out_of_pocket_ytd", operator="gt",
        default_threshold=Decimal("10000"), phrase="自付费用高",
    )
    client = Client()
    client.force_login(admin_user)
    form = client.get(f"/admin/risk/warningrule/{rule.pk}/change/").context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() not in (None, False)}
    data["active"] = "on" if rule.active else ""
    data.update(_inline_management("thresholds", 1, 0))
    prefix = client.get(f"/admin/risk/warningrule/{rule.pk}/change/").context["inline_admin_formsets"][0].formset.prefix
    if prefix != "thresholds":
        data = {k.replace("thresholds-", f"{prefix}-"): v for k, v in data.items()}
    data.update({f"{prefix}-0-rule": str(rule.pk), f"{prefix}-0-region": COUNTY, f"{prefix}-0-value": "20000"})
    response = client.post(f"/admin/risk/warningrule/{rule.pk}/change/", data)
    assert response.status_code == 302, response.content.decode()[:3000]
    threshold = WarningThreshold.objects.get(rule=rule)
    event = AuditEvent.objects.get(entity="risk.warningthreshold", object_pk=str(threshold.pk))
    assert event.action == "create" and event.changes["value"] == {"before": None, "after": "20000"}
