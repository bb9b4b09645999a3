import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _
from tqdm import tqdm

from eligibility.services import run_cross_checks
from exchange.commands import user_named


class Command(BaseCommand):
    help = (
        "Run every active eligibility cross-check (比对) over one county: registry members, monitored and "
        "assisted members, assistance measures and payment lists against the declared departments' records. "
        "Writes a hit per person, evidence record and payment; hits found again keep their verification."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", required=True, help="the county's 12-digit region code, e.g. 522634000000")
        parser.add_argument("--as-of", type=dt.date.fromisoformat, help="date of the run (default today)")
        parser.add_argument("--user", help="username recorded as the one who started the run")

    def handle(self, *args, region, as_of, user, **options):
        actor = user_named(user)
        bar = tqdm(total=0, unit=_("条规则"), file=self.stderr, disable=options["verbosity"] == 0)

        def progress(done: int, total: int, name: str) -> None:
            bar.total = total
            bar.n = done
            bar.set_description(name)
            bar.refresh()

        try:
            run = run_cross_checks(
                county_code=region, as_of=as_of or timezone.localdate(), by=actor, progress=progress
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        finally:
            bar.close()
        seconds = (run.finished_at - run.started_at).total_seconds()
        self.stdout.write(
            _(
                "比对批次 #%(run)s（%(county)s，截至 %(as_of)s）：发现疑点 %(found)s 条，新增 %(new)s 条，"
                "用时 %(seconds)s 秒。"
            )
            % {
                "run": run.pk, "county": run.county_code, "as_of": run.as_of, "found": run.hits_found,
                "new": run.hits_new, "seconds": f"{seconds:.1f}",
            }
        )
        for code, values in run.by_check.items():
            if "skipped" in values:
                reasons = "；".join(values["skipped"])
                self.stderr.write("  " + _("未执行 %(code)s：%(reason)s") % {"code": code, "reason": reasons})
                continue
            self.stdout.write(
                "  "
                + _("%(code)s（%(name)s）：%(found)s 条，新增 %(new)s 条，未再发现 %(not_seen)s 条")
                % {"code": code, "name": values["name"], "found": values["found"], "new": values["new"],
                   "not_seen": values["not_seen"]}
            )
