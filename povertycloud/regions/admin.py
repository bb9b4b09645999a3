from django.contrib import admin

from povertycloud.regions.admin_mixins import RegionScopedAdmin
from povertycloud.regions.models import Region


@admin.register(Region)
class RegionAdmin(RegionScopedAdmin):
    list_display = ("code", "name", "level", "parent")
    list_filter = ("level",)
    search_fields = ("code", "name")
    raw_id_fields = ("parent",)
