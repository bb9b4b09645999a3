"""Stored models: load a RiskModel's artifact, find a target's active model, activate one (admins only)."""

import hashlib
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.audit.services import record_event
from risk.models import RiskModel
from risk.training import LogisticRisk, RulesRisk, XGBoostRisk, load_artifact

_loaded: dict[str, XGBoostRisk | LogisticRisk | RulesRisk] = {}


def load_model(model: RiskModel) -> XGBoostRisk | LogisticRisk | RulesRisk:
    """The fitted model behind a RiskModel row (deserialised once per artifact)."""
    artifact = model.artifact
    if artifact is None or not len(artifact):
        artifact = RiskModel.objects.values_list("artifact", flat=True).get(pk=model.pk)
    key = hashlib.sha256(artifact).hexdigest()
    if key not in _loaded:
        _loaded[key] = load_artifact(artifact)
    return _loaded[key]


def active_model(target: str) -> RiskModel | None:
    return RiskModel.objects.filter(target=target, active=True).first()


@transaction.atomic
def activate_model(*, by: Any, model: RiskModel) -> RiskModel:
    """Make a stored model the one that scores its target; the previous one steps down. Administrators only;
    audited."""
    if role_of(by) != Role.ADMIN:
        raise PermissionDenied("只有系统管理员可以启用模型。")
    if not RiskModel.objects.filter(pk=model.pk).exclude(artifact=b"").exists():
        raise ValidationError("该模型没有模型文件，不能启用。")
    previous = list(
        RiskModel.objects.select_for_update().filter(target=model.target, active=True).exclude(pk=model.pk)
    )
    RiskModel.objects.filter(pk__in=[m.pk for m in previous]).update(active=False)
    updated = RiskModel.objects.filter(pk=model.pk, active=False).update(
        active=True, activated_by=by, activated_at=timezone.now()
    )
    if updated != 1:
        raise ValidationError("该模型已是启用状态。")
    model.refresh_from_db()
    replaced = [m.version for m in previous]
    record_event(
        actor=by,
        action="update",
        entity="risk.riskmodel",
        object_pk=model.pk,
        object_repr=str(model),
        changes={"active": {"before": False, "after": True}, "replaced": replaced},
        note=f"启用{model.get_target_display()}模型 {model.version}"
        + (f"，替换 {'、'.join(replaced)}" if replaced else ""),
    )
    return model
