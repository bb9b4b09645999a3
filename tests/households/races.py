"""Run the same write from two threads at once, each on its own database connection (PostgreSQL)."""

import threading
from collections.abc import Callable
from typing import Any

from django.db import connections

TIMEOUT_SECONDS = 30


def run_together(*calls: Callable[[], Any]) -> list[tuple[str, Any]]:
    """Each call in a thread of its own; returns ("ok", value) or ("error", exception) per call, in order."""
    outcomes: list[tuple[str, Any]] = [("pending", None)] * len(calls)

    def run(index: int, call: Callable[[], Any]) -> None:
        try:
            outcomes[index] = ("ok", call())
        except Exception as error:  # the test asserts what each thread got
            outcomes[index] = ("error", error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT_SECONDS)
    assert not any(thread.is_alive() for thread in threads), "a thread did not finish"
    return outcomes


def meeting_before(function: Callable[..., Any], parties: int = 2) -> tuple[Callable[..., Any], threading.Barrier]:
    """`function` wrapped so that each caller waits until `parties` callers reached it: both have passed
    every check before either writes."""
    barrier = threading.Barrier(parties, timeout=TIMEOUT_SECONDS)

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        barrier.wait()
        return function(*args, **kwargs)

    return wrapped, barrier


class HeldElsewhere:
    """Holds a lock (an object with acquire(wait=...) and release()) from another thread, hence on another
    database connection: what a live job's process does while the test asks whether the job is alive."""

    def __init__(self, make_lock: Callable[[], Any]):
        self.make_lock = make_lock
        self.held = threading.Event()
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)

    def _hold(self) -> None:
        lock = self.make_lock()
        try:
            lock.acquire(wait=True)
            self.held.set()
            self.done.wait(TIMEOUT_SECONDS)
            lock.release()
        finally:
            connections.close_all()

    def __enter__(self) -> "HeldElsewhere":
        self.thread.start()
        assert self.held.wait(TIMEOUT_SECONDS), "the lock was not taken"
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.thread.join(TIMEOUT_SECONDS)
