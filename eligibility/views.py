"""Cross-check pages (比对): the counts per township and check with the latest run and the run button, the hits
with their evidence, and a hit's verification by an official.

Views parse input, find objects through the region scope (outside it: 404), check the role for writes (403),
call eligibility.services, and render or redirect with a message. A hit someone else decided first ends in a
message, never an error page."""

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from eligibility import selectors, services, tasks
from eligibility.forms import ConfirmForm, DismissForm, HitFilterForm, RunForm
from eligibility.models import CrossCheckHit
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.paging import query_without_keys
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.scoping import region_prefix_of, sees_everything


def can_run_checks(user: Any) -> bool:
    return role_of(user) in {Role.COUNTY_STAFF, Role.ADMIN}


def can_verify_hits(user: Any) -> bool:
    """The roles that verify hits (the service also checks the hit is in the user's township or county)."""
    return role_of(user) in {Role.TOWNSHIP_OFFICIAL, Role.COUNTY_STAFF, Role.ADMIN}


def townships_of(user: Any) -> list[Region]:
    townships = Region.objects.filter(level=Region.Level.TOWNSHIP).order_by("code")
    if sees_everything(user):
        return list(townships)
    prefix = region_prefix_of(user)
    if prefix is None:
        return []
    region = user.region
    if region.level > Region.Level.TOWNSHIP:
        return list(townships.filter(code=region.code[: PREFIX_LENGTH[Region.Level.TOWNSHIP]].ljust(12, "0")))
    return list(townships.filter(code__startswith=prefix))


def _sees_whole_county(user: Any) -> bool:
    region = getattr(user, "region", None)
    return sees_everything(user) or (region is not None and region.level <= Region.Level.COUNTY)


# --- The overview -----------------------------------------------------------------------------------------


@login_required
@require_GET
def overview(request: HttpRequest) -> HttpResponse:
    user = request.user
    checks = selectors.checks()
    rows = selectors.summary_table(user, checks)
    run = selectors.latest_run(user)
    can_run = can_run_checks(user)
    return render(
        request,
        "eligibility/overview.html",
        {
            "checks": [(check, selectors.check_name(check)) for check in checks],
            "rows": rows,
            "run": run,
            "run_hits_shown": run is not None and _sees_whole_county(user),
            "hits_in_region": sum(cell.counts.total for row in rows for cell in row.cells),
            "state": run_state(run),
            "run_by": selectors.user_name(run.started_by) if run is not None else "",
            "can_run": can_run,
            "run_form": _run_form(user) if can_run else None,
        },
    )


def _run_form(user: Any, data: Any = None) -> RunForm:
    counties = None
    if selectors.county_of(user) is None:
        counties = [(county.code, county.name) for county in selectors.counties()]
    return RunForm(data, counties=counties)


def run_state(run: Any) -> dict[str, Any] | None:
    """The latest run's state for the page: finished (from the database), else what its task last published
    (queued, running with done of total checks, failed with the error). A run without finished_at whose
    progress is gone from the cache is shown as running: the page cannot tell more."""
    if run is None:
        return None
    if run.finished_at is not None:
        return {"stage": "finished"}
    progress = services.read_progress(run.pk) or {}
    stage = progress.get("stage") or "running"
    if stage == "succeeded":  # published before finished_at was read: it is about to be finished
        stage = "running"
    total = progress.get("total") or 0
    done = progress.get("done") or 0
    return {
        "stage": stage,
        "done": done,
        "total": total,
        "percent": round(100 * done / total) if total else None,
        "error": progress.get("error", ""),
    }


@login_required
@require_POST
def run_checks(request: HttpRequest) -> HttpResponse:
    user = request.user
    if not can_run_checks(user):
        raise PermissionDenied(_("只有县级工作人员和系统管理员可以运行比对。"))
    form = _run_form(user, request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("eligibility:overview")
    county_code = selectors.county_of(user) or form.cleaned_data["county"]
    as_of = form.cleaned_data["as_of"]
    try:
        tasks.enqueue_cross_checks(county_code=county_code, as_of=as_of, by=user)
    except ValueError as error:  # not a county (eligibility.services.county_of)
        messages.error(request, str(error))
        return redirect("eligibility:overview")
    messages.success(
        request, _("比对已加入后台队列（比对日期 %(as_of)s），完成后刷新本页可见结果。") % {"as_of": as_of.isoformat()}
    )
    return redirect("eligibility:overview")


# --- The hits ---------------------------------------------------------------------------------------------


@login_required
@require_GET
def hit_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    checks = selectors.checks()
    townships = townships_of(user)
    form = HitFilterForm(
        request.GET or None, checks=checks, townships=[(t.code, t.name) for t in townships]
    )
    filters = form.filters() if request.GET else {}
    hits = selectors.hits_for(
        user, check=filters.get("check"), township=filters.get("township"), status=filters.get("status")
    )
    page = selectors.hit_page(hits, after=request.GET.get("after"), before=request.GET.get("before"))
    return render(
        request,
        "eligibility/hit_list.html",
        {
            "form": form,
            "filtered": bool(filters),
            "page": page,
            "rows": selectors.hit_rows(page.rows, user),
            "query": query_without_keys(request.GET),
        },
    )


@login_required
@require_GET
def hit_detail(request: HttpRequest, pk: int) -> HttpResponse:
    hit = selectors.get_hit(request.user, pk)
    return _detail(request, hit)


def _detail(
    request: HttpRequest,
    hit: CrossCheckHit,
    *,
    confirm_form: ConfirmForm | None = None,
    dismiss_form: DismissForm | None = None,
    status: int = 200,
) -> HttpResponse:
    user = request.user
    may_verify = (
        hit.status == CrossCheckHit.Status.PENDING and can_verify_hits(user) and services.may_verify(user, hit)
    )
    return render(
        request,
        "eligibility/hit_detail.html",
        {
            "row": selectors.hit_rows([hit], user)[0],
            "hit": hit,
            "may_verify": may_verify,
            "decided_by": selectors.user_name(hit.decided_by),
            "confirm_form": confirm_form or ConfirmForm(),
            "dismiss_form": dismiss_form or DismissForm(),
        },
        status=status,
    )


def _verifiable(request: HttpRequest, pk: int) -> CrossCheckHit:
    """Role first (auditors and others: 403), then region (outside: 404), then the hit's own rule (403)."""
    if not can_verify_hits(request.user):
        raise PermissionDenied(_("您的角色不能核实比对疑点。"))
    hit = selectors.get_hit(request.user, pk)
    if not services.may_verify(request.user, hit):
        raise PermissionDenied(_("您不能核实这条比对疑点。"))
    return hit


def _already_decided(request: HttpRequest, hit: CrossCheckHit) -> HttpResponse:
    messages.warning(request, _("这条疑点已由他人核实，未作更改。"))
    return redirect("eligibility:hit", pk=hit.pk)


def _verify(request: HttpRequest, pk: int, form_class, form_name: str, decide) -> HttpResponse:
    """Confirm or dismiss: the form, the service, and a message whatever happened (a race is a message too)."""
    hit = _verifiable(request, pk)
    form = form_class(request.POST)
    if not form.is_valid():
        return _detail(request, hit, status=400, **{form_name: form})
    try:
        success = decide(hit, form.cleaned_data)
    except services.AlreadyDecided:
        return _already_decided(request, hit)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
        return redirect("eligibility:hit", pk=hit.pk)
    messages.success(request, success)
    return redirect("eligibility:hit", pk=hit.pk)


@login_required
@require_POST
def confirm(request: HttpRequest, pk: int) -> HttpResponse:
    def decide(hit: CrossCheckHit, data: dict) -> str:
        services.confirm_hit(hit=hit, by=request.user, note=data["note"])
        outcome = hit.cross_check.get_outcome_display()
        return _("已核实属实，转入后续处理：%(outcome)s。") % {"outcome": outcome}

    return _verify(request, pk, ConfirmForm, "confirm_form", decide)


@login_required
@require_POST
def dismiss(request: HttpRequest, pk: int) -> HttpResponse:
    def decide(hit: CrossCheckHit, data: dict) -> str:
        services.dismiss_hit(hit=hit, by=request.user, reason=data["reason"])
        return _("已排除这条疑点。")

    return _verify(request, pk, DismissForm, "dismiss_form", decide)
