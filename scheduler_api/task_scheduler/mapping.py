"""A task as a core schedule: the loaded document mapped onto the core, its errors back."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import current_app, request
from marshmallow import ValidationError

from scheduler_api.task_scheduler.render import TaskApiError
from scheduler_api.task_scheduler.schemas import (
    CALENDAR_FIELDS,
    CORE_TO_DOC,
    ITEM_FIELDS,
    Task,
    TaskDocument,
    describe,
)
from shared import schedules
from shared.config import Config
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.model import CalendarTrigger, RepeatItem, Schedule, Target
from shared.store import Store
from shared.task_classes import canonical, registered, unknown_class_message

DIALECT = "task_scheduler"
LOG_INFO = 6


def load_task(body: dict[str, Any], update: bool) -> Task:
    try:
        doc = TaskDocument().load(body)
    except ValidationError as exc:
        raise TaskApiError(400, describe(exc.messages)) from None
    class_name = doc["class_name"].strip()
    known = registered(config())
    if canonical(class_name) not in known:
        raise TaskApiError(400, unknown_class_message(class_name, config()))
    if not doc["name"].strip():
        raise TaskApiError(400, "name: must not be blank")
    return Task(
        user_id=doc["user_id"],
        name=doc["name"].strip(),
        class_name=class_name,
        data=doc["data"],
        active=doc["active"],
        items=repeat_items(doc),
    )


def repeat_items(doc: dict[str, Any]) -> tuple[RepeatItem, ...]:
    """The items, each field taken from the item, else from the top level, else ``*``."""
    defaults = {name: doc[name] for name in ITEM_FIELDS if name in doc}
    given = doc.get("repeat_items")
    if not given:
        if not defaults:
            raise TaskApiError(400, "repeat_items: at least one repeat item is required")
        given = [{}]
    items = []
    for index, item in enumerate(given):
        merged = {**defaults, **item}
        core = {ITEM_FIELDS[name]: value for name, value in merged.items() if name in ITEM_FIELDS}
        if core.get("interval_min") is not None:
            fixed = [CORE_TO_DOC[f] for f in CALENDAR_FIELDS if core.get(f) is not None]
            if fixed:
                raise TaskApiError(
                    400,
                    f"repeat_items[{index}]: repeat_interval repeats every so many minutes; "
                    f'leave {", ".join(fixed)} at "*" or drop repeat_interval',
                )
        items.append(RepeatItem(**core))
    return tuple(items)


def schedule_id(appkey: str, number: int | str) -> str:
    return f"task-{appkey}-{number}"


def build_schedule(account: dict[str, Any], number: int, first_item: int, task: Task) -> Schedule:
    spec = {
        "class_name": task.class_name,
        "data": task.data,
        "task_id": str(number),
        "name": task.name,
        "user_id": str(task.user_id),
    }
    return Schedule(
        id=schedule_id(account["appkey"], number),
        account=account["appkey"],
        dialect=DIALECT,
        trigger=CalendarTrigger(task.items, account.get("timezone", "UTC")),
        target=Target("task", spec),
        created_ms=schedules.now_ms(),
        enabled=task.active,
        doc={
            "task_id": number,
            "user_id": str(task.user_id),
            "name": task.name,
            "item_ids": list(range(first_item, first_item + len(task.items))),
        },
    )


def save(write: Callable[[], object]) -> None:
    try:
        write()
    except QuotaExceeded as exc:
        raise TaskApiError(400, str(exc)) from None
    except InvalidSchedule as exc:
        raise TaskApiError(400, document_terms(str(exc))) from None


def document_terms(message: str) -> str:
    """The core's "calendar item 2: hour 24 out of range 0-23" in the document's terms:
    "repeat_items[1].repeat_hour 24 out of range 0-23"."""

    def rename(match: re.Match[str]) -> str:
        index = int(match.group(1)) - 1
        name = match.group(2)
        if name in CORE_TO_DOC:
            return f"repeat_items[{index}].{CORE_TO_DOC[name]}"
        return f"repeat_items[{index}]: {name}"

    message = re.sub(r"calendar item (\d+): (\w+)", rename, message)
    message = message.replace("calendar: at least one repeat item", "repeat_items: at least one")
    return message.replace("trigger: it has no future fire", "repeat_items: no future time matches")


def find(account: dict[str, Any], number: str) -> Schedule:
    try:
        return schedules.get(
            store(), account["appkey"], schedule_id(account["appkey"], number), DIALECT
        )
    except NotFound:
        raise TaskApiError(404, f"no task with id {number}") from None


def log_api(schedule: Schedule, user_id: int, message: str) -> None:
    entry = {
        "t": schedules.now_ms(),
        "level": LOG_INFO,
        "user_id": str(user_id),
        "message": message,
        "ip": request.remote_addr,
    }
    store().log_task(
        schedule.id,
        entry,
        account=schedule.account,
        cap=config().task_history_max_entries,
        retention_s=config().history_retention_s,
    )


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
