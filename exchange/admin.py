"""The admin of the department exchange: the import safeguards (ImportSettings), written by administrators."""

from django.contrib import admin
from django.utils.translation import gettext as _

import exchange.api.admin  # noqa: F401 (registers the API clients' admin)
from exchange.feeds import admin as feeds_admin  # noqa: F401 (registers the declared departments' admin)
from exchange.models import ImportSettings
from povertycloud.audit.services import diff, record_event, snapshot
from povertycloud.regions.scoping import sees_everything


@admin.register(ImportSettings)
class ImportSettingsAdmin(admin.ModelAdmin):
    """One row: the closure threshold and the Excel row limit. Administrators change it; each change is audited."""

    list_display = ("__str__", "max_closed_percent", "min_closed_for_review", "max_xlsx_rows", "updated_at")

    def has_add_permission(self, request):
        return sees_everything(request.user) and not ImportSettings.objects.exists()

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_module_permission(self, request):
        return sees_everything(request.user)

    def save_model(self, request, obj, form, change):
        before = snapshot(ImportSettings.objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        record_event(
            actor=request.user,
            action="update" if change else "create",
            entity=obj._meta.label_lower,
            object_pk=obj.pk,
            object_repr=str(obj),
            changes=diff(before, snapshot(obj)),
            note=_("管理后台"),
        )
