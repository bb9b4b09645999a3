"""Department data pages: upload, batches with progress and rejected rows, linkage review, data quality.

Views parse input, find objects through the region scope (outside it: 404), check the role for writes
(403), call a service, and render or redirect with a message.
"""

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Count
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_POST

from exchange import exports, linkage, quality, quality_html, selectors
from exchange.declarations import get_department
from exchange.forms import (
    CancelReviewForm,
    DismissForm,
    QualityForm,
    RollbackForm,
    SizeLimitHandler,
    UploadForm,
    too_large_message,
)
from exchange.linkage_tasks import enqueue_candidate_search
from exchange.models import ImportBatch, ImportSettings, LinkCandidate
from exchange.pipeline import (
    FileRefused,
    cancel_review,
    confirm_review,
    enqueue_import,
    may_decide_batch,
    read_progress,
    receive_department_file,
)
from exchange.readers import match_header, peek_header
from exchange.registry.tables import REGISTRY as REGISTRY_DEPARTMENT
from exchange.rollback import later_standing_batches, rollback_batch
from povertycloud.accounts.permissions import (
    can_decide_links,
    can_reveal_sensitive,
    can_upload_department_files,
)
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import (
    get_for_user_or_404,
    scope_for_user,
    sees_everything,
)

STAGES = {
    "received": gettext_lazy("排队等待导入"),
    "validating": gettext_lazy("正在读取和校验"),
    "merging": gettext_lazy("正在写入记录"),
    "succeeded": gettext_lazy("导入完成"),
    "failed": gettext_lazy("导入失败"),
    "review": gettext_lazy("待确认：将终止的记录超过允许的比例"),
    "cancelled": gettext_lazy("已取消"),
    "rolled_back": gettext_lazy("已撤销"),
}
# Finished batches whose bar is full: every row was read (and written, or waits for confirmation).
PROGRESS_FULL = (ImportBatch.Status.SUCCEEDED, ImportBatch.Status.REVIEW, ImportBatch.Status.ROLLED_BACK)
FINISHED = (
    ImportBatch.Status.SUCCEEDED, ImportBatch.Status.FAILED, ImportBatch.Status.REVIEW,
    ImportBatch.Status.CANCELLED, ImportBatch.Status.ROLLED_BACK,
)


def int_or_none(value: Any) -> int | None:
    """A query parameter as an integer, or None when it is missing or not a number (pages and keys)."""
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# --- Upload ----------------------------------------------------------------------------------------------


def uploads_dir(department: str) -> Path:
    directory = Path(settings.VAR_DIR) / "uploads" / department
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def store_upload(upload, department: str) -> Path:
    """The upload under VAR_DIR/uploads/<department>/, named by its SHA-256 (the same file is kept once)."""
    directory = uploads_dir(department)
    digest = hashlib.sha256()
    handle, partial = tempfile.mkstemp(dir=directory, suffix=".partial")
    try:
        with os.fdopen(handle, "wb") as out:
            for block in upload.chunks():
                digest.update(block)
                out.write(block)
        final = directory / f"{digest.hexdigest()}{Path(upload.name).suffix.lower()}"
        os.replace(partial, final)
    except BaseException:
        Path(partial).unlink(missing_ok=True)
        raise
    return final


def _discard(path: Path) -> None:
    """Remove a stored upload unless a batch still points at it."""
    if not ImportBatch.objects.filter(stored_file=str(path.resolve())).exists():
        path.unlink(missing_ok=True)


@csrf_exempt
@login_required
def upload(request: HttpRequest) -> HttpResponse:
    # The size limit must be in place before anything reads the body (the CSRF check does), hence the
    # csrf_exempt wrapper around a csrf_protect view, as Django's upload handler documentation describes.
    if request.method == "POST" and not can_upload_department_files(request.user):
        raise PermissionDenied(_("只有县级工作人员和系统管理员可以上传部门数据。"))
    request.upload_handlers.insert(0, SizeLimitHandler(request))
    return _upload(request)


@csrf_protect
def _upload(request: HttpRequest) -> HttpResponse:
    user = request.user
    may_upload = can_upload_department_files(user)
    form = UploadForm(request.POST or None, request.FILES or None, user=user)
    if request.method == "POST":
        if getattr(request, "upload_too_large", False):
            form = UploadForm(request.POST, user=user)
            form.is_valid()
            form.errors.pop("file", None)
            form.add_error("file", too_large_message())
        elif form.is_valid():
            batch = _receive(request, form)
            if batch is not None:
                return redirect("exchange:batch", pk=batch.pk)
    return render(
        request,
        "exchange/upload.html",
        {"form": form, "may_upload": may_upload, "departments": selectors.departments()},
    )


def _receive(request: HttpRequest, form: UploadForm) -> ImportBatch | None:
    data = form.cleaned_data
    upload_file, department = data["file"], data["department"]
    path = store_upload(upload_file, department)
    try:
        try:
            # A bounded read: the first megabyte of a CSV, the first rows of an Excel sheet (whose declared
            # size is checked first). The whole file is read by the background import, never here.
            peek = peek_header(
                path, encoding=data["encoding"] or None, max_xlsx_rows=ImportSettings.current().max_xlsx_rows
            )
            if peek.headers is not None:
                match_header(get_department(department), peek.headers)
        except FileRefused:
            raise
        except Exception as exc:
            raise FileRefused(_("无法读取文件：请确认是有效的 CSV 或 Excel（.xlsx）文件。")) from exc
        with transaction.atomic():
            batch = receive_department_file(
                department=department, path=path, by=request.user, region_code=data["region"],
                encoding=data["encoding"] or None, file_name=upload_file.name, period=data.get("period") or None,
            )
            if not batch.already_imported:
                enqueue_import(batch=batch)
                enqueue_candidate_search(batch=batch)
    except FileRefused as exc:
        _discard(path)
        form.add_error("file", str(exc))
        return None
    except Exception:
        _discard(path)
        raise
    if batch.already_imported and batch.status == ImportBatch.Status.REVIEW:
        if Path(batch.stored_file) != path.resolve():
            _discard(path)
        messages.info(request, _("这个文件已上传（批次 #%(pk)s），正等待确认，没有重复导入。") % {"pk": batch.pk})
    elif batch.already_imported:
        if Path(batch.stored_file) != path.resolve():
            _discard(path)
        messages.info(
            request,
            _("这个文件已于 %(when)s 导入（批次 #%(pk)s），没有重复导入。")
            % {"when": timezone.localtime(batch.finished_at or batch.uploaded_at).strftime("%Y-%m-%d %H:%M"),
               "pk": batch.pk},
        )
    else:
        messages.success(request, _("文件已接收，正在后台导入。本页会显示进度。"))
    return batch


# --- Batches ---------------------------------------------------------------------------------------------


@login_required
def batch_list(request: HttpRequest) -> HttpResponse:
    page = selectors.batch_page(selectors.batches_for(request.user), before=int_or_none(request.GET.get("before")))
    names: dict[str, str] = {}
    for batch in page.rows:
        if batch.department not in names:
            names[batch.department] = _department_name(batch.department)
        batch.department_name = names[batch.department]
    context = {"page": page, "may_upload": can_upload_department_files(request.user)}
    return render(request, "exchange/batch_list.html", context)


def _department_name(slug: str) -> str:
    """A batch's department as the list names it: a deactivated declared department by its declared name."""
    if slug == REGISTRY_DEPARTMENT:
        return selectors.department_name(slug)
    try:
        return str(exports.batch_department(slug).name)
    except LookupError:
        return slug


def import_progress(batch: ImportBatch) -> dict[str, Any]:
    """A batch's one progress record (stage, done, total), from which its page draws the status text, the bar
    and the row counts, and which the progress poll returns (department and registry batches alike).

    A finished batch is what the database says (its counts are final); a queued one is queued whatever an
    earlier run left in the cache; a running one shows the stage the import last published: reading and
    checking rows (done of an estimated total, never 100% before the end), then writing, which has no row
    count (the bar is indeterminate, percent None, rather than full while the records are still being written).
    """
    status = batch.status
    finished = status in FINISHED
    if finished:
        stage = status
        done = total = batch.total_rows
        percent: int | None = 100 if status in PROGRESS_FULL else 0
    elif status == ImportBatch.Status.RECEIVED:
        stage, done, total, percent = "received", 0, 0, 0
    else:
        cached = read_progress(batch.pk) or {}
        stage = cached.get("stage") if cached.get("stage") in ("validating", "merging") else "validating"
        done = int(cached.get("done") or 0) if cached.get("stage") == stage else 0
        total = max(int(cached.get("total") or 0), done) if cached.get("stage") == stage else 0
        percent = min(100 * done // total, 99) if stage == "validating" and total else None
    stage_name = str(batch.get_status_display() if finished else STAGES.get(stage, batch.get_status_display()))
    if finished:
        label = stage_name
    elif stage == "validating" and total:
        label = _("%(stage)s：%(done)s / %(total)s 行") % {"stage": stage_name, "done": done, "total": total}
    elif stage == "merging" and done:
        label = _("%(stage)s：已校验 %(done)s 行") % {"stage": stage_name, "done": done}
    else:
        label = stage_name
    if finished:
        counts_label = _("接收 %(accepted)s + 拒收 %(rejected)s = 总计 %(total)s") % {
            "accepted": batch.accepted_rows, "rejected": batch.rejected_rows, "total": batch.total_rows,
        }
    elif stage == "validating" and total:
        counts_label = _("已读取 %(done)s / %(total)s 行；接收和拒收的行数在导入完成后列出。") % {
            "done": done, "total": total,
        }
    elif stage == "merging" and done:
        counts_label = _("已读取并校验 %(done)s 行；接收和拒收的行数在导入完成后列出。") % {"done": done}
    else:
        counts_label = _("接收和拒收的行数在导入完成后列出。")
    return {
        "status": status,
        "status_label": stage_name,
        "counts_label": counts_label,
        "stage": stage,
        "done": done,
        "total": total,
        "percent": percent,
        "label": label,
        "finished": finished,
        "running": not finished,
    }


@login_required
def batch_detail(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    batch = get_for_user_or_404(ImportBatch.objects.select_related("uploaded_by", "api_client"), user, pk=pk)
    if batch.department == REGISTRY_DEPARTMENT:
        return redirect("exchange:registry_batch", pk=batch.pk)
    department = exports.batch_department(batch.department)
    rejected = selectors.rejected_page(batch, user, after=int_or_none(request.GET.get("after")))
    rejected.rows = selectors.rejected_shown(department, rejected.rows)
    hidden = exports.hidden_headers(department, user)
    if hidden:
        for shown in rejected.rows:
            shown.values = exports.hide_health(shown.values, hidden)
    decisions = dict(
        scope_for_user(LinkCandidate.objects.filter(batch=batch), user)
        .values_list("status")
        .annotate(n=Count("pk"))
        .order_by()
    )
    may_decide = may_decide_batch(user, batch)
    review = None
    if batch.status == ImportBatch.Status.REVIEW:
        review = {
            "page": selectors.would_close_page(batch, user, offset=int_or_none(request.GET.get("sample")) or 0),
            "percent": round(100 * batch.would_close / batch.region_current, 1) if batch.region_current else 100,
            "cancel_form": CancelReviewForm(),
        }
    later = (
        later_standing_batches(batch) if may_decide and batch.status == ImportBatch.Status.SUCCEEDED else []
    )
    return render(
        request,
        "exchange/batch_detail.html",
        {
            "may_decide": may_decide,
            "review": review,
            "rollback_form": RollbackForm(),
            "later_batches": later,
            "batch": batch,
            "department": department,
            "progress": import_progress(batch),
            "running": batch.status in (ImportBatch.Status.RECEIVED, ImportBatch.Status.RUNNING),
            "sums_ok": batch.accepted_rows + batch.rejected_rows == batch.total_rows,
            "rejected": rejected,
            "candidates": {status: decisions.get(status, 0) for status in LinkCandidate.Status.values},
            "can_reveal": can_reveal_sensitive(user),
        },
    )


def department_batches():
    """Department batches: the pages and actions here are not for registry imports, which have their own
    (exchange.registry.views); a registry batch's id on these answers 404."""
    return ImportBatch.objects.exclude(department=REGISTRY_DEPARTMENT)


def _decidable_batch(request: HttpRequest, pk: int) -> ImportBatch:
    """Role first (may not decide: 403), then region (outside: 404)."""
    if not can_upload_department_files(request.user):
        raise PermissionDenied(_("只有县级工作人员和系统管理员可以处理导入批次。"))
    return get_for_user_or_404(department_batches(), request.user, pk=pk)


def _messages_of(request: HttpRequest, error: ValidationError) -> None:
    for message in error.messages:
        messages.error(request, message)


@login_required
@require_POST
def batch_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _decidable_batch(request, pk)
    try:
        confirm_review(batch=batch, by=request.user)
    except ValidationError as error:
        _messages_of(request, error)
    else:
        messages.success(request, _("已确认，正在后台重新导入；本页会显示进度。"))
    return redirect("exchange:batch", pk=batch.pk)


@login_required
@require_POST
def batch_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _decidable_batch(request, pk)
    form = CancelReviewForm(request.POST)
    form.is_valid()
    try:
        cancel_review(batch=batch, by=request.user, reason=form.cleaned_data.get("reason", ""))
    except ValidationError as error:
        _messages_of(request, error)
    else:
        messages.success(request, _("已取消这个文件的导入，没有写入任何记录。"))
    return redirect("exchange:batch", pk=batch.pk)


@login_required
@require_POST
def batch_rollback(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _decidable_batch(request, pk)
    form = RollbackForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("exchange:batch", pk=batch.pk)
    try:
        result = rollback_batch(batch=batch, by=request.user, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        _messages_of(request, error)
    else:
        messages.success(
            request,
            _("批次已撤销：作废了它写入的 %(voided)s 条记录，恢复了它终止的 %(reopened)s 条记录。")
            % {"voided": result.voided, "reopened": result.reopened},
        )
    return redirect("exchange:batch", pk=batch.pk)


@login_required
def batch_progress(request: HttpRequest, pk: int) -> JsonResponse:
    batch = get_for_user_or_404(ImportBatch.objects.all(), request.user, pk=pk)
    response = JsonResponse(import_progress(batch))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_POST
def rejected_download(request: HttpRequest, pk: int) -> HttpResponse:
    user = request.user
    batch = get_for_user_or_404(department_batches(), user, pk=pk)
    content = exports.rejected_workbook(user=user, batch=batch, full_ids=request.POST.get("full_ids") == "1")
    response = HttpResponse(
        content, content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    response["Content-Disposition"] = f'attachment; filename="batch-{batch.pk}-rejected.xlsx"'
    response["Cache-Control"] = "no-store"
    return response


# --- Linkage review --------------------------------------------------------------------------------------


@login_required
def linkage_review(request: HttpRequest) -> HttpResponse:
    user = request.user
    departments = selectors.departments()
    department = selectors.get_department_or_none(request.GET.get("department")) or departments[0]
    batch = None
    if request.GET.get("batch"):
        batch = get_for_user_or_404(department_batches(), user, pk=int_or_none(request.GET["batch"]) or 0)
        department = exports.batch_department(batch.department)
    page = selectors.review_page(department, user, batch=batch, after=int_or_none(request.GET.get("after")))
    query = request.GET.copy()
    query.pop("after", None)
    return render(
        request,
        "exchange/linkage.html",
        {
            "departments": departments,
            "department": department,
            "batch": batch,
            "page": page,
            "query": query.urlencode(),
            "can_decide": can_decide_links(user),
            "can_refresh": can_upload_department_files(user),
            "dismiss_form": DismissForm(),
            "back": request.get_full_path(),
        },
    )


def _back(request: HttpRequest) -> str:
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(target, {request.get_host()}, request.is_secure()):
        return target
    return reverse("exchange:linkage")


def _decidable(request: HttpRequest, pk: int) -> LinkCandidate:
    """Role first (may not decide: 403), then region (outside: 404)."""
    if not can_decide_links(request.user):
        raise PermissionDenied(_("您的角色不能确认或排除关联候选。"))
    return selectors.candidate_for(request.user, pk)


@login_required
@require_POST
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = _decidable(request, pk)
    try:
        linked = linkage.confirm_link(by=request.user, candidate=candidate)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("已确认关联，%(n)s 条记录已关联到该人员。") % {"n": linked})
    return redirect(_back(request))


@login_required
@require_POST
def dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = _decidable(request, pk)
    form = DismissForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect(_back(request))
    try:
        linkage.dismiss_link(by=request.user, candidate=candidate, reason=form.cleaned_data["reason"])
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("已排除该候选。"))
    return redirect(_back(request))


@login_required
@require_POST
def linkage_refresh(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not can_upload_department_files(user):
        raise PermissionDenied(_("只有县级工作人员和系统管理员可以重新查找候选。"))
    if sees_everything(user):
        regions = sorted(set(ImportBatch.objects.values_list("region_code", flat=True)))
    else:
        regions = [user.region_id]
    for region_code in regions:
        enqueue_candidate_search(region_code=region_code)
    messages.success(request, _("已开始重新查找关联候选，稍后刷新本页查看。"))
    return redirect(_back(request))


# --- Data quality ----------------------------------------------------------------------------------------


@login_required
@require_GET
def quality_issues(request: HttpRequest) -> HttpResponse:
    user = request.user
    townships = list(
        scope_for_user(Region.objects.filter(level=Region.Level.TOWNSHIP), user).order_by("code")
    )
    names = {t.code: t.name for t in townships}
    form = QualityForm(request.GET or None, townships=[(t.code, t.name) for t in townships])
    chosen = None
    if request.GET.get("township"):
        chosen = get_for_user_or_404(
            Region.objects.filter(level=Region.Level.TOWNSHIP), user, code=request.GET["township"]
        )
    elif len(townships) == 1:
        chosen = townships[0]
    area = _quality_area(user, chosen, townships)
    context: dict[str, Any] = {"form": form, "chosen": chosen, "names": names, "area": area}
    if area is not None:
        # The counts and a township's items are read as the background job stored them
        # (exchange.quality.refresh_counts): never a scan of the county or the township in the request.
        # Missing or outdated ones are queued and the page says so.
        on = (form.on() if form.is_bound else None) or quality.month_start(timezone.localdate())
        ctx = quality.build_context(user=user, region=area, on=on)
        rules = quality.applicable_rules(ctx)
        stored = quality.stored_counts(area, on, user=user)
        counts = stored.counts
        # One rule's items (?rule=) up to ITEM_LIMIT, or the first PAGE_ITEMS of every rule.
        one_rule = next((rule for rule in rules if rule.code == request.GET.get("rule")), None)
        items = None
        if chosen is not None:
            items = quality.stored_items(
                ctx, chosen, stored, rules=[one_rule] if one_rule else None,
                limit=None if one_rule else quality.PAGE_ITEMS,
            )
        labels = {"label_person": _("人员"), "label_household": _("户"), "label_record": _("部门记录"),
                  "label_batch": _("来源批次")}
        batch_refs: dict[int | None, str] = {}
        rows = {
            code: [quality_html.quality_row(item, user, labels, batch_refs) for item in found]
            for code, found in (items or {}).items()
        }
        context.update(
            on=ctx.on,
            rules=rules,
            computed_at=stored.computed_at,
            stale=stored.stale,
            missing=stored.missing,
            skipped=[rule for rule in quality.RULES.values() if rule not in rules],
            summary=[
                (code, names[code], [(rule.label, counts[code].get(rule.code, 0)) for rule in rules],
                 sum(counts[code].get(rule.code, 0) for rule in rules))
                for code in sorted(counts)
                if code in names
            ],
            items=[
                (quality.RULES[code], found, counts.get(chosen.code, {}).get(code, 0)) for code, found in rows.items()
            ],
            items_missing=chosen is not None and items is None,
            one_rule=one_rule,
            limit=quality.ITEM_LIMIT,
        )
    return render(request, "exchange/quality.html", context)


def _quality_area(user: Any, chosen: Region | None, townships: list[Region]) -> Region | None:
    """The region whose counts are shown: the user's own, or (administrators) the chosen township's county."""
    if not sees_everything(user):
        return getattr(user, "region", None)
    source = chosen or (townships[0] if townships else None)
    if source is None:
        return None
    return Region.objects.filter(code=source.code[:6].ljust(12, "0")).first() or source
