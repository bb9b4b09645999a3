import json

from django.contrib import admin
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from povertycloud.accounts.permissions import can_see_health
from povertycloud.audit.models import AuditEvent
from povertycloud.masking import mask_changes, mask_text
from povertycloud.regions.scoping import scope_for_user

MASKED = {
    "actor": "shown_actor", "changes": "shown_changes", "object_repr": "shown_object", "note": "shown_note",
}


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    """Read-only for everyone, administrators included: the trail is append-only.

    Sensitive values in the records are masked as on the pages (povertycloud.masking, the one list), health
    details hidden from auditors without sensitive data access.
    """

    list_display = ("at", "shown_actor", "action", "entity", "shown_object", "region_code")
    list_select_related = ("actor",)
    list_filter = ("action", "entity")
    search_fields = ("actor_username", "object_repr", "object_pk", "region_code")
    date_hierarchy = "at"

    def get_fields(self, request, obj=None):
        return [MASKED.get(f.name, f.name) for f in AuditEvent._meta.fields if f.name != "id"]

    def get_readonly_fields(self, request, obj=None):
        return self.get_fields(request, obj)

    def get_queryset(self, request):
        self._hides_health = not can_see_health(request.user)
        return scope_for_user(super().get_queryset(request), request.user)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        self._hides_health = not can_see_health(request.user)
        return super().changeform_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("变更内容"))
    def shown_changes(self, obj: AuditEvent):
        # An auditor is always read-only here; whether to hide health details is decided per request above.
        hide = getattr(self, "_hides_health", True)
        masked = mask_changes(obj.changes, hide_health=hide)
        return format_html("<pre>{}</pre>", json.dumps(masked, ensure_ascii=False, indent=2, sort_keys=True))

    @admin.display(description=_("操作人"), ordering="actor_username")
    def shown_actor(self, obj: AuditEvent):
        # The actor's name as every page shows it (杨秀英（xijiang）); the account name alone once the user is gone
        # or for the system's own writes.
        return str(obj.actor) if obj.actor_id else (obj.actor_username or "—")

    @admin.display(description=_("对象"))
    def shown_object(self, obj: AuditEvent):
        return mask_text(obj.object_repr)

    @admin.display(description=_("说明"))
    def shown_note(self, obj: AuditEvent):
        return mask_text(obj.note)

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
