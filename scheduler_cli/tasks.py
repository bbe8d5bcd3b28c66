"""``scheduler restore FILE``: put a ``\\scheduler\\Tasks\\BackupTask`` snapshot back.

The account is restored too when it is missing (with its hashed secrets, so its credentials
work again); schedules keep their ids and get their next fire recomputed from now.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from scheduler_cli.common import add_json, open_store
from scheduler_cli.output import iso_utc, local_time, print_json
from shared.config import Config
from shared.timing import now_ms


def cmd_restore(args: argparse.Namespace, config: Config) -> int:
    from shared.backup import read_backup, restore_backup

    store = open_store(config)
    store.check_redis_is_safe()
    doc = read_backup(Path(args.file))
    restored = restore_backup(store, doc, now_ms())
    account = doc["account"]
    if args.json:
        print_json(
            {
                "appkey": account["appkey"],
                "name": account["name"],
                "schedules": [
                    {
                        "id": schedule.id,
                        "dialect": schedule.dialect,
                        "name": schedule.doc.get("name", ""),
                        "next": iso_utc(next_ms),
                    }
                    for schedule, next_ms in restored
                ],
            }
        )
        return 0
    print(
        f"Restored {len(restored)} schedules of account {account['name']!r} ({account['appkey']})"
    )
    for schedule, next_ms in restored:
        name = schedule.doc.get("name", "")
        when = local_time(next_ms) if next_ms is not None else "not due (inactive or done)"
        print(f"  {schedule.id}  {schedule.dialect:<15} next {when}  {name}".rstrip())
    return 0


def add_commands(sub: Any) -> None:
    restore = sub.add_parser(
        "restore",
        help="restore a BackupTask snapshot (account if missing, schedules with the same ids)",
    )
    restore.add_argument("file", help="a backup-<appkey>-<time>.json file")
    add_json(restore)
    restore.set_defaults(func=cmd_restore)
