from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from households.codes import load_data_dictionary


class Command(BaseCommand):
    help = (
        "Load or update the data dictionary from a CSV (UTF-8) with the columns of fixtures/data_dictionary.csv: "
        "codeset, codeset_name, codeset_description, code, label, meaning, attributes, sort_order, and "
        "optionally label_en (the English label shown on English pages; without it a code keeps the English "
        "label it has, or shows its Chinese label). Codes not in the file stay. A faulty file loads nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path, help="the data dictionary (CSV)")

    def handle(self, *args, **options):
        path = options["file"]
        if not path.is_file():
            raise CommandError(_("文件不存在：%(path)s") % {"path": path})
        try:
            count = load_data_dictionary(path)
        except ValidationError as exc:
            raise CommandError(_("数据字典文件有错误，未载入任何代码：") + "\n" + "\n".join(exc.messages)) from exc
        self.stdout.write(
            self.style.SUCCESS(_("已载入 %(count)s 个代码（%(file)s）。") % {"count": count, "file": path.name})
        )
