"""Pages of the risk review: the risk list, case lists, the case page and its decisions, model evaluation.

Views parse input, find objects through the region scope (outside the region: 404), check the role for
writes (a role that may not act: 403; auditors never act), call a service, and redirect with a message.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from households.codes import labels_of
from households.models import Household
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import can_review_risks, is_auditor, role_of
from povertycloud.forms import add_service_errors
from povertycloud.paging import query_without_keys
from povertycloud.regions.scoping import get_for_user_or_404, sees_everything
from risk import case_selectors, jobs, list_html, list_selectors, model_selectors, services
from risk.forms import (
    AssignForm,
    CaseFilterForm,
    DecisionForm,
    ExcludeForm,
    OverrideForm,
    RiskFilterForm,
    TrainForm,
    VisitForm,
    suggested_risk_types,
)
from risk.models import Job, RiskCase, RiskModel


def _refuse_readers(request: HttpRequest) -> None:
    if is_auditor(request.user):
        raise PermissionDenied(_("审计人员只能查看，不能操作。"))


def _case_for(request: HttpRequest, pk: int) -> RiskCase:
    queryset = RiskCase.objects.select_related("household__village", "assigned_to", "decided_by", "score__run")
    return get_for_user_or_404(queryset, request.user, pk=pk)


# --- Lists -------------------------------------------------------------------------------------------


@login_required
def risk_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    run = list_selectors.latest_run_for(user)
    rules = list_selectors.rule_names()
    townships = list(list_selectors.townships_for(user))
    form = RiskFilterForm(request.GET or None, townships=townships, rules=rules)
    filters = form.filters()
    sort = list_selectors.sort_for(run, form.sort_key())
    descending = list_selectors.descending_for(sort, form.direction())
    page, matching = None, None
    if run is not None:
        scores = list_selectors.filter_scores(
            list_selectors.scores_for(user, run), filters, run=run, today=today, user=user
        )
        tags = list_selectors.tagged_rows(user, run, filters, today=today)
        page = list_selectors.risk_page(
            scores,
            tags=tags,
            part_of_run=list_selectors.reads_part_of_run(user, run, filters),
            sort=sort,
            descending=descending,
            ranking=list_selectors.default_sort(run),
            after=request.GET.get("after"),
            before=request.GET.get("before"),
            today=today,
            rules=rules,
        )
        matching = list_selectors.matching_count(tags if tags is not None else scores, page)
    return render(
        request,
        "risk/list.html",
        {
            "form": form,
            "run": run,
            "page": page,
            "query": query_without_keys(request.GET),
            "filtered": bool(filters),
            "summary": list_selectors.township_summary(user, today=today, townships=townships, run=run),
            "sort": sort,
            "default_sort": list_selectors.default_sort(run),
            "ordered": sort != list_selectors.default_sort(run)
            or descending != list_selectors.descending_for(sort, None),
            "sort_links": list_selectors.sort_links(request.GET, sort=sort, descending=descending),
            "matching": matching[0] if matching else 0,
            "more_than_cap": bool(matching and matching[1]),
            "count_cap": f"{list_selectors.COUNT_CAP:,}",
            "hide_monitored": bool(filters.get("hide_monitored")),
            "hide_monitored_toggle": list_selectors.hide_monitored_toggle(request.GET),
            "no_return_model": list_selectors.NO_RETURN_MODEL,
            "row_html": list_html.rows_html(
                page.rows if page else [],
                has_return_model=bool(run and run.return_model_id),
                no_return_model=list_selectors.NO_RETURN_MODEL,
            ),
            "can_refresh": can_review_risks(user) and not is_auditor(user),
            "refresh_job": _own_refresh_job(user),
        },
    )


def _own_refresh_job(user: Any) -> Job | None:
    """The newest refresh of the user's own region (all regions for an administrator)."""
    if not can_review_risks(user) or is_auditor(user):
        return None
    return jobs.latest_job(Job.Kind.REFRESH, region_code="" if sees_everything(user) else user.region_id)


@login_required
def case_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    today = timezone.localdate()
    form = CaseFilterForm(request.GET or None, user=user)
    filters = form.filters()
    cases = case_selectors.filter_cases(case_selectors.cases_for(user), filters, user=user, today=today)
    page = case_selectors.case_page(
        cases, after=request.GET.get("after"), before=request.GET.get("before"), today=today
    )
    return render(
        request,
        "risk/cases.html",
        {
            "form": form,
            "page": page,
            "query": query_without_keys(request.GET),
            "mine": bool(filters.get("mine")),
        },
    )


# --- The case page -----------------------------------------------------------------------------------


def _case_context(request: HttpRequest, case: RiskCase, **bound: forms.Form) -> dict[str, Any]:
    user = request.user
    household = Household.objects.select_related("village").get(pk=case.household_id)
    status = case.status
    may_review = can_review_risks(user) and not is_auditor(user)
    may_visit = services.can_record_visit(user, case)
    context: dict[str, Any] = {
        "case": case,
        "state": list_selectors.case_state(case, timezone.localdate()),
        "summary": case_selectors.household_summary(household, user),
        "scores": case_selectors.scores_of(case, user),
        "warnings": case_selectors.warnings_of(case, user),
        "events": case_selectors.events_of(case, user),
        "rule_labels": list_selectors.rule_labels(case.warning_rules),
        "due_days": services.DUE_DAYS,
        "monitoring_label": "",
        "decided_risk_labels": "",
    }
    if case.monitoring_type or case.risk_types:
        context["monitoring_label"] = labels_of("monitoring_type", case.monitoring_type)
        context["decided_risk_labels"] = labels_of("risk_type", case.risk_types)
    if may_review and status == RiskCase.Status.WARNED:
        context["assign_form"] = bound.get("assign_form") or AssignForm(case=case)
    if may_visit and status == RiskCase.Status.VERIFYING:
        context["visit_form"] = bound.get("visit_form") or VisitForm(case=case)
    if may_review and status == RiskCase.Status.VERIFYING:
        context["decision_form"] = bound.get("decision_form") or DecisionForm(
            case=case, household=household, suggested=suggested_risk_types(case)
        )
    if may_review and status in services.OPEN_STATUSES:
        context["exclude_form"] = bound.get("exclude_form") or ExcludeForm()
    return context


@login_required
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    case = _case_for(request, pk)
    return render(request, "risk/case.html", _case_context(request, case))


def _act(
    request: HttpRequest,
    case: RiskCase,
    form: forms.Form,
    form_name: str,
    action: Any,
    success: str,
) -> HttpResponse:
    """Run a service with the form's values; field errors go back on the form, refusals of the whole
    action (wrong state, already decided) become a message on the case page."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except ValidationError as error:
            if not hasattr(error, "error_dict"):
                for message in error.messages:
                    messages.error(request, message)
                return redirect("risk:case", pk=case.pk)
            add_service_errors(form, error)
        else:
            messages.success(request, success)
            return redirect("risk:case", pk=case.pk)
    return render(request, "risk/case.html", _case_context(request, case, **{form_name: form}))


def _reviewer_case(request: HttpRequest, pk: int) -> RiskCase:
    _refuse_readers(request)
    if not can_review_risks(request.user):
        raise PermissionDenied(_("只有县级工作人员可以作出核实决定。"))
    return _case_for(request, pk)


@login_required
@require_POST
def case_assign(request: HttpRequest, pk: int) -> HttpResponse:
    case = _reviewer_case(request, pk)
    form = AssignForm(request.POST, case=case)

    def action(data: dict[str, Any]) -> None:
        services.assign_for_verification(by=request.user, case=case, official=data["official"])

    return _act(request, case, form, "assign_form", action, _("已分派入户核实。"))


@login_required
@require_POST
def case_visit(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_readers(request)
    if role_of(request.user) not in {Role.TOWNSHIP_OFFICIAL, Role.ADMIN}:
        raise PermissionDenied(_("只有该户所在乡镇的乡镇干部可以录入入户核实情况。"))
    case = _case_for(request, pk)
    form = VisitForm(request.POST, case=case)

    def action(data: dict[str, Any]) -> None:
        services.record_home_visit(
            by=request.user,
            case=case,
            visit_date=data["visit_date"],
            notes=data["notes"],
            consent_signed=data["consent_signed"],
        )

    return _act(request, case, form, "visit_form", action, _("入户核实情况已保存。"))


@login_required
@require_POST
def case_decide(request: HttpRequest, pk: int) -> HttpResponse:
    case = _reviewer_case(request, pk)
    household = Household.objects.get(pk=case.household_id)
    form = DecisionForm(request.POST, case=case, household=household, suggested=[])

    def action(data: dict[str, Any]) -> None:
        services.decide_monitoring(
            by=request.user,
            case=case,
            monitoring_type=data["monitoring_type"],
            risk_types=data["risk_types"],
            reason=data["reason"],
        )

    return _act(request, case, form, "decision_form", action, _("已决定纳入监测，户档案已更新。"))


@login_required
@require_POST
def case_exclude(request: HttpRequest, pk: int) -> HttpResponse:
    case = _reviewer_case(request, pk)
    form = ExcludeForm(request.POST)

    def action(data: dict[str, Any]) -> None:
        services.exclude(by=request.user, case=case, reason=data["reason"])

    return _act(request, case, form, "exclude_form", action, _("已排除。"))


# --- Models ------------------------------------------------------------------------------------------


def is_administrator(user: Any) -> bool:
    return role_of(user) == Role.ADMIN


@login_required
def model_list(request: HttpRequest) -> HttpResponse:
    models = list(
        RiskModel.objects.defer("artifact")
        .select_related("trained_by", "activated_by")
        .order_by("target", "-test_year", "kind", "-trained_at")
    )
    cards = model_selectors.model_cards(models, request.user)
    return render(
        request,
        "risk/models.html",
        {
            "cards": cards,
            "comparisons": model_selectors.comparisons(cards),
            "plain": model_selectors.plain_words(
                request.user, administrator=is_administrator(request.user), models=models
            ),
            "can_activate": is_administrator(request.user),
            "train_form": TrainForm() if is_administrator(request.user) else None,
            "jobs": model_selectors.recent_jobs() if is_administrator(request.user) else [],
            "train_job": jobs.latest_job(Job.Kind.TRAIN) if is_administrator(request.user) else None,
        },
    )


@login_required
@require_POST
def model_train(request: HttpRequest) -> HttpResponse:
    """An administrator starts training (XGBoost and both baselines, out of time) as a background job."""
    if not is_administrator(request.user):
        raise PermissionDenied(_("只有系统管理员可以训练模型。"))
    form = TrainForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("risk:models")
    try:
        job = jobs.start_job(kind=Job.Kind.TRAIN, by=request.user, parameters={"seed": form.cleaned_data["seed"]})
    except jobs.JobBusy as busy:
        messages.error(request, busy.messages[0])
    else:
        _job_message(request, job, _("训练任务"))
    return redirect("risk:models")


@login_required
@require_POST
def risk_refresh(request: HttpRequest) -> HttpResponse:
    """County staff start today's warning rules, a scoring run of their region and the cases both open.
    The list's button leads to a confirmation step saying how long it will take; only a POST with
    confirm=yes starts the job."""
    _refuse_readers(request)
    if not can_review_risks(request.user):
        raise PermissionDenied(_("只有县级工作人员可以更新风险名单。"))
    missing = model_selectors.missing_active_models()
    if missing:
        # The poor-now model is required; a missing return model is not (one year of income: p_poor only).
        messages.error(request, _("尚未启用%(targets)s模型，请系统管理员先训练并启用。") % {"targets": missing})
        return redirect("risk:list")
    region_code = None if sees_everything(request.user) else request.user.region_id
    if request.POST.get("confirm") != "yes":
        estimate = jobs.refresh_estimate(region_code)
        previous = estimate.previous
        return render(
            request,
            "risk/refresh_confirm.html",
            {
                "estimate": estimate,
                "duration": jobs.duration_text(estimate.seconds),
                "previous_duration": jobs.duration_text(jobs.job_seconds(previous) or 0) if previous else "",
                "per_household_ms": f"{jobs.SECONDS_PER_HOUSEHOLD * 1000:.2f}",
                "active_job": jobs.latest_job(Job.Kind.REFRESH),
                "scope": request.user.region if region_code else None,
            },
        )
    try:
        job = jobs.start_job(kind=Job.Kind.REFRESH, by=request.user, region_code=region_code)
    except jobs.JobBusy as busy:
        # Another refresh is queued or running (the database refused a second one): a message, not a 500.
        messages.error(request, busy.messages[0])
    else:
        _job_message(request, job, _("风险名单更新任务"))
    return redirect("risk:list")


def _job_message(request: HttpRequest, job: Job, what: str) -> None:
    if job.status == Job.Status.SUCCEEDED:
        messages.success(request, _("%(what)s已完成。") % {"what": what})
    elif job.status == Job.Status.FAILED:
        messages.error(request, _("%(what)s失败：%(error)s") % {"what": what, "error": job.error})
    else:
        messages.success(request, _("%(what)s已提交，后台运行中；完成后本页可见结果。") % {"what": what})


@login_required
@require_POST
def model_activate(request: HttpRequest, pk: int) -> HttpResponse:
    if not is_administrator(request.user):
        raise PermissionDenied(_("只有系统管理员可以启用模型。"))
    model = get_object_or_404(RiskModel, pk=pk)
    # The modelling side's registry; imported here, not at the top, so that pages that never activate a
    # model do not load XGBoost and scikit-learn.
    from risk.registry import activate_model

    try:
        activate_model(by=request.user, model=model)
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("已启用模型 %(version)s。") % {"version": model.version})
    return redirect("risk:models")


@login_required
@require_POST
def model_override(request: HttpRequest, pk: int) -> HttpResponse:
    if role_of(request.user) != Role.ADMIN:
        raise PermissionDenied(_("只有系统管理员可以强制启用模型。"))
    model = get_object_or_404(RiskModel.objects.defer("artifact"), pk=pk)
    form = OverrideForm(request.POST)
    if not form.is_valid():
        for errors in form.errors.values():
            for message in errors:
                messages.error(request, message)
        return redirect("risk:models")
    from risk.registry import activate_model  # loads the trainers; only this page needs them

    try:
        activate_model(by=request.user, model=model, override_reason=form.cleaned_data["reason"])
    except ValidationError as error:
        for message in error.messages:
            messages.error(request, message)
    else:
        messages.success(request, _("已强制启用模型 %(version)s（已记入审计）。") % {"version": model.version})
    return redirect("risk:models")
