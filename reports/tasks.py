"""Background tasks of the reports (django-tasks; its database backend runs them in `db_worker`)."""

from django_tasks import task

from reports import dashboards
from reports.models import Report
from reports.services import generate_report


@task()
def generate_report_task(report_id: int) -> dict:
    """Generate a queued report; its progress is on the Report row that the report's page polls."""
    report = generate_report(report=Report.objects.get(pk=report_id))
    return {"report": report.pk, "status": report.status, "data_sha256": report.data_hash}


@task()
def refresh_dashboard_task(snapshot_id: int) -> dict:
    """Compute a queued dashboard snapshot and store it (reports.dashboards.refresh)."""
    snapshot = dashboards.refresh(snapshot_id)
    if snapshot is None:
        return {"snapshot": snapshot_id, "status": "gone"}
    return {"snapshot": snapshot.pk, "status": snapshot.status, "seconds": snapshot.compute_seconds}
