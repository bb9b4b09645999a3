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
    """Adds the code sets the departments declared out of the box use (车辆类型, 就业状态, 市场主体类型, …)."""

    dependencies = [("households", "0015_api_changed_since_indexes")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
