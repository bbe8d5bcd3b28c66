"""``\\scheduler\\Tasks\\BackupTask`` and the backup format it writes and ``scheduler restore``
reads: a consistent snapshot of one account's schedules (every dialect), its account record with
hashed secrets and its task id counters, as one JSON file per backup.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.config import Config
from shared.errors import ConfigError, InvalidSchedule
from shared.model import Schedule
from shared.store import Store
from shared.timing import next_schedule_fire, now_ms

if TYPE_CHECKING:  # the registry imports this module for its built-in class
    from shared.task_classes import TaskContext

BACKUP_FORMAT = "scheduler-backup/1"


class BackupTask:
    """Writes a consistent snapshot of the account's schedules (every dialect) to the backup
    folder, atomically, keeping the newest ``SCHEDULER_BACKUP_KEEP`` per account."""

    def run(self, ctx: TaskContext) -> str:
        snapshot = take_snapshot(ctx.store, ctx.account, now_ms())
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
