"""The background worker with its cleanup: `manage.py run_worker` = cleanup_jobs, then db_worker, with the
cleanup repeated every --cleanup-every seconds in a thread beside it (reports.cleanup)."""

import logging
import threading

from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import connection
from django.utils.translation import gettext as _

from reports.cleanup import clean_up_interrupted_jobs

logger = logging.getLogger(__name__)
DEFAULT_CLEANUP_SECONDS = 300


class CleanupLoop(threading.Thread):
    """Runs the cleanup every `seconds` until stopped, on a database connection of its own."""

    def __init__(self, seconds: float):
        super().__init__(name="cleanup-jobs", daemon=True)
        self.seconds = seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(self.seconds):
            self.run_once()

    def run_once(self) -> None:
        try:
            clean_up_interrupted_jobs()
        except Exception:
            logger.exception("Cleaning up interrupted jobs failed; trying again in %s s", self.seconds)
        finally:
            if not connection.in_atomic_block:
                connection.close()  # the thread's own connection; a fresh one next time

    def stop(self) -> None:
        self.stopped.set()


class Command(BaseCommand):
    help = (
        "启动后台工作进程：先把中断的导入、报告和风险任务标记为失败，然后运行 db_worker，"
        "并每隔 --cleanup-every 秒再清理一次。Runs the cleanup, then db_worker, repeating the cleanup on a schedule."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--cleanup-every",
            type=float,
            default=DEFAULT_CLEANUP_SECONDS,
            help="seconds between cleanups while the worker runs (default: %(default)s; 0 = only at start)",
        )
        parser.add_argument("--queue-name", default="default", help="passed to db_worker")
        parser.add_argument("--interval", type=float, default=1, help="passed to db_worker")
        parser.add_argument("--batch", action="store_true", help="passed to db_worker: run what is queued, then exit")
        parser.add_argument("--max-tasks", type=int, default=None, help="passed to db_worker")
        parser.add_argument("--worker-id", default=None, help="passed to db_worker")

    def handle(self, *args, **options) -> None:
        cleaned = clean_up_interrupted_jobs()
        self.stdout.write(
            _("启动清理：导入 %(imports)s 个、报告 %(reports)s 个、风险任务 %(risk_jobs)s 个已标记为失败。")
            % {"imports": len(cleaned.imports), "reports": len(cleaned.reports), "risk_jobs": len(cleaned.risk_jobs)}
        )
        if not connection.in_atomic_block:
            connection.close()  # the worker opens its own; the loop thread has its own too
        loop = CleanupLoop(options["cleanup_every"]) if options["cleanup_every"] > 0 else None
        if loop is not None:
            loop.start()
        worker_options = {
            "queue_name": options["queue_name"],
            "interval": options["interval"],
            "batch": options["batch"],
            "reload": False,  # a reloader would re-run this command in a child process; keep one process
            "verbosity": options["verbosity"],
        }
        if options["max_tasks"] is not None:
            worker_options["max_tasks"] = options["max_tasks"]
        if options["worker_id"]:
            worker_options["worker_id"] = options["worker_id"]
        try:
            call_command("db_worker", **worker_options)
        finally:
            if loop is not None:
                loop.stop()
