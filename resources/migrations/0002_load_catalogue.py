from django.db import migrations


def load(apps, schema_editor):
    from resources.catalogue import load_catalogue

    load_catalogue(
        category_model=apps.get_model("resources", "AssistanceCategory"),
        subtype_model=apps.get_model("resources", "AssistanceSubtype"),
        expectation_model=apps.get_model("resources", "ExpectedMeasure"),
    )


class Migration(migrations.Migration):
    dependencies = [("resources", "0001_initial")]
    operations = [migrations.RunPython(load, migrations.RunPython.noop)]
