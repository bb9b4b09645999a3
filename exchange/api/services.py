"""Writes for department API clients: create a client, issue and revoke tokens, set what it may read.

Every change is audited. A token is ``pc_<prefix>_<secret>``; only its SHA-256 digest is stored, so it can be
shown once (when issued) and never again; a lost token is revoked and a new one issued.
"""

import datetime as dt
import hashlib
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange.api.datasets import DATASETS, all_scopes
from exchange.api.models import ApiClient, ApiToken
from exchange.declarations import is_department
from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.audit.services import record_event, record_model_event, snapshot
from povertycloud.regions.models import Region

TOKEN_DAYS = 365
MAX_TOKEN_DAYS = 3 * 365


@dataclass(frozen=True)
class IssuedToken:
    token: ApiToken
    secret: str  # the whole token, shown to the administrator once


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _require_admin(by: Any) -> None:
    if role_of(by) != Role.ADMIN:
        raise PermissionDenied(_("只有系统管理员可以管理接口客户端。"))


def clean_scopes(scopes: Iterable[str]) -> list[str]:
    known = {scope for scope, _label in all_scopes()}
    scopes = list(dict.fromkeys(scopes))
    unknown = [scope for scope in scopes if scope not in known]
    if unknown:
        raise ValidationError(_("未知的权限范围：%(scopes)s") % {"scopes": "、".join(unknown)}, code="unknown_scope")
    return scopes


def clean_fields(fields: dict[str, Iterable[str]]) -> dict[str, list[str]]:
    cleaned: dict[str, list[str]] = {}
    for slug, names in (fields or {}).items():
        dataset = DATASETS.get(slug)
        if dataset is None:
            raise ValidationError(_("未知的数据集：%(dataset)s") % {"dataset": slug}, code="unknown_dataset")
        names = list(dict.fromkeys(names))
        unknown = [name for name in names if name not in dataset.field_names]
        if unknown:
            raise ValidationError(
                _("数据集“%(dataset)s”没有字段：%(fields)s") % {"dataset": dataset.label, "fields": "、".join(unknown)},
                code="unknown_field",
            )
        if "id_number" not in names:
            names.insert(0, "id_number")  # a department joins by ID number: every share carries it
        cleaned[slug] = names
    return cleaned


def readable_fields(client: ApiClient, dataset_slug: str) -> list[str]:
    """The fields of a dataset the client may read: its own list, or the dataset's least."""
    dataset = DATASETS[dataset_slug]
    chosen = (client.fields or {}).get(dataset_slug)
    names = chosen if chosen else list(dataset.default_fields)
    return [name for name in dataset.field_names if name in names]


def create_client(
    *,
    name: str,
    department: str,
    region: Region,
    scopes: Iterable[str],
    by: Any,
    purpose: str = "",
    fields: dict[str, Iterable[str]] | None = None,
    rate_per_minute: int = 120,
) -> ApiClient:
    _require_admin(by)
    if not is_department(department):
        raise ValidationError(_("未知的部门“%(slug)s”。") % {"slug": department}, code="unknown_department")
    with transaction.atomic():
        client = ApiClient.objects.create(
            name=name.strip(),
            department=department,
            region=region,
            scopes=clean_scopes(scopes),
            fields=clean_fields(fields or {}),
            purpose=purpose.strip(),
            rate_per_minute=rate_per_minute,
            created_by=by if getattr(by, "is_authenticated", False) else None,
        )
        record_model_event(actor=by, action="create", instance=client, changes=snapshot(client))
    return client


def update_client(*, client: ApiClient, by: Any, **values: Any) -> ApiClient:
    """Change scopes, readable fields, purpose, rate or active; audited with before and after."""
    _require_admin(by)
    if "scopes" in values:
        values["scopes"] = clean_scopes(values["scopes"])
    if "fields" in values:
        values["fields"] = clean_fields(values["fields"])
    allowed = {"name", "scopes", "fields", "purpose", "rate_per_minute", "active"}
    unknown = set(values) - allowed
    if unknown:
        raise TypeError(f"update_client cannot change {sorted(unknown)}")
    with transaction.atomic():
        locked = ApiClient.objects.select_for_update().get(pk=client.pk)
        before = snapshot(locked, values)
        for name, value in values.items():
            setattr(locked, name, value)
        locked.save(update_fields=list(values))
        after = snapshot(locked, values)
        changes = {k: {"before": before[k], "after": after[k]} for k in values if before[k] != after[k]}
        if changes:
            record_model_event(actor=by, action="update", instance=locked, changes=changes)
    return locked


def issue_token(*, client: ApiClient, by: Any, days: int = TOKEN_DAYS) -> IssuedToken:
    _require_admin(by)
    if not 1 <= days <= MAX_TOKEN_DAYS:
        raise ValidationError(
            _("令牌有效期应为 1 到 %(max)s 天。") % {"max": MAX_TOKEN_DAYS}, code="invalid_expiry"
        )
    prefix = secrets.token_hex(4)
    secret = f"pc_{prefix}_{secrets.token_urlsafe(32)}"
    with transaction.atomic():
        token = ApiToken.objects.create(
            client=client,
            prefix=f"pc_{prefix}",
            digest=digest_of(secret),
            created_by=by if getattr(by, "is_authenticated", False) else None,
            expires_at=timezone.now() + dt.timedelta(days=days),
        )
        record_event(
            actor=by, action="create", entity="exchange.apitoken", object_pk=token.pk,
            object_repr=f"{client.name} {token.prefix}…", region_code=client.region_id,
            changes={"client": client.pk, "expires_at": token.expires_at.isoformat()},
        )
    return IssuedToken(token=token, secret=secret)


def revoke_token(*, token: ApiToken, by: Any) -> ApiToken:
    _require_admin(by)
    with transaction.atomic():
        now = timezone.now()
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(revoked_at=now, revoked_by=by)
        token.refresh_from_db()
        if revoked:
            record_event(
                actor=by, action="update", entity="exchange.apitoken", object_pk=token.pk,
                object_repr=f"{token.client.name} {token.prefix}…", region_code=token.client.region_id,
                changes={"revoked_at": {"before": None, "after": now.isoformat()}},
            )
    return token


def find_token(secret: str) -> ApiToken | None:
    """The token a request presents, whatever its state (the caller tells expired, revoked and disabled apart)."""
    if not secret or len(secret) > 200:
        return None
    return ApiToken.objects.select_related("client", "client__region").filter(digest=digest_of(secret)).first()


def note_use(token: ApiToken) -> None:
    """Record when a token was last used: at most one write a minute per token, not one per call."""
    now = timezone.now()
    if token.last_used_at is None or now - token.last_used_at > dt.timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
