"""Producers of downloads, by kind, registered by each app in its AppConfig.ready():

    downloads.registry.register("households.list", produce, label=gettext_lazy("户档案 Excel"))

``produce(download, path, progress)`` writes the file at ``path`` (a pathlib.Path), calls
``progress(percent, stage)`` as it goes and returns the file name the user downloads it as. It runs in the
background, as ``download.requested_by``, with the parameters captured at request time.
"""

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Progress = Callable[[int, str], None]
Producer = Callable[[Any, Path, Progress], str]


@dataclass(frozen=True)
class Registered:
    kind: str
    produce: Producer
    label: Any
    describe: Callable[[dict], Any] | None = None


_PRODUCERS: dict[str, Registered] = {}


def register(kind: str, produce: Producer, *, label: Any = "", describe: Callable[[dict], Any] | None = None) -> None:
    """`describe(parameters)`, if given, says what one download holds on the 我的下载 page."""
    _PRODUCERS[kind] = Registered(kind=kind, produce=produce, label=label or kind, describe=describe)


def get(kind: str) -> Registered | None:
    return _PRODUCERS.get(kind)


def label_of(kind: str, parameters: dict | None = None) -> Any:
    found = _PRODUCERS.get(kind)
    if found is None:
        return kind
    if found.describe is not None and parameters is not None:
        try:
            return found.describe(parameters)
        except (KeyError, TypeError, ValueError):
            return found.label
    return found.label
