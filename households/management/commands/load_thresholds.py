from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from households.thresholds import load_thresholds


class Command(BaseCommand):
    help = (
        "Load a county's monitoring thresholds (监测范围, yuan per person and year) from a CSV with region_code, "
        "year, amount and source (or 区划代码, 年度, 监测标准, 来源); UTF-8 or GBK. A province's row applies to "
        "every county under it unless a city or county sets its own. The regions must be loaded first "
        "(load_regions). The whole file is checked first; any fault refuses it with every fault listed. A year "
        "without a row has no threshold: training and the household pages say so, nothing falls back."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the threshold table (CSV)")

    def handle(self, *args, **options):
        path = options["file"]
        if not path.is_file():
            raise CommandError(_("文件不存在：%(path)s") % {"path": path})
        try:
            count = load_thresholds(path=path)
        except ValidationError as exc:
            raise CommandError(_("监测标准表有错误，未载入任何标准：") + "\n" + "\n".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(_("已载入 %(count)s 条监测标准（%(file)s）。") % {"count": count, "file": path.name})
        )
