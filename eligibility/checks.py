"""Whether a cross-check, as an administrator declared it, can be run: every reason it cannot, in the user's language.

``check_cross_check(check) -> list[str]`` (empty: it can run) is what the admin's form, the fixture loader and the
run itself ask. A check names a department (declared in code or as data), a field of it for the conditions that
read one, the values or threshold the condition compares with, and, for a payment list, the payment department
with its date and amount fields; the condition must fit the subject.
"""

from django.core.exceptions import FieldDoesNotExist
from django.utils.translation import gettext as _

from eligibility.models import CrossCheck
from exchange.declarations import COLUMN_FIELDS, Department, Kind, get_department

Subject, Condition = CrossCheck.Subject, CrossCheck.Condition

REGISTRY_SUBJECTS = frozenset({Subject.MEMBERS, Subject.MONITORED, Subject.ASSISTED})
PAYMENT_SUBJECTS = frozenset({Subject.MEASURES, Subject.PAYMENT_LIST})
# The conditions that read a field of the evidence record.
FIELD_CONDITIONS = frozenset({Condition.VALUE_IN, Condition.VALUE_GTE, Condition.FLAG_TRUE, Condition.PAID_AFTER_DATE})
# Which conditions fit which subject: a payment's date is compared with a record's date only for payments; "not in
# the registry" is said of a payment list's payees.
CONDITIONS_FOR = {
    Subject.MEMBERS: {Condition.HAS_RECORD, Condition.VALUE_IN, Condition.VALUE_GTE, Condition.FLAG_TRUE},
    Subject.MONITORED: {Condition.HAS_RECORD, Condition.VALUE_IN, Condition.VALUE_GTE, Condition.FLAG_TRUE},
    Subject.ASSISTED: {Condition.HAS_RECORD, Condition.VALUE_IN, Condition.VALUE_GTE, Condition.FLAG_TRUE},
    Subject.MEASURES: {
        Condition.HAS_RECORD, Condition.VALUE_IN, Condition.VALUE_GTE, Condition.FLAG_TRUE, Condition.PAID_AFTER_DATE
    },
    Subject.PAYMENT_LIST: {
        Condition.HAS_RECORD, Condition.VALUE_IN, Condition.VALUE_GTE, Condition.FLAG_TRUE, Condition.PAID_AFTER_DATE,
        Condition.NOT_IN_REGISTRY,
    },
}
NUMERIC_KINDS = frozenset({Kind.AMOUNT, Kind.INTEGER})
TYPED_KINDS = {
    "DateField": Kind.DATE, "DecimalField": Kind.AMOUNT, "FloatField": Kind.AMOUNT, "IntegerField": Kind.INTEGER,
    "PositiveIntegerField": Kind.INTEGER, "PositiveSmallIntegerField": Kind.INTEGER, "SmallIntegerField": Kind.INTEGER,
    "BigIntegerField": Kind.INTEGER, "BooleanField": Kind.FLAG,
}  # fmt: skip


def department_or_none(slug: str) -> Department | None:
    if not slug:
        return None
    try:
        return get_department(slug)
    except LookupError:
        return None


def field_kind(department: Department, name: str) -> Kind | None:
    """How a field of the department is read (None: the department has no such field). A declared department's
    fields are its declared keys; a typed one's are its record model's fields."""
    if department.declared_as_data:
        spec = next((s for s in department.fields if s.name == name), None)
        return spec.kind if spec is not None else None
    try:
        field = department.model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    if field.is_relation:
        return None
    spec = next((s for s in department.fields if s.name == name), None)
    if spec is not None:
        return spec.kind
    return TYPED_KINDS.get(field.get_internal_type(), Kind.TEXT)


def value_list(check: CrossCheck) -> list[str]:
    return [value.strip() for value in (check.values or "").split(",") if value.strip()]


def check_cross_check(check: CrossCheck, *, departments: dict[str, Department | None] | None = None) -> list[str]:
    """Every reason the check cannot be run as declared (empty when it can). ``departments`` keeps the departments
    read (by slug) for the next check of a run."""
    errors: list[str] = []
    known = departments if departments is not None else {}

    def department_of(slug: str) -> Department | None:
        if slug not in known:
            known[slug] = department_or_none(slug)
        return known[slug]

    subject, condition = check.subject, check.condition
    if subject not in Subject.values:
        errors.append(_("比对对象“%(subject)s”未知。") % {"subject": subject})
    if condition not in Condition.values:
        errors.append(_("条件“%(condition)s”未知。") % {"condition": condition})
    if check.outcome not in CrossCheck.Outcome.values:
        errors.append(_("请选择核实属实后的处理。"))
    department = department_of(check.department)
    if department is None:
        errors.append(_("部门“%(department)s”没有声明。") % {"department": check.department})
    if subject in Subject.values and condition in Condition.values and condition not in CONDITIONS_FOR[subject]:
        errors.append(
            _("条件“%(condition)s”不适用于比对对象“%(subject)s”。")
            % {"condition": Condition(condition).label, "subject": Subject(subject).label}
        )
    kind = None
    if condition in FIELD_CONDITIONS:
        if not check.field:
            errors.append(_("条件“%(condition)s”需要指定字段。") % {"condition": Condition(condition).label})
        elif department is not None:
            kind = field_kind(department, check.field)
            if kind is None or check.field == "id_number":
                errors.append(
                    _("部门“%(department)s”没有字段“%(field)s”。")
                    % {"department": check.department, "field": check.field}
                )
                kind = None
    if condition == Condition.VALUE_IN and not value_list(check):
        errors.append(_("条件“字段取值属于”需要填写取值（逗号分隔）。"))
    if condition == Condition.VALUE_GTE:
        if check.threshold is None:
            errors.append(_("条件“字段不小于”需要填写阈值。"))
        if kind is not None and kind not in NUMERIC_KINDS:
            errors.append(_("字段“%(field)s”不是金额或整数，不能与阈值比较。") % {"field": check.field})
    if condition == Condition.FLAG_TRUE and kind is not None and kind != Kind.FLAG:
        errors.append(_("字段“%(field)s”不是是/否字段。") % {"field": check.field})
    if condition == Condition.PAID_AFTER_DATE and kind is not None and kind != Kind.DATE:
        errors.append(_("字段“%(field)s”不是日期，不能与发放日期比较。") % {"field": check.field})
    if subject == Subject.PAYMENT_LIST:
        errors.extend(_payment_list_errors(check, department_of(check.payment_department)))
    elif check.payment_department or check.payment_date_field or check.payment_amount_field:
        errors.append(_("只有比对对象为部门发放名单时才填写发放名单部门及其字段。"))
    same_list = check.department == check.payment_department
    if condition == Condition.NOT_IN_REGISTRY and check.payment_department and not same_list:
        errors.append(_("“不在户档案中”的比对部门应与发放名单部门相同。"))
    if check.threshold is not None and condition != Condition.VALUE_GTE:
        errors.append(_("只有条件“字段不小于”才填写阈值。"))
    if check.values and condition != Condition.VALUE_IN:
        errors.append(_("只有条件“字段取值属于”才填写取值。"))
    return errors


def _payment_list_errors(check: CrossCheck, payments: Department | None) -> list[str]:
    errors: list[str] = []
    if not check.payment_department:
        return [_("比对对象为部门发放名单时，请填写发放名单部门。")]
    if payments is None:
        return [_("发放名单部门“%(department)s”没有声明。") % {"department": check.payment_department}]
    for name, wanted, missing, wrong in (
        (check.payment_date_field, {Kind.DATE}, _("请填写发放日期字段。"), _("发放日期字段“%(field)s”不是日期。")),
        (
            check.payment_amount_field, NUMERIC_KINDS, _("请填写发放金额字段。"),
            _("发放金额字段“%(field)s”不是金额或整数。"),
        ),
    ):
        if not name:
            errors.append(missing)
            continue
        kind = field_kind(payments, name)
        if kind is None or name in COLUMN_FIELDS:
            errors.append(
                _("部门“%(department)s”没有字段“%(field)s”。") % {"department": check.payment_department, "field": name}
            )
        elif kind not in wanted:
            errors.append(wrong % {"field": name})
    return errors
