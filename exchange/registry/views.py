"""Registry import pages: upload an export, follow its batch, read and download its rejects and conflicts,
and undo a batch.

The upload stores the files and starts the background job; nothing of the files is read in the request.
Batches are found through the region scope (outside it: 404); only those who may import (township
officials for their township, county staff for their county, administrators) may upload (403 otherwise).
Undoing a batch (exchange.registry.rollback) is for county staff of its region and administrators: the batch
page shows, on request (?undo=1), what undoing would delete, restore and reopen (a dry run), and the form;
a POST by any other role is refused (403), for a batch outside the user's region not found (404).
"""

import csv
import io
import os
import shutil
import tempfile
from pathlib import Path

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_POST

from exchange.forms import RollbackForm, SizeLimitHandler, too_large_message
from exchange.models import ImportBatch, RejectedRow
from exchange.readers import FileRefused
from exchange.registry.conflicts import settle_conflict
from exchange.registry.forms import RegistryUploadForm
from exchange.registry.models import RegistryConflict
from exchange.registry.rollback import (
    RegistryRollbackResult,
    may_roll_back_registry_batch,
    rollback_registry_batch,
)
from exchange.registry.service import enqueue_registry_import, may_import_registry_at_all, receive_registry
from exchange.registry.tables import MEMBERS, REGISTRY, TABLE_ORDER, TABLES
from exchange.views import import_progress, int_or_none
from households.spreadsheets import neutralise_formula
from povertycloud.accounts.permissions import (
    can_edit_household_files,
    can_reveal_sensitive,
    can_upload_department_files,
)
from povertycloud.audit.services import record_event
from povertycloud.masking import SENSITIVE_FIELDS, mask, mask_text
from povertycloud.regions.scoping import get_for_user_or_404, scope_for_user

PAGE_SIZE = 50


def _store(files) -> Path:
    """The uploaded files in a directory of their own under VAR_DIR/uploads/registry/."""
    root = Path(settings.VAR_DIR) / "uploads" / REGISTRY
    root.mkdir(parents=True, exist_ok=True)
    directory = Path(tempfile.mkdtemp(dir=root))
    for upload in files:
        name = Path(upload.name).name or "export"
        handle, partial = tempfile.mkstemp(dir=directory, suffix=".partial")
        with os.fdopen(handle, "wb") as out:
            for block in upload.chunks():
                out.write(block)
        os.replace(partial, directory / name)
    return directory


@csrf_exempt
@login_required
def upload(request: HttpRequest) -> HttpResponse:
    # The size limit must be in place before anything reads the body (the CSRF check does).
    if request.method == "POST" and not may_import_registry_at_all(request.user):
        raise PermissionDenied(_("只有乡镇干部、县级工作人员和系统管理员可以导入户档案。"))
    request.upload_handlers.insert(0, SizeLimitHandler(request))
    return _upload(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    user = request.user
    form = RegistryUploadForm(request.POST or None, request.FILES or None, user=user)
    if request.method == "POST":
        if getattr(request, "upload_too_large", False):
            form.add_error("files", too_large_message())
        elif form.is_valid():
            region = form.cleaned_data["region"]  # the form offers only regions the user may import into
            directory = _store(form.cleaned_data["files"])
            paths = sorted(directory.iterdir())
            try:
                with transaction.atomic():
                    batch = receive_registry(
                        region_code=region, paths=paths, by=user, as_of=form.cleaned_data["as_of"],
                        encoding=form.cleaned_data["encoding"] or None, stored_dir=directory,
                        file_name="、".join(p.name for p in paths),
                    )
                    if not batch.already_imported:
                        enqueue_registry_import(batch=batch)
            except PermissionDenied:
                shutil.rmtree(directory, ignore_errors=True)
                raise
            except FileRefused as exc:
                shutil.rmtree(directory, ignore_errors=True)
                form.add_error(None, str(exc))
            else:
                if batch.already_imported:
                    shutil.rmtree(directory, ignore_errors=True)
                    messages.info(request, _("这些文件已于批次 #%(pk)s 导入，没有重复导入。") % {"pk": batch.pk})
                else:
                    messages.success(request, _("文件已接收，正在后台导入。本页会显示进度。"))
                return redirect("exchange:registry_batch", pk=batch.pk)
    context = {"form": form, "may_upload": may_import_registry_at_all(user), "tables": [TABLES[s] for s in TABLE_ORDER]}
    return render(request, "exchange/registry/upload.html", context)


def _registry_batch(request: HttpRequest, pk: int) -> ImportBatch:
    return get_for_user_or_404(ImportBatch.objects.filter(department=REGISTRY), request.user, pk=pk)


# A table's column header → the field it fills, so that a rejected row's values mask as the field's would.
COLUMN_FIELDS = {spec.column: spec.name for table in TABLES.values() for spec in table.fields}


def _shown(values: dict, *, reveal: bool = False) -> dict:
    """A rejected row's values with ID numbers, phones and accounts masked (and any ID-like or phone-like number
    in the other columns), unless revealed to a role that may see them."""
    if reveal:
        return values
    return {
        key: mask(COLUMN_FIELDS[key], value) if COLUMN_FIELDS.get(key) in SENSITIVE_FIELDS else mask_text(value)
        for key, value in values.items()
    }


@login_required
def batch(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    found = _registry_batch(request, pk)
    after = int_or_none(request.GET.get("after"))
    rejected = RejectedRow.objects.filter(batch=found).order_by("id")
    if after:
        rejected = rejected.filter(pk__gt=after)
    rows = list(rejected[: PAGE_SIZE + 1])
    page = [(row, _shown(row.values)) for row in rows[:PAGE_SIZE]]
    conflicts = scope_for_user(RegistryConflict.objects.filter(batch=found), user)
    tables = [{**found.table_counts[slug], "slug": slug} for slug in TABLE_ORDER if slug in found.table_counts]
    may_undo = found.status == ImportBatch.Status.SUCCEEDED and may_roll_back_registry_batch(user, found)
    context = {
        "batch": found,
        "progress": import_progress(found),
        "running": found.status in (ImportBatch.Status.RECEIVED, ImportBatch.Status.RUNNING),
        "tables": tables,
        "rejected": page,
        "next_key": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
        "conflicts": conflicts.select_related("household")[:200],
        "open_conflicts": conflicts.filter(status=RegistryConflict.Status.OPEN).count(),
        "can_reveal": can_reveal_sensitive(user),
        "may_settle": can_edit_household_files(user),
        "shows_closed": "closed" in found.table_counts.get(MEMBERS, {}),
        "may_undo": may_undo,
        **(_undo_preview(request, found) if may_undo and request.GET.get("undo") == "1" else {}),
    }
    response = render(request, "exchange/registry/batch.html", context)
    response["Cache-Control"] = "no-store"
    return response


class RegistryRollbackForm(RollbackForm):
    """The department batches' undo form, worded for the household file."""

    confirm = forms.BooleanField(
        label=gettext_lazy("我确认撤销本批次：它新增的户、成员、收支和状态变更删除，它修改的内容恢复为导入前的值"),
        error_messages={"required": gettext_lazy("请勾选确认后再撤销。")},
    )


def _undo_preview(request: HttpRequest, found: ImportBatch) -> dict:
    """What undoing would do (a dry run), or why it cannot be undone."""
    try:
        preview = rollback_registry_batch(batch=found, by=request.user, reason="", dry_run=True)
    except ValidationError as exc:
        return {"undo_open": True, "undo_refused": exc.messages}
    return {"undo_open": True, "undo_preview": preview, "undo_form": RegistryRollbackForm()}


def _undone_message(result: RegistryRollbackResult) -> str:
    deleted = result.deleted
    message = _(
        "批次已撤销：删除了它新增的 %(households)s 户、%(members)s 名成员、%(incomes)s 条收支记录和 "
        "%(status)s 条状态变更；恢复了它修改的 %(restored)s 条记录（其中重新打开离开的成员 %(reopened)s 名）；"
        "关闭了 %(conflicts)s 处待处理冲突。"
    ) % {
        "households": deleted["households"], "members": deleted["members"], "incomes": deleted["incomes"],
        "status": deleted["status_changes"], "restored": result.restored_total, "reopened": result.reopened,
        "conflicts": result.conflicts_closed,
    }
    if result.unlinked_records:
        message += _("%(n)s 条部门记录与被删除成员的关联已解除，重新导入户档案后请刷新关联。") % {
            "n": result.unlinked_records
        }
    return message


@login_required
@require_POST
def rollback(request: HttpRequest, pk: int) -> HttpResponse:
    """Undo a registry batch: role first (others: 403), then region (outside: 404), then the service's rules,
    whose refusals (and a second undo of the same batch) come back as messages on the batch page."""
    if not can_upload_department_files(request.user):
        raise PermissionDenied(_("只有县级工作人员和系统管理员可以撤销户档案导入批次。"))
    found = _registry_batch(request, pk)
    form = RegistryRollbackForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect(reverse("exchange:registry_batch", args=[found.pk]) + "?undo=1#undo")
    try:
        result = rollback_registry_batch(batch=found, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as exc:
        for message in exc.messages:
            messages.error(request, message)
    else:
        messages.success(request, _undone_message(result))
    return redirect("exchange:registry_batch", pk=found.pk)


@login_required
def rejected_csv(request: HttpRequest, pk: int) -> HttpResponse:
    """Every rejected row with its reasons, as CSV for a spreadsheet program: masked as on the page, or whole
    (?full=1) for a role that may reveal sensitive values; either way the download is audited."""
    user = request.user
    found = _registry_batch(request, pk)
    reveal = request.GET.get("full") == "1" and can_reveal_sensitive(user)
    rows = RejectedRow.objects.filter(batch=found).order_by("id").values_list("row_number", "values", "reasons")
    columns: list[str] = []
    shown = []
    for row_number, values, reasons in rows.iterator(chunk_size=2000):
        values = _shown(values, reveal=reveal)
        columns.extend(c for c in values if c not in columns)
        shown.append((row_number, values, reasons))
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([_("行号"), *columns, _("拒收原因")])
    for row_number, values, reasons in shown:
        writer.writerow(
            [row_number, *(neutralise_formula(values.get(c, "")) for c in columns), "；".join(reasons)]
        )
    record_event(
        actor=user, action="export", entity=RejectedRow._meta.label_lower, object_pk=found.pk,
        object_repr=_("户档案批次 #%(pk)s 的拒收行") % {"pk": found.pk}, region_code=found.region_code,
        changes={"rows": len(shown), "masked": not reveal},
    )
    response = HttpResponse(("\ufeff" + out.getvalue()).encode("utf-8"), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="registry-batch-{found.pk}-rejected.csv"'
    response["Cache-Control"] = "no-store"
    return response


@login_required
def conflicts(request: HttpRequest) -> HttpResponse:
    """The conflicts of the user's region (a township official sees their township's), open ones first."""
    user = request.user
    queryset = scope_for_user(RegistryConflict.objects.all(), user).select_related("household", "settled_by")
    show_all = request.GET.get("all") == "1"
    if not show_all:
        queryset = queryset.filter(status=RegistryConflict.Status.OPEN)
    after = int_or_none(request.GET.get("after"))
    if after:
        queryset = queryset.filter(pk__gt=after)
    rows = list(queryset.order_by("pk")[: PAGE_SIZE + 1])
    context = {
        "conflicts": rows[:PAGE_SIZE],
        "next_key": rows[PAGE_SIZE - 1].pk if len(rows) > PAGE_SIZE else None,
        "show_all": show_all,
        "may_settle": can_edit_household_files(user),
    }
    response = render(request, "exchange/registry/conflicts.html", context)
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def settle(request: HttpRequest, pk: int) -> HttpResponse:
    """Keep the household file's value (keep) or take the export's (take) for one conflict."""
    conflict = get_for_user_or_404(RegistryConflict.objects.all(), request.user, pk=pk)
    try:
        settle_conflict(by=request.user, conflict=conflict, take_export=request.POST.get("choice") == "take")
    except ValidationError as exc:
        messages.error(request, "；".join(exc.messages))
    else:
        messages.success(request, _("已处理：%(field)s。") % {"field": conflict.field})
    return redirect(reverse("exchange:registry_conflicts"))
