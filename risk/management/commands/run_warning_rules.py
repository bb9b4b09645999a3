import datetime as dt

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from povertycloud.cluster import add_cluster_argument
from risk.rules import run_warning_rules


class Command(BaseCommand):
    help = (
        "Evaluate the active department warning rules (部门筛查预警) over the department records valid "
        "on a date and write a Warning per rule and source record. Running again on the same date adds "
        "nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("--as-of", type=dt.date.fromisoformat, help="date of the run (default today)")
        parser.add_argument("--region", help="12-digit region code (default: every household)")
        add_cluster_argument(parser)
        parser.add_argument("--user", help="username recorded in the audit trail")

    def handle(self, *args, as_of, region, user, cluster, **options):
        actor = None
        if user:
            actor = get_user_model().objects.filter(username=user).first()
            if actor is None:
                raise CommandError(_("用户 %(user)s 不存在。") % {"user": user})
        try:
            result = run_warning_rules(as_of=as_of, region_code=region, by=actor, cluster=cluster)
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(
            _("部门筛查预警（%(as_of)s）：触发 %(fired)s 条，新增 %(created)s 条。")
            % {"as_of": result.as_of, "fired": result.fired, "created": result.created}
        )
        for code, count in sorted(result.by_rule.items()):
            self.stdout.write(f"  {code}: {count}")
        for code, reason in result.skipped.items():
            self.stderr.write("  " + _("未执行 %(code)s：%(reason)s") % {"code": code, "reason": reason})
