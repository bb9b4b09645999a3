import datetime as dt
import time

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from povertycloud.cluster import add_cluster_argument
from reports.models import Report
from reports.services import generate_report, report_dir, request_report


class Command(BaseCommand):
    help = (
        "Generate a performance report now, in this process, through the same services as the report page "
        "(the request's checks, then the report job): its XLSX, PDF, CSV ledgers and manifest under "
        "VAR_DIR/reports/<id>/. A province's or a prefecture's indicators are computed one county a Dask task: "
        "--cluster tcp://host:8786 (a running scheduler), local (a LocalCluster of this machine) or none (the "
        "tasks one after the other here); default the DASK_SCHEDULER_ADDRESS setting, else local. A county or "
        "a township is computed here."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="12-digit region code")
        parser.add_argument("--start", required=True, type=dt.date.fromisoformat, help="first day, YYYY-MM-DD")
        parser.add_argument("--end", required=True, type=dt.date.fromisoformat, help="last day, YYYY-MM-DD")
        add_cluster_argument(parser)
        parser.add_argument("--user", required=True, help="username the report is generated for (its scope)")

    def handle(self, *args, region, start, end, cluster, user, **options):
        by = get_user_model().objects.filter(username=user).first()
        if by is None:
            raise CommandError(_("用户 %(user)s 不存在。") % {"user": user})
        try:
            report = request_report(by=by, region_code=region, start=start, end=end, queue=False)
        except ValidationError as error:
            raise CommandError(" ".join(m for messages in error.message_dict.values() for m in messages)) from error
        except PermissionDenied as error:
            raise CommandError(str(error)) from error
        began = time.monotonic()
        report = generate_report(report=report, cluster=cluster)
        if report.status != Report.Status.SUCCEEDED:
            raise CommandError(_("报告 #%(report)s 生成失败：%(error)s") % {"report": report.pk, "error": report.error})
        self.stdout.write(
            _("报告 #%(report)s（%(region)s，%(start)s 至 %(end)s）已生成，用时 %(seconds)s 秒：%(directory)s")
            % {
                "report": report.pk,
                "region": report.manifest["parameters"]["region_name"],
                "start": start,
                "end": end,
                "seconds": f"{time.monotonic() - began:.1f}",
                "directory": report_dir(report),
            }
        )
