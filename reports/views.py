"""Report pages: the dashboard of the main indicators, performance reports (asked for here, generated in the
background, downloaded later) and the auditors' exports.

Reports and exports are reads: auditors may use every page here. Reports and regions outside the user's
region answer 404; a period or region that cannot be reported on is refused with a message on the form.
"""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import transaction
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import can_reveal_sensitive, role_of
from povertycloud.audit.services import record_event
from povertycloud.downloads.services import request_download
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import get_for_user_or_404, scope_for_user
from reports import charts, dashboards, exports, services
from reports.files import table_label
from reports.forms import ExportForm, PeriodForm, default_period, region_choices, threshold_period
from reports.models import Report

EXPORT_ROLES = {Role.AUDITOR, Role.COUNTY_STAFF, Role.ADMIN}
RECENT_REPORTS = 50
CONTENT_TYPES = {
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".pdf": "application/pdf",
    ".csv": "text/csv; charset=utf-8",
    ".json": "application/json",
}


def _checked(form: PeriodForm) -> Region | None:
    """The region of a form whose region and period may be reported on (errors are on the form)."""
    return form.region if form.is_valid() else None


# --- Dashboard ---------------------------------------------------------------------------------------


def _percent(value: float | None) -> float:
    return round(100 * value, 1) if value is not None else 0.0


# The page reloads itself while a region's first snapshot is computed: about as often as the last refresh
# of a region of its level took, never more often than every RELOAD_MIN seconds (each reload is a read of
# one row).
RELOAD_MIN, RELOAD_MAX, RELOAD_DEFAULT = 5, 60, 10


def _charts(content: dict[str, Any]) -> dict[str, Any]:
    """What the template draws from a stored snapshot's content (reports.dashboards.content_of)."""
    numbers = content.get("numbers", {})
    townships, months = content.get("townships", {}), content.get("months", {})
    names = townships.get("names", [])
    labels = months.get("labels", [])

    def series(table: dict[str, Any], key: str) -> list[float]:
        return [0.0 if value is None else value for value in table.get(key, [])]

    return {
        "numbers": numbers,
        "township_monitored": charts.bar_chart(names, series(townships, "monitored"), unit="户"),
        "township_amount": charts.bar_chart(names, series(townships, "amount"), unit="元"),
        "township_p0": charts.bar_chart(names, [_percent(v) for v in townships.get("p0", [])], unit="%"),
        "monthly_flows": charts.column_chart(
            labels,
            {_("新识别"): series(months, "identified"), _("风险消除"): series(months, "eliminated")},
        ),
        "monthly_amount": charts.column_chart(labels, {_("帮扶资金（元）"): series(months, "amount")}),
        "percents": {
            key: _percent(numbers.get(key))
            for key in (
                "with_measure_share",
                "decision_within_limit_share",
                "fgt_p0",
                "exclusion_error",
                "inclusion_error",
                "return_rate",
                "with_labour_and_development_share",
            )
        },
    }


@login_required
@require_GET
def dashboard(request: HttpRequest) -> HttpResponse:
    """Reads the region's stored snapshot and draws it; computes nothing (reports.dashboards). A region and
    period without a snapshot yet, or with a stale one, is queued and the page says so."""
    user = request.user
    bound = any(name in request.GET for name in ("region", "start", "end"))
    if bound and request.GET.get("region"):
        # A link to a region outside the user's own answers 404, like any other object outside it.
        get_for_user_or_404(Region.objects.all(), user, code=request.GET["region"])
    if bound:
        form = PeriodForm(request.GET, user=user)
        region = _checked(form)
        start, end = (form.cleaned_data["start"], form.cleaned_data["end"]) if region else (None, None)
    else:
        # Opens on the user's region and the latest period that has a monitoring threshold there.
        choices = region_choices(user)
        region = Region.objects.filter(code=choices[0][0]).first() if choices else None
        start, end = threshold_period(region.code) if region is not None else default_period()
        form = PeriodForm(None, user=user, initial={"start": start, "end": end})
    context: dict[str, Any] = {"form": form}
    if region is not None:
        snapshot = dashboards.open_snapshot(region=region, start=start, end=end)
        content = snapshot.content or {}
        ready = bool(content) and content.get("region_code") == region.code
        context.update(
            region=region,
            start=start,
            end=end,
            snapshot=snapshot,
            ready=ready,
            refreshing=dashboards.is_refreshing(snapshot),
            failed=snapshot.status == snapshot.Status.FAILED,
            report={"region_name": content.get("region_name") or region.name, "year": content.get("year")},
            data_hash=snapshot.data_hash,
            computed_at=snapshot.computed_at,
        )
        if ready:
            context.update(_charts(content))
        else:
            expected = dashboards.expected_seconds(region) or RELOAD_DEFAULT
            context["reload_seconds"] = int(min(RELOAD_MAX, max(RELOAD_MIN, expected)))
    return render(request, "reports/dashboard.html", context)


# --- Performance reports -----------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def report_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    # A report also takes a province or a prefecture (computed one county a task); the dashboard and exports do not.
    form = PeriodForm(request.POST or None, user=user, levels=services.REPORT_LEVELS)
    if request.method == "POST":
        region = _checked(form)
        if region is not None:
            data = form.cleaned_data
            with transaction.atomic():
                report = services.request_report(by=user, region_code=region.code, start=data["start"], end=data["end"])
            return redirect("reports:detail", pk=report.pk)
    reports = scope_for_user(Report.objects.select_related("region", "requested_by"), user)[:RECENT_REPORTS]
    return render(request, "reports/list.html", {"form": form, "reports": reports})


def _progress(report: Report) -> dict[str, Any]:
    # The stage is stored as its Chinese source string (reports.services) and translated here, when shown.
    label = services.stage_label(report.stage) if report.stage else str(report.get_status_display())
    if not report.finished:
        label = _("%(stage)s（%(percent)s%%）") % {"stage": label, "percent": report.progress}
    return {
        "status": report.status,
        "percent": report.progress,
        "label": label,
        "finished": report.finished,
    }


def _report(request: HttpRequest, pk: int) -> Report:
    return get_for_user_or_404(Report.objects.select_related("region", "requested_by"), request.user, pk=pk)


@login_required
@require_GET
def report_detail(request: HttpRequest, pk: int) -> HttpResponse:
    report = _report(request, pk)
    manifest = report.manifest or {}
    files = sorted(manifest.get("files", {}).items(), key=lambda item: (not item[0].startswith("performance"), item[0]))
    return render(
        request,
        "reports/detail.html",
        {
            "report": report,
            "progress": _progress(report),
            "files": files,
            "manifest": manifest,
            "row_counts": [(table_label(name), n) for name, n in sorted(manifest.get("row_counts", {}).items())],
        },
    )


@login_required
@require_GET
def report_progress(request: HttpRequest, pk: int) -> JsonResponse:
    response = JsonResponse(_progress(_report(request, pk)))
    response["Cache-Control"] = "no-store"
    return response


@login_required
@require_GET
def report_file(request: HttpRequest, pk: int, name: str) -> FileResponse:
    report = _report(request, pk)
    path = services.stored_file(report, name)
    if path is None:
        raise Http404
    record_event(
        actor=request.user,
        action="export",
        entity=Report._meta.label_lower,
        object_pk=report.pk,
        object_repr=_("成效考核报告 #%(pk)s %(name)s") % {"pk": report.pk, "name": name},
        region_code=report.region_id,
        changes={"file": name, "sha256": report.manifest["files"][name]["sha256"], "data_sha256": report.data_hash},
        note=_("下载成效考核报告 #%(pk)s 的 %(name)s") % {"pk": report.pk, "name": name},
    )
    response = FileResponse(
        path.open("rb"),
        as_attachment=True,
        filename=f"report-{report.pk}-{name}",
        content_type=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    )
    response["Cache-Control"] = "no-store"
    return response


# --- Auditors' exports -------------------------------------------------------------------------------


def _require_exporter(user: Any) -> None:
    if role_of(user) not in EXPORT_ROLES:
        raise PermissionDenied(_("只有审计人员、县级工作人员和系统管理员可以导出审计资料。"))


@login_required
@require_http_methods(["GET", "POST"])
def export_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    _require_exporter(user)
    form = ExportForm(request.POST or None, user=user)
    if request.method == "POST":
        region = _checked(form)
        if region is not None:
            data = form.cleaned_data
            with transaction.atomic():
                request_download(
                    by=user,
                    kind=exports.DOWNLOAD_KIND,
                    region_code=region.code,
                    parameters={
                        "kind": data["kind"],
                        "region": region.code,
                        "start": data["start"].isoformat(),
                        "end": data["end"].isoformat(),
                        "include_sensitive": bool(data["include_sensitive"] and can_reveal_sensitive(user)),
                        **form.format_parameters(),
                    },
                )
            messages.success(request, _("导出已在后台生成，完成后可在“我的下载”中下载。"))
            return redirect("downloads:list")
    return render(
        request,
        "reports/exports.html",
        {"form": form, "kinds": list(exports.KINDS.values()), "can_reveal": can_reveal_sensitive(user)},
    )
