"""The admin of department API clients, for administrators only.

A client is created and changed through the services (exchange.api.services: validated and audited), never by
a bare save. A token is issued from the client's page and shown once, on the page that answers the issue (it
is not stored: only its digest is); tokens are otherwise read-only and are revoked through the service. Shares
and the persons they read are the record of where data went: read-only, never added, changed or deleted here.
"""

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from exchange.api.datasets import DATASETS, Dataset, all_scopes
from exchange.api.models import ApiClient, ApiToken, Share, SharedPerson
from exchange.api.services import (
    MAX_TOKEN_DAYS,
    TOKEN_DAYS,
    clean_fields,
    clean_scopes,
    create_client,
    issue_token,
    revoke_token,
    update_client,
)
from exchange.declarations import all_departments
from povertycloud.regions.scoping import scope_for_user, sees_everything


def fields_key(slug: str) -> str:
    return f"fields_{slug}"


class AdministratorsOnly:
    """Only administrators (the role, or a superuser) see or change these models, whatever permissions a
    staff user holds: clients reach every region's data through their tokens."""

    def has_module_permission(self, request):
        return sees_everything(request.user)

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_add_permission(self, request, *args):
        return sees_everything(request.user)

    def has_change_permission(self, request, obj=None):
        return sees_everything(request.user)

    def has_delete_permission(self, request, obj=None):
        return False

    def get_queryset(self, request):
        return scope_for_user(super().get_queryset(request), request.user)


class ClientFormBase(forms.ModelForm):
    department = forms.ChoiceField(label=gettext_lazy("部门"))
    scopes = forms.MultipleChoiceField(
        label=gettext_lazy("权限范围"), required=False, widget=forms.CheckboxSelectMultiple
    )

    class Meta:
        model = ApiClient
        fields = ["name", "department", "region", "purpose", "rate_per_minute", "active"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "department" in self.fields:
            self.fields["department"].choices = [(d.slug, f"{d.name}（{d.slug}）") for d in all_departments()]
        self.fields["scopes"].choices = all_scopes()
        self.fields["scopes"].initial = list(self.instance.scopes or []) if self.instance.pk else []
        chosen = (self.instance.fields or {}) if self.instance.pk else {}
        for dataset in DATASETS.values():
            self.fields[fields_key(dataset.slug)].initial = list(chosen.get(dataset.slug) or dataset.default_fields)

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        try:
            data["scopes"] = clean_scopes(data.get("scopes") or [])
        except ValidationError as error:
            self.add_error("scopes", error)
        chosen = {d.slug: data.get(fields_key(d.slug)) or list(d.default_fields) for d in DATASETS.values()}
        try:
            data["fields"] = clean_fields(chosen)
        except ValidationError as error:
            self.add_error(None, error)
        return data

    def service_values(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "name": data["name"],
            "scopes": data["scopes"],
            "fields": data["fields"],
            "purpose": data.get("purpose") or "",
            "rate_per_minute": data["rate_per_minute"],
        }


def readable_fields_field(dataset: Dataset) -> forms.MultipleChoiceField:
    return forms.MultipleChoiceField(
        label=format_lazy(gettext_lazy("可读取字段：{dataset}"), dataset=dataset.label),
        choices=[(f.name, f.label) for f in dataset.fields],
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("证件号码总是包含在内（部门按证件号码比对）；不选则为该数据集的最少字段。"),
    )


# One checkbox list of readable fields per declared dataset: form fields must exist on the class for the admin.
ApiClientForm = type(
    "ApiClientForm",
    (ClientFormBase,),
    {"__module__": __name__, **{fields_key(d.slug): readable_fields_field(d) for d in DATASETS.values()}},
)


class ApiTokenInline(admin.TabularInline):
    model = ApiToken
    extra = 0
    can_delete = False
    fields = ("prefix", "state", "created_at", "created_by", "expires_at", "revoked_at", "last_used_at", "revoke")
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_view_permission(self, request, obj=None):
        return sees_everything(request.user)

    @admin.display(description=gettext_lazy("状态"))
    def state(self, token: ApiToken) -> str:
        return token_state(token)

    @admin.display(description=gettext_lazy("吊销"))
    def revoke(self, token: ApiToken) -> str:
        if token.revoked_at is not None:
            return "—"
        url = reverse("admin:exchange_apitoken_revoke", args=[token.pk])
        return format_html('<a href="{}" data-testid="revoke-token-{}">{}</a>', url, token.pk, _("吊销"))


def token_state(token: ApiToken) -> str:
    if token.revoked_at is not None:
        return _("已吊销")
    return _("有效") if token.usable else _("已过期")


class IssueTokenForm(forms.Form):
    days = forms.IntegerField(
        label=gettext_lazy("有效期（天）"), min_value=1, max_value=MAX_TOKEN_DAYS, initial=TOKEN_DAYS
    )


@admin.register(ApiClient)
class ApiClientAdmin(AdministratorsOnly, admin.ModelAdmin):
    form = ApiClientForm
    change_form_template = "exchange/api/admin/client_change_form.html"
    list_display = ("name", "department", "region", "active", "rate_per_minute", "created_at")
    list_filter = ("active", "department")
    search_fields = ("name",)
    raw_id_fields = ("region",)
    inlines = [ApiTokenInline]

    def get_fieldsets(self, request, obj=None):
        readable = [fields_key(slug) for slug in DATASETS]
        return [
            (None, {"fields": ["name", "department", "region", "purpose", "rate_per_minute", "active"]}),
            (_("权限范围"), {"fields": ["scopes"]}),
            (_("可读取字段"), {"fields": readable}),
        ]

    def get_readonly_fields(self, request, obj=None):
        # A client's department and region are what its tokens were issued for: a different department or
        # region is another client.
        return ("department", "region") if obj is not None else ()

    def save_model(self, request, obj, form, change):
        values = form.service_values()
        if change:
            stored = ApiClient.objects.get(pk=obj.pk)
            saved = update_client(client=stored, by=request.user, active=form.cleaned_data["active"], **values)
        else:
            saved = create_client(
                by=request.user,
                department=form.cleaned_data["department"],
                region=form.cleaned_data["region"],
                **values,
            )
            if not form.cleaned_data["active"]:
                saved = update_client(client=saved, by=request.user, active=False)
        obj.pk = saved.pk
        obj.refresh_from_db()

    # --- issuing a token ---------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view(self.issue_token_view)
        return [path("<int:pk>/issue-token/", view, name="exchange_apiclient_issue_token"), *super().get_urls()]

    def issue_token_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        found = self.get_queryset(request).filter(pk=pk).first()
        if found is None:
            raise Http404
        form = IssueTokenForm(request.POST or None)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": found,
            "title": _("为“%(client)s”签发令牌") % {"client": found.name},
            "form": form,
            "back": reverse("admin:exchange_apiclient_change", args=[found.pk]),
        }
        if request.method == "POST" and form.is_valid():
            issued = issue_token(client=found, by=request.user, days=form.cleaned_data["days"])
            context.update({"issued": issued, "title": _("令牌已签发")})
            response = TemplateResponse(request, "exchange/api/admin/token_issued.html", context)
            # The page holds the whole token: no cache keeps it, not even the browser's history.
            response["Cache-Control"] = "no-store"
            return response
        return TemplateResponse(request, "exchange/api/admin/issue_token.html", context)


@admin.register(ApiToken)
class ApiTokenAdmin(AdministratorsOnly, admin.ModelAdmin):
    list_display = ("prefix", "client", "state", "created_at", "expires_at", "revoked_at", "last_used_at")
    list_filter = ("client",)
    readonly_fields = ("client", "prefix", "created_at", "created_by", "expires_at", "revoked_at", "revoked_by",
                       "last_used_at")
    fields = readonly_fields
    actions = ["revoke_selected"]

    def has_add_permission(self, request, *args):
        return False  # tokens are issued from their client's page, which shows the token once

    def has_change_permission(self, request, obj=None):
        return False

    @admin.display(description=gettext_lazy("状态"))
    def state(self, token: ApiToken) -> str:
        return token_state(token)

    @admin.action(description=gettext_lazy("吊销所选令牌"))
    def revoke_selected(self, request, queryset):
        revoked = 0
        for token in queryset.filter(revoked_at__isnull=True).select_related("client"):
            revoke_token(token=token, by=request.user)
            revoked += 1
        message = ngettext("已吊销 %(count)s 个令牌。", "已吊销 %(count)s 个令牌。", revoked) % {"count": revoked}
        self.message_user(request, message, messages.SUCCESS)

    def get_urls(self):
        view = self.admin_site.admin_view(self.revoke_view)
        return [path("<int:pk>/revoke/", view, name="exchange_apitoken_revoke"), *super().get_urls()]

    def revoke_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        if not sees_everything(request.user):
            raise PermissionDenied
        token = self.get_queryset(request).select_related("client").filter(pk=pk).first()
        if token is None:
            raise Http404
        back = reverse("admin:exchange_apiclient_change", args=[token.client_id])
        if request.method == "POST":
            revoke_token(token=token, by=request.user)
            return TemplateResponse(
                request, "exchange/api/admin/revoke_token.html",
                {**self.admin_site.each_context(request), "opts": self.opts, "token": token, "done": True,
                 "back": back, "title": _("令牌已吊销")},
            )
        return TemplateResponse(
            request, "exchange/api/admin/revoke_token.html",
            {**self.admin_site.each_context(request), "opts": self.opts, "token": token, "done": False,
             "back": back, "title": _("吊销令牌 %(token)s") % {"token": token}},
        )


class AppendOnly(AdministratorsOnly):
    def has_add_permission(self, request, *args):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Share)
class ShareAdmin(AppendOnly, admin.ModelAdmin):
    list_display = ("at", "client", "endpoint", "dataset", "purpose", "person_count", "region_code")
    list_filter = ("dataset",)
    search_fields = ("client__name", "endpoint")
    list_select_related = ("client",)
    show_full_result_count = False
    readonly_fields = ("client", "token", "at", "endpoint", "dataset", "purpose", "fields", "parameters",
                       "person_count", "region_code")
    fields = readonly_fields


@admin.register(SharedPerson)
class SharedPersonAdmin(AppendOnly, admin.ModelAdmin):
    list_display = ("share", "person_id", "household_id", "region_code")
    search_fields = ("=person_id", "=household_id")
    list_select_related = ("share",)
    show_full_result_count = False
    readonly_fields = ("share", "person_id", "household_id", "region_code")
    fields = readonly_fields
