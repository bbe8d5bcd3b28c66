"""The task scheduler's answers: its envelope, its failure, the views of tasks and runs, and
the ``Dialect`` that answers errors in its shape (``scheduler_api.adapter``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Response

from scheduler_api import formats
from scheduler_api.adapter import Dialect, DialectError
from scheduler_api.task_scheduler.mapping import CORE_ERRORS, DIALECT
from scheduler_api.task_scheduler.schemas import CALENDAR_FIELDS, CORE_TO_DOC
from shared.model import CalendarTrigger, RepeatItem, Schedule
from shared.timing import zone

TIME_FORMAT = "%Y-%m-%d %H:%M:%S"


def local_time(ms: int | None, account: dict[str, Any]) -> str | None:
    """An instant as the document writes it, in the account's time zone."""
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, zone(account.get("timezone", "UTC"))).strftime(
        TIME_FORMAT
    )


def text(value: int | None) -> str:
    return "*" if value is None else str(value)


def item_view(item: RepeatItem, item_id: int, task_id: str) -> dict[str, Any]:
    interval = item.interval_min
    return {
        "id": str(item_id),
        "task_id": task_id,
        "repeat_start": item.start,
        "repeat_end": item.end,
        "repeat_interval": None if interval is None else str(interval),
        **{CORE_TO_DOC[name]: text(getattr(item, name)) for name in CALENDAR_FIELDS},
    }


def task_view(task: Schedule, account: dict[str, Any], last_run_ms: int | None) -> dict[str, Any]:
    assert isinstance(task.trigger, CalendarTrigger)
    task_id = str(task.doc["task_id"])
    items = zip(task.trigger.items, task.doc["item_ids"], strict=True)
    return {
        "id": task_id,
        "user_id": task.doc["user_id"],
        "name": task.doc["name"],
        "class_name": task.target.spec["class_name"],
        "active": task.enabled,
        "data": task.target.spec.get("data"),
        "last_run": local_time(last_run_ms, account),
        "repeat_items": [item_view(item, item_id, task_id) for item, item_id in items],
    }


def history_view(entry: dict[str, Any], account: dict[str, Any]) -> dict[str, Any]:
    return {
        "log_id": str(entry["log_id"]),
        "time": local_time(entry["t"], account),
        "log_level": str(entry["level"]),
        "user_id": entry.get("user_id"),
        "username": account["name"],
        "log_category": "System",
        "message": entry["message"],
        "ip": entry.get("ip"),
    }


def envelope(message: str | None, data: Any, status: int = 200) -> Response:
    body: dict[str, Any] = {"success": 1}
    if message is not None:
        body["message"] = message
    body["data"] = data
    return formats.respond(formats.json_bytes(body), formats.JSON, status)


def render_error(error: DialectError) -> Response:
    return failure(error.status, error.message)


def failure(status: int, message: str) -> Response:
    body = {"success": 0, "message": message}
    return formats.respond(formats.json_bytes(body), formats.JSON, status)


PATH = "/api/v1/api.php"
dialect = Dialect(
    name=DIALECT,
    prefixes=(PATH,),
    render=render_error,
    unauthorized="authentication required: HTTP Basic with appkey:master_secret",
    core_errors=CORE_ERRORS,
)
