"""Pages of assistance and outcomes: a household's 帮扶与成效 page with its measure forms, outcome charts and
risk elimination; the township plan-check list; the elimination review list.

Views parse input, find objects through the region scope (outside the region: 404), check the role for
writes (a role that may not act: 403; auditors never act), call a service and redirect with a message.
"""

from typing import Any

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from households.models import Household
from households.services import StaleEdit
from povertycloud.accounts.permissions import can_edit_household_files, is_auditor
from povertycloud.forms import add_service_errors
from povertycloud.paging import query_without_keys
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import get_for_user_or_404
from resources import charts, checks, elimination, selectors, services
from resources.forms import (
    ApplyForm,
    CountyDecisionForm,
    EliminationFilterForm,
    MeasureForm,
    RemoveMeasureForm,
    TownshipFilterForm,
    TownshipReviewForm,
)
from resources.matching import match_household
from resources.models import AssistanceMeasure, EliminationCase
from resources.outcomes import entered_monitoring_dates, observe_outcomes
from risk.case_selectors import household_summary


def _household(request: HttpRequest, pk: int) -> Household:
    return get_for_user_or_404(Household.objects.select_related("village"), request.user, pk=pk)


def _editable_household(request: HttpRequest, pk: int) -> Household:
    """Role first (not an editor: 403), then region (outside: 404)."""
    if not can_edit_household_files(request.user):
        raise PermissionDenied(_("只有乡镇干部和系统管理员可以录入或修改帮扶措施。"))
    return _household(request, pk)


def _page_url(household_pk: int, anchor: str = "") -> str:
    return reverse("resources:household", args=[household_pk]) + anchor


# --- The household's page ----------------------------------------------------------------------------


def _household_context(request: HttpRequest, household: Household, **bound: forms.Form) -> dict[str, Any]:
    user = request.user
    measures = selectors.measures_of(household, user)
    rows = selectors.measure_rows(measures)
    labels = selectors.measure_labels(rows)
    observations = selectors.observations_of(household, user)
    entered = entered_monitoring_dates(Household.objects.filter(pk=household.pk)).get(household.pk, [])
    cases = selectors.elimination_cases_of(household, user)
    open_case = next((c for c in cases if c.status in elimination.OPEN_STATUSES), None)
    conditions = elimination.elimination_conditions(household) if household.monitoring_type else []
    auditor = is_auditor(user)
    context: dict[str, Any] = {
        "household": household,
        "summary": household_summary(household, user),
        "match": match_household(household),
        "measures": rows,
        "income_chart": charts.income_timeline(observations, measures, entered=entered, labels=labels),
        "strips": charts.indicator_strips(observations, measures, entered=entered, labels=labels),
        "latest": selectors.latest_observations(observations),
        "conditions": conditions,
        "eligible": bool(conditions) and elimination.all_met(conditions),
        "case_rows": selectors.case_rows(cases),
        "returns": selectors.returns_of(household, user),
        "can_edit": can_edit_household_files(user),
        "can_observe": not auditor,
        "today": timezone.localdate(),
    }
    if household.monitoring_type and open_case is None and elimination.can_apply(user, household):
        context["apply_form"] = bound.get("apply_form") or ApplyForm()
    if open_case is not None and not auditor:
        if open_case.status == EliminationCase.Status.APPLIED and elimination.can_review_in_township(user, open_case):
            refusal = elimination.township_refusal(user, open_case)
            if refusal:
                context["township_refusal"] = refusal
            else:
                context["township_form"] = bound.get("township_form") or TownshipReviewForm()
        if open_case.status == EliminationCase.Status.TOWNSHIP_APPROVED and elimination.can_decide(user, open_case):
            context["county_form"] = bound.get("county_form") or CountyDecisionForm()
    context["open_case"] = open_case
    return context


@login_required
def household_page(request: HttpRequest, pk: int) -> HttpResponse:
    household = _household(request, pk)
    return render(request, "resources/household.html", _household_context(request, household))


def _keep_blank_phone(request: HttpRequest, measure: AssistanceMeasure | None):
    data = request.POST.copy()
    if measure is not None and measure.helper_phone and not data.get("helper_phone", "").strip():
        data["helper_phone"] = measure.helper_phone
    return data


@login_required
def measure_add(request: HttpRequest, pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    if request.method == "POST":
        form = MeasureForm(request.POST, household=household)
        if form.is_valid():
            try:
                services.record_measure(by=request.user, household=household, data=form.values())
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("帮扶措施已保存。"))
                return redirect(_page_url(household.pk, "#measures"))
    else:
        form = MeasureForm(household=household)
    return render(request, "resources/measure_form.html", {"form": form, "household": household, "measure": None})


def _measure_of(request: HttpRequest, household: Household, measure_pk: int) -> AssistanceMeasure:
    return get_for_user_or_404(AssistanceMeasure.objects.filter(household=household), request.user, pk=measure_pk)


@login_required
def measure_edit(request: HttpRequest, pk: int, measure_pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    measure = _measure_of(request, household, measure_pk)
    stale = False
    if request.method == "POST":
        form = MeasureForm(_keep_blank_phone(request, measure), household=household, measure=measure)
        if form.is_valid():
            try:
                services.update_measure(
                    by=request.user, measure=measure, data=form.values(),
                    expected_version=form.cleaned_data.get("version") or 0,
                )
            except StaleEdit:
                stale = True
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                messages.success(request, _("帮扶措施已保存。"))
                return redirect(_page_url(household.pk, "#measures"))
    else:
        form = MeasureForm(household=household, measure=measure)
    context = {
        "form": form, "household": household, "measure": measure, "stale": stale,
        "stale_message": StaleEdit(_("该帮扶措施")).messages[0], "remove_form": RemoveMeasureForm(),
    }
    return render(request, "resources/measure_form.html", context)


@login_required
@require_POST
def measure_remove(request: HttpRequest, pk: int, measure_pk: int) -> HttpResponse:
    household = _editable_household(request, pk)
    measure = _measure_of(request, household, measure_pk)
    form = RemoveMeasureForm(request.POST)
    if form.is_valid():
        try:
            services.remove_measure(by=request.user, measure=measure, reason=form.cleaned_data["reason"])
        except ValidationError as error:
            for message in error.messages:
                messages.error(request, message)
        else:
            messages.success(request, _("帮扶措施已删除。"))
            return redirect(_page_url(household.pk, "#measures"))
    else:
        messages.error(request, _("删除帮扶措施须填写原因。"))
    return redirect("resources:measure_edit", pk=household.pk, measure_pk=measure.pk)


@login_required
@require_POST
def observe(request: HttpRequest, pk: int) -> HttpResponse:
    if is_auditor(request.user):
        raise PermissionDenied(_("审计人员只能查看，不能操作。"))
    household = _household(request, pk)
    counts = observe_outcomes(household=household, as_of=timezone.localdate(), by=request.user)
    messages.success(request, _("已记录 %(count)d 项成效观测。") % {"count": counts.observations})
    return redirect(_page_url(household.pk, "#outcomes"))


# --- Risk elimination --------------------------------------------------------------------------------


def _act(request: HttpRequest, household: Household, form: forms.Form, form_name: str, action, success: str):
    """Run a service with the form's values; field errors go back on the form, refusals of the whole
    action (conditions not met, already decided) become a message on the page."""
    if form.is_valid():
        try:
            action(form.cleaned_data)
        except ValidationError as error:
            if not hasattr(error, "error_dict"):
                for message in error.messages:
                    messages.error(request, message)
                return redirect(_page_url(household.pk, "#elimination"))
            add_service_errors(form, error)
        else:
            messages.success(request, success)
            return redirect(_page_url(household.pk, "#elimination"))
    return render(request, "resources/household.html", _household_context(request, household, **{form_name: form}))


def _refuse_auditors(request: HttpRequest) -> None:
    if is_auditor(request.user):
        raise PermissionDenied(_("审计人员只能查看，不能操作。"))


@login_required
@require_POST
def elimination_apply(request: HttpRequest, pk: int) -> HttpResponse:
    _refuse_auditors(request)
    if not can_edit_household_files(request.user):
        raise PermissionDenied(_("只有该户所在乡镇的乡镇干部可以申请风险消除。"))
    household = _household(request, pk)
    form = ApplyForm(request.POST)

    def action(data: dict[str, Any]) -> None:
        elimination.apply_for_elimination(
            by=request.user, household=household, method=data["method"], visit_date=data["visit_date"],
            reason=data["reason"],
        )

    return _act(request, household, form, "apply_form", action, _("已提交风险消除申请。"))


def _case(request: HttpRequest, pk: int, case_pk: int) -> tuple[Household, EliminationCase]:
    household = _household(request, pk)
    case = get_for_user_or_404(EliminationCase.objects.filter(household=household), request.user, pk=case_pk)
    return household, case


@login_required
@require_POST
def elimination_township(request: HttpRequest, pk: int, case_pk: int) -> HttpResponse:
    _refuse_auditors(request)
    household, case = _case(request, pk, case_pk)
    if not elimination.can_review_in_township(request.user, case):
        raise PermissionDenied(_("只有该户所在乡镇的乡镇干部可以审核风险消除申请。"))
    refusal = elimination.township_refusal(request.user, case)
    if refusal:
        raise PermissionDenied(refusal)
    form = TownshipReviewForm(request.POST)

    def action(data: dict[str, Any]) -> None:
        elimination.township_review(
            by=request.user, case=case, approve=data["decision"] == "approve", reason=data["reason"],
            notice_from=data.get("notice_from"), notice_to=data.get("notice_to"),
        )

    return _act(request, household, form, "township_form", action, _("乡镇审核意见已保存。"))


@login_required
@require_POST
def elimination_county(request: HttpRequest, pk: int, case_pk: int) -> HttpResponse:
    _refuse_auditors(request)
    household, case = _case(request, pk, case_pk)
    if not elimination.can_decide(request.user, case):
        raise PermissionDenied(_("只有县级工作人员可以审定风险消除。"))
    form = CountyDecisionForm(request.POST)

    def action(data: dict[str, Any]) -> None:
        elimination.county_decision(
            by=request.user, case=case, approve=data["decision"] == "approve", reason=data["reason"]
        )

    return _act(request, household, form, "county_form", action, _("县级审定意见已保存。"))


# --- Lists -------------------------------------------------------------------------------------------


def _chosen_township(form: TownshipFilterForm, townships: list[Region]) -> Region | None:
    code = form.value("township")
    return next((t for t in townships if t.code == code), None)


@login_required
def plan_checks(request: HttpRequest) -> HttpResponse:
    user = request.user
    townships = selectors.townships_for(user)
    form = TownshipFilterForm(request.GET or None, townships=townships, kinds=checks.KIND_LABELS)
    township = _chosen_township(form, townships)
    issues = checks.plan_checks(selectors.households_in(user, township), as_of=timezone.localdate())
    kind = form.value("kind")
    if kind:
        issues = [issue for issue in issues if issue.kind == kind]
    names = {t.code: t.name for t in townships}
    grouped: dict[str, list[checks.PlanIssue]] = {}
    for issue in issues:
        grouped.setdefault(issue.township_code, []).append(issue)
    groups = [(names.get(code, code), code, rows) for code, rows in sorted(grouped.items())]
    return render(request, "resources/checks.html", {"form": form, "groups": groups, "total": len(issues)})


@login_required
def elimination_list(request: HttpRequest) -> HttpResponse:
    user = request.user
    townships = selectors.townships_for(user)
    form = EliminationFilterForm(request.GET or None, townships=townships)
    status = form.value("status") or "open"
    status = "" if status == "all" else status
    cases = selectors.elimination_cases_for(user, status=status, township=_chosen_township(form, townships))
    page = selectors.elimination_page(cases, after=request.GET.get("after"), before=request.GET.get("before"))
    return render(
        request,
        "resources/eliminations.html",
        {"form": form, "cases": page.rows, "page": page, "query": query_without_keys(request.GET)},
    )
