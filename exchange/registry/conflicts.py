"""Settling a registry conflict: the township keeps the household file's value or takes the export's.

Taking the export's value goes through the household file's own services (validated, version-checked,
audited), as an official's edit would; a member the export no longer lists is closed as an official's
removal closes one. Keeping the system's value changes nothing but the conflict. Either
way the conflict records who settled it and when, with a conditional update so that two officials cannot
both settle it.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange.registry.models import RegistryConflict
from households import services
from households.models import Household, IncomeRecord, Person
from povertycloud.accounts.permissions import can_edit_household_files
from povertycloud.audit.services import record_event
from povertycloud.regions.scoping import user_may_see_code

MODELS = {
    "households.household": Household,
    "households.person": Person,
    "households.incomerecord": IncomeRecord,
}
Status = RegistryConflict.Status


def _value(model: type[models.Model], name: str, text: str) -> Any:
    """A conflict's export value (kept as text) as the field's own type."""
    field = model._meta.get_field(name.removesuffix("_id") if name.endswith("_id") else name)
    if text == "":
        return None if field.null else ""
    if isinstance(field, models.BooleanField):
        return text == "True"
    if isinstance(field, models.DecimalField):
        return Decimal(text)
    if isinstance(field, models.IntegerField):
        return int(float(text))
    if isinstance(field, models.DateField):
        return dt.date.fromisoformat(text)
    if isinstance(field, models.ForeignKey):
        return text
    return text


def settle_conflict(*, by: Any, conflict: RegistryConflict, take_export: bool) -> RegistryConflict:
    if not can_edit_household_files(by) or not user_may_see_code(by, conflict.region_code):
        raise PermissionDenied(_("只有本辖区的乡镇干部和系统管理员可以处理户档案导入冲突。"))
    with transaction.atomic():
        settled = RegistryConflict.objects.filter(pk=conflict.pk, status=Status.OPEN).update(
            status=Status.TAKEN if take_export else Status.KEPT, settled_by=by, settled_at=timezone.now()
        )
        if not settled:
            raise ValidationError(_("这处冲突已由他人处理。"))
        if take_export:
            model = MODELS[conflict.entity]
            # The base manager: a conflict can be about a member who has left (Person.objects leaves them out).
            target = model._base_manager.select_for_update().get(pk=conflict.object_id)
            data = {conflict.field: _value(model, conflict.field, conflict.export_value)}
            if model is Person and conflict.field == "left_on" and data["left_on"] is not None:
                # The export no longer lists a member an official added or edited since the previous import.
                services.remove_person(
                    by=by, person=target, left_on=data["left_on"],
                    reason=_("户档案导入（批次 #%(pk)s）：导出数据中已无此成员") % {"pk": conflict.batch_id},
                )
            elif model is Person and conflict.field == "left_on":
                # The export still lists a member an official closed since the previous import.
                services.reopen_person(
                    by=by, person=target,
                    reason=_("采用户档案导入（批次 #%(pk)s）：导出数据中仍有此成员") % {"pk": conflict.batch_id},
                )
            elif model is Household:
                services.update_household(
                    by=by, household=target, data=data, expected_version=target.version,
                    reason=_("采用户档案导入（批次 #%(pk)s）的值") % {"pk": conflict.batch_id},
                )
            elif model is Person:
                services.update_person(by=by, person=target, data=data, expected_version=target.version)
            else:
                services.record_income(
                    by=by, household=target.household,
                    data={"year": target.year, "household_size": target.household_size, **data},
                    expected_version=target.version,
                )
        record_event(
            actor=by, action="review", entity=RegistryConflict._meta.label_lower, object_pk=conflict.pk,
            object_repr=str(conflict), region_code=conflict.region_code, household_id=conflict.household_id,
            changes={"field": conflict.field, "taken": "export" if take_export else "system"},
        )
    conflict.refresh_from_db()
    return conflict
