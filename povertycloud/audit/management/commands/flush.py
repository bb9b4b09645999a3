"""Django's flush, which the test suite runs between transactional tests, able to empty the audit table in the
test environment only.

The audit table refuses TRUNCATE (migration 0003); flush empties tables with TRUNCATE. In the test
environment, connected as a superuser, this flush turns triggers off for its own session while it runs
(session_replication_role, which only a superuser may set). Anywhere else it is Django's flush unchanged,
and the audit table's trigger refuses it: a production audit trail is never flushed.
"""

from django.conf import settings
from django.core.management.commands.flush import Command as FlushCommand
from django.db import DEFAULT_DB_ALIAS, connections


def _is_superuser(connection) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


class Command(FlushCommand):
    def handle(self, **options):
        connection = connections[options.get("database") or DEFAULT_DB_ALIAS]
        bypass = (
            settings.ENVIRONMENT == "test" and connection.vendor == "postgresql" and _is_superuser(connection)
        )
        if not bypass:
            return super().handle(**options)
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
        try:
            return super().handle(**options)
        finally:
            with connection.cursor() as cursor:
                cursor.execute("SET session_replication_role = DEFAULT")
