"""The admin of assistance: the catalogue and the risk → measure expectations (administrators' data: others
may look, only administrators write, each write audited), measures (saved through the services, so
validated and audited), and read-only outcomes, eliminations and returns (their writes go through the
pages' review chain)."""

from django.contrib import admin
from django.core.exceptions import ValidationError

from households.admin import code_filter, code_label
from households.validation import split_codes
from povertycloud.audit.services import diff, record_event, snapshot
from povertycloud.regions.admin_mixins import RegionScopedAdmin
from povertycloud.regions.scoping import sees_everything
from resources import services
from resources.catalogue import catalogue, forget_catalogue
from resources.models import (
    AssistanceCategory,
    AssistanceMeasure,
    AssistanceSubtype,
    EliminationCase,
    EliminationEvent,
    ExpectedMeasure,
    MonitoringReturn,
    OutcomeObservation,
)


class CatalogueAdmin(admin.ModelAdmin):
    def has_add_permission(self, request, *args):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user)

    def save_model(self, request, obj, form, change):
        before = snapshot(type(obj).objects.get(pk=obj.pk)) if change and obj.pk else {}
        super().save_model(request, obj, form, change)
        forget_catalogue()
        record_event(
            actor=request.user, action="update" if change else "create", entity=obj._meta.label_lower,
            object_pk=obj.pk, object_repr=str(obj), changes=diff(before, snapshot(obj)), note="管理后台",
        )

    def delete_model(self, request, obj):
        before, pk = snapshot(obj), obj.pk
        super().delete_model(request, obj)
        forget_catalogue()
        record_event(
            actor=request.user, action="delete", entity=obj._meta.label_lower, object_pk=pk,
            object_repr=str(obj), changes=diff(before, {}), note="管理后台",
        )


class SubtypeInline(admin.TabularInline):
    model = AssistanceSubtype
    extra = 0
    fields = ("code", "name", "description", "attributes", "sort_order", "active")

    def has_add_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user)


@admin.register(AssistanceCategory)
class AssistanceCategoryAdmin(CatalogueAdmin):
    list_display = ("code", "name", "development", "sort_order", "active")
    inlines = [SubtypeInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_catalogue()


@admin.register(ExpectedMeasure)
class ExpectedMeasureAdmin(CatalogueAdmin):
    list_display = (
        code_label("risk_type", "risk_type", ExpectedMeasure._meta.get_field("risk_type").verbose_name),
        "name",
        "category_names",
        "subtype_names",
        "mandatory",
        "condition",
    )
    list_filter = (
        "mandatory",
        code_filter("risk_type", "risk_type", ExpectedMeasure._meta.get_field("risk_type").verbose_name),
    )

    # The catalogue's names (技能培训), not its codes (",02,").
    @admin.display(description=ExpectedMeasure._meta.get_field("categories").verbose_name, ordering="categories")
    def category_names(self, obj: ExpectedMeasure) -> str:
        book = catalogue()
        return "、".join(book.label(code) for code in split_codes(obj.categories)) or "—"

    @admin.display(description=ExpectedMeasure._meta.get_field("subtypes").verbose_name, ordering="subtypes")
    def subtype_names(self, obj: ExpectedMeasure) -> str:
        book = catalogue()
        return "、".join(book.subtypes[c].name if c in book.subtypes else c for c in split_codes(obj.subtypes)) or "—"


@admin.register(AssistanceMeasure)
class AssistanceMeasureAdmin(RegionScopedAdmin):
    list_display = ("household", "category", "subtype", "person_name", "amount", "start_date", "end_date", "status")
    list_filter = ("category", "status")
    search_fields = ("household__number", "person_name", "helper_name")
    raw_id_fields = ("household", "person")
    readonly_fields = ("person_name", "version", "created_by", "created_at", "updated_at")
    exclude = ("helper_phone",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        data = {name: form.cleaned_data.get(name) for name in services.EDITABLE if name in form.cleaned_data}
        data["person"] = obj.person_id or ""
        try:
            if change:
                services.update_measure(
                    by=request.user, measure=AssistanceMeasure.objects.get(pk=obj.pk), data=data,
                    expected_version=obj.version,
                )
            else:
                obj.pk = services.record_measure(by=request.user, household=obj.household, data=data).pk
        except ValidationError as error:
            raise ValidationError(error.messages) from error

    def delete_model(self, request, obj):
        services.remove_measure(by=request.user, measure=obj, reason="管理后台删除")

    def has_delete_permission(self, request, obj=None):
        return False  # removal needs a reason: the measure's edit page asks for it


class ReadOnlyScopedAdmin(RegionScopedAdmin):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(OutcomeObservation)
class OutcomeObservationAdmin(ReadOnlyScopedAdmin):
    list_display = ("household", "indicator", "observed_on", "value", "base", "target_met", "source", "batch")
    list_filter = ("indicator", "source", "target_met")
    show_full_result_count = False


class EliminationEventInline(admin.TabularInline):
    model = EliminationEvent
    extra = 0
    can_delete = False
    readonly_fields = ("from_status", "to_status", "by", "at", "note")

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(EliminationCase)
class EliminationCaseAdmin(ReadOnlyScopedAdmin):
    list_display = ("household", "status", "method", "applied_at", "township_at", "decided_at")
    list_filter = ("status", "method")
    inlines = [EliminationEventInline]


@admin.register(MonitoringReturn)
class MonitoringReturnAdmin(ReadOnlyScopedAdmin):
    list_display = ("household", "eliminated_on", "returned_on", "recorded_at")
