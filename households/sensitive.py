"""Sensitive values of the household file: how they are masked, who may see them, and revealing one.

ID numbers (and disability certificate numbers, which contain one), phone numbers and bank accounts are
masked on every page and export unless a role that may reveal them asks for one value; each reveal is
written to the audit trail. Health details are hidden from auditors without sensitive data access.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from households.models import Household, Person
from povertycloud.accounts.permissions import can_reveal_sensitive, is_auditor
from povertycloud.audit.services import record_model_event

HIDDEN = gettext_lazy("（已隐藏）")

# Field names whose values are masked by default, by model.
HOUSEHOLD_FIELDS = {"phone": gettext_lazy("联系电话"), "bank_account": gettext_lazy("银行账号")}
PERSON_FIELDS = {"id_number": gettext_lazy("证件号码"), "disability_certificate": gettext_lazy("残疾证号")}
HEALTH_FIELDS = {"health", "disability_category", "disability_grade", "disability_certificate"}
SENSITIVE_FIELDS = {*HOUSEHOLD_FIELDS, *PERSON_FIELDS}


def _keep_ends(value: str, head: int, tail: int) -> str:
    if len(value) <= head + tail:
        return "*" * len(value)
    return value[:head] + "*" * (len(value) - head - tail) + value[len(value) - tail :]


def mask_id_number(value: str | None) -> str:
    """5226**********123X: region of the first four digits and the last four stay visible."""
    value = (value or "").strip()
    return _keep_ends(value, 4, 4) if value else ""


def mask_phone(value: str | None) -> str:
    """138****5678."""
    value = (value or "").strip()
    return _keep_ends(value, 3, 4) if value else ""


def mask_bank_account(value: str | None) -> str:
    """****1234."""
    value = (value or "").replace(" ", "")
    if not value:
        return ""
    return "****" + value[-4:] if len(value) > 4 else "*" * len(value)


MASKS = {
    "id_number": mask_id_number,
    "disability_certificate": mask_id_number,
    "phone": mask_phone,
    "bank_account": mask_bank_account,
}


def mask(field: str, value: Any) -> Any:
    masker = MASKS.get(field)
    if masker is None or value in (None, ""):
        return value
    return masker(str(value))


def can_see_health(user: Any) -> bool:
    return not is_auditor(user) or bool(getattr(user, "sensitive_data_access", False))


def shown(user: Any, field: str, value: Any, *, revealed: bool = False) -> Any:
    """A stored value as this user may see it on a page or in an export."""
    if field in HEALTH_FIELDS and not can_see_health(user) and value not in (None, ""):
        return HIDDEN
    if field in SENSITIVE_FIELDS and not (revealed and can_reveal_sensitive(user)):
        return mask(field, value)
    return value


def reveal_value(*, by: Any, household: Household, field: str, person: Person | None = None) -> str:
    """The unmasked value of one field, recorded in the audit trail as a reveal.

    The caller has already found household (and person) through the user's region scope.
    """
    if not can_reveal_sensitive(by):
        raise PermissionDenied(_("您的角色不能查看完整的敏感信息。"))
    if person is not None:
        if field not in PERSON_FIELDS or person.household_id != household.pk:
            raise ValueError(f"cannot reveal {field} of a person")
        instance, label = person, PERSON_FIELDS[field]
    else:
        if field not in HOUSEHOLD_FIELDS:
            raise ValueError(f"cannot reveal {field} of a household")
        instance, label = household, HOUSEHOLD_FIELDS[field]
    value = getattr(instance, field) or ""
    record_model_event(
        actor=by,
        action="reveal",
        instance=instance,
        changes={"field": field},
        note=_("查看%(label)s：%(name)s") % {"label": label, "name": str(instance)},
    )
    return value
