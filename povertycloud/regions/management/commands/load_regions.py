from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from povertycloud.regions.services import load_regions_csv


class Command(BaseCommand):
    help = (
        "Load (create or rename) regions from a county's official statistical code list (统计用区划代码): a CSV "
        "with a 12-digit code and a name per row (province, city, county, townships, villages); level and "
        "parent code may be given and are otherwise read from the code. UTF-8 or GBK. The whole list is checked "
        "first; any fault refuses it with every fault listed, and nothing is written."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the code list (CSV)")

    def handle(self, *args, **options):
        path = options["file"]
        if not path.is_file():
            raise CommandError(_("文件不存在：%(path)s") % {"path": path})
        try:
            count = load_regions_csv(path)
        except ValidationError as exc:
            raise CommandError(_("区划代码表有错误，未载入任何区划：") + "\n" + "\n".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(_("已载入 %(count)s 个区划（%(file)s）。") % {"count": count, "file": path.name})
        )
