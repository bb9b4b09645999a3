import csv
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from exchange.commands import row_progress, user_named
from exchange.declarations import REGISTRY, get_department
from exchange.models import ImportBatch
from exchange.pipeline import FileRefused, import_department_file
from exchange.readers import header_key


class Command(BaseCommand):
    help = (
        "Import one department file (部门数据) into its source records, keeping history: "
        "import_feed DEPARTMENT FILE. CSV (UTF-8, UTF-8 with BOM or GBK, detected) or XLSX. "
        "Rows that fail validation are kept with their reasons and written to a CSV; "
        "the same file twice is a no-op. Departments: those declared in code ("
        + ", ".join(f"{d.slug} ({d.name})" for d in REGISTRY.values())
        + ") and those declared as data (manage.py declare_departments, or the admin)"
    )

    def add_arguments(self, parser):
        parser.add_argument("department", help="declared department, e.g. " + ", ".join(REGISTRY))
        parser.add_argument("file", type=Path, help="the department's CSV or XLSX file")
        parser.add_argument(
            "--encoding", help="CSV encoding when detection is not wanted: utf-8, utf-8-sig, gbk (read as GB18030)"
        )
        parser.add_argument(
            "--region", required=True, help="12-digit code of the region (county or township) the file covers"
        )
        parser.add_argument("--period", help="统计期 YYYY-MM, if not taken from the file's 统计期 column")
        parser.add_argument("--user", help="username recorded as the uploader (default: none, 'system')")
        parser.add_argument(
            "--rejected-out",
            type=Path,
            help="where to write the rejected rows as CSV (default var/feeds/batch-N-rejected.csv)",
        )

    def handle(self, *args, **options):
        department = options["department"]
        try:
            get_department(department)
        except LookupError as exc:
            raise CommandError(str(exc)) from exc
        user = user_named(options["user"])
        bar, progress = row_progress(self.stderr, verbosity=options["verbosity"])

        try:
            batch = import_department_file(
                department=department,
                path=options["file"],
                by=user,
                region_code=options["region"],
                encoding=options["encoding"],
                progress=progress,
                period=options["period"],
            )
        except (FileRefused, LookupError) as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()

        if batch.status == ImportBatch.Status.REVIEW:
            waiting = _("该文件已上传，正等待确认。") if batch.already_imported else ""
            self.stdout.write(
                self.style.WARNING(
                    _("批次 #%(batch)s 待确认：%(waiting)s%(note)s")
                    % {"batch": batch.pk, "waiting": waiting, "note": batch.note}
                )
            )
            self.stdout.write(_("请在“部门数据 › 导入批次”页面由本地区的县级工作人员或系统管理员确认导入或取消。"))
            return
        if batch.already_imported:
            self.stdout.write(
                self.style.WARNING(
                    _("该文件已于 %(when)s 导入（批次 #%(batch)s），本次未写入任何内容。")
                    % {"when": f"{batch.finished_at:%Y-%m-%d %H:%M}", "batch": batch.pk}
                )
            )
            return
        self.stdout.write(
            _(
                "批次 #%(batch)s（%(department)s，统计期 %(period)s，%(format)s %(encoding)s）：共 %(total)s 行，"
                "接收 %(accepted)s 行，拒收 %(rejected)s 行；关联到人 %(linked)s 行，未关联 %(unlinked)s 行。"
            )
            % {
                "batch": batch.pk,
                "department": batch.department,
                "period": batch.period,
                "format": batch.file_format.upper(),
                "encoding": batch.encoding,
                "total": batch.total_rows,
                "accepted": batch.accepted_rows,
                "rejected": batch.rejected_rows,
                "linked": batch.linked_rows,
                "unlinked": batch.unlinked_rows,
            }
        )
        if batch.note:
            self.stdout.write(batch.note)
        if batch.rejected_rows:
            out = options["rejected_out"] or Path(settings.VAR_DIR) / "feeds" / f"batch-{batch.pk}-rejected.csv"
            write_rejected_csv(batch, out)
            self.stdout.write(
                _("拒收行及原因已写入 %(path)s；也可在管理后台“拒收行”中按批次 #%(batch)s 查看。")
                % {"path": out, "batch": batch.pk}
            )
        self.stdout.write(self.style.SUCCESS(_("导入完成。")))


def write_rejected_csv(batch: ImportBatch, out: Path) -> None:
    """The rejected rows as CSV (UTF-8 with BOM, for Excel): row number, reasons, then the original columns."""
    out.parent.mkdir(parents=True, exist_ok=True)
    rows = batch.rejected.order_by("row_number").values_list("row_number", "values", "reasons")
    headers: list[str] = []
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        writer = csv.writer(handle)
        for number, values, reasons in rows.iterator(chunk_size=5000):
            if not headers:
                headers = _in_file_order(batch, values)
                writer.writerow([_("行号"), _("拒收原因"), *headers])
            cells = [values.get(h, "") for h in headers]
            writer.writerow([number, "；".join(reasons), *(_safe(c) for c in cells)])


def _in_file_order(batch: ImportBatch, values: dict) -> list[str]:
    """The declaration's column order first (PostgreSQL's jsonb does not keep the order of keys)."""
    order = {header_key(c): i for i, c in enumerate(get_department(batch.department).columns)}
    return sorted(values, key=lambda h: (order.get(header_key(h), len(order)), h))


def _safe(value: str) -> str:
    """A cell Excel would run as a formula is written as text."""
    return "'" + value if value[:1] in ("=", "+", "-", "@") else value
