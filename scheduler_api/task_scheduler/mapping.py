"""A task as a core schedule: the loaded document mapped onto the core, its errors back."""

from __future__ import annotations

from typing import Any

from flask import request

from scheduler_api.adapter import CoreErrorMapping, DialectError, config, status, store
from scheduler_api.task_scheduler.schemas import CALENDAR_FIELDS, CORE_TO_DOC, ITEM_FIELDS, Task
from shared import schedules
from shared.contract import DialectName, TargetKind
from shared.errors import (
    ConfigError,
    InvalidSchedule,
    NoFutureFire,
    NotFound,
    QuotaExceeded,
    SchedulerError,
)
from shared.model import CalendarTrigger, RepeatItem, Schedule, Target
from shared.public_errors import without_paths
from shared.task_classes import canonical, registered, unknown_class_message
from shared.timing import now_ms

DIALECT = DialectName.TASK_SCHEDULER
LOG_INFO = 6


def load_task(doc: dict[str, Any]) -> Task:
    """A ``TaskDocument`` as loaded, checked against what only the server knows."""
    class_name = doc["class_name"].strip()
    known = registered(config())
    if canonical(class_name) not in known:
        raise DialectError(400, unknown_class_message(class_name, config()))
    if not doc["name"].strip():
        raise DialectError(400, "name: must not be blank")
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
            raise DialectError(400, "repeat_items: at least one repeat item is required")
        given = [{}]
    items = []
    for index, item in enumerate(given):
        merged = {**defaults, **item}
        core = {ITEM_FIELDS[name]: value for name, value in merged.items() if name in ITEM_FIELDS}
        if core.get("interval_min") is not None:
            fixed = [CORE_TO_DOC[f] for f in CALENDAR_FIELDS if core.get(f) is not None]
            if fixed:
                raise DialectError(
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
        target=Target(TargetKind.TASK, spec),
        created_ms=now_ms(),
        enabled=task.active,
        doc={
            "task_id": number,
            "user_id": str(task.user_id),
            "name": task.name,
            "item_ids": list(range(first_item, first_item + len(task.items))),
        },
    )


def in_document_terms(error: InvalidSchedule) -> DialectError:
    """The core's "calendar item 2: hour 24 out of range 0-23", by its parts, in the document's
    terms: "repeat_items[1].repeat_hour 24 out of range 0-23"."""
    if isinstance(error, NoFutureFire):
        return DialectError(400, "repeat_items: no future time matches")
    if error.item is not None:
        where = f"repeat_items[{error.item}]"
        if error.field in CORE_TO_DOC:
            return DialectError(400, f"{where}.{CORE_TO_DOC[error.field]} {error.reason}")
        return DialectError(400, f"{where}: {error.reason}")
    if error.field == "calendar":
        return DialectError(400, f"repeat_items: {error.reason}")
    return DialectError(400, str(error))


def server_configuration(error: ConfigError) -> DialectError:
    """A broken server setting (such as the task classes file): say so, it is no client error."""
    return DialectError(500, f"server configuration: {without_paths(str(error))}")


CORE_ERRORS: dict[type[SchedulerError], CoreErrorMapping] = {
    InvalidSchedule: in_document_terms,
    QuotaExceeded: status(400),
    ConfigError: server_configuration,
}


def find(account: dict[str, Any], number: str) -> Schedule:
    try:
        return schedules.get(
            store(), account["appkey"], schedule_id(account["appkey"], number), DIALECT
        )
    except NotFound:
        raise DialectError(404, f"no task with id {number}") from None


def log_api(schedule: Schedule, user_id: int, message: str) -> None:
    entry = {
        "t": now_ms(),
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
