"""Mark imports, reports and risk jobs whose background task is gone as failed (see reports.cleanup)."""

from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from reports.cleanup import clean_up_interrupted_jobs


class Command(BaseCommand):
    help = (
        "把后台任务已不存在（工作进程已停止）的导入、报告和风险任务标记为失败并写明原因，之后可重新开始。"
        "Marks imports, reports and risk jobs whose task is gone as failed; a live job is never touched."
    )

    def handle(self, *args, **options) -> None:
        cleaned = clean_up_interrupted_jobs()
        self.stdout.write(
            _("中断的任务已标记为失败：导入 %(imports)s 个，报告 %(reports)s 个，风险任务 %(risk_jobs)s 个。")
            % {"imports": len(cleaned.imports), "reports": len(cleaned.reports), "risk_jobs": len(cleaned.risk_jobs)}
        )
