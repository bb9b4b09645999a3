"""The one list of sensitive fields and the one way each is masked.

Pages, exports, the audit-trail export, the audit admin and the admin of the household file all mask through
this module (households.sensitive adds who may see what and the audited reveal). It lives in the project
package so that the audit app, which knows nothing of households, masks with the same rules.

ID numbers (GB 11643-1999): 6-digit region + 8-digit birth date + 3-digit sequence + check character.
A masked ID shows the region and the birth year only: 5226341980********. Every page that shows a person
shows the village (so the region) and the age (so the year, give or take one) anyway; the month and day
of birth, the sequence and the check character are never shown. The sequence is what makes the number
unique, and the check character is computed from the first 17 characters, so a mask that leaves either in
place (the old 5226**********123X) gives back the whole number to anyone who also sees the birth date, as an
export or the admin does. With this mask, even with the full birth date and the sex (the parity of the last
sequence digit), 500 numbers remain possible, and no page narrows them further.
"""

import re
from collections.abc import Callable, Iterable
from typing import Any

from django.utils.translation import gettext_lazy


def mask_id_number(value: str | None) -> str:
    """522634198005171234 → 5226341980********.

    An 18-character ID (or a disability certificate number, which is an ID followed by the category and
    grade digits) keeps its region and birth year; a 15-digit first-generation ID keeps its region and
    two-digit year (52263480********…); anything else is masked whole.
    """
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) >= 18:
        keep = 10
    elif len(value) == 15:
        keep = 8
    else:
        keep = 0
    return value[:keep] + "*" * (len(value) - keep)


def mask_phone(value: str | None) -> str:
    """13812345678 → 138****5678; a landline 0855-1234567 → 085*****4567."""
    value = (value or "").strip()
    if not value:
        return ""
    if len(value) <= 7:
        return "*" * len(value)
    return value[:3] + "*" * (len(value) - 7) + value[-4:]


def mask_bank_account(value: str | None) -> str:
    """6222020200112231234 → ****1234."""
    value = (value or "").replace(" ", "")
    if not value:
        return ""
    return "****" + value[-4:] if len(value) > 4 else "*" * len(value)


# THE list: every field name, on any model or in any audit record, whose value is masked unless the role may
# reveal it and the user asks for it.
MASKS: dict[str, Callable[[str | None], str]] = {
    "id_number": mask_id_number,  # Person, department records, link candidates
    "disability_certificate": mask_id_number,  # Person (an ID number + category + grade)
    "certificate": mask_id_number,  # the disability department's record
    "phone": mask_phone,  # Household
    "helper_phone": mask_phone,  # AssistanceMeasure: the 帮扶责任人's phone
    "bank_account": mask_bank_account,  # Household
}
SENSITIVE_FIELDS: frozenset[str] = frozenset(MASKS)

# Health details: hidden (not masked) from auditors without sensitive data access.
HEALTH_FIELDS: frozenset[str] = frozenset(
    {
        "health",
        "disability_category",
        "disability_grade",
        "disability_certificate",
        "certificate",
        "certificate_status",
        "chronic_diagnosis",
        "serious_diagnosis",
        "serious_diagnosis_date",
    }
)

HIDDEN_TEXT = gettext_lazy("（已隐藏）")


def mask(field: str, value: Any) -> Any:
    """A value of a field as shown masked; fields that are not sensitive come back as they are."""
    masker = MASKS.get(field)
    if masker is None or value in (None, ""):
        return value
    return masker(str(value))


# Runs of digits in free text that may be an ID number (18 characters, or 20 for a certificate number; 15 for a
# first-generation ID) or a mobile phone number: masked wherever text that people typed or files carried is
# shown (audit notes, object names, changes). A run is taken for an ID only if its birth-date digits are a
# date, so that household numbers (18 digits too, but a village code where the date would be) stay readable.
ID_LIKE = re.compile(r"(?<![\dA-Za-z])(\d{17}[\dXx](?:\d{2})?|\d{15})(?![\dA-Za-z])")
MOBILE_LIKE = re.compile(r"(?<![\dA-Za-z])1[3-9]\d{9}(?![\dA-Za-z])")


def _looks_like_birth_date(digits: str) -> bool:
    year, month, day = int(digits[:4]), int(digits[4:6]), int(digits[6:8])
    return 1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= 31


def _mask_id_run(match: re.Match) -> str:
    run = match.group(0)
    birth = run[6:14] if len(run) != 15 else "19" + run[6:12]
    return mask_id_number(run) if _looks_like_birth_date(birth) else run


def mask_text(text: Any) -> Any:
    """Free text with ID-like and mobile-phone-like runs of digits masked."""
    if not isinstance(text, str) or not text:
        return text
    text = ID_LIKE.sub(_mask_id_run, text)
    return MOBILE_LIKE.sub(lambda m: mask_phone(m.group(0)), text)


def mask_changes(
    changes: Any,
    *,
    reveal: bool = False,
    hide_health: bool = False,
    hidden: Any = HIDDEN_TEXT,
    keep: Iterable[str] = (),
) -> Any:
    """The changes of an audit record (nested dicts and lists) with every sensitive value masked wherever its
    field name appears, health details replaced by `hidden` if hide_health, and ID-like text masked in the
    remaining strings. reveal=True (a role that may, asking for it) leaves sensitive values as stored."""
    kept = set(keep)

    def walk(value: Any, field: str | None) -> Any:
        if isinstance(value, dict):
            return {key: walk(inner, key if key not in ("before", "after") else field) for key, inner in value.items()}
        if isinstance(value, list):
            return [walk(inner, field) for inner in value]
        if value in (None, "") or isinstance(value, bool):
            return value
        if field in kept:
            return value
        if hide_health and field in HEALTH_FIELDS:
            return str(hidden)
        if field in SENSITIVE_FIELDS:
            return value if reveal else mask(field, value)
        return value if reveal else mask_text(value)

    return walk(changes, None)
