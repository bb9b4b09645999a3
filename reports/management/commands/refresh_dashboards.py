"""Keep the dashboards fresh on a schedule (reports.dashboards). Run it from cron or a systemd timer, e.g.
every night at 02:00 and every hour in office hours:

    0 2 * * *      cd /srv/povertycloud && .venv/bin/python manage.py refresh_dashboards
    30 8-18 * * 1-5 cd /srv/povertycloud && .venv/bin/python manage.py refresh_dashboards

It queues the kept-fresh set (each county with households and its townships for the period the dashboard opens
on, and every dashboard opened in the last 30 days) for the background worker (`db_worker`); with --now it
computes them in this process instead, one after another (no worker needed). Changes between runs refresh
their own regions (an import, a scoring run, a decision …); the schedule covers the writes that announce
nothing.
"""

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from povertycloud.regions.models import Region
from reports import dashboards
from reports.models import DashboardSnapshot


class Command(BaseCommand):
    help = (
        "按计划更新成效考核指标快照（县及其乡镇的默认统计期，以及近 30 天打开过的指标页）。"
        "Queues (or with --now computes) the dashboards' stored snapshots."
    )

    def add_arguments(self, parser):
        parser.add_argument("--region", help=_("只更新这个区划（及其上下级）的快照"))
        parser.add_argument("--now", action="store_true", help=_("在本进程中逐个计算，不交给后台任务"))

    def handle(self, *args, region=None, now=False, **options) -> None:
        if region and not Region.objects.filter(code=region).exists():
            raise CommandError(_("区划代码不存在。"))
        ids = dashboards.schedule(region_code=region)
        if not now:
            queued = dashboards.queue(ids, defer=False)
            self.stdout.write(
                _("已排队更新 %(queued)s 个指标快照（共 %(total)s 个，其余已在排队）。")
                % {"queued": len(queued), "total": len(ids)}
            )
            return
        DashboardSnapshot.objects.filter(pk__in=ids).update(
            status=DashboardSnapshot.Status.QUEUED, queued_at=timezone.now()
        )
        total = time.perf_counter()
        for pk in ids:
            snapshot = dashboards.refresh(pk)
            if snapshot is None:
                continue
            self.stdout.write(
                _("%(region)s %(start)s 至 %(end)s：%(status)s，%(seconds)s 秒")
                % {
                    "region": snapshot.region_id,
                    "start": f"{snapshot.period_start:%Y-%m-%d}",
                    "end": f"{snapshot.period_end:%Y-%m-%d}",
                    "status": snapshot.get_status_display(),
                    "seconds": snapshot.compute_seconds,
                }
            )
        self.stdout.write(
            _("已更新 %(count)s 个指标快照，用时 %(seconds).1f 秒。")
            % {"count": len(ids), "seconds": time.perf_counter() - total}
        )
