"""“Data changed here”: the one signal lower apps send when a write moved what higher apps summarise.

The dashboards (reports.dashboards) keep stored numbers per region and period and refresh them in the
background. Most writes reach them without anyone calling this module: reports listens to the audit trail
(every audited write names its entity and region) and to a few models' post_save. A write that is neither
audited nor saved one row at a time (a queryset.update(), a bulk_create) calls announce_change() once it is
done, so that the summaries of its region are refreshed instead of waiting for the schedule.

The signal lives here, at the bottom of the dependency chain, so that exchange, risk and resources can send it
without importing reports.
"""

from django.db import transaction
from django.dispatch import Signal

# Sent with region_code (a 12-digit code, or "" for “every region”) and what (a short label for logs).
data_changed = Signal()


def announce_change(region_code: str | None, *, what: str = "") -> None:
    """Tell the summaries that the data of region_code (its descendants included) changed. Inside a
    transaction the signal is sent once it commits: a refresh must not read the data before it is there, and
    a rolled-back write changed nothing."""
    code = (region_code or "").strip()
    transaction.on_commit(lambda: data_changed.send(sender=None, region_code=code, what=what), robust=True)
