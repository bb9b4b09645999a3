"""Fill the risk list's stored filter values (RiskListTag) for the runs scored before they existed."""

from django.db import migrations


def fill(apps, schema_editor):
    # The app's own builder: it reads households, warnings and cases region by region and writes in bulk
    # (seconds at 1,000,000 people). The models are today's; this migration runs right after the table is made.
    from risk import list_tags
    from risk.models import ScoringRun

    for run in ScoringRun.objects.filter(finished_at__isnull=False).order_by("id"):
        list_tags.build_run(run, analyze_after=False)
    from povertycloud.db import analyze
    from risk.models import RiskListTag

    analyze(RiskListTag)


class Migration(migrations.Migration):
    dependencies = [("risk", "0008_risk_list_tags")]

    operations = [migrations.RunPython(fill, migrations.RunPython.noop)]
