"""What each role may do. Views, services and the admin ask these; none decides on its own."""

from typing import Any

from django.core.exceptions import PermissionDenied
from django.utils.translation import gettext as _

from povertycloud.accounts.models import Role


def role_of(user: Any) -> str | None:
    if getattr(user, "is_superuser", False):
        return Role.ADMIN
    return getattr(user, "role", None)


def is_auditor(user: Any) -> bool:
    return role_of(user) == Role.AUDITOR


def can_edit_household_files(user: Any) -> bool:
    return role_of(user) in {Role.TOWNSHIP_OFFICIAL, Role.ADMIN}


def can_review_risks(user: Any) -> bool:
    return role_of(user) in {Role.COUNTY_STAFF, Role.ADMIN}


def can_reveal_sensitive(user: Any) -> bool:
    role = role_of(user)
    if role == Role.AUDITOR:
        return bool(getattr(user, "sensitive_data_access", False))
    return role in {Role.TOWNSHIP_OFFICIAL, Role.COUNTY_STAFF, Role.ADMIN}


def can_see_health(user: Any) -> bool:
    """Health details are hidden from auditors without sensitive data access."""
    return not is_auditor(user) or bool(getattr(user, "sensitive_data_access", False))


def require_household_editor(user: Any) -> None:
    if not can_edit_household_files(user):
        raise PermissionDenied(_("只有乡镇干部和系统管理员可以修改户档案。"))


def can_upload_department_files(user: Any) -> bool:
    return role_of(user) in {Role.COUNTY_STAFF, Role.ADMIN}


def can_decide_links(user: Any) -> bool:
    """Confirm or dismiss a linkage candidate (the service also checks the candidate is in the region)."""
    return role_of(user) in {Role.TOWNSHIP_OFFICIAL, Role.COUNTY_STAFF, Role.ADMIN}
