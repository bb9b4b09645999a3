"""manage.py setup_database_roles: the owner and application roles that keep the audit trail append-only."""

from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.utils.translation import gettext as _

from povertycloud.audit.roles import Roles, audit_table_is_protected, setup_roles, statements


class Command(BaseCommand):
    help = (
        "Create (if missing) the PostgreSQL owner role (NOLOGIN: owns the tables, the audit table and its "
        "trigger; migrations run as it) and the application role (LOGIN: what the site and the worker connect "
        "as; SELECT and INSERT only on the audit table), and set ownership and privileges. Idempotent. Run as a "
        "superuser, after migrate. Without --apply, prints the SQL and changes nothing. --check tells whether "
        "the role this connection uses could change or empty the audit trail."
    )

    def add_arguments(self, parser):
        parser.add_argument("--owner", default="povertycloud_owner", help="owner role (default povertycloud_owner)")
        parser.add_argument("--app", default="povertycloud_app", help="application role (default povertycloud_app)")
        parser.add_argument("--apply", action="store_true", help="run the statements (default: print them)")
        parser.add_argument("--check", action="store_true", help="check the current connection's role only")

    def handle(self, *args, owner: str, app: str, apply: bool, check: bool, **options):
        if connection.vendor != "postgresql":
            raise CommandError(_("数据库角色只用于 PostgreSQL。"))
        if check:
            protected, why = audit_table_is_protected()
            self.stdout.write(("OK: " if protected else "NOT PROTECTED: ") + why)
            if not protected:
                raise CommandError("the audit trail is not protected from this connection's role")
            return
        if owner == app:
            raise CommandError("--owner and --app must be different roles")
        roles = Roles(owner=owner, app=app)
        if not apply:
            for sql in statements(roles):
                self.stdout.write(sql + ";")
            self.stdout.write(self.style.WARNING("dry run: nothing changed (add --apply)"))
            return
        with transaction.atomic():
            setup_roles(roles)
        self.stdout.write(self.style.SUCCESS(f"roles ready: owner {owner}, application {app}"))
