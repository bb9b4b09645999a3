"""PostgreSQL roles that keep the audit trail out of the application's reach.

  owner (NOLOGIN)  owns every table of the schema, the audit table and its trigger function among them.
                   Migrations run as it (DATABASE_ROLE=owner: Django's assume_role sets the role on connect).
  app   (LOGIN)    what the web server and the worker connect as: SELECT, INSERT, UPDATE and DELETE on the
                   application's tables, and SELECT and INSERT only on the audit table. It owns nothing and is
                   not a member of owner, so it can neither change nor delete nor truncate audit rows, nor
                   disable, drop or replace the trigger that refuses those.

setup_roles() is idempotent: run it (manage.py setup_database_roles) once, and again after migrations that add
tables (default privileges cover tables the owner creates, but running it again costs nothing).
"""

import re
from dataclasses import dataclass

from django.db import connection
from django.db.backends.utils import truncate_name

from povertycloud.audit.models import AuditEvent

TRIGGER_FUNCTION = "audit_refuse_change()"


ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


@dataclass(frozen=True)
class Roles:
    owner: str
    app: str

    def __post_init__(self) -> None:
        for name in (self.owner, self.app):
            if not ROLE_NAME.match(name):
                raise ValueError(f"not a plain role name: {name!r}")


def _q(name: str) -> str:
    return connection.ops.quote_name(truncate_name(name, connection.ops.max_name_length()))


def statements(roles: Roles, *, schema: str = "public") -> list[str]:
    """The SQL that creates the roles (if missing) and sets ownership and privileges."""
    owner, app = _q(roles.owner), _q(roles.app)
    audit = _q(AuditEvent._meta.db_table)
    sql = [
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{roles.owner}') THEN "
        f"CREATE ROLE {owner} NOLOGIN; END IF; END $$",
        f"DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{roles.app}') THEN "
        f"CREATE ROLE {app} LOGIN; END IF; END $$",
        # The application role must be nothing more: no superuser, no role creation, no membership of owner.
        f"ALTER ROLE {app} NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS NOREPLICATION",
        f"REVOKE {owner} FROM {app}",
        f"GRANT USAGE ON SCHEMA {schema} TO {app}",
        f"GRANT USAGE, CREATE ON SCHEMA {schema} TO {owner}",
    ]
    # Every table and view of the schema (the audit table included) to the owner; sequences that belong to a
    # column follow their table.
    sql.append(
        "DO $$ DECLARE r record; BEGIN "
        "FOR r IN SELECT c.relname, c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        f"WHERE n.nspname = '{schema}' AND c.relkind IN ('r', 'p', 'v', 'm') "
        f"AND pg_get_userbyid(c.relowner) <> '{roles.owner}' LOOP "
        f"EXECUTE format('ALTER TABLE {schema}.%I OWNER TO {owner}', r.relname); "
        "END LOOP; END $$"
    )
    sql += [
        # The trigger function (absent before the first migrate: then the owner creates it).
        f"DO $$ BEGIN IF to_regprocedure('{schema}.{TRIGGER_FUNCTION}') IS NOT NULL THEN "
        f"ALTER FUNCTION {schema}.{TRIGGER_FUNCTION} OWNER TO {owner}; "
        f"REVOKE ALL ON FUNCTION {schema}.{TRIGGER_FUNCTION} FROM PUBLIC; END IF; END $$",
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA {schema} TO {app}",
        f"GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA {schema} TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {app}",
        f"ALTER DEFAULT PRIVILEGES FOR ROLE {owner} IN SCHEMA {schema} "
        f"GRANT USAGE, SELECT, UPDATE ON SEQUENCES TO {app}",
        # The audit table: read and append, nothing else, for the application and for everyone else.
    ]
    audit_grants = (
        f"REVOKE ALL ON {audit} FROM PUBLIC; REVOKE ALL ON {audit} FROM {app}; "
        f"GRANT SELECT, INSERT ON {audit} TO {app};"
    )
    sql.append(
        f"DO $$ BEGIN IF to_regclass('{schema}.{AuditEvent._meta.db_table}') IS NOT NULL THEN "
        f"{audit_grants} END IF; END $$"
    )
    return sql


def setup_roles(roles: Roles) -> list[str]:
    if connection.vendor != "postgresql":
        raise RuntimeError("database roles exist on PostgreSQL only")
    done = statements(roles)
    with connection.cursor() as cursor:
        for sql in done:
            cursor.execute(sql)
    return done


def audit_table_is_protected() -> tuple[bool, str]:
    """Whether the role this connection acts as could empty the audit trail: (protected, why)."""
    if connection.vendor != "postgresql":
        return False, "SQLite has no roles: the application refuses changes to the audit trail itself."
    table = AuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT r.rolsuper, pg_get_userbyid(c.relowner) = current_user, "
            "pg_has_role(current_user, c.relowner, 'USAGE'), "
            "has_table_privilege(current_user, c.oid, 'UPDATE'), has_table_privilege(current_user, c.oid, 'DELETE'), "
            "has_table_privilege(current_user, c.oid, 'TRUNCATE') "
            "FROM pg_class c, pg_roles r WHERE c.oid = %s::regclass AND r.rolname = current_user",
            [table],
        )
        superuser, owns, member, update, delete, truncate = cursor.fetchone()
    if superuser:
        return False, "connected as a superuser"
    if owns or member:
        return False, "connected as the owner of the audit table (or a member of its role)"
    if update or delete or truncate:
        return False, "the role may UPDATE, DELETE or TRUNCATE the audit table"
    return True, "the role may only read and append to the audit table"
