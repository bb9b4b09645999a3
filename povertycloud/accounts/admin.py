from django.contrib import admin
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.utils.translation import gettext_lazy as _

from povertycloud.accounts.models import User
from povertycloud.regions.admin_mixins import AuditorReadOnlyAdmin, RegionScopedAdmin


@admin.register(User)
class UserAdmin(RegionScopedAdmin, BaseUserAdmin):
    list_display = ("username", "full_name", "role", "region", "is_active")
    list_filter = ("role", "is_active")
    search_fields = ("username", "first_name", "last_name", "region__name")
    raw_id_fields = ("region",)
    # The family name before the given name, as a Chinese name is written (杨 + 秀英 → 杨秀英).
    fieldsets = (
        *(
            (title, {**options, "fields": ("last_name", "first_name", *options["fields"][2:])})
            if options["fields"][:2] == ("first_name", "last_name") else (title, options)
            for title, options in BaseUserAdmin.fieldsets
        ),
        (_("角色与辖区"), {"fields": ("role", "region", "unit", "sensitive_data_access")}),
    )
    @admin.display(description=_("姓名"), ordering="last_name")
    def full_name(self, obj: User) -> str:
        return obj.get_full_name() or "—"

    add_fieldsets = (
        *BaseUserAdmin.add_fieldsets,
        (_("角色与辖区"), {"fields": ("role", "region", "unit")}),
    )


admin.site.unregister(Group)


@admin.register(Group)
class GroupAdmin(AuditorReadOnlyAdmin, BaseGroupAdmin):
    pass
