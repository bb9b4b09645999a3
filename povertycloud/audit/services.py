"""Writing the audit trail. Every service that changes data calls record_event in the same transaction."""

import datetime as dt
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from django.contrib.auth import get_user_model
from django.db import models

from povertycloud.audit.models import AuditEvent


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Whole amounts without decimals ("15000", never "1.5E+4"); others as stored ("18000.50").
        whole = value == value.to_integral_value()
        return format(value.quantize(Decimal(1)) if whole else value, "f")
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, models.Model):
        return value.pk
    return value


def snapshot(instance: models.Model, fields: Iterable[str] | None = None) -> dict[str, Any]:
    """The stored values of an instance, as JSON-able plain values (foreign keys by id)."""
    names = set(fields) if fields is not None else None
    values: dict[str, Any] = {}
    for field in instance._meta.concrete_fields:
        if getattr(field, "generated", False) or field.primary_key:
            continue
        if names is not None and field.name not in names:
            continue
        values[field.name] = _plain(getattr(instance, field.attname))
    return values


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Fields whose value changed, each as {"before": old, "after": new}."""
    keys = set(before) | set(after)
    return {
        key: {"before": before.get(key), "after": after.get(key)}
        for key in sorted(keys)
        if before.get(key) != after.get(key)
    }


def record_event(
    *,
    actor: Any,
    action: str,
    entity: str,
    object_pk: Any = "",
    object_repr: str = "",
    region_code: str = "",
    household_id: int | None = None,
    changes: Mapping[str, Any] | None = None,
    note: str = "",
) -> AuditEvent:
    authenticated = actor is not None and getattr(actor, "is_authenticated", False)
    # A department system calling the API acts too: it is named (api:<id>:<name>) but is not a user.
    is_user = authenticated and isinstance(actor, get_user_model())
    return AuditEvent.objects.create(
        actor=actor if is_user else None,
        actor_username=getattr(actor, "username", "") if authenticated else "system",
        action=action,
        entity=entity,
        object_pk=str(object_pk or ""),
        object_repr=str(object_repr)[:200],
        region_code=region_code,
        household_id=household_id,
        changes=dict(changes or {}),
        note=note,
    )


def record_model_event(
    *,
    actor: Any,
    action: str,
    instance: models.Model,
    changes: Mapping[str, Any] | None = None,
    note: str = "",
) -> AuditEvent:
    """Record an event about a model instance that knows its region and household (audit_context())."""
    context = instance.audit_context() if hasattr(instance, "audit_context") else {}
    return record_event(
        actor=actor,
        action=action,
        entity=instance._meta.label_lower,
        object_pk=instance.pk,
        object_repr=str(instance),
        region_code=context.get("region_code", ""),
        household_id=context.get("household_id"),
        changes=changes,
        note=note,
    )
