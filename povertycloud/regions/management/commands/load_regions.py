from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from povertycloud.regions.services import load_regions_csv

DEFAULT_FILE = Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv"


class Command(BaseCommand):
    help = "Load (create or update) the region tree from a CSV with code,name,level,parent_code."

    def add_arguments(self, parser):
        parser.add_argument(
            "file", nargs="?", default=str(DEFAULT_FILE), help="CSV file (default: the demo county)"
        )

    def handle(self, *args, **options):
        count = load_regions_csv(Path(options["file"]))
        self.stdout.write(self.style.SUCCESS(f"{count} regions loaded from {options['file']}"))
