"""The admin for administrators. Every save goes through the services, so it is validated and audited.

Sensitive values (households.sensitive) are masked here exactly as on the pages, for everyone: a form shows
the masked value as a placeholder and never the value itself (left blank, the stored value is kept), a
read-only view shows the masked value (health details hidden from auditors without sensitive data access),
and a user whose role may reveal a value has a 显示 button that reveals one value, audited.
"""

from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponseNotAllowed
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _

from households import services
from households.codes import choices, forget_codebook, labels_of
from households.forms import HouseholdForm, IncomeForm, PersonForm
from households.models import Code, CodeSet, Household, IncomeRecord, Person, StatusChange
from households.page_forms import SecretInput
from households.sensitive import (
    HEALTH_FIELDS,
    HIDDEN,
    HOUSEHOLD_FIELDS,
    PERSON_FIELDS,
    can_see_health,
    mask,
    reveal_value,
)
from povertycloud.accounts.permissions import can_reveal_sensitive
from povertycloud.audit.admin_mixins import AuditedAdmin
from povertycloud.regions.admin_mixins import RegionScopedAdmin
from povertycloud.regions.scoping import sees_everything

# --- Codes shown as their labels (户主, 女, 脱贫户), from the data dictionary --------------------------------


def code_label(field: str, codeset: str, description: Any):
    """A list_display column: the field's code (or codes, 风险类型 ",01,05,") as the data dictionary's labels.

    Other apps' admins use it too (risk, resources), so that no list shows 01 where a person reads 户主.
    """

    def display(obj) -> str:
        value = getattr(obj, field) or ""
        return labels_of(codeset, str(value)) or "—"

    display.__name__ = f"{field}_label"
    return admin.display(description=description, ordering=field)(display)


def code_filter(field: str, codeset: str, title: Any) -> type[admin.SimpleListFilter]:
    """A list_filter by a coded field, offering the data dictionary's labels (single-valued codes)."""

    class CodeFilter(admin.SimpleListFilter):
        parameter_name = field

        def lookups(self, request, model_admin):
            return choices(codeset)

        def queryset(self, request, queryset):
            return queryset.filter(**{field: self.value()}) if self.value() else queryset

    CodeFilter.title = title
    CodeFilter.__name__ = f"{field.title().replace('_', '')}CodeFilter"
    return CodeFilter


def _verbose(model, field: str) -> Any:
    return model._meta.get_field(field).verbose_name


class MaskedSensitiveAdmin(RegionScopedAdmin):
    """The admin of a model with sensitive fields (sensitive_fields: name → label), masked as the pages do."""

    sensitive_fields: dict[str, Any] = {}
    health_fields: tuple[str, ...] = ()

    # --- forms: masked placeholder, blank keeps the stored value, a reveal button ------------------------

    def _may_reveal(self, request, name: str) -> bool:
        if not can_reveal_sensitive(request.user):
            return False
        return name not in HEALTH_FIELDS or can_see_health(request.user)

    def _reveal_button(self, request, obj, name: str) -> str:
        if obj is None or not getattr(obj, name) or not self._may_reveal(request, name):
            return ""
        url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_reveal", args=[obj.pk, name])
        return format_html(
            '<button type="submit" class="button" formaction="{}" formmethod="post" formnovalidate '
            'data-testid="admin-reveal-{}">{}</button>',
            url, name, _("显示"),
        )

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change=change, **kwargs)
        if obj is None:
            return form_class
        secrets = {name: getattr(obj, name) or "" for name in self.sensitive_fields}
        buttons = {name: self._reveal_button(request, obj, name) for name in self.sensitive_fields}

        class Masked(form_class):
            def __init__(self, *args, **inner):
                data = args[0] if args else inner.get("data")
                if data is not None:
                    data = data.copy()
                    for name, secret in secrets.items():
                        if not (data.get(name) or "").strip():
                            data[name] = secret
                    if args:
                        args = (data, *args[1:])
                    else:
                        inner["data"] = data
                super().__init__(*args, **inner)
                for name, secret in secrets.items():
                    if name in self.fields and secret:
                        self.fields[name].widget = SecretInput(secret, attrs={"placeholder": mask(name, secret)})
                        self.fields[name].help_text = format_html(
                            "{} {}", _("已脱敏显示；留空表示不修改。"), buttons[name]
                        )

        return Masked

    # --- read-only views: masked (and hidden) values in place of the fields ------------------------------

    def _masked_name(self, request, name: str) -> str:
        hides_health = not can_see_health(request.user)
        if name in self.sensitive_fields:
            if name in HEALTH_FIELDS and hides_health:
                return f"hidden_{name}"
            return f"revealable_{name}" if self._may_reveal(request, name) else f"masked_{name}"
        if name in self.health_fields and hides_health:
            return f"hidden_{name}"
        return name

    def get_fieldsets(self, request, obj=None):
        fieldsets = super().get_fieldsets(request, obj)
        if obj is None or self.has_change_permission(request, obj):
            return fieldsets
        return [
            (title, {**options, "fields": [self._masked_name(request, name) for name in options["fields"]]})
            for title, options in fieldsets
        ]

    def get_readonly_fields(self, request, obj=None):
        readonly = tuple(super().get_readonly_fields(request, obj))
        if obj is None or self.has_change_permission(request, obj):
            return readonly
        return tuple(self._masked_name(request, name) for name in readonly)

    def __getattr__(self, name: str):
        # masked_<field>, revealable_<field> (masked, with a 显示 button) and hidden_<field>: what a read-only
        # view shows in place of a sensitive or health field. The kind is chosen per request (_masked_name).
        for prefix in ("masked_", "revealable_", "hidden_"):
            field = name.removeprefix(prefix)
            if name.startswith(prefix) and (field in self.sensitive_fields or field in self.health_fields):
                return self._display(prefix, field)
        raise AttributeError(name)

    def _display(self, kind: str, field: str):
        def display(obj):
            value = getattr(obj, field)
            if value in (None, ""):
                return "—"
            if kind == "hidden_":
                return HIDDEN
            if kind == "masked_":
                return mask(field, value)
            url = reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_reveal", args=[obj.pk, field])
            return format_html(
                '{} <button type="submit" class="button" formaction="{}" formmethod="post" formnovalidate '
                'data-testid="admin-reveal-{}">{}</button>',
                mask(field, value), url, field, _("显示"),
            )

        display.short_description = self.model._meta.get_field(field).verbose_name
        return display

    # --- reveal: one value, audited ----------------------------------------------------------------------

    def get_urls(self):
        name = f"{self.opts.app_label}_{self.opts.model_name}_reveal"
        return [
            path("<path:object_id>/reveal/<str:field>/", self.admin_site.admin_view(self.reveal_view), name=name),
            *super().get_urls(),
        ]

    def household_of(self, obj) -> Household:
        raise NotImplementedError

    def reveal_view(self, request, object_id: str, field: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        obj = self.get_object(request, object_id)  # through the region scope
        if obj is None or field not in self.sensitive_fields:
            raise Http404
        if not self.has_view_or_change_permission(request, obj) or not self._may_reveal(request, field):
            raise PermissionDenied(_("您的角色不能查看完整的敏感信息。"))
        household = self.household_of(obj)
        person = obj if isinstance(obj, Person) else None
        value = reveal_value(by=request.user, household=household, field=field, person=person)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": obj,
            "title": _("查看%(label)s") % {"label": self.sensitive_fields[field]},
            "label": self.sensitive_fields[field],
            "value": value,
            "back": reverse(f"admin:{self.opts.app_label}_{self.opts.model_name}_change", args=[obj.pk]),
        }
        response = TemplateResponse(request, "admin/households/reveal.html", context)
        response["Cache-Control"] = "no-store"
        return response


class CodeInline(admin.TabularInline):
    model = Code
    extra = 0
    fields = ("code", "label", "label_en", "meaning", "attributes", "sort_order", "active")


@admin.register(CodeSet)
class CodeSetAdmin(AuditedAdmin, admin.ModelAdmin):
    list_display = ("slug", "name", "description")
    search_fields = ("slug", "name", "codes__label", "codes__label_en")
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
class HouseholdAdmin(MaskedSensitiveAdmin):
    form = HouseholdForm
    sensitive_fields = HOUSEHOLD_FIELDS
    list_display = (
        "number",
        "village",
        code_label("household_type", "household_type", _verbose(Household, "household_type")),
        code_label("monitoring_type", "monitoring_type", _verbose(Household, "monitoring_type")),
        code_label("risk_types", "risk_type", _verbose(Household, "risk_types")),
        "updated_at",
    )
    list_filter = (
        code_filter("household_type", "household_type", _verbose(Household, "household_type")),
        code_filter("monitoring_type", "monitoring_type", _verbose(Household, "monitoring_type")),
    )
    search_fields = ("number", "members__name")
    raw_id_fields = ("village",)
    show_full_result_count = False

    def household_of(self, obj) -> Household:
        return obj

    def save_model(self, request, obj, form, change):
        if change:
            services.update_household(
                by=request.user, household=Household.objects.get(pk=obj.pk), data=form.values(),
                expected_version=form.cleaned_data.get("version") or obj.version, reason=_("管理后台修改"),
            )
        else:
            created = services.create_household(by=request.user, data=form.values())
            obj.pk = created.pk

    def has_delete_permission(self, request, obj=None):
        return False  # household files are never deleted


@admin.register(Person)
class PersonAdmin(MaskedSensitiveAdmin):
    form = PersonForm
    sensitive_fields = PERSON_FIELDS
    health_fields = ("health", "disability_category", "disability_grade")
    list_display = (
        "name",
        "household",
        code_label("relation", "relation", _verbose(Person, "relation")),
        code_label("sex", "sex", _verbose(Person, "sex")),
        "birth_date",
    )
    search_fields = ("name", "household__number")

    def get_search_fields(self, request):
        # An ID number is found whole only (never by a prefix), and only by those who may reveal one: as on
        # the household list (households.selectors.filter_households).
        fields = tuple(super().get_search_fields(request))
        return (*fields, "=id_number") if can_reveal_sensitive(request.user) else fields

    def household_of(self, obj) -> Household:
        return obj.household
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

    # "Delete" in the admin closes the member (left today), as the household page's removal does.
    def delete_model(self, request, obj):
        services.remove_person(by=request.user, person=obj, reason=_("管理后台删除"))

    def delete_queryset(self, request, queryset):
        # The "delete selected" action: one service call per member, so each removal is checked and audited.
        for person in queryset.select_related("household"):
            services.remove_person(by=request.user, person=person, reason=_("管理后台批量删除"))

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
        "household",
        "effective_date",
        code_label("event", "status_event", _verbose(StatusChange, "event")),
        code_label("household_type", "household_type", _verbose(StatusChange, "household_type")),
        code_label("monitoring_type", "monitoring_type", _verbose(StatusChange, "monitoring_type")),
        "recorded_by",
    )
    list_filter = (code_filter("event", "status_event", _verbose(StatusChange, "event")),)
    search_fields = ("household__number",)
    readonly_fields = [f.name for f in StatusChange._meta.fields]
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
