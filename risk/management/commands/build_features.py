import datetime as dt
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from povertycloud.cluster import add_cluster_argument
from risk.feature_files import write_region_features


class Command(BaseCommand):
    help = (
        "Compute the risk features of every household of a region as of a date (the frame scoring and training "
        "use) and write one Parquet file per county into --out. Above county level each county is a task on Dask "
        "(--cluster tcp://host:8786, 'local' or 'none'). The files hold the household's internal id, its village "
        "code and the numeric features; no name or ID number."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="12-digit region code (a county, prefecture or province)")
        parser.add_argument("--as-of", type=dt.date.fromisoformat, help="date of the features (default today)")
        parser.add_argument("--out", required=True, type=Path, help="folder of the Parquet files")
        add_cluster_argument(parser)

    def handle(self, *args, region, as_of, out, cluster, **options):
        as_of = as_of or timezone.localdate()

        def county_done(county: str, step: str) -> None:
            self.stderr.write(_("县 %(county)s：特征已写出") % {"county": county})

        try:
            written = write_region_features(
                region_code=region, as_of=as_of, folder=out, cluster=cluster, on_county=county_done
            )
        except (ValueError, OSError) as exc:
            raise CommandError(str(exc)) from exc
        for county, (path, households) in sorted(written.items()):
            self.stdout.write(_("%(county)s：%(households)s 户 → %(path)s") % {
                "county": county, "households": households, "path": path,
            })
        self.stdout.write(
            _("共 %(counties)s 个县，%(households)s 户（截至 %(as_of)s）。")
            % {"counties": len(written), "households": sum(count for _path, count in written.values()), "as_of": as_of}
        )
