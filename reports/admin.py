from django.contrib import admin

from povertycloud.regions.admin_mixins import RegionScopedAdmin
from reports.models import Report


@admin.register(Report)
class ReportAdmin(RegionScopedAdmin):
    """Reports as generated: who asked for which region and period, and what came out. They are made by the
    report service (the reports page), so nobody adds, edits or deletes one here."""

    list_display = ("pk", "region", "period_start", "period_end", "status", "requested_by", "requested_at")
    list_filter = ("status",)
    date_hierarchy = "requested_at"

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in Report._meta.fields]

    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
