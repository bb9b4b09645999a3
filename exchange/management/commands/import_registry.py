import csv
import datetime as dt
from pathlib import Path

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from exchange.commands import row_progress, user_named
from exchange.models import ImportBatch
from exchange.readers import FileRefused
from exchange.registry.service import import_registry


class Command(BaseCommand):
    help = (
        "Import a county's household file (户档案) from the national monitoring system's exports: "
        "import_registry --region CODE --as-of YYYY-MM-DD FILE... The files are the household table (户信息), "
        "the member table (成员信息), and optionally the income table with a year column (收支信息) and the "
        "status history (状态变更): one file each, or the sheets of one workbook; CSV (UTF-8, UTF-8 with BOM "
        "or GBK) or XLSX. Rows that fail the household file's checks are kept with their reasons; the same "
        "files twice change nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("files", nargs="+", type=Path, help="the export's CSV or XLSX files")
        parser.add_argument("--region", required=True, help="12-digit code of the county (or township) exported")
        parser.add_argument(
            "--as-of", required=True, type=dt.date.fromisoformat, help="数据截至日期 of the export, YYYY-MM-DD"
        )
        parser.add_argument("--encoding", help="CSV encoding when detection is not wanted: utf-8, utf-8-sig, gbk")
        parser.add_argument("--user", help="username recorded as the importer (its region must cover --region)")
        parser.add_argument(
            "--rejected-out",
            type=Path,
            help="where to write the rejected rows as CSV (default var/registry/batch-N-rejected.csv)",
        )

    def handle(self, *args, **options):
        user = user_named(options["user"])
        bar, progress = row_progress(self.stderr, verbosity=options["verbosity"])

        try:
            batch = import_registry(
                region_code=options["region"],
                paths=options["files"],
                by=user,
                as_of=options["as_of"],
                encoding=options["encoding"],
                progress=progress,
            )
        except (FileRefused, PermissionDenied) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        if batch.already_imported:
            self.stdout.write(_("这些文件已于批次 #%(batch)s 导入，未做任何更改。") % {"batch": batch.pk})
            return
        self.stdout.write(self.style.SUCCESS(_("批次 #%(batch)s：%(note)s") % {"batch": batch.pk, "note": batch.note}))
        if batch.rejected_rows:
            out = options["rejected_out"] or Path(settings.VAR_DIR) / "registry" / f"batch-{batch.pk}-rejected.csv"
            write_rejected_csv(batch, out)
            self.stdout.write(_("拒收 %(count)s 行，原因见 %(path)s") % {"count": batch.rejected_rows, "path": out})


def write_rejected_csv(batch: ImportBatch, out: Path) -> None:
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = list(batch.rejected.order_by("id").values_list("row_number", "values", "reasons"))
    columns: list[str] = []
    for _number, values, _reasons in rows:
        columns.extend(c for c in values if c not in columns)
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow([_("行号"), *columns, _("拒收原因")])
        for row_number, values, reasons in rows:
            writer.writerow([row_number, *(values.get(c, "") for c in columns), "；".join(reasons)])
