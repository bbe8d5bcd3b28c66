"""Examples of ``/api/v1/api.php?target=scheduler`` for the OpenAPI document: requests as the
document writes them and answers as this service gives them (taken from real answers)."""

from __future__ import annotations

from typing import Any

from scheduler_api.openapi.examples import RATE_LIMITED, STORE_UNREACHABLE

BACKUP = "\\scheduler\\Tasks\\BackupTask"
NEW_TASK = {
    "user_id": 1,
    "name": "Nightly backup",
    "class_name": BACKUP,
    "active": True,
    "data": None,
    "repeat_items": [{"repeat_hour": 3, "repeat_minute": 0}],
}
REQUESTS = {"addTask": NEW_TASK, "updateTask": {**NEW_TASK, "id": 1}}
ACTIONS = {
    name: name for name in ("addTask", "getTasks", "getTaskHistory", "executeTask", "deleteTask")
}
PARAMS: dict[str, Any] = {"target": "scheduler", "action": ACTIONS, "taskId": 1}

ITEM = {
    "id": "1",
    "task_id": "1",
    "repeat_start": None,
    "repeat_end": None,
    "repeat_interval": None,
    "repeat_year": "*",
    "repeat_month": "*",
    "repeat_day": "*",
    "repeat_week": "*",
    "repeat_weekday": "*",
    "repeat_hour": "3",
    "repeat_minute": "0",
}
TASK = {
    "id": "1",
    "user_id": "1",
    "name": "Nightly backup",
    "class_name": BACKUP,
    "active": True,
    "data": None,
    "last_run": "2026-12-04 03:00:00",
    "repeat_items": [ITEM],
}
HISTORY_ENTRY = {
    "log_id": "2",
    "time": "2026-12-04 03:00:01",
    "log_level": "6",
    "user_id": "1",
    "username": "example",
    "log_category": "System",
    "message": "Backup written: 2026-12-04T030000Z.json (12 schedules); 0 older backups removed.",
    "ip": None,
}
ANSWERS = {
    "addTask": {
        "success": 1,
        "message": 'Task "Nightly backup" (1) added',
        "data": {**TASK, "last_run": None},
    },
    "getTasks": {"success": 1, "data": [TASK]},
    "getTaskHistory": {"success": 1, "data": [HISTORY_ENTRY]},
    "deleteTask": {"success": 1, "message": 'Task "Nightly backup" (1) deleted', "data": None},
    "executeTask, the run failed": {
        "success": 0,
        "message": 'Task "Nightly backup" (1) failed: the backup folder is full',
    },
}


def failure(message: str) -> dict[str, Any]:
    return {"success": 0, "message": message}


ERRORS = {
    400: failure("name: Length must be between 1 and 255."),
    401: failure("authentication required: HTTP Basic with appkey:master_secret"),
    404: failure("no task with id 999"),
    405: failure("addTask takes POST, not GET"),
    413: failure("body is larger than 65536 bytes"),
    429: failure(RATE_LIMITED),
    503: failure(STORE_UNREACHABLE),
}
