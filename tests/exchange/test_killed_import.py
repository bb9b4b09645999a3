"""An import killed mid-load (SIGKILL) leaves nothing of its batch; the same file imports fine afterwards.

`manage.py import_feed` runs in a subprocess on a generated file of 200,000 rows. On PostgreSQL it uses the
test database (this test commits, transaction=True); on SQLite, whose test database lives in this process's
memory, it uses a database file that a subprocess migrates first.
"""

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.conf import settings
from django.db import connection

from exchange.pipeline import mark_interrupted_batches, read_progress
from tests.exchange.files import health_frame
from tests.factories import COUNTY

ROWS = 200_000
KILL_AFTER_ROWS = 100_000
WAIT_SECONDS = 300


class Database:
    """The database the subprocess writes, as the test reads it: (sql, params) → rows."""

    def __init__(self, tmp_path: Path):
        self.env = {**os.environ, "DJANGO_ENV": "test"}
        self.sqlite_path: Path | None = None
        if connection.vendor == "postgresql":
            db = connection.settings_dict
            auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
            self.env["DATABASE_URL"] = (
                f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
            )
        else:
            self.sqlite_path = tmp_path / "killed.sqlite3"
            self.env.pop("DATABASE_URL", None)
            self.env["SQLITE_PATH"] = str(self.sqlite_path)
            self.manage("migrate", "-v", "0")
            self.manage("load_regions", str(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv"))

    def manage(self, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            check=check,
            capture_output=True,
            text=True,
            timeout=WAIT_SECONDS,
        )

    def start(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "manage.py", *args],
            cwd=settings.BASE_DIR,
            env=self.env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    def rows(self, sql: str, params: tuple = ()) -> list[tuple]:
        if self.sqlite_path is None:
            with connection.cursor() as cursor:
                cursor.execute(sql.replace("?", "%s"), params)
                return cursor.fetchall()
        with sqlite3.connect(self.sqlite_path, timeout=30) as db:
            return db.execute(sql, params).fetchall()


@pytest.fixture
def database(transactional_db, tmp_path) -> Database:
    return Database(tmp_path)


def wait_for(condition, what: str):
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_an_import_killed_mid_load_leaves_no_records_of_its_batch_and_a_rerun_succeeds(database, tmp_path):
    if database.sqlite_path is None:
        from povertycloud.regions.services import load_regions_csv

        load_regions_csv(Path(settings.BASE_DIR) / "fixtures" / "regions_leishan.csv")
    path = tmp_path / "health_large.csv"
    health_frame(ROWS, seed=9).to_csv(path, index=False, encoding="utf-8-sig")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    command = ("import_feed", "health", str(path), "--region", COUNTY, "-v", "0")

    process = database.start(*command)
    try:

        def running_batch():
            found = database.rows(
                "SELECT id FROM households_importbatch WHERE sha256 = ? AND status = 'running'", (digest,)
            )
            return found[0][0] if found else None

        batch_id = wait_for(running_batch, "the batch to start running")
        wait_for(
            lambda: (
                (read_progress(batch_id) or {}).get("done", 0) >= KILL_AFTER_ROWS
                or process.poll() is not None
            ),
            "the first chunk to be loaded",
        )
        assert process.poll() is None, "the import finished before it could be killed"
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=WAIT_SECONDS)
    assert process.returncode == -signal.SIGKILL

    assert database.rows("SELECT count(*) FROM households_healthrecord WHERE batch_id = ?", (batch_id,)) == [
        (0,)
    ]
    assert database.rows("SELECT count(*) FROM households_rejectedrow WHERE batch_id = ?", (batch_id,)) == [
        (0,)
    ]
    assert database.rows("SELECT status FROM households_importbatch WHERE id = ?", (batch_id,)) == [
        ("running",)
    ]

    rerun = database.manage(*command, check=False)
    assert rerun.returncode == 0, rerun.stderr
    [(new_id, status, total, accepted, rejected)] = database.rows(
        "SELECT id, status, total_rows, accepted_rows, rejected_rows FROM households_importbatch "
        "WHERE sha256 = ? AND id <> ?",
        (digest, batch_id),
    )
    assert status == "succeeded" and total == ROWS and accepted + rejected == ROWS
    assert database.rows("SELECT count(*) FROM households_healthrecord WHERE batch_id = ?", (new_id,)) == [
        (accepted,)
    ]
    if database.sqlite_path is None:
        # The killed run's server process may finish its last statement before it notices; then it is freed.
        wait_for(
            lambda: batch_id in mark_interrupted_batches() or _status(database, batch_id) == "failed",
            "the killed batch to be marked failed",
        )
    assert _status(database, batch_id) == "failed"


def _status(database: Database, batch_id: int) -> str:
    return database.rows("SELECT status FROM households_importbatch WHERE id = ?", (batch_id,))[0][0]
