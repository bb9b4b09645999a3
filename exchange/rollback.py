"""Undoing a department batch that should not have been imported: as if it had never arrived.

``rollback_batch(*, batch, by, reason, dry_run=False)`` → RollbackResult. The web page's button and
``manage.py rollback_batch`` call it; only county staff of the batch's region and administrators may.

What "as if it had never arrived" means here:
- the versions the batch opened become void: kept (a risk warning, a linkage candidate or the audit trail
  may name them by id), marked ``void`` and given valid_to = valid_from, an empty interval, so that no read
  finds them current or in force on any date. ``SourceRecord.objects`` leaves void versions out, so every
  history read (exchange.history, risk features and rules, resources outcomes and checks, pages) ignores
  them without a change of its own;
- the versions the batch closed (``closed_by``) are current again (valid_to and closed_by cleared);
- its pending linkage candidates are superseded;
- the batch keeps its row, its rejected rows and its audit trail, with status 已撤销, who, when and why; a
  corrected file for the same (or an earlier) period is accepted afterwards, since only batches that stand
  count for the period check and the same-file check.

Only the latest standing batch of the department in the batch's region (or any region that overlaps it) can
be rolled back: a later batch may have changed or closed the versions this one opened, and undoing the earlier
one alone would leave the later one's history resting on versions that never held. Roll the later ones back
first, newest first.
"""

from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from exchange import quality
from exchange.exports import batch_department
from exchange.models import ImportBatch, LinkCandidate
from exchange.pipeline import _lock_department, may_decide_batch
from povertycloud.audit.services import record_event

Status = ImportBatch.Status


@dataclass
class RollbackResult:
    batch: ImportBatch
    voided: int = 0  # versions the batch opened, now void
    reopened: int = 0  # versions the batch closed, now current again
    superseded_candidates: int = 0
    dry_run: bool = True
    later: list[int] = field(default_factory=list)


def code_prefix(code: str) -> str:
    """The significant digits of a 12-digit region code (2, 4, 6, 9 or 12), without a query."""
    for length in (2, 4, 6, 9):
        if not code[length:].strip("0"):
            return code[:length]
    return code


def later_standing_batches(batch: ImportBatch) -> list[ImportBatch]:
    """Standing batches of the same department, in an overlapping region, that ran after this one. One query."""
    mine = code_prefix(batch.region_code)
    found = (
        ImportBatch.objects.filter(department=batch.department, status=Status.SUCCEEDED)
        .exclude(pk=batch.pk)
        .filter(
            Q(pk__gt=batch.pk) if batch.finished_at is None
            else Q(finished_at__gt=batch.finished_at) | Q(finished_at=batch.finished_at, pk__gt=batch.pk)
            | Q(finished_at__isnull=True, pk__gt=batch.pk)
        )
        .only("pk", "region_code", "period")
        .order_by("pk")
    )
    return [
        other for other in found
        if other.region_code.startswith(mine) or batch.region_code.startswith(code_prefix(other.region_code))
    ]


def refuse_unless_latest_standing(batch: ImportBatch, *, later_message: str) -> None:
    """A batch is undone only while it succeeded and nothing of its kind in an overlapping region came after it.

    ``later_message`` says so in the words of the import (%(later)s: the later batches' numbers)."""
    if batch.status != Status.SUCCEEDED:
        raise ValidationError(
            _("只有已完成的批次可以撤销；批次 #%(pk)s 的状态是“%(status)s”。")
            % {"pk": batch.pk, "status": batch.get_status_display()},
            code="status",
        )
    later = later_standing_batches(batch)
    if later:
        raise ValidationError(later_message % {"later": "、".join(f"#{b.pk}" for b in later)}, code="later")


def rollback_batch(*, batch: ImportBatch, by: Any, reason: str, dry_run: bool = False) -> RollbackResult:
    if not may_decide_batch(by, batch):
        raise PermissionDenied(_("只有本地区的县级工作人员和系统管理员可以撤销批次。"))
    reason = (reason or "").strip()
    if not reason:
        raise ValidationError({"reason": _("撤销批次须填写原因。")}, code="reason")
    department = batch_department(batch.department)  # a deactivated declared department's batches too
    model = department.model
    with transaction.atomic():
        _lock_department(department, batch.region_code)
        batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
        refuse_unless_latest_standing(
            batch, later_message=_("本部门在同一地区还有更晚导入的批次（%(later)s），请先从最新的批次起依次撤销。")
        )
        opened = model.all_versions.filter(batch=batch, void=False)
        closed = model.all_versions.filter(closed_by=batch)
        if opened.filter(valid_to__isnull=False).exists():
            # Only a later batch closes this one's versions, and none stands: the data disagree. Do nothing.
            raise ValidationError(_("本批次的部分记录已被其他批次终止，不能撤销。"), code="changed")
        result = RollbackResult(batch=batch, dry_run=dry_run)
        if dry_run:
            result.voided, result.reopened = opened.count(), closed.count()
            result.superseded_candidates = LinkCandidate.objects.filter(
                batch=batch, status=LinkCandidate.Status.PENDING
            ).count()
            return result
        if not ImportBatch.objects.filter(pk=batch.pk, status=Status.SUCCEEDED).update(
            status=Status.ROLLED_BACK, rolled_back_by=by, rolled_back_at=timezone.now(),
            rollback_reason=reason[:2000],
        ):
            raise ValidationError(_("这个批次已由他人撤销，本次操作未生效。"), code="decided")
        # Void first: the versions to reopen are then the only current ones of their people in the county.
        result.voided = opened.update(void=True, valid_to=F("valid_from"))
        result.reopened = closed.update(valid_to=None, closed_by=None)
        result.superseded_candidates = LinkCandidate.objects.filter(
            batch=batch, status=LinkCandidate.Status.PENDING
        ).update(status=LinkCandidate.Status.SUPERSEDED)
        batch.refresh_from_db()
        record_event(
            actor=by,
            action="update",
            entity=ImportBatch._meta.label_lower,
            object_pk=batch.pk,
            object_repr=f"{batch.department} {batch.file_name}",
            region_code=batch.region_code,
            changes={
                "status": {"before": Status.SUCCEEDED, "after": Status.ROLLED_BACK},
                "voided": result.voided,
                "reopened": result.reopened,
                "superseded_candidates": result.superseded_candidates,
            },
            note=_("撤销批次：%(reason)s") % {"reason": reason},
        )
    # The county's data-quality counts are recomputed once the undo commits.
    quality.request_refresh_for(batch.region_code)
    return result
