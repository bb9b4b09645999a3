"""Township officials' pages of the household file: list, file page, edit forms, reveal, Excel import/export.

Views parse input, find objects through the region scope (outside the region: 404), check the role for
writes (not an editor: 403), call a service and redirect with a message.
"""

import hashlib
import time
import uuid
from pathlib import Path
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from households import selectors, services, spreadsheets
from households.charts import income_chart
from households.downloads import DOWNLOAD_KIND
from households.forms import IncomeForm, PersonForm, first_unrecorded_year
from households.models import Household, IncomeRecord, Person
from households.page_forms import (
    HouseholdEditForm,
    HouseholdFilterForm,
    ImportUploadForm,
    RemoveMemberForm,
    SecretInput,
)
from households.panels import member_sections
from households.sensitive import HOUSEHOLD_FIELDS, PERSON_FIELDS, mask, reveal_value
from povertycloud.accounts.permissions import (
    can_edit_household_files,
    can_reveal_sensitive,
    require_household_editor,
)
from povertycloud.downloads.services import request_download
from povertycloud.forms import add_service_errors
from povertycloud.paging import query_without_keys
from povertycloud.regions.scoping import get_for_user_or_404
from povertycloud.regions.selectors import full_name

REVEALED_SESSION_KEY = "households:revealed"
IMPORT_SESSION_KEY = "households:pending_import"


# --- Helpers -----------------------------------------------------------------------------------------


def _editable_household(request: HttpRequest, pk: int) -> Household:
    """Role first (not an editor: 403), then region (outside: 404)."""
    require_household_editor(request.user)
    return get_for_user_or_404(Household.objects.select_related("village"), request.user, pk=pk)


def _posted_version(request: HttpRequest) -> int | None:
    try:
        return int(request.POST.get("version", ""))
    except ValueError:
        return None


def _protect_secrets(form: forms.BaseForm, instance: Any, names: dict) -> None:
    for name in names:
        secret = getattr(instance, name, "") or ""
        if name in form.fields and secret:
            attrs = {**form.fields[name].widget.attrs, "placeholder": mask(name, secret)}
            form.fields[name].widget = SecretInput(secret, attrs=attrs)
            form.fields[name].help_text = _("已脱敏显示；留空表示不修改。")


def _keep_blank_secrets(request: HttpRequest, instance: Any, names: dict):
    data = request.POST.copy()
    for name in names:
        if not data.get(name, "").strip():
            data[name] = getattr(instance, name, "") or ""
    return data


def _pass_on_warnings(request: HttpRequest, form: forms.BaseForm) -> None:
    """Suspicious values are saved; their warnings follow the user to the next page."""
    for issue in getattr(form, "warnings", []):
        messages.warning(request, issue.message)


def _stale_message(label: str) -> str:
    return services.StaleEdit(label).messages[0]


# --- List and file page ------------------------------------------------------------------------------


@login_required
def household_list(request: HttpRequest) -> HttpResponse:
    form = HouseholdFilterForm(request.GET or None, user=request.user)
    filters = form.filters() if form.is_bound else {}
    queryset = selectors.filter_households(selectors.households_for(request.user), filters, user=request.user)
    page = selectors.household_page(
        queryset, after=request.GET.get("after"), before=request.GET.get("before")
    )
    return render(
        request,
        "households/list.html",
        {
            "form": form,
            "page": page,
            "query": query_without_keys(request.GET),
            "filtered": bool(filters),
            "can_edit": can_edit_household_files(request.user),
        },
    )


@login_required
def household_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    household = get_for_user_or_404(Household.objects.select_related("village"), user, pk=pk)
    revealed = request.session.pop(REVEALED_SESSION_KEY, None) or {}
    shown_keys = set(revealed.get("keys", [])) if revealed.get("household") == household.pk else set()
    members = selectors.members_of(household, user)
    incomes = selectors.incomes_of(household, user)
    show_all_audit = request.GET.get("audit") == "all"
    response = render(
        request,
        "households/detail.html",
        {
            "household": household,
            "village_full_name": full_name(household.village),
            "facts": selectors.household_facts(household, user, revealed=shown_keys),
            "members": selectors.member_rows(members, user, revealed=shown_keys),
            "members_left": selectors.members_left_of(household, user),
            "incomes": selectors.income_rows(incomes, region_code=household.village_id),
            "chart": income_chart(incomes, region_code=household.village_id),
            "member_sections": member_sections(members, user),
            "history": selectors.status_rows(selectors.status_history_of(household, user)),
            "audit": selectors.audit_trail(household, user, limit=None if show_all_audit else 50),
            "audit_limited": not show_all_audit,
            "can_edit": can_edit_household_files(user),
            "can_reveal": can_reveal_sensitive(user),
            "current_year": timezone.localdate().year,
        },
    )
    if shown_keys:
        response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def reveal(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    if not can_reveal_sensitive(user):
        raise PermissionDenied(_("您的角色不能查看完整的敏感信息。"))
    household = get_for_user_or_404(Household.objects.select_related("village"), user, pk=pk)
    field = request.POST.get("field", "")
    person = None
    if request.POST.get("person"):
        members = Person.objects.filter(household=household).select_related("household")
        person = get_for_user_or_404(members, user, pk=request.POST["person"])
        if field not in PERSON_FIELDS:
            return HttpResponseBadRequest(_("不能查看这一项。"))
    elif field not in HOUSEHOLD_FIELDS:
        return HttpResponseBadRequest(_("不能查看这一项。"))
    value = reveal_value(by=user, household=household, field=field, person=person)
    if "application/json" in request.headers.get("Accept", ""):
        response = JsonResponse({"field": field, "value": value})
        response["Cache-Control"] = "no-store"
        return response
    key = f"person:{person.pk}:{field}" if person else f"household:{field}"
    request.session[REVEALED_SESSION_KEY] = {"household": household.pk, "keys": [key]}
    anchor = f"#person-{person.pk}" if person else "#facts"
    return redirect(reverse("households:detail", args=[household.pk]) + anchor)


# --- Forms -------------------------------------------------------------------------------------------


@login_required
def household_edit(request: HttpRequest, pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    stale = False
    if request.method == "POST":
        data = _keep_blank_secrets(request, household, HOUSEHOLD_FIELDS)
        stale = _posted_version(request) != household.version
        form = HouseholdEditForm(data, instance=Household.objects.get(pk=household.pk))
        if not stale and form.is_valid():
            try:
                services.update_household(
                    by=request.user, household=household, data=form.values(),
                    expected_version=form.cleaned_data["version"], reason=form.cleaned_data.get("reason", ""),
                )
            except services.StaleEdit:
                stale = True
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("户档案已保存。"))
                _pass_on_warnings(request, form)
                return redirect("households:detail", pk=household.pk)
    else:
        form = HouseholdEditForm(instance=household)
    _protect_secrets(form, household, HOUSEHOLD_FIELDS)
    return render(
        request,
        "households/household_form.html",
        {
            "form": form,
            "household": household,
            "stale": stale,
            "stale_message": _stale_message(_("户 %(number)s 的档案") % {"number": household.number}),
        },
    )


@login_required
def member_add(request: HttpRequest, pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    if request.method == "POST":
        form = PersonForm(request.POST, household=household, user=request.user)
        if form.is_valid():
            try:
                person = services.add_person(by=request.user, household=household, data=form.values())
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("已添加家庭成员 %(name)s。") % {"name": person.name})
                _pass_on_warnings(request, form)
                return redirect("households:detail", pk=household.pk)
    else:
        form = PersonForm(household=household, user=request.user)
    context = {"form": form, "household": household, "person": None}
    return render(request, "households/member_form.html", context)


@login_required
def member_edit(request: HttpRequest, pk: int, person_pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    person = get_for_user_or_404(Person.objects.filter(household=household), request.user, pk=person_pk)
    stale = False
    if request.method == "POST":
        data = _keep_blank_secrets(request, person, PERSON_FIELDS)
        stale = _posted_version(request) != person.version
        form = PersonForm(data, instance=Person.objects.get(pk=person.pk), household=household, user=request.user)
        if not stale and form.is_valid():
            try:
                services.update_person(
                    by=request.user, person=person, data=form.values(),
                    expected_version=form.cleaned_data["version"],
                )
            except services.StaleEdit:
                stale = True
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("家庭成员 %(name)s 的信息已保存。") % {"name": person.name})
                _pass_on_warnings(request, form)
                return redirect("households:detail", pk=household.pk)
    else:
        form = PersonForm(instance=person, household=household)
    _protect_secrets(form, person, PERSON_FIELDS)
    return render(
        request,
        "households/member_form.html",
        {
            "form": form,
            "household": household,
            "person": person,
            "stale": stale,
            "stale_message": _stale_message(_("成员 %(name)s 的信息") % {"name": person.name}),
        },
    )


@login_required
def member_remove(request: HttpRequest, pk: int, person_pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    person = get_for_user_or_404(
        Person.objects.filter(household=household).select_related("household"), request.user, pk=person_pk
    )
    form = RemoveMemberForm(request.POST or None, initial={"left_on": timezone.localdate()})
    if request.method == "POST" and form.is_valid():
        try:
            services.remove_person(
                by=request.user, person=person, reason=form.cleaned_data["reason"],
                left_on=form.cleaned_data["left_on"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("已将 %(name)s 记为离开本户。") % {"name": person.name})
            return redirect("households:detail", pk=household.pk)
    context = {"form": form, "household": household, "person": person}
    return render(request, "households/member_remove.html", context)


@login_required
def income_edit(request: HttpRequest, pk: int, year: int | None = None) -> HttpResponse:
    household = _editable_household(request, pk)
    record = None
    if year is not None:
        records = IncomeRecord.objects.filter(household=household)
        record = get_for_user_or_404(records, request.user, year=year)
    stale = False
    if request.method == "POST":
        stale = record is not None and _posted_version(request) != record.version
        instance = IncomeRecord.objects.get(pk=record.pk) if record else None
        form = IncomeForm(request.POST, instance=instance)
    elif record is not None:
        form = IncomeForm(instance=record)
    else:
        recorded = set(IncomeRecord.objects.filter(household=household).values_list("year", flat=True))
        default_year = first_unrecorded_year(recorded, today=timezone.localdate())
        form = IncomeForm(initial={"year": default_year, "household_size": household.members.count() or 1})
        form.fields["year"].help_text = _("默认为本户尚未录入收支的第一个年度。")
    if record is not None:
        form.fields["year"].disabled = True  # the year names the record being edited; it is not re-keyed
    if request.method == "POST" and not stale and form.is_valid():
        values = form.values()
        try:
            services.record_income(
                by=request.user, household=household, data=values,
                expected_version=form.cleaned_data.get("version") if record else None,
            )
        except services.StaleEdit:
            stale = True
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, _("%(year)s 年收支已保存。") % {"year": values["year"]})
            return redirect(reverse("households:detail", args=[household.pk]) + "#income")
    return render(
        request,
        "households/income_form.html",
        {
            "form": form,
            "household": household,
            "record": record,
            "stale": stale,
            "stale_message": _stale_message(_("%(year)s 年收支") % {"year": year}) if record else "",
        },
    )


# --- Excel -------------------------------------------------------------------------------------------


@login_required
def export(request: HttpRequest) -> HttpResponse:
    user = request.user
    source = request.POST if request.method == "POST" else request.GET
    form = HouseholdFilterForm(source, user=user)
    filters = form.filters()
    if request.method == "POST":
        # The file is written in the background (households.downloads); what it holds is decided here.
        include_sensitive = request.POST.get("include_sensitive") == "1" and can_reveal_sensitive(user)
        # An unknown format is written as a workbook, the default.
        asked = request.POST.get("format")
        file_format = asked if asked in spreadsheets.EXPORT_FORMATS else "xlsx"
        region = getattr(user, "region", None)
        with transaction.atomic():
            request_download(
                by=user,
                kind=DOWNLOAD_KIND,
                region_code=region.code if region is not None else "",
                parameters={"filters": filters, "include_sensitive": include_sensitive, "format": file_format},
            )
        messages.success(request, _("导出已在后台生成，完成后可在“我的下载”中下载。"))
        return redirect("downloads:list")
    return render(
        request,
        "households/export.html",
        {"form": form, "filters": filters, "can_reveal": can_reveal_sensitive(user)},
    )


def _pending_dir() -> Path:
    directory = Path(settings.VAR_DIR) / "imports"
    directory.mkdir(parents=True, exist_ok=True)
    cutoff = time.time() - 24 * 3600
    for old in directory.glob("*.upload"):
        if old.stat().st_mtime < cutoff:
            old.unlink(missing_ok=True)
    return directory


def _pending_path(token: str) -> Path:
    return _pending_dir() / f"{uuid.UUID(hex=token).hex}.upload"


def _discard_pending(request: HttpRequest) -> None:
    pending = request.session.pop(IMPORT_SESSION_KEY, None)
    if pending:
        _pending_path(pending["token"]).unlink(missing_ok=True)


@login_required
def import_upload(request: HttpRequest) -> HttpResponse:
    require_household_editor(request.user)
    form = ImportUploadForm(request.POST or None, request.FILES or None)
    context: dict[str, Any] = {"form": form}
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        content = upload.read(spreadsheets.MAX_UPLOAD_BYTES + 1)  # the form refused a larger one already
        try:
            dataset = spreadsheets.read_sheet(content, upload.name)
        except ValidationError as error:
            form.add_error("file", error)
        else:
            report = spreadsheets.preview_import(user=request.user, dataset=dataset)
            _discard_pending(request)
            context["report"] = report
            if report.ok:
                token = uuid.uuid4().hex
                _pending_path(token).write_bytes(content)
                request.session[IMPORT_SESSION_KEY] = {
                    "token": token,
                    "name": upload.name,
                    "sha256": hashlib.sha256(content).hexdigest(),
                }
                context["token"] = token
            context["filename"] = upload.name
    return render(request, "households/import.html", context)


@login_required
@require_POST
def import_confirm(request: HttpRequest) -> HttpResponse:
    require_household_editor(request.user)
    pending = request.session.get(IMPORT_SESSION_KEY)
    if not pending or pending.get("token") != request.POST.get("token"):
        messages.error(request, _("没有待确认的导入，或导入已过期，请重新上传文件。"))
        return redirect("households:import")
    path = _pending_path(pending["token"])
    if not path.exists():
        request.session.pop(IMPORT_SESSION_KEY, None)
        messages.error(request, _("没有待确认的导入，或导入已过期，请重新上传文件。"))
        return redirect("households:import")
    dataset = spreadsheets.read_sheet(path.read_bytes(), pending["name"])
    report = spreadsheets.confirm_import(
        user=request.user, dataset=dataset, filename=pending["name"], sha256=pending["sha256"]
    )
    _discard_pending(request)
    if report.saved:
        messages.success(
            request,
            _("导入完成：%(rows)s 行，新增 %(new)s，修改 %(updated)s，无变化 %(same)s。")
            % {
                "rows": len(report.rows),
                "new": report.count("new"),
                "updated": report.count("update"),
                "same": report.count("skip"),
            },
        )
        return redirect("households:list")
    messages.error(request, _("导入未保存：数据已有变化，以下行有错误。请修改文件后重新上传。"))
    return render(
        request,
        "households/import.html",
        {"form": ImportUploadForm(), "report": report, "filename": pending["name"]},
    )
