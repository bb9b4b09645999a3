"""Writes of assistance measures. Views, the admin and commands all call these functions.

Each write checks the actor's role and region (township officials of the household's township and
administrators write; county staff and auditors read), validates every value with a message in Chinese
(bad input changes nothing), refuses a stale edit (optimistic locking on `version`) and records an audit
event in the same transaction.
"""

import calendar
import datetime as dt
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from households.codes import codebook
from households.models import Household, Person
from households.services import StaleEdit
from households.validation import HEALTH_DISABLED, MAX_RISK_TYPES, Issue, join_codes, raise_for_errors, split_codes
from povertycloud.accounts.permissions import can_edit_household_files
from povertycloud.audit.services import diff, record_model_event, snapshot
from povertycloud.regions.scoping import user_may_see_code
from resources.catalogue import Catalogue, catalogue
from resources.models import AssistanceMeasure

MAX_AMOUNT = Decimal("10000000")  # a single measure above ten million yuan is a typing error
EARLIEST_START = dt.date(2014, 1, 1)  # 建档立卡 began in 2014
TEXT_FIELDS = ("funding_source", "responsible_unit", "helper_name", "helper_unit", "helper_phone", "note")
EDITABLE = (
    "category", "subtype", "person", "amount", "start_date", "end_date", "risk_types", "status", *TEXT_FIELDS,
)
PHONE = re.compile(r"(1\d{10}|0\d{2,3}-?\d{7,8})")


def require_measure_editor(actor: Any, household: Household) -> None:
    if not can_edit_household_files(actor):
        raise PermissionDenied(_("只有乡镇干部和系统管理员可以录入或修改帮扶措施。"))
    if not user_may_see_code(actor, household.village_id):
        raise PermissionDenied(_("不能为本辖区以外的户录入或修改帮扶措施。"))


def add_months(day: dt.date, months: int) -> dt.date:
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def _code_of(value: Any) -> str:
    if value is None:
        return ""
    return str(getattr(value, "pk", value)).strip()


def _as_date(value: Any, name: str, label: str, errors: list[Issue]) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    try:
        return dt.date.fromisoformat(str(value).strip())
    except ValueError:
        message = _("%(label)s“%(value)s”不是有效日期（应为 YYYY-MM-DD）。") % {"label": label, "value": value}
        errors.append(Issue(name, message))
        return None


def _as_amount(value: Any, errors: list[Issue]) -> Decimal | None:
    if value in (None, ""):
        return Decimal("0")
    try:
        amount = Decimal(str(value).replace(",", "").strip())
    except InvalidOperation:
        errors.append(Issue("amount", _("金额“%(value)s”不是数字。") % {"value": value}))
        return None
    if not amount.is_finite():
        errors.append(Issue("amount", _("金额“%(value)s”不是数字。") % {"value": value}))
        return None
    return amount.quantize(Decimal("0.01"))


def clean_measure(
    data: Mapping[str, Any], *, household: Household, book: Catalogue | None = None, today: dt.date | None = None
) -> dict[str, Any]:
    """The model values of a measure from the caller's data, or a ValidationError keyed by field that lists
    every problem at once."""
    book = book or catalogue()
    today = today or timezone.localdate()
    errors: list[Issue] = []
    values: dict[str, Any] = {}

    category_code = _code_of(data.get("category"))
    subtype_code = _code_of(data.get("subtype"))
    category = book.categories.get(category_code)
    subtype = None
    if not category_code:
        errors.append(Issue("category", _("请选择帮扶类别。")))
    elif category is None:
        errors.append(Issue("category", _("帮扶类别代码“%(code)s”不在帮扶措施目录中。") % {"code": category_code}))
    if subtype_code:
        subtype = book.subtypes.get(subtype_code)
        if subtype is None:
            errors.append(Issue("subtype", _("帮扶子类代码“%(code)s”不在帮扶措施目录中。") % {"code": subtype_code}))
        elif category is not None and subtype.category != category.code:
            errors.append(Issue(
                "subtype",
                _("帮扶子类“%(subtype)s”不属于“%(category)s”。") % {"subtype": subtype.name, "category": category.name},
            ))
    elif category is not None and book.subtypes_of(category.code):
        errors.append(Issue("subtype", _("“%(category)s”须选择帮扶子类。") % {"category": category.name}))
    values["category_id"] = category_code
    values["subtype_id"] = subtype_code or None

    person = data.get("person")
    person_id = _code_of(person)
    values["person_id"], values["person_name"] = None, ""
    if person_id:
        member = person if isinstance(person, Person) else None
        if member is None and person_id.isdigit():
            member = Person.objects.filter(pk=int(person_id)).first()
        if member is None or member.household_id != household.pk:
            errors.append(Issue("person", _("所选成员不是本户的家庭成员。")))
        else:
            values["person_id"], values["person_name"] = member.pk, member.name
            if subtype is not None and subtype.attributes.get("member_condition") == "disabled" and (
                f",{HEALTH_DISABLED}," not in member.health
            ):
                errors.append(Issue(
                    "person",
                    _("%(name)s未登记残疾，不能享受“%(subtype)s”。") % {"name": member.name, "subtype": subtype.name},
                ))
    elif subtype is not None and subtype.person_required:
        errors.append(Issue("person", _("“%(subtype)s”须选择享受措施的家庭成员。") % {"subtype": subtype.name}))

    amount = _as_amount(data.get("amount"), errors)
    if amount is not None:
        if amount < 0:
            errors.append(Issue("amount", _("金额不能为负数。")))
        elif amount > MAX_AMOUNT:
            errors.append(Issue(
                "amount",
                _("金额 %(amount)s 元超过单项措施上限 %(limit)s 元，请核对。")
                % {"amount": f"{amount:,.2f}", "limit": f"{MAX_AMOUNT:,.0f}"},
            ))
        elif subtype is not None and subtype.max_amount is not None and amount > subtype.max_amount:
            errors.append(Issue(
                "amount",
                _("“%(subtype)s”金额不能超过 %(limit)s 元。")
                % {"subtype": subtype.name, "limit": f"{subtype.max_amount:,}"},
            ))
        values["amount"] = amount

    start = _as_date(data.get("start_date"), "start_date", _("开始日期"), errors)
    end = _as_date(data.get("end_date"), "end_date", _("结束日期"), errors)
    if start is None and not any(issue.field == "start_date" for issue in errors):
        errors.append(Issue("start_date", _("请填写开始日期。")))
    elif start is not None and start < EARLIEST_START:
        errors.append(Issue("start_date", _("开始日期不能早于 2014 年。")))
    if start is not None and end is not None and end < start:
        errors.append(Issue("end_date", _("结束日期不能早于开始日期。")))
    if subtype is not None and subtype.max_months is not None and start is not None:
        years = subtype.max_months // 12
        if end is None:
            errors.append(Issue(
                "end_date",
                _("“%(subtype)s”须填写结束日期（期限不超过 %(years)s 年）。")
                % {"subtype": subtype.name, "years": years},
            ))
        elif end > add_months(start, subtype.max_months):
            errors.append(Issue(
                "end_date", _("“%(subtype)s”期限不能超过 %(years)s 年。") % {"subtype": subtype.name, "years": years}
            ))
    values["start_date"], values["end_date"] = start, end

    status = str(data.get("status") or AssistanceMeasure.Status.PLANNED)
    if status not in AssistanceMeasure.Status.values:
        errors.append(Issue("status", _("实施状态“%(status)s”无效。") % {"status": status}))
    elif status == AssistanceMeasure.Status.IMPLEMENTED and start is not None and start > today:
        errors.append(Issue("status", _("开始日期晚于今天的措施只能登记为“尚未实施”。")))
    values["status"] = status

    codes = split_codes(data.get("risk_types"))
    labels = codebook()
    for code in codes:
        if not labels.has("risk_type", code):
            errors.append(Issue("risk_types", _("风险类型代码“%(code)s”不在数据字典中。") % {"code": code}))
    if len(codes) > MAX_RISK_TYPES:
        errors.append(Issue("risk_types", _("针对的风险类型最多 %(count)s 项。") % {"count": MAX_RISK_TYPES}))
    own = set(household.risk_type_codes)
    foreign = [labels.label("risk_type", code) for code in codes if own and code not in own]
    if foreign:
        errors.append(Issue(
            "risk_types", _("该户的风险类型中没有“%(types)s”。") % {"types": _("、").join(foreign)}
        ))
    values["risk_types"] = join_codes(codes)

    for name in TEXT_FIELDS:
        values[name] = str(data.get(name) or "").strip()
    limits = {"funding_source": 100, "responsible_unit": 100, "helper_name": 50, "helper_unit": 100}
    for name, limit in limits.items():
        if len(values[name]) > limit:
            errors.append(Issue(name, _("不能超过 %(limit)s 个字。") % {"limit": limit}))
    if values["helper_phone"] and not PHONE.fullmatch(values["helper_phone"]):
        errors.append(Issue("helper_phone", _("帮扶责任人电话应为 11 位手机号或带区号的固定电话。")))
    raise_for_errors(errors)
    return values


@transaction.atomic
def record_measure(*, by: Any, household: Household, data: Mapping[str, Any]) -> AssistanceMeasure:
    """Record a measure for a household (and a member where it applies)."""
    require_measure_editor(by, household)
    values = clean_measure(data, household=household)
    measure = AssistanceMeasure.objects.create(
        household=household, created_by=by if getattr(by, "is_authenticated", False) else None, **values
    )
    record_model_event(actor=by, action="create", instance=measure, changes=diff({}, snapshot(measure)))
    return measure


def measure_data(measure: AssistanceMeasure) -> dict[str, Any]:
    """The editable values of a stored measure, as record_measure takes them."""
    return {
        "category": measure.category_id,
        "subtype": measure.subtype_id or "",
        "person": measure.person_id or "",
        "amount": measure.amount,
        "start_date": measure.start_date,
        "end_date": measure.end_date,
        "risk_types": measure.risk_types,
        "status": measure.status,
        **{name: getattr(measure, name) for name in TEXT_FIELDS},
    }


@transaction.atomic
def update_measure(
    *, by: Any, measure: AssistanceMeasure, data: Mapping[str, Any], expected_version: int
) -> AssistanceMeasure:
    """Change a measure. The update is conditional on the version the form was opened with: a second save
    of a stale form is refused (StaleEdit), not silently lost."""
    household = Household.objects.get(pk=measure.household_id)
    require_measure_editor(by, household)
    merged = {**measure_data(measure), **{k: v for k, v in data.items() if k in EDITABLE}}
    values = clean_measure(merged, household=household)
    if measure.person_id is None and not values["person_id"]:
        values["person_name"] = measure.person_name  # the member has left the file; keep who it was for
    before = snapshot(measure)
    updated = AssistanceMeasure.objects.filter(pk=measure.pk, version=expected_version).update(
        **values, version=F("version") + 1, updated_at=timezone.now()
    )
    if updated != 1:
        raise StaleEdit(_("该帮扶措施"))
    measure.refresh_from_db()
    record_model_event(actor=by, action="update", instance=measure, changes=diff(before, snapshot(measure)))
    return measure


@transaction.atomic
def remove_measure(*, by: Any, measure: AssistanceMeasure, reason: str) -> None:
    """Delete a measure recorded in error; the audit trail keeps every value and the reason."""
    household = Household.objects.get(pk=measure.household_id)
    require_measure_editor(by, household)
    if not (reason or "").strip():
        raise ValidationError({"reason": _("删除帮扶措施须填写原因。")})
    before = snapshot(measure)
    record_model_event(actor=by, action="delete", instance=measure, changes=diff(before, {}), note=reason.strip())
    measure.delete()
