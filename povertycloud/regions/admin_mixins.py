"""Admin behaviour shared by every model a user can reach: region scoping and auditors' read-only access."""

from django.contrib import admin

from povertycloud.accounts.permissions import is_auditor
from povertycloud.regions.scoping import scope_for_user


class AuditorReadOnlyAdmin(admin.ModelAdmin):
    """Auditors may look, whatever permissions they hold, and change nothing."""

    def has_add_permission(self, request, *args):
        return not is_auditor(request.user) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return not is_auditor(request.user) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return not is_auditor(request.user) and super().has_delete_permission(request, obj)


class RegionScopedAdmin(AuditorReadOnlyAdmin):
    def get_queryset(self, request):
        return scope_for_user(super().get_queryset(request), request.user)
