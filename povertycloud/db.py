"""Database helpers shared by the bulk paths and the background jobs."""

import fcntl
from pathlib import Path

from django.conf import settings
from django.db import connection, models


def analyze(*tables: type[models.Model]) -> None:
    """Refresh PostgreSQL's planner statistics of tables a bulk path has just filled or rewritten.

    Without it the planner keeps the row counts of before the load until autovacuum gets to the table (and
    never where autovacuum is off): a list page planned for 300 households that has 260,000 took 250 ms
    instead of 1. SQLite plans from its indexes and needs nothing here."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        for model in tables:
            cursor.execute(f"ANALYZE {connection.ops.quote_name(model._meta.db_table)}")


class ProcessLock:
    """Held by the process that runs a job or an import: a PostgreSQL advisory lock (namespace, key) on its
    connection, or (SQLite, one machine) an flock on a file under VAR_DIR/locks.

    The database or the operating system frees it when the process dies, which is how a cleanup tells a job
    that is still running from one whose process was killed, never by its age.
    """

    def __init__(self, namespace: int, key: int, *, file_name: str | None = None):
        self.namespace, self.key = namespace, key
        self.file_name = file_name or f"job-{namespace}-{key}.lock"
        self.handle = None

    def acquire(self, *, wait: bool) -> bool:
        if connection.vendor == "postgresql":
            function = "pg_advisory_lock" if wait else "pg_try_advisory_lock"
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {function}(%s, %s)", [self.namespace, self.key])
                got = cursor.fetchone()[0]
            return got is not False
        directory = Path(settings.VAR_DIR) / "locks"
        directory.mkdir(parents=True, exist_ok=True)
        self.handle = (directory / self.file_name).open("a")
        try:
            fcntl.flock(self.handle, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            self.handle.close()
            self.handle = None
            return False
        return True

    def release(self) -> None:
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_unlock(%s, %s)", [self.namespace, self.key])
        elif self.handle is not None:
            fcntl.flock(self.handle, fcntl.LOCK_UN)
            self.handle.close()
            self.handle = None

    def held_elsewhere(self) -> bool:
        """True while another process (or connection) holds the lock; never waits."""
        if not self.acquire(wait=False):
            return True
        self.release()
        return False

    def __enter__(self) -> "ProcessLock":
        self.acquire(wait=True)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
