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
    dependencies = [("households", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
