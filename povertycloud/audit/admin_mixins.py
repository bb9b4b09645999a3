"""Admin writes of reference data (the data dictionary, thresholds, rules) written to the audit trail.

AuditedAdmin records every add, change and delete made through a ModelAdmin, its inlines included, with the
values before and after. The models whose saves go through a service (households, members, measures) are
audited by the service instead and do not use it.
"""

from collections.abc import Callable
from typing import Any

from django.db import models, transaction
from django.utils.translation import gettext_lazy

from povertycloud.audit.services import diff, record_event, snapshot

NOTE = gettext_lazy("管理后台")


def _region_of(obj: models.Model) -> str:
    return getattr(obj, "region_id", "") or getattr(obj, "region_code", "") or ""


def record_admin_write(*, request: Any, obj: models.Model, action: str, before: dict, after: dict) -> None:
    changes = diff(before, after)
    if action == "update" and not changes:
        return
    record_event(
        actor=request.user,
        action=action,
        entity=obj._meta.label_lower,
        object_pk=obj.pk,
        object_repr=str(obj),
        region_code=_region_of(obj),
        changes=changes,
        note=str(NOTE),
    )


def audited_formset_save(request: Any, formset: Any, save: Callable[[], Any]) -> None:
    """Run save() (which saves the inline formset) and record each inline object added, changed or deleted."""
    model = formset.model
    pk_of = {id(form.instance): form.instance.pk for form in formset.initial_forms}  # deletion clears obj.pk
    before = {obj.pk: snapshot(obj) for obj in model._default_manager.filter(pk__in=list(pk_of.values()))}
    save()
    for obj in formset.new_objects:
        record_admin_write(request=request, obj=obj, action="create", before={}, after=snapshot(obj))
    for obj, _fields in formset.changed_objects:
        previous = before.get(obj.pk, {})
        record_admin_write(request=request, obj=obj, action="update", before=previous, after=snapshot(obj))
    for obj in formset.deleted_objects:
        pk = pk_of.get(id(obj), obj.pk)
        obj.pk = obj.pk or pk  # for the audit record's object_pk
        record_admin_write(request=request, obj=obj, action="delete", before=before.get(pk) or snapshot(obj), after={})


class AuditedAdmin:
    """A ModelAdmin mixin: each save, delete and inline change is audited, in the same transaction."""

    def save_model(self, request, obj, form, change):
        before = {}
        if change and obj.pk is not None:
            stored = type(obj)._default_manager.filter(pk=obj.pk).first()
            before = snapshot(stored) if stored is not None else {}
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            record_admin_write(
                request=request, obj=obj, action="update" if change else "create", before=before, after=snapshot(obj)
            )

    def delete_model(self, request, obj):
        before = snapshot(obj)
        with transaction.atomic():
            super().delete_model(request, obj)
            record_admin_write(request=request, obj=obj, action="delete", before=before, after={})

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_model(request, obj)

    def save_formset(self, request, form, formset, change):
        with transaction.atomic():
            audited_formset_save(
                request, formset, lambda: super(AuditedAdmin, self).save_formset(request, form, formset, change)
            )
