from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ReportsConfig(AppConfig):
    name = "reports"
    verbose_name = _("成效考核与审计报告")

    def ready(self) -> None:
        from django.db.models.signals import post_save

        from exchange.models import ImportBatch
        from povertycloud.audit.models import AuditEvent
        from povertycloud.changes import data_changed
        from povertycloud.downloads import registry
        from reports import dashboards, exports
        from risk.models import ScoringRun

        registry.register(
            exports.DOWNLOAD_KIND, exports.produce_download, label=_("审计导出"), describe=exports.describe_download
        )
        # The dashboards' snapshots learn of the changes that move them (reports.dashboards).
        data_changed.connect(dashboards.on_data_changed, dispatch_uid="reports.dashboards.data_changed")
        post_save.connect(dashboards.on_audit_event, sender=AuditEvent, dispatch_uid="reports.dashboards.audit")
        post_save.connect(dashboards.on_import_batch, sender=ImportBatch, dispatch_uid="reports.dashboards.import")
        post_save.connect(dashboards.on_scoring_run, sender=ScoringRun, dispatch_uid="reports.dashboards.scoring")
