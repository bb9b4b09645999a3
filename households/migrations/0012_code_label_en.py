import csv
from pathlib import Path

from django.conf import settings
from django.db import migrations, models


def fill_english_labels(apps, schema_editor):
    """Existing codes get the English label of the shipped dictionary; their other columns stay as edited."""
    Code = apps.get_model("households", "Code")
    path = Path(settings.BASE_DIR) / "fixtures" / "data_dictionary.csv"
    with path.open(encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            english = (row.get("label_en") or "").strip()
            if english:
                Code.objects.filter(codeset_id=row["codeset"], code=row["code"], label_en="").update(label_en=english)


class Migration(migrations.Migration):
    dependencies = [("households", "0011_members_leave_and_source_batch")]

    operations = [
        migrations.AddField(
            model_name="code",
            name="label_en",
            field=models.CharField(blank=True, max_length=100, verbose_name="英文名称"),
        ),
        migrations.RunPython(fill_english_labels, migrations.RunPython.noop),
    ]
