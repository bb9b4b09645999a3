"""Dashboards ready before anyone opens them: stored snapshots, refreshed in the background.

A dashboard's numbers are the performance report's (reports.services.compute_for), which takes 14 s for a
county of a million people. So the page never computes them: it reads a DashboardSnapshot (one row per region
and period) and renders it. The numbers are computed by a background job (reports.tasks.refresh_dashboard_task):

* after each change that moves them: the audit trail names the entity and region of every import, undo,
  scoring run, case decision, assistance measure and elimination; povertycloud.changes.announce_change() covers
  the writes that are not audited one row at a time. mark_changed(code) marks the snapshots of that region,
  the regions above it and those below it, and queues those that are kept fresh;
* on a schedule: `manage.py refresh_dashboards` (a cron job or systemd timer) queues the kept-fresh set;
* when someone opens a region and period that has no snapshot yet, or whose snapshot a change has made stale:
  the page queues it and says so.

Debounce: a change queues the refresh to run DEBOUNCE later; changes before it runs find the row queued and
queue nothing more, so a burst of decisions in a minute costs one refresh per region. A change that arrives
while the refresh runs queues the row again (the running refresh may have read the data before it).

Kept fresh: each county that has households and its townships for the period the page opens on
(reports.forms.threshold_period), and every snapshot someone opened in the last KEEP_OPENED_DAYS (a prefecture
or province one too). Other snapshots are only marked stale; the page refreshes them when opened.
"""

import datetime as dt
import logging
import time
from collections.abc import Iterable
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone, translation

from households.models import Household
from povertycloud.db import ProcessLock
from povertycloud.regions.models import PREFIX_LENGTH, Region
from reports.models import DashboardSnapshot

logger = logging.getLogger(__name__)

Status = DashboardSnapshot.Status
SNAPSHOT_LOCK_NAMESPACE = 4130  # PostgreSQL advisory locks: (namespace, snapshot id) while a snapshot is computed
DEBOUNCE = dt.timedelta(seconds=60)
KEEP_OPENED_DAYS = 30
VIEW_TOUCH = dt.timedelta(hours=1)  # viewed_at is written at most this often per snapshot
# A queued or running row older than this has lost its task (a worker that died): it may be queued again.
STUCK_AFTER = dt.timedelta(minutes=30)
RETRY_FAILED_AFTER = dt.timedelta(minutes=10)
# The same region announced again within this time (in this process) is not marked again: the refresh it
# queued runs DEBOUNCE later, after the change. Only where refreshes are deferred (see _defers()).
SAME_CHANGE_WINDOW = 2.0

# Audited entities whose writes move the dashboard's numbers (reports.sources reads them).
MOVING_ENTITIES = frozenset(
    {
        "exchange.importbatch",
        "exchange.registryconflict",
        "households.household",
        "households.person",
        "households.incomerecord",
        "households.statuschange",
        "households.monitoringthreshold",
        "risk.scoringrun",
        "risk.riskcase",
        "risk.riskscore",
        "resources.assistancemeasure",
        "resources.eliminationcase",
        "resources.monitoringreturn",
        "resources.expectedmeasure",
        "resources.outcomeobservation",  # observing outcomes records returns to monitoring
    }
)
READ_ONLY_ACTIONS = frozenset({"reveal", "export", "login_failed"})


class _Reader:
    """Whom the job reads as: every region. The page checks that its user may see the region it shows."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    role = "admin"
    region = None
    username = "system"
    pk = None


READER = _Reader()


# --- Reading (the page) --------------------------------------------------------------------------------


def snapshot_of(region: Region, start: dt.date, end: dt.date) -> DashboardSnapshot | None:
    return DashboardSnapshot.objects.filter(region=region, period_start=start, period_end=end).first()


def is_stale(snapshot: DashboardSnapshot) -> bool:
    return snapshot.computed_at is None or (
        snapshot.changed_at is not None and snapshot.changed_at > snapshot.computed_at
    )


def is_refreshing(snapshot: DashboardSnapshot, now: dt.datetime | None = None) -> bool:
    """Queued or running and not lost (see STUCK_AFTER)."""
    now = now or timezone.now()
    since = snapshot.started_at if snapshot.status == Status.RUNNING else snapshot.queued_at
    return snapshot.in_progress and since is not None and since > now - STUCK_AFTER


def open_snapshot(*, region: Region, start: dt.date, end: dt.date) -> DashboardSnapshot:
    """The stored snapshot the page shows (its content may be empty: not computed yet). A missing or stale
    one, or one whose refresh was lost or failed a while ago, is queued now; nothing is computed here."""
    now = timezone.now()
    snapshot = snapshot_of(region, start, end)
    if snapshot is None:
        snapshot, _created = DashboardSnapshot.objects.get_or_create(
            region=region, period_start=start, period_end=end, defaults={"viewed_at": now, "status": Status.QUEUED}
        )
        queue([snapshot.pk], defer=False)
        return DashboardSnapshot.objects.get(pk=snapshot.pk)
    if snapshot.viewed_at is None or snapshot.viewed_at < now - VIEW_TOUCH:
        DashboardSnapshot.objects.filter(pk=snapshot.pk).update(viewed_at=now)
        snapshot.viewed_at = now
    failed_long_ago = snapshot.status == Status.FAILED and (
        snapshot.queued_at is None or snapshot.queued_at < now - RETRY_FAILED_AFTER
    )
    lost = snapshot.in_progress and not is_refreshing(snapshot, now)
    stale = is_stale(snapshot) and not snapshot.in_progress and snapshot.status != Status.FAILED
    if stale or failed_long_ago or lost:
        queue([snapshot.pk], defer=False)
        snapshot.refresh_from_db()
    return snapshot


def expected_seconds(region: Region) -> float | None:
    """How long the last refresh of a region of the same level took (the page's reload interval)."""
    return (
        DashboardSnapshot.objects.filter(region__level=region.level, compute_seconds__isnull=False)
        .order_by("-computed_at")
        .values_list("compute_seconds", flat=True)
        .first()
    )


# --- Queueing ------------------------------------------------------------------------------------------


def _backend() -> Any:
    from django_tasks import default_task_backend

    return default_task_backend


def _defers() -> bool:
    """Whether refreshes after a change can wait DEBOUNCE (the database backend can; the immediate backend
    of the tests cannot: there a change only marks snapshots stale, and opening one refreshes it)."""
    return bool(getattr(_backend(), "supports_defer", False))


def queue(snapshot_ids: Iterable[int], *, defer: bool) -> list[int]:
    """Mark the snapshots queued and enqueue one refresh each, unless one is already queued (debounce) and
    not lost. Returns the ids queued now. Enqueued after this function's own transaction: in production the
    rows are committed when a worker picks the task up."""
    from reports.tasks import refresh_dashboard_task

    ids = list(snapshot_ids)
    if not ids:
        return []
    now = timezone.now()
    queueable = ~Q(status=Status.QUEUED) | Q(queued_at__isnull=True) | Q(queued_at__lt=now - STUCK_AFTER)
    with transaction.atomic():
        chosen = list(
            DashboardSnapshot.objects.select_for_update()
            .filter(queueable, pk__in=ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        DashboardSnapshot.objects.filter(pk__in=chosen).update(status=Status.QUEUED, queued_at=now, error="")
    task = refresh_dashboard_task
    if defer and _defers():
        task = task.using(run_after=now + DEBOUNCE)
    for pk in chosen:
        result = task.enqueue(pk)
        DashboardSnapshot.objects.filter(pk=pk).update(task_id=str(result.id)[:64])
    return chosen


def kept_regions(county: Region) -> list[Region]:
    """The county and its townships."""
    return [county, *Region.objects.filter(parent=county, level=Region.Level.TOWNSHIP).order_by("code")]


def ensure_kept(county: Region, *, moved_by: Region | None = None) -> list[int]:
    """The snapshots of a county and its townships for the period the page opens on, created if missing; with
    moved_by, only those of the regions a change there moves (above or below it)."""
    from reports.forms import threshold_period

    ids = []
    for region in kept_regions(county):
        if moved_by is not None and not (region.contains(moved_by.code) or moved_by.contains(region.code)):
            continue
        start, end = threshold_period(region.code)
        snapshot, _created = DashboardSnapshot.objects.get_or_create(
            region=region, period_start=start, period_end=end, defaults={"status": Status.QUEUED}
        )
        ids.append(snapshot.pk)
    return ids


def counties_with_households() -> list[Region]:
    counties = []
    for county in Region.objects.filter(level=Region.Level.COUNTY).order_by("code"):
        first, last = county.prefix.ljust(12, "0"), county.prefix.ljust(12, "9")
        if Household.objects.filter(village_id__gte=first, village_id__lte=last).exists():
            counties.append(county)
    return counties


def _opened_recently(now: dt.datetime) -> Q:
    return Q(viewed_at__gte=now - dt.timedelta(days=KEEP_OPENED_DAYS))


def _ancestor_codes(code: str) -> list[str]:
    significant = code.rstrip("0")
    return [code[:n].ljust(12, "0") for n in sorted(set(PREFIX_LENGTH.values())) if n < len(significant)]


_last_marked: dict[str, float] = {}


def mark_changed(region_code: str | None) -> list[int]:
    """The data of region_code changed (its descendants included; "" for every region): its snapshots, those
    of the regions above it and below it are stale; the kept-fresh ones among them are queued (deferred by
    DEBOUNCE). Returns the ids queued."""
    code = (region_code or "").strip()
    defers = _defers()
    if defers:
        moment = time.monotonic()
        if moment - _last_marked.get(code, float("-inf")) < SAME_CHANGE_WINDOW:
            return []
        _last_marked[code] = moment
    now = timezone.now()
    region = Region.objects.filter(code=code).first() if code else None
    if code and region is None:
        return []
    if region is None:
        affected = DashboardSnapshot.objects.all()
        counties = counties_with_households()
    else:
        affected = DashboardSnapshot.objects.filter(
            Q(region_id__in=_ancestor_codes(code)) | Q(region__pk__startswith=region.prefix)
        )
        county_code = code[:6].ljust(12, "0")
        counties = list(Region.objects.filter(code=county_code, level=Region.Level.COUNTY))
    affected.update(changed_at=now)
    if not defers:
        return []
    kept = set()
    for county in counties:
        kept.update(ensure_kept(county, moved_by=region))
    kept.update(affected.filter(_opened_recently(now)).values_list("pk", flat=True))
    chosen = queue(sorted(kept), defer=True)
    if chosen:
        logger.info("dashboards: %s changed, %d snapshot(s) queued", code or "*", len(chosen))
    return chosen


def schedule(*, region_code: str | None = None) -> list[int]:
    """What the scheduled command queues: the kept-fresh set of every county with households and every snapshot
    opened in the last KEEP_OPENED_DAYS; with region_code, only those of the regions above and below it."""
    now = timezone.now()
    ids: set[int] = set()
    region = None
    if region_code:
        region = Region.objects.get(code=region_code)
        county_code = region.code[:6].ljust(12, "0")
        counties = list(Region.objects.filter(code=county_code, level=Region.Level.COUNTY))
        opened = DashboardSnapshot.objects.filter(
            Q(region_id__in=_ancestor_codes(region.code)) | Q(region__pk__startswith=region.prefix)
        )
    else:
        counties = counties_with_households()
        opened = DashboardSnapshot.objects.all()
    for county in counties:
        ids.update(ensure_kept(county, moved_by=region))
    ids.update(opened.filter(_opened_recently(now)).values_list("pk", flat=True))
    return sorted(ids)


# --- Computing (the job) -------------------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """JSON-safe: numpy scalars to Python, Decimal to float, NaN to None."""
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and value != value:
        return None
    if isinstance(value, int | float | str | bool) or value is None:
        return value
    if isinstance(value, dt.date):
        return value.isoformat()
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def content_of(report: Any) -> dict[str, Any]:
    """What the page draws, from a PerformanceReport: the headline numbers and the township and month series."""
    townships = next(s for s in report.sections if s.key == "townships").tables[0][1]
    months = next(s for s in report.sections if s.key == "flows").tables[1][1]
    return {
        "region_code": report.region_code,
        "region_name": report.region_name,
        "year": _plain(report.year),
        "numbers": {key: _plain(value) for key, value in report.numbers.items()},
        "townships": {
            "names": [str(v) for v in townships["乡镇"]],
            "monitored": [_plain(v) for v in townships["监测户数"]],
            "amount": [_plain(v) for v in townships["金额（元）"]],
            "p0": [_plain(v) for v in townships["P0"]],
        },
        "months": {
            "labels": [str(v) for v in months["月份"]],
            "identified": [_plain(v) for v in months["新识别户数"]],
            "eliminated": [_plain(v) for v in months["风险消除户数"]],
            "amount": [_plain(v) for v in months["金额（元）"]],
        },
    }


def refresh(snapshot_id: int) -> DashboardSnapshot | None:
    """Compute a queued snapshot and store it (the task). One refresh of a snapshot at a time (its lock); a
    snapshot no longer queued (refreshed meanwhile, or gone) is left alone. A change announced while it runs
    leaves it queued for the refresh that change enqueued."""
    from reports import services

    with ProcessLock(SNAPSHOT_LOCK_NAMESPACE, snapshot_id):
        started = timezone.now()
        if not DashboardSnapshot.objects.filter(pk=snapshot_id, status=Status.QUEUED).update(
            status=Status.RUNNING, started_at=started
        ):
            return DashboardSnapshot.objects.filter(pk=snapshot_id).first()
        snapshot = DashboardSnapshot.objects.select_related("region").get(pk=snapshot_id)
        clock = time.perf_counter()
        try:
            # Built in the site's language whoever's change queued it: the page translates what it shows, and
            # the stored names and month labels are the same for every reader.
            with translation.override(settings.LANGUAGE_CODE):
                report, data_hash = services.compute_for(
                    region=snapshot.region, start=snapshot.period_start, end=snapshot.period_end, user=READER
                )
                content = content_of(report)
        except Exception as exc:
            DashboardSnapshot.objects.filter(pk=snapshot_id, status=Status.RUNNING).update(
                status=Status.FAILED, error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            logger.exception("dashboard snapshot %s failed", snapshot_id)
            raise
        seconds = time.perf_counter() - clock
        DashboardSnapshot.objects.filter(pk=snapshot_id).update(
            content=content, data_hash=data_hash, computed_at=started, compute_seconds=round(seconds, 3)
        )
        DashboardSnapshot.objects.filter(pk=snapshot_id, status=Status.RUNNING).update(status=Status.READY, error="")
    return DashboardSnapshot.objects.get(pk=snapshot_id)


# --- Signals (connected in reports.apps) ---------------------------------------------------------------


def _after_commit(code: str) -> None:
    """Where refreshes wait (the database backend), queue them once the change is committed. Otherwise (the
    immediate backend of the tests) only mark the snapshots stale, at once and in the change's transaction:
    no refresh would be queued anyway, and nothing waits for a commit."""
    if _defers():
        transaction.on_commit(lambda: mark_changed(code), robust=True)
    else:
        mark_changed(code)


def on_data_changed(sender: Any, region_code: str = "", **kwargs: Any) -> None:
    """povertycloud.changes.data_changed: sent after the commit already."""
    mark_changed(region_code)


def on_audit_event(sender: Any, instance: Any, created: bool, raw: bool = False, **kwargs: Any) -> None:
    if raw or not created or instance.action in READ_ONLY_ACTIONS or instance.entity not in MOVING_ENTITIES:
        return
    _after_commit(instance.region_code or "")


def on_import_batch(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    """A department or registry import finished (saved with its final status)."""
    if not raw and instance.status == "succeeded":
        _after_commit(instance.region_code or "")


def on_scoring_run(sender: Any, instance: Any, raw: bool = False, **kwargs: Any) -> None:
    if not raw and instance.finished_at is not None:
        _after_commit(instance.region_code or "")
