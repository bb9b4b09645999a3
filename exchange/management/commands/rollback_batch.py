from django.core.exceptions import PermissionDenied, ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from exchange.commands import user_named
from exchange.models import ImportBatch
from exchange.registry.rollback import rollback_registry_batch
from exchange.registry.tables import REGISTRY
from exchange.rollback import rollback_batch


class Command(BaseCommand):
    help = (
        "Roll back an import batch (撤销批次), as if it had never arrived. A department batch: the record versions "
        "it opened become void, the versions it closed are current again. A registry batch (户档案导入): the "
        "households, members, incomes and status changes it inserted are deleted, the rows it changed get their "
        "values before it back, the members it closed are reopened. Either way the batch keeps its row, rejected "
        "rows and audit trail as 已撤销. Only the latest standing batch of its department and region can be "
        "rolled back. A dry run unless --apply is given: rollback_batch BATCH_ID --reason TEXT --by USERNAME "
        "[--apply]"
    )

    def add_arguments(self, parser):
        parser.add_argument("batch_id", type=int, help="the batch's number (批次 #)")
        parser.add_argument("--reason", required=True, help="why the batch is rolled back (kept in the audit trail)")
        parser.add_argument(
            "--by", required=True, help="username of the county staff member or administrator who decides"
        )
        parser.add_argument("--apply", action="store_true", help="roll back; without it nothing is changed")

    def handle(self, *args, **options):
        batch = ImportBatch.objects.filter(pk=options["batch_id"]).first()
        if batch is None:
            raise CommandError(_("批次 #%(batch)s 不存在。") % {"batch": options["batch_id"]})
        user = user_named(options["by"])
        dry_run = not options["apply"]
        undo = self._registry if batch.department == REGISTRY else self._department
        try:
            undo(batch, user, options["reason"], dry_run)
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from exc
        except ValidationError as exc:
            raise CommandError("；".join(exc.messages)) from exc

    def _registry(self, batch, user, reason, dry_run):
        result = rollback_registry_batch(batch=batch, by=user, reason=reason, dry_run=dry_run)
        deleted, restored = result.deleted, result.restored
        what = _(
            "删除它新增的 %(new_households)s 户、%(new_members)s 名成员、%(new_incomes)s 条收支记录、"
            "%(new_status_changes)s 条状态变更；恢复它修改的 %(households)s 户、%(members)s 名成员、"
            "%(incomes)s 条收支记录（其中重新打开离开的成员 %(reopened)s 名）；关闭 %(conflicts)s 处待处理冲突；"
            "解除 %(unlinked)s 条部门记录与新增成员的关联"
        ) % {
            "new_households": deleted["households"],
            "new_members": deleted["members"],
            "new_incomes": deleted["incomes"],
            "new_status_changes": deleted["status_changes"],
            "households": restored["households"],
            "members": restored["members"],
            "incomes": restored["incomes"],
            "reopened": result.reopened,
            "conflicts": result.conflicts_closed,
            "unlinked": result.unlinked_records,
        }
        if dry_run:
            self.stdout.write(
                self.style.WARNING(
                    _("试运行（未做任何修改）：撤销户档案批次 #%(batch)s 将%(what)s。加 --apply 执行。")
                    % {"batch": batch.pk, "what": what}
                )
            )
        else:
            self.stdout.write(
                self.style.SUCCESS(_("户档案批次 #%(batch)s 已撤销：%(what)s。") % {"batch": batch.pk, "what": what})
            )

    def _department(self, batch, user, reason, dry_run):
        result = rollback_batch(batch=batch, by=user, reason=reason, dry_run=dry_run)
        if dry_run:
            self.stdout.write(
                self.style.WARNING(
                    _(
                        "试运行（未做任何修改）：撤销批次 #%(batch)s 将作废它写入的 %(voided)s 条记录，"
                        "恢复它终止的 %(reopened)s 条记录，%(candidates)s 个待确认的关联候选失效。加 --apply 执行。"
                    )
                    % {
                        "batch": batch.pk,
                        "voided": result.voided,
                        "reopened": result.reopened,
                        "candidates": result.superseded_candidates,
                    }
                )
            )
            return
        self.stdout.write(
            self.style.SUCCESS(
                _(
                    "批次 #%(batch)s 已撤销：作废 %(voided)s 条记录，恢复 %(reopened)s 条记录，"
                    "%(candidates)s 个关联候选失效。"
                )
                % {
                    "batch": batch.pk,
                    "voided": result.voided,
                    "reopened": result.reopened,
                    "candidates": result.superseded_candidates,
                }
            )
        )
