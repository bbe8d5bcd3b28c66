"""The task scheduler's one route, its actions, and reading what a request sends."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request
from marshmallow import ValidationError

from scheduler_api import formats
from scheduler_api.adapter import DialectError, config, store
from scheduler_api.body import read_capped
from scheduler_api.openapi import Reply, about, documented, errors
from scheduler_api.task_scheduler import examples, replies
from scheduler_api.task_scheduler.mapping import DIALECT, build_schedule, find, load_task, log_api
from scheduler_api.task_scheduler.render import (
    PATH,
    dialect,
    envelope,
    failure,
    history_view,
    task_view,
)
from scheduler_api.task_scheduler.schemas import TARGET, ActionQuery, TaskDocument, WholeNumber
from shared import schedules
from shared.timing import now_ms

MAX_BODY_BYTES = 64 * 1024

blueprint = Blueprint("task_scheduler", __name__)


@blueprint.route(PATH, methods=["GET", "POST", "DELETE"])
@documented(
    summary="Task scheduler: addTask, updateTask (POST, one JSON object), deleteTask, "
    "executeTask, getTaskHistory (taskId in the query), getTasks",
    body=TaskDocument,
    body_examples=examples.REQUESTS,
    query=ActionQuery,
    params=examples.PARAMS,
    responses={
        200: Reply(
            '{"success":1,"message":...,"data":...}, or success 0 when a run failed',
            replies.Envelope,
            examples=examples.ANSWERS,
        ),
    },
)
def api_php() -> Response:
    target = request.args.get("target")
    if target != TARGET:
        raise DialectError(404, f"target: {target!r} is not served here; use target=scheduler")
    account = dialect.basic_account()
    action = request.args.get("action", "")
    if action not in ACTIONS:
        raise DialectError(400, f"action: {action!r} is unknown; use one of {', '.join(ACTIONS)}")
    handler, methods = ACTIONS[action]
    if request.method not in methods:
        raise DialectError(405, f"{action} takes {' or '.join(methods)}, not {request.method}")
    return handler(account)


def add_task(account: dict[str, Any]) -> Response:
    task = load_task(dialect.load(TaskDocument(), read_body()))
    number, first_item = store().next_task_ids(account["appkey"], 1, len(task.items))
    schedule = build_schedule(account, number, first_item, task)
    schedules.create(store(), config(), schedule, now_ms=schedule.created_ms)
    message = f'Task "{task.name}" ({number}) added'
    log_api(schedule, task.user_id, message)
    return envelope(message, task_view(schedule, account, None))


def update_task(account: dict[str, Any]) -> Response:
    body = read_body()
    if "id" not in body:
        raise DialectError(400, "id: the id of the task to update is required")
    task = load_task(dialect.load(TaskDocument(), body))
    current = find(account, str(WholeNumber().deserialize(body["id"])))
    number = current.doc["task_id"]
    _, first_item = store().next_task_ids(account["appkey"], 0, len(task.items))
    schedule = build_schedule(account, number, first_item, task)
    schedules.replace_schedule(store(), config(), schedule, now_ms=schedule.created_ms)
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
        exec_id = schedules.run_now(store(), config(), task, now_ms(), context)
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


dialect.install(blueprint)
about(
    blueprint,
    "`/api/v1/api.php?target=scheduler&action=...`: tasks of named classes run on a calendar "
    "(`repeat_items`) by the tasks pool; answers in the `success` envelope. HTTP Basic "
    "`appkey:master_secret`.",
)
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
    examples.ERRORS,
)


# --- reading requests ------------------------------------------------------------------------


def read_body() -> dict[str, Any]:
    """The single JSON object of ``addTask`` / ``updateTask`` (whatever its Content-Type says:
    the document names none)."""
    raw = read_capped(request, MAX_BODY_BYTES)
    if not raw.strip():
        raise DialectError(400, "body: send the task as one JSON object")
    try:
        doc = formats.parse_json(raw)
    except formats.BadDocument as exc:
        raise DialectError(400, str(exc)) from None
    if not isinstance(doc, dict):
        raise DialectError(400, "body: must be one JSON object")
    return doc


def task_id_param() -> str:
    """``taskId`` from the query string (the document's example URLs)."""
    raw = request.args.get("taskId")
    if raw is None:
        raise DialectError(400, "taskId: the id of the task is required, e.g. &taskId=1")
    try:
        return str(WholeNumber().deserialize(raw))
    except ValidationError as exc:
        raise DialectError(400, f"taskId: {' '.join(exc.messages)}") from None
