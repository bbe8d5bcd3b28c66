"""The registry of task classes the ``tasks`` pool runs, found by the PHP-style name a task gives.

A task names its class (``class_name``, e.g. ``\\scheduler\\Tasks\\BackupTask``). The registry
merges three sources; for the same name a later one wins:

1. built in: ``\\scheduler\\Tasks\\BackupTask`` (``shared.backup``; also an entry point);
2. Python entry points of group ``scheduler.tasks``: the name -> a class whose instances have
   ``run(ctx: TaskContext) -> str`` (the returned text is the task's message);
3. the file ``SCHEDULER_TASK_CLASSES_FILE`` (JSON, or TOML by its ``.toml`` suffix): the name ->
   an HTTP(S) endpoint. The worker POSTs the task's ``data`` there as JSON and the answer's body
   (or its ``message`` field, when it is a JSON object) is the task's message. So an application
   plugs its own ``\\App\\Tasks\\...`` names in without code.

Names are compared with one leading backslash (``scheduler\\Tasks\\X`` = ``\\scheduler\\Tasks\\X``).
A class signals failure by raising (``TaskFailed`` says whether a retry may help).

This module is core: the API checks names with it, the ``tasks`` pool finds classes with it
(``workers.task_classes`` turns an HTTP-mapped name into the class that POSTs).
"""

from __future__ import annotations

import json
import tomllib
from dataclasses import dataclass
from functools import lru_cache
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, Protocol

from shared.backup import BackupTask
from shared.config import Config
from shared.errors import ConfigError
from shared.netguard import UnsafeTarget, read_url
from shared.store import Store

ENTRY_POINT_GROUP = "scheduler.tasks"
BACKUP_TASK = "\\scheduler\\Tasks\\BackupTask"
MAX_MESSAGE_CHARS = 4096


class TaskFailed(Exception):
    """A task class's run failed; ``retryable`` says whether another attempt may succeed."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        super().__init__(message)
        self.retryable = retryable


@dataclass(frozen=True)
class TaskContext:
    """What a task class gets for one run."""

    config: Config
    store: Store
    account: str  # appkey
    task_id: str  # the document's numeric id
    name: str
    class_name: str
    data: Any
    execution_id: str


class TaskClass(Protocol):
    def run(self, ctx: TaskContext) -> str: ...


# --- the registry ----------------------------------------------------------------------------


def canonical(name: str) -> str:
    """``scheduler\\Tasks\\X`` and ``\\scheduler\\Tasks\\X`` name the same class."""
    return "\\" + name.strip().lstrip("\\")


def registered(config: Config) -> dict[str, str]:
    """Every registered name -> where it comes from ("built in", the entry point, the URL)."""
    found = {BACKUP_TASK: "built in"}
    found.update({name: ep.value for name, ep in _entry_points().items()})
    found.update(_http_classes(config))
    return dict(sorted(found.items()))


def find(name: str, config: Config) -> TaskClass | str:
    """The class registered as ``name``: an instance, or the URL of an HTTP-mapped class (the
    ``tasks`` pool POSTs there, see ``workers.task_classes``); ``TaskFailed`` if there is none."""
    key = canonical(name)
    urls = _http_classes(config)
    if key in urls:
        return urls[key]
    points = _entry_points()
    if key in points:
        instance: TaskClass = points[key].load()()
        return instance
    if key == BACKUP_TASK:
        return BackupTask()
    raise TaskFailed(unknown_class_message(name, config))


def unknown_class_message(name: str, config: Config) -> str:
    known = ", ".join(registered(config))
    return f'class_name: unknown task class "{name}"; registered: {known}'


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, EntryPoint]:
    """Installed plugins are read once per process (installing one needs a restart anyway)."""
    return {canonical(ep.name): ep for ep in entry_points(group=ENTRY_POINT_GROUP)}


def _http_classes(config: Config) -> dict[str, str]:
    if not config.task_classes_file:
        return {}
    path = Path(config.task_classes_file)
    try:
        stamp = path.stat().st_mtime_ns
    except OSError as exc:
        raise ConfigError(f"SCHEDULER_TASK_CLASSES_FILE: cannot read {path}: {exc}") from exc
    return _read_classes_file(str(path), stamp)


@lru_cache(maxsize=8)
def _read_classes_file(path: str, _stamp: int) -> dict[str, str]:
    """Parsed once per version of the file (its mtime is part of the cache key)."""
    where = f"SCHEDULER_TASK_CLASSES_FILE {path}"
    try:
        raw = Path(path).read_bytes()
        doc = tomllib.loads(raw.decode()) if path.endswith(".toml") else json.loads(raw)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ConfigError(f"{where}: {exc}") from exc
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected an object of class name -> URL")
    classes: dict[str, str] = {}
    for name, url in doc.items():
        try:  # the URL's one reading (see shared.netguard); addresses are checked per call
            read_url(url, f"{where}: {name!r} must map to an http(s) URL")
        except UnsafeTarget as exc:
            raise ConfigError(str(exc)) from None
        classes[canonical(name)] = url
    return classes
