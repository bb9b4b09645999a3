"""The admin for administrators. Every save goes through the services, so it is validated and audited."""

from django.contrib import admin

from households import services
from households.codes import forget_codebook
from households.forms import HouseholdForm, IncomeForm, PersonForm
from households.models import Code, CodeSet, Household, IncomeRecord, Person, StatusChange
from povertycloud.regions.admin_mixins import RegionScopedAdmin
from povertycloud.regions.scoping import sees_everything


class CodeInline(admin.TabularInline):
    model = Code
    extra = 0
    fields = ("code", "label", "meaning", "attributes", "sort_order", "active")


@admin.register(CodeSet)
class CodeSetAdmin(admin.ModelAdmin):
    list_display = ("slug", "name", "description")
    search_fields = ("slug", "name")
    inlines = [CodeInline]

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        forget_codebook()

    # The data dictionary is shared by every region: only administrators edit it.
    def has_add_permission(self, request):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user)


@admin.register(Household)
class HouseholdAdmin(RegionScopedAdmin):
    form = HouseholdForm
    list_display = ("number", "village", "household_type", "monitoring_type", "risk_types", "updated_at")
    list_filter = ("household_type", "monitoring_type")
    search_fields = ("number", "members__name")
    raw_id_fields = ("village",)
    show_full_result_count = False

    def save_model(self, request, obj, form, change):
        if change:
            services.update_household(
                by=request.user, household=Household.objects.get(pk=obj.pk), data=form.values(),
                expected_version=form.cleaned_data.get("version") or obj.version, reason="管理后台修改",
            )
        else:
            created = services.create_household(by=request.user, data=form.values())
            obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        return False  # household files are never deleted


@admin.register(Person)
class PersonAdmin(RegionScopedAdmin):
    form = PersonForm
    list_display = ("name", "household", "relation", "sex", "birth_date")
    search_fields = ("name", "id_number", "household__number")
    raw_id_fields = ("household",)
    show_full_result_count = False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)

        class BoundToHousehold(form_class):
            def __init__(self, *args, **inner):
                super().__init__(*args, household=obj.household if obj else None, **inner)

        return BoundToHousehold

    def get_fields(self, request, obj=None):
        fields = list(super().get_fields(request, obj))
        return fields if obj is None else [f for f in fields if f != "household"]

    def has_add_permission(self, request):
        return False  # members are added from their household's page, where the household rules apply

    def save_model(self, request, obj, form, change):
        services.update_person(
            by=request.user, person=Person.objects.get(pk=obj.pk), data=form.values(),
            expected_version=form.cleaned_data.get("version") or obj.version,
        )

    def delete_model(self, request, obj):
        services.remove_person(by=request.user, person=obj, reason="管理后台删除")

    def delete_queryset(self, request, queryset):
        # The "delete selected" action: one service call per member, so each removal is checked and audited.
        for person in queryset.select_related("household"):
            services.remove_person(by=request.user, person=person, reason="管理后台批量删除")

    def get_deleted_objects(self, objs, request):
        # A member the services would refuse to remove is shown as protected: Django then deletes nothing.
        deletable, model_count, perms_needed, protected = super().get_deleted_objects(objs, request)
        for person in objs:
            protected.extend(issue.message for issue in services.check_person_removal(person))
        return deletable, model_count, perms_needed, protected


@admin.register(IncomeRecord)
class IncomeRecordAdmin(RegionScopedAdmin):
    form = IncomeForm
    list_display = ("household", "year", "household_size", "net_income", "per_capita_net_income")
    list_filter = ("year",)
    search_fields = ("household__number",)
    raw_id_fields = ("household",)
    readonly_fields = ("net_income", "per_capita_net_income")
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def get_readonly_fields(self, request, obj=None):
        # The year identifies the record (record_income finds it by year): changing it here would add another.
        readonly = tuple(super().get_readonly_fields(request, obj))
        return (*readonly, "year") if obj else readonly

    def save_model(self, request, obj, form, change):
        services.record_income(
            by=request.user, household=obj.household, data={**form.values(), "year": obj.year},
            expected_version=form.cleaned_data.get("version") or obj.version,
        )


@admin.register(StatusChange)
class StatusChangeAdmin(RegionScopedAdmin):
    list_display = (
        "household", "effective_date", "event", "household_type", "monitoring_type", "recorded_by",
    )
    list_filter = ("event",)
    search_fields = ("household__number",)
    readonly_fields = [f.name for f in StatusChange._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
