"""Stored models: load a RiskModel's artifact, find a target's active model, activate one (admins only).

A model that did not beat the best of its baselines on held-out data (RiskModel.beats_baseline is False,
risk.training.baseline_comparison) is refused unless an administrator overrides with a reason; the override
(who, when, why) is stored on the model, audited, and shown on the model page.
"""

import hashlib
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from povertycloud.accounts.models import Role
from povertycloud.accounts.permissions import role_of
from povertycloud.audit.services import record_event
from risk.models import RiskModel
from risk.training import LogisticRisk, PmtRisk, RulesRisk, XGBoostRisk, load_artifact

Fitted = XGBoostRisk | LogisticRisk | RulesRisk | PmtRisk
_loaded: dict[str, Fitted] = {}


def load_model(model: RiskModel) -> Fitted:
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


def baseline_shortfall(model: RiskModel) -> str:
    """Words for how a model fell short of its best baseline ("" when it did not)."""
    comparison = model.baseline_comparison or {}
    if model.beats_baseline is not False:
        return ""
    kinds = dict(RiskModel.Kind.choices)
    return _("留出数据上 %(metric)s %(value)s，未超过最佳基线“%(baseline)s”的 %(best)s") % {
        "metric": "PR-AUC" if comparison.get("metric") == "pr_auc" else comparison.get("metric", ""),
        "value": _figure(comparison.get("value")),
        "baseline": kinds.get(comparison.get("best_baseline"), comparison.get("best_baseline", "")),
        "best": _figure(comparison.get("best_value")),
    }


def _figure(value: Any) -> str:
    return "—" if value is None else f"{value:.3f}"


@transaction.atomic
def activate_model(*, by: Any, model: RiskModel, override_reason: str = "") -> RiskModel:
    """Make a stored model the one that scores its target; the previous one steps down. Administrators only;
    audited. A model that did not beat its best baseline needs ``override_reason`` (an administrator's
    explicit override, recorded on the model and in the audit trail)."""
    if role_of(by) != Role.ADMIN:
        raise PermissionDenied(_("只有系统管理员可以启用模型。"))
    if not RiskModel.objects.filter(pk=model.pk).exclude(artifact=b"").exists():
        raise ValidationError(_("该模型没有模型文件，不能启用。"))
    model.refresh_from_db(fields=["beats_baseline", "baseline_comparison"])
    shortfall = baseline_shortfall(model)
    override_reason = (override_reason or "").strip()
    if shortfall and not override_reason:
        raise ValidationError(
            _("%(shortfall)s，不能直接启用；系统管理员可以填写理由强制启用（记入审计）。") % {"shortfall": shortfall}
        )
    if not shortfall:
        override_reason = ""
    previous = list(RiskModel.objects.select_for_update().filter(target=model.target, active=True).exclude(pk=model.pk))
    RiskModel.objects.filter(pk__in=[m.pk for m in previous]).update(active=False)
    now = timezone.now()
    override = {"override_by": by, "override_at": now, "override_reason": override_reason} if override_reason else {}
    updated = RiskModel.objects.filter(pk=model.pk, active=False).update(
        active=True, activated_by=by, activated_at=now, **override
    )
    if updated != 1:
        raise ValidationError(_("该模型已是启用状态。"))
    model.refresh_from_db()
    replaced = [m.version for m in previous]
    record_event(
        actor=by,
        action="update",
        entity="risk.riskmodel",
        object_pk=model.pk,
        object_repr=str(model),
        changes={
            "active": {"before": False, "after": True},
            "replaced": replaced,
            **({"override": {"reason": override_reason, "shortfall": shortfall}} if override_reason else {}),
        },
        note=_activation_note(model, replaced, shortfall, override_reason),
    )
    return model


def _activation_note(model: RiskModel, replaced: list[str], shortfall: Any, override_reason: str) -> str:
    note = _("启用%(target)s模型 %(version)s") % {"target": model.get_target_display(), "version": model.version}
    if replaced:
        note += _("，替换 %(versions)s") % {"versions": "、".join(replaced)}
    if override_reason:
        note += _("；强制启用（%(shortfall)s），理由：%(reason)s") % {
            "shortfall": shortfall,
            "reason": override_reason,
        }
    return note
