"""Changes to who may see and do what, written to the audit trail wherever they happen.

User.save() calls record_user_change for every save that touches an audited field, so that the admin, the
password pages, `createsuperuser`, `changepassword`, the demo's users and any service are all covered
without each remembering to. A password is never written: only that it was set or changed.
"""

from typing import Any

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from povertycloud.audit.context import current_actor
from povertycloud.audit.services import record_event

# Field (attribute) names whose changes are audited, with the name the audit record uses.
AUDITED = {
    "role": "role",
    "region_id": "region",
    "sensitive_data_access": "sensitive_data_access",
    "is_active": "is_active",
    "is_staff": "is_staff",
    "is_superuser": "is_superuser",
    "password": "password",
}
PASSWORD_SET = gettext_lazy("（已设置）")
PASSWORD_CHANGED = gettext_lazy("（已修改）")


def audited_attnames(update_fields: Any) -> list[str]:
    if update_fields is None:
        return list(AUDITED)
    names = {str(name) for name in update_fields}
    return [attname for attname in AUDITED if attname in names or attname.removesuffix("_id") in names]


def record_user_change(*, user: Any, before: dict[str, Any] | None, attnames: list[str], note: str = "") -> None:
    """before: the stored values of attnames before the save (None for a new user)."""
    changes: dict[str, Any] = {}
    for attname in attnames:
        name = AUDITED[attname]
        old = None if before is None else before.get(attname)
        new = getattr(user, attname)
        if old == new:
            continue
        if attname == "password":
            changes[name] = {"before": None if before is None else str(PASSWORD_SET), "after": str(PASSWORD_CHANGED)}
            if before is None:
                changes[name]["after"] = str(PASSWORD_SET) if new else None
            continue
        changes[name] = {"before": old, "after": new}
    if not changes:
        return
    described = []
    if "password" in changes:
        described.append(_("设置密码") if before is None else _("修改密码"))
    if set(changes) - {"password"}:
        described.append(_("角色/辖区/权限"))
    record_event(
        actor=current_actor(),
        action="create" if before is None else "update",
        entity="accounts.user",
        object_pk=user.pk,
        object_repr=user.username,
        region_code=user.region_id or (before or {}).get("region_id") or "",
        changes=changes,
        note=note or (_("新建用户") if before is None else _("修改用户：%(what)s") % {"what": "、".join(described)}),
    )


def record_user_removal(*, user: Any) -> None:
    record_event(
        actor=current_actor(),
        action="delete",
        entity="accounts.user",
        object_pk=user.pk,
        object_repr=user.username,
        region_code=user.region_id or "",
        changes={
            AUDITED[attname]: {"before": getattr(user, attname), "after": None}
            for attname in AUDITED
            if attname != "password"
        },
        note=_("删除用户"),
    )
