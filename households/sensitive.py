"""Sensitive values of the household file: how they are masked, who may see them, and revealing one.

ID numbers (and disability certificate numbers, which contain one), phone numbers (households' and helpers')
and bank accounts are masked on every page, export and admin page unless a role that may reveal them asks for
one value; each reveal is written to the audit trail. Health details are hidden from auditors without
sensitive data access. The list of sensitive fields and the masks are povertycloud.masking's.
"""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from households.models import Household, Person
from povertycloud.accounts.permissions import can_reveal_sensitive, can_see_health
from povertycloud.audit.services import record_model_event
from povertycloud.masking import (  # noqa: F401  (re-exported: the one masking module)
    HEALTH_FIELDS,
    MASKS,
    SENSITIVE_FIELDS,
    mask,
    mask_bank_account,
    mask_changes,
    mask_id_number,
    mask_phone,
    mask_text,
)

HIDDEN = gettext_lazy("（已隐藏）")

# The fields a page may reveal, by model, with their labels. Which field names are masked, and how, is the
# one list in povertycloud.masking (helpers' phones and department records' certificates included).
HOUSEHOLD_FIELDS = {"phone": gettext_lazy("联系电话"), "bank_account": gettext_lazy("银行账号")}
PERSON_FIELDS = {"id_number": gettext_lazy("证件号码"), "disability_certificate": gettext_lazy("残疾证号")}


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
    if not can_reveal_sensitive(by) or (field in HEALTH_FIELDS and not can_see_health(by)):
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
