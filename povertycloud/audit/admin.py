from django.contrib import admin

from povertycloud.audit.models import AuditEvent
from povertycloud.regions.scoping import scope_for_user


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, administrators included: the trail is append-only."""

    list_display = ("at", "actor_username", "action", "entity", "object_repr", "region_code")
    list_filter = ("action", "entity")
    search_fields = ("actor_username", "object_repr", "object_pk", "region_code")
    date_hierarchy = "at"
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def get_queryset(self, request):
        return scope_for_user(super().get_queryset(request), request.user)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
