"""The review of the risk list (domain.md §4): opening cases from a scoring run, and deciding them.

预警 → 核实中 (county staff assign a township official) → home visit recorded (the township) →
纳入监测 (county staff; the household's status changes through households.services) or 排除.

Every transition is a conditional UPDATE … WHERE status = <the status the user saw>, so of two people who
decide the same case at the same time only one succeeds and the other is told so; each writes a CaseEvent
and an audit event with action "review" in the same transaction. The model and the rules only open
cases: nothing here changes a household's status except decide_monitoring.
"""

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import Exists, F, OuterRef
from django.db.models.expressions import Window
from django.db.models.functions import RowNumber, Substr
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from households import services as household_services
from households.codes import codebook
from households.models import Household
from households.validation import (
    HOUSEHOLD_LIFTED,
    HOUSEHOLD_ORDINARY,
    MAX_RISK_TYPES,
    RISK_NATURAL_DISASTER,
    join_codes,
    split_codes,
)
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import can_review_risks, role_of
from povertycloud.audit.services import record_event, record_model_event
from povertycloud.db import analyze
from povertycloud.regions.models import Region
from povertycloud.regions.scoping import user_may_see_code
from risk import list_tags
from risk.capacity import case_quotas
from risk.models import CaseEvent, ReviewCapacity, RiskCase, RiskScore, ScoringRun, Warning

DUE_DAYS = 15  # from first clue to decision (domain.md §4)
DEFAULT_CAPACITY = 30  # households a township verifies in one round, unless ReviewCapacity says otherwise
STATUS_EVENT_MONITORED = "03"  # 纳入监测 (data dictionary, codeset status_event)
TOWNSHIP_DIGITS = 9

Status = RiskCase.Status
OPEN_STATUSES = (Status.WARNED, Status.VERIFYING)
DECIDED_STATUSES = (Status.MONITORED, Status.EXCLUDED)

# Monitoring object types that fit a household type (domain.md §4): 脱贫不稳定户 are 脱贫户, 边缘易致贫户 are
# 一般农户; 突发严重困难户 (code 3) may be either.
MONITORING_TYPE_FOR_HOUSEHOLD_TYPE = {"1": {HOUSEHOLD_LIFTED}, "2": {HOUSEHOLD_ORDINARY}}


def due_date(opened_on: dt.date) -> dt.date:
    return opened_on + dt.timedelta(days=DUE_DAYS)


def township_code(region_code: str) -> str:
    return region_code[:TOWNSHIP_DIGITS].ljust(12, "0")


# --- Opening cases from a scoring run ----------------------------------------------------------------


@dataclass
class OpenedCases:
    opened: int = 0
    joined: int = 0
    top_ranked: int = 0
    warned: int = 0


def _region_prefix(code: str) -> str:
    region = Region.objects.filter(code=code).first()
    return region.prefix if region is not None else code


def _recently_decided(as_of: dt.date):
    """Households whose case was decided on or after the run's date: the decision already weighed what the
    run knows, so the run does not reopen them (and running the same run twice opens nothing twice)."""
    return RiskCase.objects.filter(
        household=OuterRef("household_id"), status__in=DECIDED_STATUSES, decided_at__date__gte=as_of
    )


def _capacities() -> dict[str, int]:
    return dict(ReviewCapacity.objects.values_list("region_id", "households"))


def ranking_column(run: ScoringRun) -> str:
    """What a run's list is worked down by: p_return, or p_poor for a run without a return model (a county
    with one year of income, whose p_return is NULL)."""
    return "p_return" if run.return_model_id is not None else "p_poor"


RANKING_WORDS = {"p_return": gettext_lazy("返贫概率"), "p_poor": gettext_lazy("当前致贫概率")}


def _top_ranked(run: ScoringRun) -> dict[int, RiskScore]:
    """The run's N highest p_return per township (N = the township's review capacity), among households
    that are not monitored already and were not decided since the run's date; p_poor for a run without a
    return model."""
    column = ranking_column(run)
    capacities = case_quotas(run, default_households=DEFAULT_CAPACITY)  # ReviewCapacity, county ReviewQuota
    deepest = max([DEFAULT_CAPACITY, *capacities.values()])
    township = Substr("region_code", 1, TOWNSHIP_DIGITS)
    ranked = (
        RiskScore.objects.filter(run=run, household__monitoring_type="")
        .exclude(Exists(_recently_decided(run.as_of)))
        .annotate(
            rank=Window(RowNumber(), partition_by=[township], order_by=[F(column).desc(), F("household_id").asc()])
        )
        .filter(rank__lte=deepest)
    )
    chosen: dict[int, RiskScore] = {}
    for score in ranked:
        if score.rank <= capacities.get(township_code(score.region_code), DEFAULT_CAPACITY):
            chosen[score.household_id] = score
    return chosen


def _warnings_for(run: ScoringRun) -> dict[int, list[Warning]]:
    """Warnings that the run should bring to review: raised for the run's region since the previous run
    of that region (all of them for a region's first run), up to the run's date, for households that
    are not monitored and were not decided since."""
    warnings = Warning.objects.filter(
        region_code__startswith=_region_prefix(run.region_code), as_of__lte=run.as_of
    ).select_related("rule")
    previous = (
        ScoringRun.objects.filter(region_code=run.region_code, as_of__lt=run.as_of, finished_at__isnull=False)
        .order_by("-as_of")
        .values_list("as_of", flat=True)
        .first()
    )
    if previous is not None:
        warnings = warnings.filter(as_of__gt=previous)
    warnings = warnings.filter(
        Exists(Household.objects.filter(pk=OuterRef("household_id"), monitoring_type=""))
    ).exclude(Exists(_recently_decided(run.as_of)))
    by_household: dict[int, list[Warning]] = defaultdict(list)
    for warning in warnings.order_by("household_id", "as_of", "id"):
        by_household[warning.household_id].append(warning)
    return by_household


def _merge_rules(existing: Iterable[str], new: Iterable[str]) -> list[str]:
    return list(dict.fromkeys([*existing, *new]))


@transaction.atomic
def open_cases_from_run(*, run: ScoringRun, by: Any = None) -> OpenedCases:
    """Open a 预警 case for the run's top-N households per township by p_return (p_poor for a run without a
    return model) and for every household
    with a new warning; a household that already has an open case keeps it, and the new warnings' rules
    join it. opened_on is the first clue (warning or score date); due_on is 15 days later."""
    top = _top_ranked(run)
    warned = _warnings_for(run)
    household_ids = set(top) | set(warned)
    result = OpenedCases(top_ranked=len(top), warned=len(warned))
    if not household_ids:
        return result
    scores = dict(top)
    missing = household_ids - set(scores)
    if missing:
        for score in RiskScore.objects.filter(run=run, household_id__in=missing):
            scores[score.household_id] = score
    open_cases = {
        case.household_id: case
        for case in RiskCase.objects.select_for_update().filter(
            household_id__in=household_ids, status__in=OPEN_STATUSES
        )
    }
    villages = dict(Household.objects.filter(pk__in=household_ids).values_list("pk", "village_id"))
    actor = by if getattr(by, "is_authenticated", False) else None
    new_cases, reasons = [], {}
    for household_id in sorted(household_ids):
        household_warnings = warned.get(household_id, [])
        rules = [warning.rule.code for warning in household_warnings]
        rule_names = [warning.rule.name for warning in household_warnings]
        clues = [warning.as_of for warning in household_warnings]
        if household_id in top:
            clues.append(run.as_of)
        first_clue = min(clues)
        score = scores.get(household_id)
        case = open_cases.get(household_id)
        note = _opening_note(run, household_id in top, rule_names)
        if case is not None:
            merged = _merge_rules(case.warning_rules, rules)
            opened_on = min(case.opened_on, first_clue)
            RiskCase.objects.filter(pk=case.pk).update(
                warning_rules=merged,
                score=score or case.score,
                opened_on=opened_on,
                due_on=due_date(opened_on),
                updated_at=timezone.now(),
            )
            CaseEvent.objects.create(case=case, from_status=case.status, to_status=case.status, by=actor, note=note)
            result.joined += 1
            continue
        new_cases.append(
            RiskCase(
                household_id=household_id,
                region_code=villages[household_id],
                status=Status.WARNED,
                opened_on=first_clue,
                due_on=due_date(first_clue),
                score=score,
                warning_rules=_merge_rules([], rules),
            )
        )
        reasons[household_id] = note
    created = RiskCase.objects.bulk_create(new_cases)
    CaseEvent.objects.bulk_create(
        CaseEvent(case=c, from_status="", to_status=Status.WARNED, by=actor, note=reasons[c.household_id])
        for c in created
    )
    result.opened = len(created)
    # Bulk writes send no signals: the list's stored case status and rules follow here.
    list_tags.refresh_households(household_ids, risk=False)
    analyze(RiskCase, CaseEvent)
    record_event(
        actor=by,
        action="create",
        entity="risk.riskcase",
        object_pk=run.pk,
        object_repr=_("评分批次 %(run)s（%(as_of)s）") % {"run": run.pk, "as_of": f"{run.as_of:%Y-%m-%d}"},
        region_code=run.region_code,
        changes={"opened": result.opened, "joined": result.joined},
        note=_("新开核实 %(opened)s 户，并入已有核实 %(joined)s 户。")
        % {"opened": result.opened, "joined": result.joined},
    )
    return result


def _opening_note(run: ScoringRun, top_ranked: bool, rules: list[str]) -> str:
    parts = []
    if top_ranked:
        parts.append(
            _("评分批次 %(run)s（%(as_of)s）%(ranking)s位于本乡镇前列")
            % {"run": run.pk, "as_of": f"{run.as_of:%Y-%m-%d}", "ranking": RANKING_WORDS[ranking_column(run)]}
        )
    if rules:
        parts.append(_("部门预警：%(rules)s") % {"rules": _("、").join(dict.fromkeys(rules))})
    return _("；").join(parts)


# --- Deciding a case ---------------------------------------------------------------------------------


def _already_decided_message(case: RiskCase) -> str:
    decider = case.decided_by
    who = (decider.get_full_name() or decider.username) if decider is not None else _("他人")
    return _("该户的核实已由%(who)s作出决定（%(status)s），本次操作未保存。") % {
        "who": who, "status": case.get_status_display(),
    }


def _state_message(case: RiskCase, allowed: Iterable[str], action: str) -> str:
    if case.status in DECIDED_STATUSES:
        return _already_decided_message(case)
    labels = _("或").join(_("“%(status)s”") % {"status": Status(status).label} for status in allowed)
    return _("只有%(statuses)s状态的核实可以%(action)s，该户当前为“%(status)s”。") % {
        "statuses": labels, "action": action, "status": case.get_status_display(),
    }


def _require_reviewer(by: Any, case: RiskCase, action: str) -> None:
    if not can_review_risks(by):
        raise PermissionDenied(_("只有县级工作人员可以%(action)s。") % {"action": action})
    if not user_may_see_code(by, case.region_code):
        raise PermissionDenied(_("不能处理本辖区以外的核实。"))


def _transition(
    *,
    by: Any,
    case: RiskCase,
    allowed: Iterable[str],
    to_status: str,
    action: str,
    note: str,
    values: dict[str, Any],
) -> RiskCase:
    """UPDATE … WHERE pk AND status = <the status the caller saw>; a CaseEvent and a review audit event."""
    allowed = tuple(allowed)
    seen = case.status
    if seen not in allowed:
        raise ValidationError(_state_message(case, allowed, action), code="state")
    updated = RiskCase.objects.filter(pk=case.pk, status=seen).update(
        status=to_status, updated_at=timezone.now(), **values
    )
    if updated != 1:
        case.refresh_from_db()
        if case.status in DECIDED_STATUSES:
            raise ValidationError(_already_decided_message(case), code="decided")
        raise ValidationError(
            _("该户的核实状态已被他人改为“%(status)s”，本次操作未保存。请刷新后再试。")
            % {"status": case.get_status_display()},
            code="stale",
        )
    case.refresh_from_db()
    list_tags.refresh_households([case.household_id], risk=False)  # the list's stored case status
    CaseEvent.objects.create(case=case, from_status=seen, to_status=to_status, by=by, note=note)
    changes = {"status": {"before": seen, "after": to_status}}
    for name, value in values.items():
        plain = value.isoformat() if isinstance(value, dt.date | dt.datetime) else value
        changes[name] = {"after": getattr(value, "pk", plain)}
    record_model_event(
        actor=by, action="review", instance=case, changes=changes,
        note=_("%(action)s：%(note)s") % {"action": action, "note": note},
    )
    return case


def can_record_visit(user: Any, case: RiskCase) -> bool:
    """The assigned official or any official of the household's township (administrators too)."""
    if role_of(user) == Role.ADMIN:
        return user_may_see_code(user, case.region_code)
    return _is_township_official_of(user, case)


def _is_township_official_of(user: Any, case: RiskCase) -> bool:
    return (
        getattr(user, "role", None) == Role.TOWNSHIP_OFFICIAL
        and getattr(user, "region", None) is not None
        and user_may_see_code(user, case.region_code)
    )


@transaction.atomic
def assign_for_verification(*, by: Any, case: RiskCase, official: Any) -> RiskCase:
    """预警 → 核实中: county staff ask a township official of the household's township to visit."""
    _require_reviewer(by, case, _("分派入户核实"))
    if official is None or not _is_township_official_of(official, case):
        raise ValidationError({"official": _("核实人须是该户所在乡镇的乡镇干部。")})
    name = official.get_full_name() or official.username
    return _transition(
        by=by,
        case=case,
        allowed=(Status.WARNED,),
        to_status=Status.VERIFYING,
        action=_("分派入户核实"),
        note=_("分派给 %(name)s 入户核实") % {"name": name},
        values={"assigned_to": official},
    )


@transaction.atomic
def record_home_visit(*, by: Any, case: RiskCase, visit_date: dt.date, notes: str, consent_signed: bool) -> RiskCase:
    """The township records the home visit (入户核实) of a case in 核实中; correctable until decided."""
    if not can_record_visit(by, case):
        raise PermissionDenied(_("只有该户所在乡镇的乡镇干部可以录入入户核实情况。"))
    notes = (notes or "").strip()
    errors = {}
    if visit_date is None:
        errors["visit_date"] = _("请填写入户核实日期。")
    elif visit_date > timezone.localdate():
        errors["visit_date"] = _("入户核实日期不能晚于今天。")
    elif visit_date < case.opened_on:
        errors["visit_date"] = _("入户核实日期不能早于首次预警日期（%(date)s）。") % {
            "date": f"{case.opened_on:%Y-%m-%d}"
        }
    if not notes:
        errors["notes"] = _("请填写入户核实情况。")
    if errors:
        raise ValidationError(errors)
    consent = _("已签署授权承诺书") if consent_signed else _("未签署授权承诺书")
    return _transition(
        by=by,
        case=case,
        allowed=(Status.VERIFYING,),
        to_status=Status.VERIFYING,
        action=_("录入入户核实"),
        note=_("%(date)s 入户核实，%(consent)s。%(notes)s") % {
            "date": f"{visit_date:%Y-%m-%d}", "consent": consent, "notes": notes,
        },
        values={"visit_date": visit_date, "visit_notes": notes, "consent_signed": bool(consent_signed)},
    )


def _decision_issues(household: Household, monitoring_type: str, risk_types: list[str]) -> dict[str, str]:
    book = codebook()
    errors: dict[str, str] = {}
    if not monitoring_type:
        errors["monitoring_type"] = _("请选择监测对象类别。")
    elif not book.has("monitoring_type", monitoring_type):
        errors["monitoring_type"] = _("监测对象类别代码“%(code)s”不在数据字典中。") % {"code": monitoring_type}
    else:
        fits = MONITORING_TYPE_FOR_HOUSEHOLD_TYPE.get(monitoring_type)
        if fits is not None and household.household_type not in fits:
            errors["monitoring_type"] = _("“%(monitoring)s”不适用于“%(household)s”。") % {
                "monitoring": book.label("monitoring_type", monitoring_type),
                "household": book.label("household_type", household.household_type),
            }
    unknown = [code for code in risk_types if not book.has("risk_type", code)]
    if not risk_types:
        errors["risk_types"] = _("纳入监测须至少选择一项风险类型。")
    elif unknown:
        errors["risk_types"] = _("风险类型代码“%(code)s”不在数据字典中。") % {"code": _("、").join(unknown)}
    elif len(risk_types) > MAX_RISK_TYPES:
        errors["risk_types"] = _("风险类型最多 %(limit)s 项，现选 %(count)s 项。") % {
            "limit": MAX_RISK_TYPES, "count": len(risk_types),
        }
    elif RISK_NATURAL_DISASTER in risk_types and not household.disaster_subtype:
        errors["risk_types"] = _("选择“因自然灾害”前，须由乡镇干部在户档案中填写灾害类型。")
    return errors


@transaction.atomic
def decide_monitoring(
    *, by: Any, case: RiskCase, monitoring_type: str, risk_types: Iterable[str] | str, reason: str
) -> RiskCase:
    """核实中 → 纳入监测 (county staff, after the home visit): the household becomes a monitoring object,
    through households.services.change_household_status (event 03 纳入监测, effective today)."""
    _require_reviewer(by, case, _("决定纳入监测"))
    if case.status not in (Status.VERIFYING,):
        raise ValidationError(_state_message(case, (Status.VERIFYING,), _("决定纳入监测")), code="state")
    if case.visit_date is None:
        raise ValidationError(_("尚未录入入户核实情况，不能决定纳入监测。"), code="no_visit")
    if not case.consent_signed:
        raise ValidationError(_("农户尚未签署授权承诺书，不能决定纳入监测。"), code="no_consent")
    reason = (reason or "").strip()
    codes = split_codes(risk_types)
    household = Household.objects.get(pk=case.household_id)
    errors = _decision_issues(household, monitoring_type or "", codes)
    if not reason:
        errors["reason"] = _("请填写决定理由。")
    if errors:
        raise ValidationError(errors)
    stored = join_codes(codes)
    decided = _transition(
        by=by,
        case=case,
        allowed=(Status.VERIFYING,),
        to_status=Status.MONITORED,
        action=_("决定纳入监测"),
        note=reason,
        values={
            "monitoring_type": monitoring_type,
            "risk_types": stored,
            "decision_reason": reason,
            "decided_by": by,
            "decided_at": timezone.now(),
        },
    )
    household_services.change_household_status(
        by=by,
        household=household,
        event=STATUS_EVENT_MONITORED,
        effective_date=timezone.localdate(),
        reason=reason,
        changes={"monitoring_type": monitoring_type, "risk_types": stored},
        decided_in_review=True,
    )
    list_tags.refresh_households([household.pk], case=False)  # its risk types, as the list filters them
    return decided


@transaction.atomic
def exclude(*, by: Any, case: RiskCase, reason: str) -> RiskCase:
    """预警 or 核实中 → 排除 (county staff): the household is not a monitoring object; the reason is kept."""
    _require_reviewer(by, case, _("排除"))
    reason = (reason or "").strip()
    if case.status in OPEN_STATUSES and not reason:
        raise ValidationError({"reason": _("排除须填写理由。")})
    return _transition(
        by=by,
        case=case,
        allowed=OPEN_STATUSES,
        to_status=Status.EXCLUDED,
        action=_("排除"),
        note=reason,
        values={"decision_reason": reason, "decided_by": by, "decided_at": timezone.now()},
    )
