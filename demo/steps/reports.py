"""The demo's county report: one performance report generated at once (not queued), for build_demo."""

import datetime as dt
from typing import Any

from django.utils import timezone

from reports.models import Report
from reports.services import check_request, generate_report


def build_demo_report(*, region_code: str, by: Any, start: dt.date | None = None, end: dt.date | None = None) -> Report:
    """A report of the region from 1 January of last year to today (or the period given), generated in the
    caller's process; returns the finished Report (its files are under VAR_DIR/reports/<id>/)."""
    today = timezone.localdate()
    start = start or dt.date(today.year - 1, 1, 1)
    end = end or today
    region = check_request(user=by, region_code=region_code, start=start, end=end)
    report = Report.objects.create(region=region, period_start=start, period_end=end, requested_by=by)
    return generate_report(report=report)
