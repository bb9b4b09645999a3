"""The admin of declared departments (DepartmentFeed and its columns), for administrators only.

The page is a form of the feed and an inline of its columns, but nothing is saved by the admin's own model
saves: the form and the columns make one declaration, which exchange.feeds.declare checks (every reason is
shown on the page, and nothing changes) and writes (a new version, audited). A feed whose department has sent
anything is never deleted: it is deactivated (``active``) instead.
"""

from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from exchange.declarations import Kind
from exchange.feeds.declare import DeclarationError, check_declaration, declaration_of, declare_feed
from exchange.feeds.models import DeclaredRecord, DepartmentFeed, FeedColumn
from exchange.models import ImportBatch
from povertycloud.audit.services import record_event
from povertycloud.regions.scoping import sees_everything

FEED_FIELDS = ("slug", "name", "name_en", "description", "full_snapshot", "active")
COLUMN_FIELDS = (
    "position", "column", "label_en", "key", "kind", "required", "codeset", "min_value", "max_value", "max_length",
    "required_when", "sensitive",
)
# A row added without a position goes after the numbered ones, in the order of the form.
LAST = 1_000_000


def has_records(feed: DepartmentFeed) -> bool:
    """Whether the department has sent anything under this slug (a batch, or a record, void ones too)."""
    return (
        ImportBatch.objects.filter(department=feed.slug).exists()
        or DeclaredRecord.all_versions.filter(department=feed.slug).exists()
    )


def current_record_count(feed: DepartmentFeed) -> int:
    """The records in force: one count over the partial index of current versions (department, valid_to
    null). Void versions are never current (their valid_to is set), so the manager's void filter is not needed."""
    return DeclaredRecord.all_versions.filter(department=feed.slug, valid_to__isnull=True).count()


def as_number(value: Decimal | None) -> float | None:
    return None if value is None else float(value)


class DepartmentFeedForm(forms.ModelForm):
    class Meta:
        model = DepartmentFeed
        fields = list(FEED_FIELDS)

    def full_clean(self) -> None:
        super().full_clean()
        # The columns' formset checks the whole declaration only when the feed's own fields are valid (their
        # errors are shown first, beside the fields): it reads them from the same instance.
        self.instance._feed_form_valid = self.is_bound and not self.errors


class FeedColumnForm(forms.ModelForm):
    class Meta:
        model = FeedColumn
        fields = list(COLUMN_FIELDS)

    def validate_unique(self) -> None:
        # Duplicate headers and keys are the declaration's rules (headers compared as files are read: whatever
        # their width and spacing), checked with every other rule by the formset; the stored rows are replaced.
        pass


class FeedColumnFormSet(forms.BaseInlineFormSet):
    """The columns; its clean() checks the declaration they make with the feed's fields."""

    def validate_unique(self) -> None:
        pass  # see FeedColumnForm.validate_unique

    def clean(self) -> None:
        super().clean()
        feed = self.instance
        feed._declaration = None
        if not getattr(feed, "_feed_form_valid", False) or any(self.errors):
            return
        declaration = declaration_from_forms(feed, self.forms)
        existing = DepartmentFeed.objects.filter(pk=feed.pk).first() if feed.pk else None
        errors = check_declaration(declaration, existing=existing)
        if errors:
            raise ValidationError(errors)
        feed._declaration = declaration


def declaration_from_forms(feed: DepartmentFeed, column_forms) -> dict[str, Any]:
    """The declaration the feed's fields and its columns' forms make (rows deleted or left empty are not in it;
    columns in the order of their position, then of the form)."""
    rows = [
        (form.cleaned_data.get("position") or LAST, index, form.cleaned_data)
        for index, form in enumerate(column_forms)
        if form.cleaned_data and not form.cleaned_data.get("DELETE")
    ]
    columns = [
        {
            "column": data.get("column") or "",
            "label_en": data.get("label_en") or "",
            "key": data.get("key") or "",
            "kind": data.get("kind") or Kind.TEXT.value,
            "required": bool(data.get("required")),
            "codeset": data["codeset"].pk if data.get("codeset") else "",
            "min_value": as_number(data.get("min_value")),
            "max_value": as_number(data.get("max_value")),
            "max_length": data.get("max_length") if data.get("max_length") is not None else 100,
            "required_when": data.get("required_when") or "",
            "sensitive": bool(data.get("sensitive")),
        }
        for _position, _index, data in sorted(rows, key=lambda row: (row[0], row[1]))
    ]
    return {
        "slug": feed.slug,
        "name": feed.name,
        "name_en": feed.name_en,
        "description": feed.description,
        "full_snapshot": feed.full_snapshot,
        "active": feed.active,
        "columns": columns,
    }


class AdministratorsOnly:
    """Only administrators (the role, or a superuser) see or change declarations, whatever permissions a staff
    user holds."""

    def has_module_permission(self, request):
        return sees_everything(request.user)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_add_permission(self, request, *args):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)


class FeedColumnInline(AdministratorsOnly, admin.TabularInline):
    model = FeedColumn
    form = FeedColumnForm
    formset = FeedColumnFormSet
    fields = COLUMN_FIELDS
    ordering = ("position", "id")
    extra = 3

    def has_delete_permission(self, request, obj=None):
        return sees_everything(request.user)  # removing a column from the declaration (a new version)


@admin.register(DepartmentFeed)
class DepartmentFeedAdmin(AdministratorsOnly, admin.ModelAdmin):
    form = DepartmentFeedForm
    inlines = [FeedColumnInline]
    list_display = ("slug", "name", "full_snapshot", "active", "version", "updated_at", "updated_by")
    list_filter = ("active", "full_snapshot")
    search_fields = ("slug", "name", "name_en")
    list_select_related = ("updated_by",)
    summary_fields = ("version", "updated_by", "updated_at", "current_records", "batches")

    def has_delete_permission(self, request, obj=None):
        # Never in bulk; one feed whose department never sent anything (otherwise: deactivate it).
        return sees_everything(request.user) and obj is not None and not has_records(obj)

    def get_fieldsets(self, request, obj=None):
        fieldsets = [(None, {"fields": list(FEED_FIELDS)})]
        if obj is not None:
            fieldsets.append((_("当前声明"), {"fields": list(self.summary_fields)}))
        return fieldsets

    def get_readonly_fields(self, request, obj=None):
        # The slug is what its batches and records are filed under: another slug is another department.
        return ("slug", *self.summary_fields) if obj is not None else ()

    @admin.display(description=gettext_lazy("当前记录数"))
    def current_records(self, feed: DepartmentFeed) -> int:
        return current_record_count(feed)

    @admin.display(description=gettext_lazy("导入批次"))
    def batches(self, feed: DepartmentFeed) -> str:
        batches = ImportBatch.objects.filter(department=feed.slug)
        latest = batches.order_by("-pk").only("pk", "file_name").first()
        if latest is None:
            return _("尚无批次")
        count = batches.count()
        return format_html(
            '{} <a href="{}" data-testid="latest-batch">{}</a>',
            ngettext("共 %(count)s 批，最近一批：", "共 %(count)s 批，最近一批：", count) % {"count": count},
            reverse("exchange:batch", args=[latest.pk]),
            latest.file_name,
        )

    # --- saving through the declaration service -----------------------------------------------------------

    def save_model(self, request, obj, form, change):
        declaration = getattr(obj, "_declaration", None)
        if declaration is None:  # the formset's clean() checked it; nothing else reaches here
            raise DeclarationError([_("部门声明未经检查，未保存。")])
        feed = declare_feed(declaration=declaration, by=request.user)
        obj.pk = feed.pk
        obj.refresh_from_db()

    def save_related(self, request, form, formsets, change):
        pass  # declare_feed wrote the columns

    def construct_change_message(self, request, form, formsets, add=False):
        return _("部门声明第 %(version)s 版") % {"version": form.instance.version}

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DeclarationError as error:
            # Someone declared the same department between the check and the save: nothing was written.
            self.message_user(request, "；".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def delete_model(self, request, obj):
        before = declaration_of(obj)
        pk, shown = obj.pk, str(obj)
        super().delete_model(request, obj)
        record_event(
            actor=request.user, action="delete", entity=DepartmentFeed._meta.label_lower, object_pk=pk,
            object_repr=shown, changes={"declaration": before}, note=_("管理后台"),
        )
