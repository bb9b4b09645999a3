"""Risk elimination (风险消除, domain.md §4): its conditions, its review chain, and returns to monitoring.

Conditions (each checked and shown on the household's page):
  monitored for at least six months; at least one measure 已实施 in the current monitoring period; per-capita
  net income above the monitoring threshold for at least half a year (every income survey since the first
  of the latest run above the threshold is at least six months old); large rigid spending resolved (the
  latest year's income still above the threshold after compliant medical and education spending); 三保障
  and safe water (compulsory-age children in school, everyone insured, safe housing, safe water); no new
  risk (no open risk case, no department warning in the last six months). A household unable to work as a
  whole stays monitored.

Review chain, as for identification: a township official applies (after the home visit) → the township
reviews (with the village's public notice of at least five days) → county staff approve. Every step is a
conditional UPDATE … WHERE status = <the status the user saw>, writes an EliminationEvent and a "review"
audit event; approval changes the household's status through households.services.change_household_status
(event 05 风险消除). Nothing is deleted.
"""

import datetime as dt
from dataclasses import asdict, dataclass
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from households import services as household_services
from households.models import Household, IncomeRecord, StatusChange
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import can_edit_household_files, role_of
from povertycloud.audit.services import record_model_event
from povertycloud.regions.models import PREFIX_LENGTH, Region
from povertycloud.regions.scoping import region_prefix_of, sees_everything, user_may_see_code
from resources.matching import EVENT_ENTERED, EVENT_RETURNED, match_household
from resources.models import EliminationCase, EliminationEvent, MonitoringReturn, OutcomeObservation
from resources.outcomes import derive, income_date, thresholds_by_village
from resources.services import add_months
from risk.models import RiskCase, Warning

MONITORED_MONTHS = 6
STABLE_INCOME_MONTHS = 6
RECENT_WARNING_MONTHS = 6
NOTICE_DAYS = 5  # 村内公示 at least five days
STATUS_EVENT_ELIMINATED = "05"

Status = EliminationCase.Status
OPEN_STATUSES = (Status.APPLIED, Status.TOWNSHIP_APPROVED)
Indicator = OutcomeObservation.Indicator


@dataclass
class Condition:
    code: str
    label: str
    met: bool
    detail: str


def _yuan(amount: Any) -> str:
    return f"{amount:,.0f}"


def _months_between(start: dt.date, end: dt.date) -> int:
    months = (end.year - start.year) * 12 + end.month - start.month
    return months - (1 if end.day < start.day else 0)


def _income_conditions(household: Household, as_of: dt.date) -> tuple[Condition, Condition]:
    thresholds = thresholds_by_village({household.village_id})[household.village_id]
    surveys = [
        (income_date(r.year, r.survey_date), r) for r in IncomeRecord.objects.filter(household=household)
    ]
    surveys = sorted((day, r) for day, r in surveys if day <= as_of)
    label = _("收入稳定高于监测标准半年以上")
    rigid_label = _("大额刚性支出已解决")
    if not surveys:
        missing = _("没有收支调查记录")
        return Condition("income", label, False, missing), Condition("rigid_spending", rigid_label, False, missing)
    above_since: dt.date | None = None
    problem = ""
    for day, record in surveys:
        threshold = thresholds.get(record.year)
        if threshold is None:
            above_since, problem = None, _("缺少 %(year)s 年的监测标准") % {"year": record.year}
        elif record.per_capita_net_income >= threshold:
            above_since = above_since or day
            problem = ""
        else:
            above_since = None
            problem = _("%(year)s 年人均纯收入 %(income)s 元，低于监测标准 %(threshold)s 元") % {
                "year": record.year, "income": _yuan(record.per_capita_net_income), "threshold": _yuan(threshold),
            }
    latest = surveys[-1][1]
    stable_from = add_months(as_of, -STABLE_INCOME_MONTHS)
    if above_since is None:
        income = Condition("income", label, False, problem)
    elif above_since > stable_from:
        income = Condition(
            "income", label, False,
            _("自 %(date)s 起高于监测标准，不足 %(months)s 个月")
            % {"date": f"{above_since:%Y-%m-%d}", "months": STABLE_INCOME_MONTHS},
        )
    elif latest.year < as_of.year - 1:
        income = Condition(
            "income", label, False, _("最近的收支调查是 %(year)s 年的，请先录入新的收支") % {"year": latest.year}
        )
    else:
        income = Condition(
            "income", label, True,
            _("自 %(date)s 起各次调查均高于监测标准；%(year)s 年人均纯收入 %(income)s 元") % {
                "date": f"{above_since:%Y-%m-%d}", "year": latest.year,
                "income": _yuan(latest.per_capita_net_income),
            },
        )
    threshold = thresholds.get(latest.year)
    rigid = latest.compliant_medical_spending + latest.compliant_education_spending
    after = (latest.net_income - rigid) / Decimal(latest.household_size)
    if threshold is None:
        spending = Condition(
            "rigid_spending", rigid_label, False, _("缺少 %(year)s 年的监测标准") % {"year": latest.year}
        )
    else:
        spending = Condition(
            "rigid_spending", rigid_label, after >= threshold,
            _("%(year)s 年合规自付医疗、教育支出 %(rigid)s 元，扣除后人均 %(after)s 元（监测标准 %(threshold)s 元）")
            % {"year": latest.year, "rigid": _yuan(rigid), "after": _yuan(after), "threshold": _yuan(threshold)},
        )
    return income, spending


def _security_condition(household: Household, as_of: dt.date) -> Condition:
    rows = {r.indicator: r for r in derive(Household.objects.filter(pk=household.pk), as_of=as_of, today=as_of)}
    labels = {
        Indicator.CHILDREN_ENROLLED: _("义务教育"),
        Indicator.MEDICAL_INSURANCE: _("基本医疗"),
        Indicator.HOUSING_SAFE: _("住房安全"),
        Indicator.WATER_SAFE: _("饮水安全"),
    }
    failing = [
        _("%(label)s（%(detail)s）") % {"label": label, "detail": rows[indicator].detail}
        for indicator, label in labels.items()
        if indicator in rows and rows[indicator].target_met is False
    ]
    return Condition(
        "security",
        _("“三保障”和饮水安全有保障"),
        not failing,
        _("未保障：%(items)s") % {"items": _("；").join(failing)}
        if failing else _("义务教育、基本医疗、住房安全和饮水安全均有保障"),
    )


def elimination_conditions(household: Household, *, as_of: dt.date | None = None) -> list[Condition]:
    as_of = as_of or timezone.localdate()
    conditions: list[Condition] = []
    matched = match_household(household)
    monitored = bool(household.monitoring_type)
    conditions.append(Condition(
        "monitored", _("现为监测对象"), monitored, _("是") if monitored else _("该户不是监测对象，无需风险消除"),
    ))
    conditions.append(Condition(
        "able_to_work", _("不是整户无劳动能力"), not household.whole_household_unable_to_work,
        _("整户无劳动能力的户纳入常态化保障，继续监测，不标注风险消除")
        if household.whole_household_unable_to_work else _("有劳动能力"),
    ))
    identified = matched.identified_on
    months_label = _("监测满 %(months)s 个月") % {"months": MONITORED_MONTHS}
    if identified is None:
        conditions.append(Condition("months", months_label, False, _("找不到纳入监测的日期")))
    else:
        months = _months_between(identified, as_of)
        conditions.append(Condition(
            "months", months_label, months >= MONITORED_MONTHS,
            _("%(date)s 纳入监测，已 %(months)s 个月") % {"date": f"{identified:%Y-%m-%d}", "months": max(months, 0)},
        ))
    implemented = [m for m in matched.measures if m.implemented and m.start_date <= as_of]
    conditions.append(Condition(
        "measure", _("至少落实 1 项帮扶措施"), bool(implemented),
        _("已实施 %(count)s 项") % {"count": len(implemented)} if implemented else _("本监测期没有已实施的帮扶措施"),
    ))
    conditions.extend(_income_conditions(household, as_of))
    conditions.append(_security_condition(household, as_of))
    open_case = RiskCase.objects.filter(
        household=household, status__in=(RiskCase.Status.WARNED, RiskCase.Status.VERIFYING)
    ).exists()
    since = add_months(as_of, -RECENT_WARNING_MONTHS)
    warnings = Warning.objects.filter(household=household, as_of__gt=since, as_of__lte=as_of).count()
    problems = []
    if open_case:
        problems.append(_("有未办结的风险核实"))
    if warnings:
        problems.append(
            _("近 %(months)s 个月有 %(count)s 条部门预警") % {"months": RECENT_WARNING_MONTHS, "count": warnings}
        )
    conditions.append(Condition(
        "no_new_risk", _("无新增风险"), not problems,
        _("；").join(problems) if problems else _("无未办结核实，近期无部门预警"),
    ))
    return conditions


def all_met(conditions: list[Condition]) -> bool:
    return all(c.met for c in conditions)


def _require_conditions(household: Household) -> list[dict]:
    conditions = elimination_conditions(household)
    failing = [c for c in conditions if not c.met]
    if failing:
        raise ValidationError(
            _("不满足风险消除条件：%(conditions)s。") % {
                "conditions": _("；").join(
                    _("%(label)s（%(detail)s）") % {"label": c.label, "detail": c.detail} for c in failing
                )
            },
            code="conditions",
        )
    return [asdict(c) for c in conditions]


# --- The review chain --------------------------------------------------------------------------------


def _is_township_official_of(user: Any, region_code: str) -> bool:
    role = role_of(user)
    return role in {Role.TOWNSHIP_OFFICIAL, Role.ADMIN} and user_may_see_code(user, region_code)


def can_apply(user: Any, household: Household) -> bool:
    return can_edit_household_files(user) and user_may_see_code(user, household.village_id)


def can_review_in_township(user: Any, case: EliminationCase) -> bool:
    """The role and the region may review; whether this person may review this case is township_refusal."""
    return _is_township_official_of(user, case.region_code)


def township_refusal(user: Any, case: EliminationCase) -> str:
    """Why this user may not pass this case's township review although their role may ("" if they may):
    the official who applied cannot also review their own application (separation of duties)."""
    if case.applied_by_id is not None and case.applied_by_id == getattr(user, "pk", None):
        return _("申请人不能审核自己提交的风险消除申请：申请和乡镇审核须由不同的人办理，请由本乡镇的其他干部审核。")
    return ""


def _is_county_level(user: Any) -> bool:
    """Bound to a county or a region above it (or an administrator); a township-level account never is."""
    if sees_everything(user):
        return True
    prefix = region_prefix_of(user)
    return prefix is not None and len(prefix) <= PREFIX_LENGTH[Region.Level.COUNTY]


def can_decide(user: Any, case: EliminationCase) -> bool:
    """县级审定 is county staff's (or an administrator's): the role and a county-level region, whatever
    other permission a township account may hold."""
    return (
        role_of(user) in {Role.COUNTY_STAFF, Role.ADMIN}
        and _is_county_level(user)
        and user_may_see_code(user, case.region_code)
    )


def _already_decided(case: EliminationCase) -> str:
    return _("该户的风险消除已办结（%(status)s），本次操作未保存。") % {"status": case.get_status_display()}


def _transition(
    *, by: Any, case: EliminationCase, allowed: tuple[str, ...], to_status: str, action: str, note: str,
    values: dict[str, Any],
) -> EliminationCase:
    seen = case.status
    if seen not in allowed:
        if seen not in OPEN_STATUSES:
            raise ValidationError(_already_decided(case), code="decided")
        labels = _("或").join(_("“%(status)s”") % {"status": Status(s).label} for s in allowed)
        raise ValidationError(
            _("只有%(statuses)s的申请可以%(action)s，该申请当前为“%(status)s”。")
            % {"statuses": labels, "action": action, "status": case.get_status_display()},
            code="state",
        )
    updated = EliminationCase.objects.filter(pk=case.pk, status=seen).update(status=to_status, **values)
    if updated != 1:
        case.refresh_from_db()
        if case.status not in OPEN_STATUSES:
            raise ValidationError(_already_decided(case), code="decided")
        raise ValidationError(
            _("该申请已被他人处理（当前为“%(status)s”），本次操作未保存。请刷新后再试。")
            % {"status": case.get_status_display()},
            code="stale",
        )
    case.refresh_from_db()
    EliminationEvent.objects.create(case=case, from_status=seen, to_status=to_status, by=by, note=note)
    changes: dict[str, Any] = {"status": {"before": seen, "after": to_status}}
    for name, value in values.items():
        if name == "conditions":
            continue
        plain = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
        changes[name] = {"after": getattr(value, "pk", plain)}
    record_model_event(
        actor=by, action="review", instance=case, changes=changes,
        note=_("%(action)s：%(note)s") % {"action": action, "note": note},
    )
    return case


@transaction.atomic
def apply_for_elimination(
    *, by: Any, household: Household, method: str, visit_date: dt.date | None, reason: str
) -> EliminationCase:
    """A township official applies for a household's risk elimination after visiting it."""
    if not can_apply(by, household):
        raise PermissionDenied(_("只有该户所在乡镇的乡镇干部可以申请风险消除。"))
    household = Household.objects.select_for_update().get(pk=household.pk)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    today = timezone.localdate()
    if method not in EliminationCase.Method.values:
        errors["method"] = _("请选择消除方式（帮扶消除或自然消除）。")
    if visit_date is None:
        errors["visit_date"] = _("请填写入户核实日期。")
    elif visit_date > today:
        errors["visit_date"] = _("入户核实日期不能晚于今天。")
    if not reason:
        errors["reason"] = _("请填写申请理由。")
    if errors:
        raise ValidationError(errors)
    if EliminationCase.objects.filter(household=household, status__in=OPEN_STATUSES).exists():
        raise ValidationError(_("该户已有未办结的风险消除申请。"), code="open")
    conditions = _require_conditions(household)
    case = EliminationCase.objects.create(
        household=household,
        region_code=household.village_id,
        status=Status.APPLIED,
        method=method,
        visit_date=visit_date,
        application_reason=reason,
        applied_by=by,
        applied_at=timezone.now(),
        conditions=conditions,
    )
    note = _("%(date)s 入户核实；%(method)s。%(reason)s") % {
        "date": f"{visit_date:%Y-%m-%d}", "method": EliminationCase.Method(method).label, "reason": reason,
    }
    EliminationEvent.objects.create(case=case, from_status="", to_status=Status.APPLIED, by=by, note=note)
    record_model_event(
        actor=by, action="review", instance=case,
        changes={"status": {"before": None, "after": Status.APPLIED}, "method": {"after": method}},
        note=_("申请风险消除：%(note)s") % {"note": note},
    )
    return case


@transaction.atomic
def township_review(
    *,
    by: Any,
    case: EliminationCase,
    approve: bool,
    reason: str,
    notice_from: dt.date | None = None,
    notice_to: dt.date | None = None,
) -> EliminationCase:
    """乡镇审核: approve (after the village's public notice of at least five days) or refuse."""
    if not can_review_in_township(by, case):
        raise PermissionDenied(_("只有该户所在乡镇的乡镇干部可以审核风险消除申请。"))
    refusal = township_refusal(by, case)
    if refusal:
        raise PermissionDenied(refusal)
    reason = (reason or "").strip()
    errors: dict[str, str] = {}
    if not reason:
        errors["reason"] = _("请填写审核意见。")
    if approve:
        if notice_from is None or notice_to is None:
            errors["notice_from"] = _("请填写村内公示的起止日期。")
        elif notice_to < notice_from:
            errors["notice_to"] = _("公示结束日期不能早于开始日期。")
        elif (notice_to - notice_from).days + 1 < NOTICE_DAYS:
            errors["notice_to"] = _("村内公示不少于 %(days)s 天。") % {"days": NOTICE_DAYS}
        elif notice_to > timezone.localdate():
            errors["notice_to"] = _("公示尚未结束，结束后才能审核通过。")
        elif notice_from < case.visit_date:
            errors["notice_from"] = _("公示不能早于入户核实。")
    if errors:
        raise ValidationError(errors)
    values: dict[str, Any] = {"township_reason": reason, "township_by": by, "township_at": timezone.now()}
    if approve:
        values["conditions"] = _require_conditions(Household.objects.get(pk=case.household_id))
        values.update(notice_from=notice_from, notice_to=notice_to)
        note = _("村内公示 %(start)s 至 %(end)s。%(reason)s") % {
            "start": f"{notice_from:%Y-%m-%d}", "end": f"{notice_to:%Y-%m-%d}", "reason": reason,
        }
        return _transition(
            by=by, case=case, allowed=(Status.APPLIED,), to_status=Status.TOWNSHIP_APPROVED,
            action=_("乡镇审核通过"), note=note, values=values,
        )
    return _transition(
        by=by, case=case, allowed=(Status.APPLIED,), to_status=Status.REJECTED, action=_("乡镇审核不予通过"),
        note=reason, values=values,
    )


@transaction.atomic
def county_decision(*, by: Any, case: EliminationCase, approve: bool, reason: str) -> EliminationCase:
    """县级审定: approve (the household's risk is eliminated; its status changes, event 05) or refuse."""
    if not can_decide(by, case):
        raise PermissionDenied(_("只有县级工作人员可以审定风险消除。"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("请填写审定意见。")})
    values: dict[str, Any] = {"decision_reason": reason, "decided_by": by, "decided_at": timezone.now()}
    if not approve:
        return _transition(
            by=by, case=case, allowed=(Status.TOWNSHIP_APPROVED,), to_status=Status.REJECTED,
            action=_("县级审定不予消除"), note=reason, values=values,
        )
    household = Household.objects.select_for_update().get(pk=case.household_id)
    if case.status == Status.TOWNSHIP_APPROVED:
        values["conditions"] = _require_conditions(household)
    decided = _transition(
        by=by, case=case, allowed=(Status.TOWNSHIP_APPROVED,), to_status=Status.APPROVED,
        action=_("县级审定风险消除"), note=reason, values=values,
    )
    entry = household_services.change_household_status(
        by=by,
        household=household,
        event=STATUS_EVENT_ELIMINATED,
        effective_date=timezone.localdate(),
        reason=_("风险消除（%(method)s）：%(reason)s") % {"method": decided.get_method_display(), "reason": reason},
        changes={"monitoring_type": ""},
        decided_in_review=True,
    )
    EliminationCase.objects.filter(pk=decided.pk).update(status_change=entry)
    decided.refresh_from_db()
    return decided


# --- Returns to monitoring after an elimination ------------------------------------------------------


@dataclass
class DetectedReturn:
    household_id: int
    region_code: str
    elimination_id: int
    status_change_id: int
    eliminated_on: dt.date
    returned_on: dt.date


def detect_returns(households: QuerySet[Household]) -> list[DetectedReturn]:
    """Approved eliminations followed by a 纳入监测 or 返贫致贫 status change: the first such change after
    each elimination is its return."""
    eliminations = list(
        EliminationCase.objects.filter(household__in=households, status=Status.APPROVED, status_change__isnull=False)
        .values_list("pk", "household_id", "region_code", "status_change_id", "status_change__effective_date")
        .order_by("household_id", "status_change_id")
    )
    if not eliminations:
        return []
    entries: dict[int, list[tuple[int, dt.date]]] = {}
    for pk, household_id, day in (
        StatusChange.objects.filter(
            household_id__in={e[1] for e in eliminations}, event__in=(EVENT_ENTERED, EVENT_RETURNED)
        )
        .values_list("pk", "household_id", "effective_date")
        .order_by("pk")
    ):
        entries.setdefault(household_id, []).append((pk, day))
    found = []
    for pk, household_id, region_code, change_id, eliminated_on in eliminations:
        later = [(entry, day) for entry, day in entries.get(household_id, []) if entry > change_id]
        if later:
            entry, day = later[0]
            found.append(DetectedReturn(household_id, region_code, pk, entry, eliminated_on, day))
    return found


def record_returns(*, households: QuerySet[Household]) -> int:
    """Store the returns that detect_returns finds and that are not stored yet; returns how many are new."""
    detected = detect_returns(households)
    known = set(
        MonitoringReturn.objects.filter(elimination_id__in=[d.elimination_id for d in detected]).values_list(
            "elimination_id", flat=True
        )
    )
    new = [
        MonitoringReturn(
            household_id=d.household_id, region_code=d.region_code, elimination_id=d.elimination_id,
            status_change_id=d.status_change_id, eliminated_on=d.eliminated_on, returned_on=d.returned_on,
        )
        for d in detected
        if d.elimination_id not in known
    ]
    MonitoringReturn.objects.bulk_create(new, ignore_conflicts=True)
    return len(new)
