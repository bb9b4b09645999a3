"""Region-wide jobs, one county a partition, in this process or on a Dask cluster (dask.distributed).

A job above county level (a prefecture's or a province's risk list, training, report) is a set of tasks, one per
county: each reads its county from the database, computes, and hands back what the job needs (scores, firings,
indicator parts). The same task functions run either way:

``InProcess``
    Runs each task here, one after the other, when its result is asked for. A county's own jobs and the test of
    "the same results whichever way" use it.
``OnDask``
    Submits each task to a Dask cluster: a running one (``manage.py score_risk --cluster tcp://host:8786``, or
    the DASK_SCHEDULER_ADDRESS setting for the jobs the web pages start) or a LocalCluster started for the job on
    this machine. A task's result stays on the worker that computed it until the job asks for it, so a later
    task of the same county (explanations after the scores) runs where its data already is.

Workers are this project installed on each machine with the same settings (DJANGO_SETTINGS_MODULE and
DATABASE_URL pointing at the same database, or at a read replica: tasks only read); each task sets Django up
once per worker process and closes its database connections when it ends. Writes stay with the job's own
process, in one transaction, so a job that fails anywhere writes nothing (and SQLite, which takes one writer,
runs the same jobs).
"""

import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _


class ClusterUnavailable(ValueError):
    """The scheduler named by --cluster or DASK_SCHEDULER_ADDRESS did not answer (or the address is not one)."""


LOCAL = "local"  # --cluster local: a LocalCluster of this machine's cores
IN_PROCESS = "none"  # --cluster none: no Dask, the tasks one after the other in this process


CLUSTER_HELP = (
    "above county level, where the counties' tasks run: a Dask scheduler's address (tcp://host:8786), 'local' (a "
    "LocalCluster of this machine, the default unless DASK_SCHEDULER_ADDRESS is set) or 'none' (one after the other "
    "in this process)"
)


def add_cluster_argument(parser: Any) -> None:
    """The --cluster option of the commands that run a region-wide job."""
    parser.add_argument("--cluster", help=CLUSTER_HELP)


def ensure_django() -> None:
    """Set Django up in a worker process that has not (a worker started by `dask worker` imports nothing)."""
    import django
    from django.apps import apps

    if not apps.ready:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "povertycloud.settings")
        django.setup()


def dask_setup(service: Any = None) -> None:
    """Dask's preload hook: `dask scheduler --preload povertycloud.cluster` and `dask worker tcp://… --preload
    povertycloud.cluster` set Django up before anything runs. The scheduler needs it too: it unpickles the task
    graph, whose functions and arguments are the project's (risk.scoring imports Django models)."""
    ensure_django()


def run_task(function: Callable, *args: Any, **kwargs: Any) -> Any:
    """What a Dask worker runs: the task, with Django set up and this thread's connections closed after."""
    ensure_django()
    from django.db import connections

    try:
        return function(*args, **kwargs)
    finally:
        connections.close_all()


# --- Running the tasks ---------------------------------------------------------------------------------


@dataclass
class Task:
    """A task of InProcess: computed once, when its result (or a task that takes it) is first asked for."""

    key: str
    function: Callable
    args: tuple
    kwargs: dict
    done: bool = False
    value: Any = field(default=None, repr=False)

    def result(self) -> Any:
        if not self.done:
            args = [a.result() if isinstance(a, Task) else a for a in self.args]
            kwargs = {k: v.result() if isinstance(v, Task) else v for k, v in self.kwargs.items()}
            self.value, self.done = self.function(*args, **kwargs), True
        return self.value


class _Runner:
    def as_completed(self, tasks: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        raise NotImplementedError

    def completed(self, tasks: Mapping[Any, Any]) -> Iterator[tuple[Any, Any, Any]]:
        """(key, handle, result) of each of a job's tasks, given by key (a county), as it ends."""
        key_of = {id(task): key for key, task in tasks.items()}
        for task, result in self.as_completed(tasks.values()):
            yield key_of[id(task)], task, result


class InProcess(_Runner):
    """The tasks one after the other in this process (no Dask): a county's jobs, and the reference the cluster's
    results are compared with."""

    name = IN_PROCESS
    client = None

    def submit(self, function: Callable, *args: Any, key: str, **kwargs: Any) -> Task:
        return Task(key=key, function=function, args=args, kwargs=kwargs)

    def as_completed(self, tasks: Iterable[Task]) -> Iterator[tuple[Task, Any]]:
        for task in tasks:
            yield task, task.result()

    def result(self, task: Task) -> Any:
        return task.result()

    def release(self, tasks: Iterable[Task]) -> None:
        for task in tasks:
            task.value, task.done = None, False

    def workers(self) -> int:
        return 1


class OnDask(_Runner):
    """The tasks on a Dask cluster through its client."""

    def __init__(self, client: Any, name: str):
        self.client, self.name = client, name

    def submit(self, function: Callable, *args: Any, key: str, **kwargs: Any) -> Any:
        # pure=False: a task reads the database, whose answer can change between two runs with equal arguments.
        return self.client.submit(run_task, function, *args, key=f"{key}-{os.urandom(4).hex()}", pure=False, **kwargs)

    def as_completed(self, futures: Iterable[Any]) -> Iterator[tuple[Any, Any]]:
        from dask.distributed import as_completed

        yield from as_completed(list(futures), loop=self.client.loop, with_results=True, raise_errors=True)

    def result(self, future: Any) -> Any:
        return future.result()

    def release(self, futures: Iterable[Any]) -> None:
        for future in futures:
            future.release()

    def workers(self) -> int:
        return max(1, len(self.client.scheduler_info(n_workers=-1).get("workers", {})))


Runner = InProcess | OnDask


def _shares_memory_database() -> bool:
    """SQLite's in-memory database (the test run's) is seen by threads of this process only."""
    database = settings.DATABASES["default"]
    name = str(database.get("NAME", ""))
    return database["ENGINE"].endswith("sqlite3") and ("memory" in name or name in ("", ":memory:"))


def local_cluster(*, workers: int | None = None, processes: bool | None = None):
    """A LocalCluster of this machine: one single-threaded worker process per core (DASK_LOCAL_WORKERS)."""
    from dask.distributed import LocalCluster

    if processes is None:
        processes = not _shares_memory_database()
    workers = workers or settings.DASK_LOCAL_WORKERS or os.cpu_count() or 1
    return LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        processes=processes,
        dashboard_address=None,
        silence_logs=logging.WARNING,
    )


def _plugin_for(cluster_processes: bool):
    if not cluster_processes:
        return None  # threads of this process share its settings
    from povertycloud.cluster_plugin import DatabaseOfTheJob  # imports distributed: only when a cluster starts

    database = settings.DATABASES["default"]
    keys = ("NAME", "ENGINE", "HOST", "PORT", "USER")
    return DatabaseOfTheJob({key: database[key] for key in keys if key in database})


@contextmanager
def open_runner(cluster: str | None = None, *, workers: int | None = None, processes: bool | None = None):
    """The runner of a region-wide job.

    cluster: "none" (in this process), "local" (a LocalCluster started for the job and stopped after it), or a
    scheduler's address ("tcp://host:8786"). None takes the DASK_SCHEDULER_ADDRESS setting, else "local"."""
    cluster = cluster or settings.DASK_SCHEDULER_ADDRESS or LOCAL
    if cluster == IN_PROCESS:
        yield InProcess()
        return
    from dask.distributed import Client

    if cluster == LOCAL:
        local = local_cluster(workers=workers, processes=processes)
        try:
            with Client(local, set_as_default=False) as client:
                plugin = _plugin_for(local.processes)
                if plugin is not None:
                    client.register_plugin(plugin)
                yield OnDask(client, LOCAL)
        finally:
            local.close()
        return
    try:
        client = Client(cluster, set_as_default=False, timeout=settings.DASK_CONNECT_SECONDS)
    except (OSError, ValueError) as error:
        raise ClusterUnavailable(
            _("无法连接 Dask 集群 %(address)s：%(error)s") % {"address": cluster, "error": error}
        ) from error
    with client:
        yield OnDask(client, cluster)


def worker_peak_memory() -> dict[str, int]:
    """Not a task: each worker process's peak resident memory in bytes (Linux ru_maxrss is in KiB)."""
    import resource

    return {"pid": os.getpid(), "peak": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024}
