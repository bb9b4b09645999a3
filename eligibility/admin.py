"""The admin of the cross-checks: administrators declare and edit the checks (each checked against the declared
departments, every reason shown; each save audited) and look at the runs and hits, which nobody edits here (hits
are verified on the pages, by the officials of their region)."""

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError

from eligibility.checks import check_cross_check
from eligibility.models import CrossCheck, CrossCheckHit, CrossCheckRun
from povertycloud.audit.admin_mixins import AuditedAdmin
from povertycloud.regions.scoping import sees_everything

CHECK_FIELDS = (
    "code", "name", "name_en", "description", "subject", "department", "condition", "field", "values", "threshold",
    "payment_department", "payment_date_field", "payment_amount_field", "outcome", "active",
)  # fmt: skip


class AdministratorsOnly:
    """Only administrators see these models in the admin at all."""

    def has_module_permission(self, request):
        return sees_everything(request.user)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)


class CrossCheckForm(forms.ModelForm):
    class Meta:
        model = CrossCheck
        fields = CHECK_FIELDS

    def clean(self):
        cleaned = super().clean()
        if self.errors:
            return cleaned
        values = {name: cleaned.get(name) for name in CHECK_FIELDS if name in cleaned}
        values = {name: ("" if value is None and name != "threshold" else value) for name, value in values.items()}
        reasons = check_cross_check(CrossCheck(**values))
        if reasons:
            raise ValidationError([ValidationError(reason, code="cross_check") for reason in reasons])
        return cleaned


@admin.register(CrossCheck)
class CrossCheckAdmin(AdministratorsOnly, AuditedAdmin, admin.ModelAdmin):
    form = CrossCheckForm
    list_display = ("code", "name", "subject", "department", "condition", "field", "values", "outcome", "active")
    list_filter = ("subject", "department", "condition", "outcome", "active")
    search_fields = ("code", "name", "name_en")
    fieldsets = (
        (None, {"fields": ("code", "name", "name_en", "description", "active")}),
        (
            CrossCheck._meta.get_field("condition").verbose_name,
            {"fields": ("subject", "department", "condition", "field", "values", "threshold", "outcome")},
        ),
        (
            CrossCheck._meta.get_field("payment_department").verbose_name,
            {"fields": ("payment_department", "payment_date_field", "payment_amount_field")},
        ),
    )

    def has_add_permission(self, request):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user)


class ReadOnlyForAdministrators(AdministratorsOnly):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(CrossCheckRun)
class CrossCheckRunAdmin(ReadOnlyForAdministrators, admin.ModelAdmin):
    list_display = ("id", "county_code", "as_of", "started_at", "finished_at", "started_by", "hits_found", "hits_new")
    list_filter = ("county_code",)
    date_hierarchy = "started_at"


@admin.register(CrossCheckHit)
class CrossCheckHitAdmin(ReadOnlyForAdministrators, admin.ModelAdmin):
    list_display = (
        "id", "cross_check", "township_code", "region_code", "name", "evidence_department", "payment_kind",
        "payment_date", "amount", "status", "outcome", "decided_by", "decided_at",
    )  # fmt: skip
    list_filter = ("cross_check", "status", "outcome", "township_code")
    search_fields = ("id_number", "name", "region_code")
    raw_id_fields = ("household", "person", "evidence_batch", "first_run", "last_run", "decided_by")
    list_select_related = ("cross_check", "decided_by")
