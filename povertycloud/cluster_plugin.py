"""The worker plugin of a LocalCluster started for a job (povertycloud.cluster), in a module of its own because it
subclasses distributed's WorkerPlugin: the web app imports povertycloud.cluster without loading Dask."""

from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

from povertycloud.cluster import ensure_django


class DatabaseOfTheJob(WorkerPlugin):
    """Points a LocalCluster's worker processes at the database the job's process uses (under the test runner that
    is the test database, which the settings module alone does not name)."""

    name = "povertycloud-database"

    def __init__(self, database: dict):
        self.database = database

    def setup(self, worker: Any = None) -> None:
        ensure_django()
        from django.conf import settings

        settings.DATABASES["default"].update(self.database)

    def teardown(self, worker: Any = None) -> None:
        from django.db import connections

        connections.close_all()
