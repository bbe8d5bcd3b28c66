"""The task scheduler's one route and its actions (see the package's docstring)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from flask import Blueprint, Response, current_app, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from werkzeug.exceptions import HTTPException

from scheduler_api import formats, ratelimit
from scheduler_api.auth import basic_account
from scheduler_api.body import read_capped
from scheduler_api.openapi import Reply, documented, errors
from scheduler_api.routing import claim_prefixes
from scheduler_api.task_scheduler import replies
from shared import schedules
from shared.config import Config
from shared.errors import ConfigError, InvalidSchedule, NotFound, QuotaExceeded
from shared.model import CalendarTrigger, RepeatItem, Schedule, Target
from shared.public_errors import without_paths
from shared.store import Store
from shared.timing import zone
from workers.task_classes import canonical, registered, unknown_class_message

DIALECT = "task_scheduler"
TARGET = "scheduler"
MAX_BODY_BYTES = 64 * 1024
MAX_REPEAT_ITEMS = 100
MAX_NAME_CHARS = 255
LOG_INFO = 6
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"

blueprint = Blueprint("task_scheduler", __name__)

# The document's item fields and the core's ``RepeatItem`` fields, in the document's order.
ITEM_FIELDS = {
    "repeat_start": "start",
    "repeat_end": "end",
    "repeat_interval": "interval_min",
    "repeat_year": "year",
    "repeat_month": "month",
    "repeat_day": "day",
    "repeat_week": "week",
    "repeat_weekday": "weekday",
    "repeat_hour": "hour",
    "repeat_minute": "minute",
}
CORE_TO_DOC = {core: doc for doc, core in ITEM_FIELDS.items()}
CALENDAR_FIELDS = ("year", "month", "day", "week", "weekday", "hour", "minute")


class TaskApiError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- request shapes --------------------------------------------------------------------------


class Calendar(fields.Field):
    """A calendar value: a whole number (or its digits as a string), or ``*`` / null = any."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | None:
        if value is None or value == "*":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,9}\s*", value):
            return int(value)
        raise ValidationError(f'must be a whole number or "*", got {value!r}')


class WholeNumber(fields.Field):
    """An id: a whole number >= 0 or its digits as a string (the document shows both)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
            return int(value)
        raise ValidationError(f"must be a whole number, got {value!r}")


class Date(fields.String):
    """``YYYY-MM-DD`` or null; the core checks that it is a real date."""

    def __init__(self) -> None:
        super().__init__(allow_none=True)


class RepeatItemDocument(Schema):
    """One of ``repeat_items``. ``id`` and ``task_id`` may come back from ``getTasks``; they are
    issued by the server, so they are read and ignored."""

    class Meta:
        unknown = RAISE

    repeat_start = Date()
    repeat_end = Date()
    repeat_interval = Calendar(allow_none=True)
    repeat_year = Calendar(allow_none=True)
    repeat_month = Calendar(allow_none=True)
    repeat_day = Calendar(allow_none=True)
    repeat_week = Calendar(allow_none=True)
    repeat_weekday = Calendar(allow_none=True)
    repeat_hour = Calendar(allow_none=True)
    repeat_minute = Calendar(allow_none=True)
    id = fields.Raw(load_only=True, allow_none=True)
    task_id = fields.Raw(load_only=True, allow_none=True)


class TaskDocument(RepeatItemDocument):
    """``addTask`` / ``updateTask``: one JSON object. The optional top-level ``repeat_*`` fields
    fill what an item leaves out, or form the one item when ``repeat_items`` is absent."""

    id = WholeNumber()  # updateTask only
    user_id = WholeNumber(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_CHARS))
    class_name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_CHARS))
    data = fields.Raw(allow_none=True, load_default=None)
    active = fields.Boolean(required=True)
    repeat_items = fields.List(
        fields.Nested(RepeatItemDocument),
        allow_none=True,
        validate=validate.Length(max=MAX_REPEAT_ITEMS),
    )
    last_run = fields.Raw(load_only=True, allow_none=True)  # from a getTasks entry: ignored


@dataclass(frozen=True)
class Task:
    """A loaded ``addTask`` / ``updateTask`` request."""

    user_id: int
    name: str
    class_name: str
    data: Any
    active: bool
    items: tuple[RepeatItem, ...]


# --- the one route ---------------------------------------------------------------------------


class ActionQuery(Schema):
    target = fields.String(required=True, metadata={"enum": [TARGET]})
    action = fields.String(
        required=True,
        metadata={
            "enum": [
                "addTask",
                "updateTask",
                "deleteTask",
                "executeTask",
                "getTaskHistory",
                "getTasks",
            ]
        },
    )
    taskId = fields.Integer(  # noqa: N815 (the document's name)
        metadata={"description": "deleteTask, executeTask, getTaskHistory"}
    )


@blueprint.route("/api/v1/api.php", methods=["GET", "POST", "DELETE"])
@documented(
    summary="Task scheduler: addTask, updateTask (POST, one JSON object), deleteTask, "
    "executeTask, getTaskHistory (taskId in the query), getTasks",
    body=TaskDocument,
    query=ActionQuery,
    responses={
        200: Reply(
            '{"success":1,"message":...,"data":...}, or success 0 when a run failed',
            replies.Envelope,
        ),
    },
)
def api_php() -> Response:
    target = request.args.get("target")
    if target != TARGET:
        raise TaskApiError(404, f"target: {target!r} is not served here; use target=scheduler")
    account = authenticated()
    action = request.args.get("action", "")
    if action not in ACTIONS:
        raise TaskApiError(400, f"action: {action!r} is unknown; use one of {', '.join(ACTIONS)}")
    handler, methods = ACTIONS[action]
    if request.method not in methods:
        raise TaskApiError(405, f"{action} takes {' or '.join(methods)}, not {request.method}")
    return handler(account)


def add_task(account: dict[str, Any]) -> Response:
    task = load_task(read_body(), update=False)
    number, first_item = store().next_task_ids(account["appkey"], 1, len(task.items))
    schedule = build_schedule(account, number, first_item, task)
    save(lambda: schedules.create(store(), config(), schedule))
    message = f'Task "{task.name}" ({number}) added'
    log_api(schedule, task.user_id, message)
    return envelope(message, task_view(schedule, account, None))


def update_task(account: dict[str, Any]) -> Response:
    body = read_body()
    if "id" not in body:
        raise TaskApiError(400, "id: the id of the task to update is required")
    task = load_task(body, update=True)
    current = find(account, str(WholeNumber().deserialize(body["id"])))
    number = current.doc["task_id"]
    _, first_item = store().next_task_ids(account["appkey"], 0, len(task.items))
    schedule = build_schedule(account, number, first_item, task)
    save(lambda: schedules.replace_schedule(store(), config(), schedule))
    message = f'Task "{task.name}" ({number}) updated'
    log_api(schedule, task.user_id, message)
    last_run = store().task_last_runs([schedule.id])[0]
    return envelope(message, task_view(schedule, account, last_run))


def delete_task(account: dict[str, Any]) -> Response:
    task = find(account, task_id_param())
    schedules.delete(store(), account["appkey"], task.id)
    store().forget_task(task.id)
    return envelope(f'Task "{task.doc["name"]}" ({task.doc["task_id"]}) deleted', None)


def execute_task(account: dict[str, Any]) -> Response:
    """Run now on the ``tasks`` pool (active or not) and answer with the class's message."""
    task = find(account, task_id_param())
    context = {"ip": request.remote_addr, "by": "executeTask"}
    with current_app.extensions["scheduler.waits"].hold(account["appkey"]):
        exec_id = schedules.run_now(store(), task, schedules.now_ms(), context)
        result = store().wait_task_result(exec_id, config().task_execute_timeout_s)
    label = f'Task "{task.doc["name"]}" ({task.doc["task_id"]})'
    if result is None:
        return envelope(f"{label} is still running; getTaskHistory will show its result", None)
    if not result["ok"]:
        return failure(200, f"{label} failed: {result['message']}")
    return envelope(result["message"], None)


def get_task_history(account: dict[str, Any]) -> Response:
    task = find(account, task_id_param())
    entries = store().task_log_entries(task.id, config().task_history_max_entries)
    return envelope(None, [history_view(entry, account) for entry in entries])


def get_tasks(account: dict[str, Any]) -> Response:
    ids = store().list_schedule_ids(account["appkey"], DIALECT, 0, -1)
    tasks = sorted(store().get_schedules(ids), key=lambda task: int(task.doc["task_id"]))
    last_runs = store().task_last_runs([task.id for task in tasks])
    views = [task_view(t, account, last) for t, last in zip(tasks, last_runs, strict=True)]
    return envelope(None, views)


ACTIONS: dict[str, tuple[Callable[[dict[str, Any]], Response], tuple[str, ...]]] = {
    "addTask": (add_task, ("POST",)),
    "updateTask": (update_task, ("POST",)),
    "deleteTask": (delete_task, ("GET", "POST", "DELETE")),
    "executeTask": (execute_task, ("GET", "POST")),
    "getTaskHistory": (get_task_history, ("GET", "POST")),
    "getTasks": (get_tasks, ("GET", "POST")),
}


@blueprint.errorhandler(TaskApiError)
def task_api_error(error: TaskApiError) -> Response:
    response = failure(error.status, formats.clip_message(str(error)))
    if error.status == 401:
        response.headers["WWW-Authenticate"] = 'Basic realm="scheduler"'
    return response


@blueprint.errorhandler(ConfigError)
def config_error(error: ConfigError) -> Response:
    """A broken server setting (such as the task classes file): say so, it is no client error."""
    return failure(500, f"server configuration: {without_paths(str(error))}")


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    return failure(error.code or 500, formats.clip_message(error.description or error.name))


claim_prefixes(blueprint, ("/api/v1/api.php",), http_error)
ratelimit.counts_per_account(blueprint)
errors(
    blueprint,
    Reply("", replies.Failure),
    {
        400: '{"success":0,"message":"<what is wrong>"}: a parameter, the body, the action',
        401: "no or wrong HTTP Basic credentials",
        404: "unknown task id, or a target other than scheduler",
        405: "the action does not take this method",
        413: "the body is too large",
        429: "too many requests: wait Retry-After seconds",
        503: "the schedule store is unreachable; try again later",
    },
)


# --- reading requests ------------------------------------------------------------------------


def authenticated() -> dict[str, Any]:
    account = basic_account(request, store())
    if account is None:
        raise TaskApiError(401, "authentication required: HTTP Basic with appkey:master_secret")
    return account


def read_body() -> dict[str, Any]:
    """The single JSON object of ``addTask`` / ``updateTask`` (whatever its Content-Type says:
    the document names none)."""
    raw = read_capped(request, MAX_BODY_BYTES)
    if not raw.strip():
        raise TaskApiError(400, "body: send the task as one JSON object")
    try:
        doc = formats.parse_json(raw)
    except formats.BadDocument as exc:
        raise TaskApiError(400, str(exc)) from None
    if not isinstance(doc, dict):
        raise TaskApiError(400, "body: must be one JSON object")
    return doc


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


def task_id_param() -> str:
    """``taskId`` from the query string (the document's example URLs)."""
    raw = request.args.get("taskId")
    if raw is None:
        raise TaskApiError(400, "taskId: the id of the task is required, e.g. &taskId=1")
    try:
        return str(WholeNumber().deserialize(raw))
    except ValidationError as exc:
        raise TaskApiError(400, f"taskId: {' '.join(exc.messages)}") from None


def describe(messages: Any, path: str = "") -> str:
    """marshmallow's nested ``{"field": ["msg"]}`` as one line naming each bad field."""
    if isinstance(messages, dict):
        parts = []
        for key, value in messages.items():
            if key == "_schema":
                name = path or "body"
            elif isinstance(key, int):
                name = f"{path}[{key}]"
            else:
                name = f"{path}.{key}" if path else str(key)
            parts.append(describe(value, name))
        return "; ".join(parts)
    if isinstance(messages, list):
        text = " ".join(str(m) for m in messages)
        return f"{path}: {text.replace('Unknown field.', 'unknown field')}"
    return f"{path}: {messages}"


# --- the task as a schedule ------------------------------------------------------------------


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


# --- rendering -------------------------------------------------------------------------------


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


def failure(status: int, message: str) -> Response:
    body = {"success": 0, "message": message}
    return formats.respond(formats.json_bytes(body), formats.JSON, status)


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
