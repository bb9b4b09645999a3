"""Mark imports, reports and risk jobs whose background task is gone as failed (see reports.cleanup)."""

from django.core.management.base import BaseCommand

from reports.cleanup import clean_up_interrupted_jobs


class Command(BaseCommand):
    help = (
        "把后台任务已不存在（工作进程已停止）的导入、报告和风险任务标记为失败并写明原因，之后可重新开始。"
        "Marks imports, reports and risk jobs whose task is gone as failed; a live job is never touched."
    )

    def handle(self, *args, **options) -> None:
        cleaned = clean_up_interrupted_jobs()
        self.stdout.write(
            f"中断的任务已标记为失败：导入 {len(cleaned.imports)} 个，报告 {len(cleaned.reports)} 个，"
            f"风险任务 {len(cleaned.risk_jobs)} 个。"
        )
