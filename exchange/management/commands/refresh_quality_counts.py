"""Recompute the stored data-quality counts (for a schedule, e.g. nightly, and after bulk changes made
outside the application)."""

import datetime as dt

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange import quality
from povertycloud.regions.models import Region


class Command(BaseCommand):
    help = _("重新计算各县的数据质量问题数（供定时任务使用）。")

    def add_arguments(self, parser):
        parser.add_argument("--region", help=_("县或更高一级的区划代码；默认所有县。"))
        parser.add_argument("--as-of", help=_("计算日期 YYYY-MM-DD；默认本月第一天。"))

    def handle(self, *args, region=None, as_of=None, **options):
        try:
            on = dt.date.fromisoformat(as_of) if as_of else quality.month_start(timezone.localdate())
        except ValueError as exc:
            raise CommandError(_("计算日期应写作 YYYY-MM-DD。")) from exc
        counties = Region.objects.filter(level=Region.Level.COUNTY)
        if region:
            found = Region.objects.filter(code=region).first()
            if found is None:
                raise CommandError(_("没有区划代码为 %(code)s 的地区。") % {"code": region})
            if found.level > Region.Level.COUNTY:
                raise CommandError(_("请给出县或更高一级的区划代码。"))
            counties = counties.filter(code__startswith=found.prefix)
        for county in counties.order_by("code"):
            run = quality.refresh_counts(county.code, on)
            self.stdout.write(
                _("%(county)s（%(code)s）：%(on)s 的问题数已计算，用时 %(seconds).1f 秒。")
                % {"county": county.name, "code": county.code, "on": on.isoformat(), "seconds": run.seconds}
            )
