from pathlib import Path

from django.conf import settings
from django.db import migrations


def load(apps, schema_editor):
    from households.codes import load_data_dictionary

    load_data_dictionary(
        Path(settings.BASE_DIR) / "fixtures" / "data_dictionary.csv",
        code_model=apps.get_model("households", "Code"),
        codeset_model=apps.get_model("households", "CodeSet"),
    )


class Migration(migrations.Migration):
    """Adds the code sets department files use (基本医疗保险类型, 学段)."""

    dependencies = [("households", "0004_department_feeds")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
