"""The task classes the ``tasks`` pool runs, found by the PHP-style name a task gives.

A task names its class (``class_name``, e.g. ``\\scheduler\\Tasks\\BackupTask``). The registry
merges three sources; for the same name a later one wins:

1. built in: ``\\scheduler\\Tasks\\BackupTask`` (also registered as an entry point);
2. Python entry points of group ``scheduler.tasks``: the name -> a class whose instances have
   ``run(ctx: TaskContext) -> str`` (the returned text is the task's message);
3. the file ``SCHEDULER_TASK_CLASSES_FILE`` (JSON, or TOML by its ``.toml`` suffix): the name ->
   an HTTP(S) endpoint. The worker POSTs the task's ``data`` there as JSON and the answer's body
   (or its ``message`` field, when it is a JSON object) is the task's message. So an application
   plugs its own ``\\App\\Tasks\\...`` names in without code.

Names are compared with one leading backslash (``scheduler\\Tasks\\X`` = ``\\scheduler\\Tasks\\X``).
A class signals failure by raising (``TaskFailed`` says whether a retry may help).

This module has no Celery in it: the API imports it to check names. It also holds the backup
format that ``BackupTask`` writes and ``scheduler restore`` reads.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import tomllib
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any, Protocol

import requests

from shared.config import Config
from shared.errors import ConfigError, InvalidSchedule
from shared.model import Schedule
from shared.netguard import UnsafeTarget, read_url
from shared.store import Store
from shared.timing import next_schedule_fire
from workers.http import post

ENTRY_POINT_GROUP = "scheduler.tasks"
BACKUP_TASK = "\\scheduler\\Tasks\\BackupTask"
BACKUP_FORMAT = "scheduler-backup/1"
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


def resolve(name: str, config: Config) -> TaskClass:
    """An instance of the class registered as ``name``; ``TaskFailed`` if there is none."""
    key = canonical(name)
    urls = _http_classes(config)
    if key in urls:
        return HttpTask(urls[key])
    points = _entry_points()
    if key in points:
        return points[key].load()()
    if key == BACKUP_TASK:
        return BackupTask()
    raise TaskFailed(unknown_class_message(name, config))


def unknown_class_message(name: str, config: Config) -> str:
    known = ", ".join(registered(config))
    return f'class_name: unknown task class "{name}"; registered: {known}'


@lru_cache(maxsize=1)
def _entry_points() -> dict[str, Any]:
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
    classes = {}
    for name, url in doc.items():
        try:  # the URL's one reading (see shared.netguard); addresses are checked per call
            read_url(url, f"{where}: {name!r} must map to an http(s) URL")
        except UnsafeTarget as exc:
            raise ConfigError(str(exc)) from None
        classes[canonical(name)] = url
    return classes


# --- HTTP-mapped classes ---------------------------------------------------------------------

_session = requests.Session()


@dataclass(frozen=True)
class HttpTask:
    """A class served by an application: POST the task's data, its answer is the message."""

    url: str

    def run(self, ctx: TaskContext) -> str:
        body = json.dumps(ctx.data, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Task-Id": ctx.task_id,
            "X-Task-Class": ctx.class_name.encode("ascii", "replace").decode(),
            "X-Execution-Id": ctx.execution_id,
        }
        outcome = post(ctx.config, self.url, body, headers, _session)
        text = message_of((outcome.result or {}).get("body", ""))
        if outcome.ok:
            return text or f"HTTP {outcome.result['status']}"
        error = f"{outcome.error}: {text}" if text else str(outcome.error)
        raise TaskFailed(error, retryable=outcome.retryable)


def message_of(body: str) -> str:
    """The ``message`` of a JSON object answer, else the answer's text."""
    with contextlib.suppress(ValueError):
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return doc["message"][:MAX_MESSAGE_CHARS]
    return body.strip()[:MAX_MESSAGE_CHARS]


# --- BackupTask and the backup format ----------------------------------------------------------


class BackupTask:
    """Writes a consistent snapshot of the account's schedules (every dialect) to the backup
    folder, atomically, keeping the newest ``SCHEDULER_BACKUP_KEEP`` per account."""

    def run(self, ctx: TaskContext) -> str:
        snapshot = take_snapshot(ctx.store, ctx.account, _now_ms())
        path, removed = write_backup(ctx.config, snapshot)
        count = len(snapshot["schedules"])
        # The file name only: the tenant reads this message, the folder is the server's business.
        return f"Backup written: {path.name} ({count} schedules); {removed} older backups removed."


def backup_dir(config: Config) -> Path:
    return Path(config.backup_dir).resolve() if config.backup_dir else config.data_path / "backups"


def take_snapshot(store: Store, account: str, now_ms: int) -> dict[str, Any]:
    """The account (secrets only as digests), its task id counters and every schedule with its
    next fire and run count, the schedules read in one atomic step."""
    counters, rows = store.account_snapshot(account)
    return {
        "format": BACKUP_FORMAT,
        "taken_ms": now_ms,
        "account": store.get_account(account),
        "task_counters": counters,
        "schedules": [
            {"definition": definition, "next_ms": next_ms, "runs": runs}
            for definition, next_ms, runs in rows
        ],
    }


def write_backup(config: Config, snapshot: dict[str, Any]) -> tuple[Path, int]:
    """Write ``snapshot`` (temp file, fsync, rename, fsync the folder), then rotate. Returns the
    file and how many older ones were removed."""
    folder = backup_dir(config)
    folder.mkdir(parents=True, exist_ok=True)
    appkey = snapshot["account"]["appkey"]
    stamp = datetime.fromtimestamp(snapshot["taken_ms"] / 1000, UTC).strftime("%Y%m%dT%H%M%S")
    path = folder / f"backup-{appkey}-{stamp}{snapshot['taken_ms'] % 1000:03d}Z.json"
    data = json.dumps(snapshot, indent=1, ensure_ascii=False).encode()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".backup-", suffix=".tmp")  # mode 0600
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
    _fsync_dir(folder)
    return path, _rotate(folder, appkey, max(1, config.backup_keep))


def _fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _rotate(folder: Path, appkey: str, keep: int) -> int:
    """Delete all but the newest ``keep`` backups of the account (names sort by time)."""
    backups = sorted(folder.glob(f"backup-{appkey}-*.json"))
    old = backups[:-keep]
    for path in old:
        path.unlink(missing_ok=True)
    return len(old)


def read_backup(path: Path) -> dict[str, Any]:
    try:
        doc = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"{path}: not a readable backup: {exc}") from exc
    if not isinstance(doc, dict) or doc.get("format") != BACKUP_FORMAT:
        raise ConfigError(f"{path}: not a {BACKUP_FORMAT} backup")
    return doc


def restore_backup(
    store: Store, doc: dict[str, Any], now_ms: int
) -> list[tuple[Schedule, int | None]]:
    """Put a backup's account (if missing) and schedules back, same ids, next fires recomputed
    from ``now_ms``. A one-shot that has no fire left is not restored. Returns what was."""
    account = doc.get("account") or {}
    appkey = account.get("appkey")
    if not appkey:
        raise ConfigError("backup has no account")
    items = []
    for row in doc.get("schedules", []):
        schedule = Schedule.from_dict(row["definition"])
        if schedule.account != appkey:
            raise InvalidSchedule(f"schedule {schedule.id} belongs to another account")
        runs = int(row.get("runs", 0))
        next_ms = next_schedule_fire(schedule, now_ms - 1, runs) if schedule.enabled else None
        if next_ms is None and schedule.enabled and schedule.purge_when_done:
            continue
        items.append((schedule, next_ms, runs))
    if store.get_account(appkey) is None:
        store.put_account(account)
    store.restore_schedules(items)
    store.raise_task_counters(appkey, {k: int(v) for k, v in doc.get("task_counters", {}).items()})
    return [(schedule, next_ms) for schedule, next_ms, _ in items]


def _now_ms() -> int:
    return int(datetime.now(UTC).timestamp() * 1000)
