"""Dashboards are stored snapshots computed by a background job (reports.dashboards): the page reads one row and
computes nothing; changes queue one refresh per region, deferred (debounce); the page says how fresh its numbers
are; another region's dashboard is not found and another region's snapshot is never shown."""

import datetime as dt
import re

import pytest
from django.core.management import call_command
from django.urls import reverse
from django.utils import timezone

from povertycloud.changes import announce_change
from povertycloud.regions.models import Region
from reports import dashboards
from reports.models import DashboardSnapshot
from tests.factories import COUNTY, TOWNSHIP_A, TOWNSHIP_B
from tests.reports.builders import END, START, small_county

pytestmark = pytest.mark.django_db

Status = DashboardSnapshot.Status


@pytest.fixture
def county(regions):
    return small_county()


@pytest.fixture(autouse=True)
def _no_remembered_changes():
    dashboards._last_marked.clear()
    yield
    dashboards._last_marked.clear()


@pytest.fixture
def worker(settings):
    """A backend that keeps the enqueued tasks (and can defer them) instead of running them: the worker is
    the test, which runs a task with dashboards.refresh when it wants to."""
    from django_tasks import default_task_backend

    settings.TASKS = {"default": {"BACKEND": "django_tasks.backends.dummy.DummyBackend"}}
    default_task_backend.clear()
    yield default_task_backend
    default_task_backend.clear()


def period(region: str = COUNTY, start: dt.date = START, end: dt.date = END) -> dict[str, str]:
    return {"region": region, "start": start.isoformat(), "end": end.isoformat()}


def refreshes(backend) -> list[int]:
    return [result.args[0] for result in backend.results if result.task.name == "refresh_dashboard_task"]


def no_computation(monkeypatch) -> None:
    def refuse(**kwargs):
        raise AssertionError("the page computed a report")

    monkeypatch.setattr("reports.services.compute_for", refuse)


def computed(region: str, start: dt.date = START, end: dt.date = END) -> DashboardSnapshot:
    """A snapshot as the job leaves it."""
    snapshot, _ = DashboardSnapshot.objects.get_or_create(region_id=region, period_start=start, period_end=end)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(status=Status.QUEUED, queued_at=timezone.now())
    snapshot = dashboards.refresh(snapshot.pk)
    assert snapshot.status == Status.READY and snapshot.content
    return snapshot


def shown(html: str, testid: str) -> str:
    return re.search(rf'data-testid="{testid}"[^>]*>([^<]*)<', html).group(1).strip()


# --- The page reads, never computes ---------------------------------------------------------------------


def test_the_page_reads_the_stored_snapshot_and_computes_nothing(client, county, county_staff, monkeypatch):
    snapshot = computed(COUNTY)
    no_computation(monkeypatch)
    client.force_login(county_staff)
    for _ in range(2):
        response = client.get(reverse("reports:dashboard"), period())
        assert response.status_code == 200
        html = response.content.decode()
        assert shown(html, "n-monitored") == str(snapshot.content["numbers"]["monitored_households"]) == "3"
        assert 'data-label="西江镇" data-value="2.0"' in html
        assert "数据更新于 " + timezone.localtime(snapshot.computed_at).strftime("%Y-%m-%d %H:%M") in html
        assert 'data-testid="refreshing"' not in html
    snapshot.refresh_from_db()
    assert snapshot.viewed_at is not None  # opened: kept fresh from now on


def test_a_region_without_a_snapshot_is_queued_and_the_page_says_so(client, county, county_staff, worker, monkeypatch):
    no_computation(monkeypatch)
    client.force_login(county_staff)
    html = client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_A)).content.decode()
    snapshot = DashboardSnapshot.objects.get(region_id=TOWNSHIP_A, period_start=START, period_end=END)
    assert snapshot.status == Status.QUEUED and not snapshot.content
    assert refreshes(worker) == [snapshot.pk]
    assert "尚未计算" in shown(html, "dashboard-pending")
    assert 'data-reload-after="10"' in html and "reports/dashboard-reload.js" in html
    assert 'data-testid="n-monitored"' not in html
    # Reloading while it is queued queues nothing more.
    client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_A))
    assert refreshes(worker) == [snapshot.pk]

    # The worker runs it; the next visit draws it and no longer reloads itself.
    monkeypatch.undo()
    dashboards.refresh(snapshot.pk)
    no_computation(monkeypatch)
    html = client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_A)).content.decode()
    assert shown(html, "n-monitored") == "2" and "dashboard-reload.js" not in html


def test_the_reload_interval_follows_the_last_refresh_of_the_same_level(client, county, county_staff, worker):
    DashboardSnapshot.objects.create(
        region_id=COUNTY, period_start=dt.date(2023, 1, 1), period_end=dt.date(2023, 12, 31),
        status=Status.READY, content={"region_code": COUNTY}, computed_at=timezone.now(), compute_seconds=14.2,
    )
    client.force_login(county_staff)
    html = client.get(reverse("reports:dashboard"), period()).content.decode()
    assert 'data-reload-after="14"' in html


def test_a_refresh_in_progress_shows_the_last_numbers_and_says_so(client, county, county_staff, worker):
    snapshot = computed(COUNTY)
    client.force_login(county_staff)
    with_change = timezone.now()
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(
        status=Status.QUEUED, queued_at=with_change, changed_at=with_change
    )
    html = client.get(reverse("reports:dashboard"), period()).content.decode()
    freshness = html.split('data-testid="dashboard-freshness"', 1)[1].split("</p>", 1)[0]
    assert "数据更新于" in freshness and "；正在更新" in freshness
    assert shown(html, "n-monitored") == "3"  # the last numbers stay on the page meanwhile
    assert refreshes(worker) == []  # already queued


def test_a_failed_refresh_keeps_the_last_numbers_and_is_retried_later(county, worker, monkeypatch):
    snapshot = computed(COUNTY)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(status=Status.QUEUED, queued_at=timezone.now())

    def broken(**kwargs):
        raise RuntimeError("disk full")

    monkeypatch.setattr("reports.services.compute_for", broken)
    with pytest.raises(RuntimeError):
        dashboards.refresh(snapshot.pk)
    failed = DashboardSnapshot.objects.get(pk=snapshot.pk)
    assert failed.status == Status.FAILED and "disk full" in failed.error
    assert failed.content == snapshot.content
    region = Region.objects.get(code=COUNTY)
    # Opened soon after: not retried at once (no loop of failures); ten minutes later it is.
    dashboards.open_snapshot(region=region, start=START, end=END)
    assert refreshes(worker) == []
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(queued_at=timezone.now() - dt.timedelta(minutes=11))
    dashboards.open_snapshot(region=region, start=START, end=END)
    assert refreshes(worker) == [snapshot.pk]


def test_a_lost_refresh_is_queued_again(county, worker):
    snapshot = computed(COUNTY)
    long_ago = timezone.now() - dt.timedelta(hours=2)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(status=Status.RUNNING, started_at=long_ago)
    opened = dashboards.open_snapshot(region=Region.objects.get(code=COUNTY), start=START, end=END)
    assert opened.status == Status.QUEUED and refreshes(worker) == [snapshot.pk]


# --- Changes queue refreshes ---------------------------------------------------------------------------


def test_a_decision_queues_one_deferred_refresh_of_its_township_and_county(
    county, county_staff, worker, django_capture_on_commit_callbacks
):
    from risk.models import RiskCase
    from risk.services import exclude

    township_a, county_snapshot = computed(TOWNSHIP_A), computed(COUNTY)
    township_b = computed(TOWNSHIP_B)
    DashboardSnapshot.objects.update(viewed_at=timezone.now())  # all three opened recently
    case = RiskCase.objects.get(household=county.h4)  # 郎德上寨, township B
    before = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        exclude(by=county_staff, case=case, reason="核实后收入稳定")
    queued = set(refreshes(worker))
    assert {township_b.pk, county_snapshot.pk} <= queued and township_a.pk not in queued
    for result in worker.results:
        assert result.task.run_after >= before + dashboards.DEBOUNCE - dt.timedelta(seconds=1)
    assert DashboardSnapshot.objects.get(pk=township_b.pk).status == Status.QUEUED
    assert DashboardSnapshot.objects.get(pk=township_a.pk).status == Status.READY


def test_many_changes_in_a_minute_queue_one_refresh_per_region(county, worker):
    snapshot = computed(TOWNSHIP_A)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(viewed_at=timezone.now())
    for _ in range(20):
        dashboards._last_marked.clear()  # not the in-process shortcut: the database's queued state decides
        dashboards.mark_changed(TOWNSHIP_A)
    assert refreshes(worker).count(snapshot.pk) == 1
    # The refresh runs; a change after it queues again.
    dashboards.refresh(snapshot.pk)
    dashboards._last_marked.clear()
    dashboards.mark_changed(TOWNSHIP_A)
    assert refreshes(worker).count(snapshot.pk) == 2


def test_a_change_while_the_refresh_runs_leaves_it_queued(county, worker, monkeypatch):
    from reports import services

    snapshot = computed(TOWNSHIP_A)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(
        status=Status.QUEUED, queued_at=timezone.now(), viewed_at=timezone.now()
    )
    real = services.compute_for

    def with_a_change_meanwhile(**kwargs):
        dashboards.mark_changed(TOWNSHIP_A)
        return real(**kwargs)

    monkeypatch.setattr(services, "compute_for", with_a_change_meanwhile)
    done = dashboards.refresh(snapshot.pk)
    assert done.status == Status.QUEUED and done.computed_at is not None  # numbers stored, another run to come
    assert refreshes(worker).count(snapshot.pk) == 1


def test_a_registry_import_and_its_undo_queue_the_county_and_its_townships(
    regions, county_staff, worker, tmp_path, django_capture_on_commit_callbacks
):
    from exchange.registry.rollback import rollback_registry_batch
    from exchange.registry.service import import_registry
    from tests.exchange.registry_files import small_export

    with django_capture_on_commit_callbacks(execute=True):
        batch = import_registry(region_code=COUNTY, paths=small_export(tmp_path), by=None, as_of=dt.date(2025, 12, 31))
    kept = DashboardSnapshot.objects.filter(status=Status.QUEUED)
    townships = Region.objects.filter(parent_id=COUNTY, level=Region.Level.TOWNSHIP).count()
    assert kept.filter(region_id=COUNTY).count() == 1 and kept.count() == 1 + townships
    assert sorted(refreshes(worker)) == sorted(kept.values_list("pk", flat=True))

    for snapshot in DashboardSnapshot.objects.all():
        dashboards.refresh(snapshot.pk)
    worker.clear()
    dashboards._last_marked.clear()
    with django_capture_on_commit_callbacks(execute=True):
        rollback_registry_batch(batch=batch, by=county_staff, reason="导错了文件")
    assert DashboardSnapshot.objects.get(region_id=COUNTY).status == Status.QUEUED
    assert len(refreshes(worker)) == 1 + townships


@pytest.mark.parametrize(
    "entity, action, queues",
    [
        ("resources.assistancemeasure", "create", True),
        ("resources.eliminationcase", "review", True),
        ("households.incomerecord", "update", True),
        ("households.person", "reveal", False),  # a read moves nothing
        ("households.household", "export", False),
        ("accounts.user", "update", False),
    ],
)
def test_audited_writes_that_move_the_numbers_queue_a_refresh(
    county, worker, django_capture_on_commit_callbacks, entity, action, queues
):
    from povertycloud.audit.services import record_event
    from tests.factories import VILLAGE_A

    snapshot = computed(TOWNSHIP_A)
    with django_capture_on_commit_callbacks(execute=True):
        record_event(actor=None, action=action, entity=entity, object_pk="1", region_code=VILLAGE_A)
    assert (snapshot.pk in refreshes(worker)) is queues


def test_announce_change_after_commit(county, worker, django_capture_on_commit_callbacks):
    snapshot = computed(TOWNSHIP_A)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(viewed_at=timezone.now())
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        announce_change(TOWNSHIP_A, what="bulk update")
    assert refreshes(worker) == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert snapshot.pk in refreshes(worker)


def test_a_snapshot_nobody_opened_lately_is_only_marked_stale_and_refreshed_when_opened(
    client, county, county_staff, worker
):
    old = computed(TOWNSHIP_A, dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    dashboards.mark_changed(TOWNSHIP_A)
    old.refresh_from_db()
    assert old.status == Status.READY and dashboards.is_stale(old) and old.pk not in refreshes(worker)
    client.force_login(county_staff)
    html = client.get(
        reverse("reports:dashboard"), period(region=TOWNSHIP_A, start=dt.date(2023, 1, 1), end=dt.date(2023, 12, 31))
    ).content.decode()
    assert old.pk in refreshes(worker) and "；正在更新" in html


def test_without_a_deferring_backend_a_change_only_marks_snapshots_stale(county):
    snapshot = computed(TOWNSHIP_A)
    DashboardSnapshot.objects.filter(pk=snapshot.pk).update(viewed_at=timezone.now())
    assert dashboards.mark_changed(TOWNSHIP_A) == []
    snapshot.refresh_from_db()
    assert snapshot.status == Status.READY and dashboards.is_stale(snapshot)


# --- The schedule --------------------------------------------------------------------------------------


def test_the_scheduled_command_queues_the_kept_set(county, worker):
    opened = computed(TOWNSHIP_A, dt.date(2023, 1, 1), dt.date(2023, 12, 31))
    DashboardSnapshot.objects.filter(pk=opened.pk).update(viewed_at=timezone.now())
    forgotten = computed(TOWNSHIP_B, dt.date(2022, 1, 1), dt.date(2022, 12, 31))
    DashboardSnapshot.objects.filter(pk=forgotten.pk).update(viewed_at=timezone.now() - dt.timedelta(days=40))
    call_command("refresh_dashboards")
    queued = set(refreshes(worker))
    townships = Region.objects.filter(parent_id=COUNTY, level=Region.Level.TOWNSHIP).count()
    assert len(queued) == 1 + townships + 1  # the county, its townships, and the one opened lately
    assert opened.pk in queued and forgotten.pk not in queued
    call_command("refresh_dashboards")  # queued already: nothing more
    assert len(refreshes(worker)) == len(queued)


def test_the_scheduled_command_computes_now_when_asked(county, worker, capsys):
    call_command("refresh_dashboards", "--region", TOWNSHIP_A, "--now")
    snapshots = DashboardSnapshot.objects.all()
    assert {s.region_id for s in snapshots} == {COUNTY, TOWNSHIP_A}
    assert all(s.status == Status.READY and s.content for s in snapshots)
    assert refreshes(worker) == []
    assert "已更新 2 个指标快照" in capsys.readouterr().out


# --- Regions and input ---------------------------------------------------------------------------------


def test_another_regions_dashboard_is_not_found_and_its_snapshot_never_shown(
    client, county, official_a, official_b, monkeypatch
):
    township_a = computed(TOWNSHIP_A)
    computed(TOWNSHIP_B)
    no_computation(monkeypatch)
    client.force_login(official_b)
    assert client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_A)).status_code == 404
    assert client.get(reverse("reports:dashboard"), period(region=COUNTY)).status_code == 404
    html = client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_B)).content.decode()
    assert shown(html, "n-monitored") == "1" and "西江镇" not in html.split('data-testid="headline"', 1)[1]

    # A row whose content names another region (it cannot be written so; say by hand) is not drawn.
    DashboardSnapshot.objects.filter(region_id=TOWNSHIP_B).update(content=township_a.content)
    html = client.get(reverse("reports:dashboard"), period(region=TOWNSHIP_B)).content.decode()
    assert 'data-testid="n-monitored"' not in html


@pytest.mark.parametrize(
    "query",
    [
        {"region": "5226341", "start": "2024-01-01", "end": "2024-12-31"},
        {"region": "'; DROP TABLE x;--", "start": "2024-01-01", "end": "2024-12-31"},
    ],
)
def test_an_unknown_region_is_not_found(client, county, county_staff, worker, query):
    client.force_login(county_staff)
    assert client.get(reverse("reports:dashboard"), query).status_code == 404
    assert not DashboardSnapshot.objects.exists()


@pytest.mark.parametrize(
    "query, message",
    [
        ({"region": COUNTY, "start": "2024-12-31", "end": "2024-01-01"}, "统计期截止日不能早于起始日。"),
        ({"region": COUNTY, "start": "2024-13-01", "end": "2024-12-31"}, "请输入有效日期"),
        ({"region": COUNTY, "start": "2010-01-01", "end": "2024-12-31"}, "统计期最长五年。"),
        ({"region": "522634101200", "start": "2024-01-01", "end": "2024-12-31"}, "报告按县或乡镇生成"),
        ({"start": "2024-01-01"}, "请选择区划。"),
    ],
)
def test_a_bad_region_or_period_is_refused_on_the_form_and_queues_nothing(
    client, county, county_staff, worker, monkeypatch, query, message
):
    no_computation(monkeypatch)
    client.force_login(county_staff)
    response = client.get(reverse("reports:dashboard"), query)
    assert response.status_code == 200 and message in response.content.decode()
    assert not DashboardSnapshot.objects.exists() and refreshes(worker) == []
