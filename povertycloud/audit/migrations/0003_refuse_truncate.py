"""On PostgreSQL the audit table refuses TRUNCATE as it refuses UPDATE and DELETE (a statement trigger).

The trigger refuses everyone, the table's owner included; only a superuser can get past it (by disabling
triggers), and the application never connects as one (manage.py setup_database_roles). The test suite's
flush, as the superuser it runs as, does so in the test environment only (povertycloud.audit's flush).
"""

from django.db import migrations

CREATE = """
DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;
CREATE TRIGGER audit_event_no_truncate
    BEFORE TRUNCATE ON audit_auditevent
    FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change();
"""

DROP = "DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_auditevent;"


def create_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_trigger(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("audit", "0002_append_only_trigger")]
    operations = [migrations.RunPython(create_trigger, drop_trigger)]
