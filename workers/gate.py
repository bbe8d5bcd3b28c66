"""The gate every message passes in a worker's main process, before any pool process sees it.

A worker's main process decodes each message, then pickles it for one of its pool processes;
an exception there is not a failed task but an "unrecoverable error" that stops the whole worker,
and with ``acks_late`` the message goes back to the queue and stops the next worker too. So a
message is checked here first: at most ``SCHEDULER_MESSAGE_MAX_BYTES``, decodable, one argument
of the shape its task expects, nested at most ``payload_limits.MESSAGE_MAX_DEPTH`` levels. One that
fails is recorded as a failed run and dead-lettered with the reason (``runner.dead_letter``), and
Celery drops it (``InvalidTaskError``: rejected, not requeued). It never reaches a pool process.

Celery builds each task's request object from ``PoolTask.Request``, this module's
``GatedRequest``; a body that can't be decoded at all ends in ``GatedConsumer.on_decode_error``.

The other way out of a pool task that is no failed run: Redis unreachable for longer than the
store waits (``SCHEDULER_REDIS_OUTAGE_RETRY_S``) while an attempt began or finished. Celery
would acknowledge that as a failed task and the message would be gone, so ``PoolTask`` rejects
it with requeue instead: it goes back to its queue (or, if Redis is still away when the worker
answers, stays unacknowledged for the broker to restore), and runs again.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from celery import Task
from celery.exceptions import InvalidTaskError, Reject
from celery.worker.consumer import Consumer
from celery.worker.request import Request
from kombu.exceptions import DecodeError

from shared import payload_limits
from shared.contract import BATCH_TASK_BY_TARGET, TASK_BY_TARGET, TargetKind, TaskName
from shared.execution import Execution, body_problem
from shared.model import Schedule, Target
from shared.store import OUTAGE_ERRORS
from workers import context, runner

log = logging.getLogger(__name__)

# The argument of the tasks that take no execution: required keys and their types (an
# execution's body is checked by ``shared.execution.body_problem``).
SHAPES: dict[str, dict[str, type]] = {
    TaskName.JOB_EVENT: {"id": str, "account": str, "job": int, "entries": list},
    TaskName.JOB_LEASE: {"id": str, "account": str, "job": int, "beacon_name": str},
}
_KIND_BY_TASK: dict[str, TargetKind] = {task: kind for kind, task in TASK_BY_TARGET.items()}
_BATCH_TASKS = frozenset(BATCH_TASK_BY_TARGET.values())
_KIND_BY_TASK.update({task: kind for kind, task in BATCH_TASK_BY_TARGET.items()})


class GatedRequest(Request):
    """Celery's request, refusing a message the pool could not process (see the module doc)."""

    def __init__(self, message: Any, *args: Any, **kwargs: Any) -> None:
        task, task_id = _names(message)
        size = len(message.body or b"")
        most = context.config.message_max_bytes
        if size > most:
            raise refused(task, task_id, None, f"message of {size} bytes; at most {most}")
        try:
            super().__init__(message, *args, **kwargs)  # decodes the body
        except InvalidTaskError:
            raise
        except (DecodeError, ValueError, TypeError, KeyError) as exc:
            raise refused(task, task_id, None, _undecodable(exc)) from None
        problem = shape_problem(task, self.args, self.kwargs)
        if problem:
            arg = self.args[0] if isinstance(self.args, list | tuple) and self.args else None
            raise refused(task, task_id, arg, problem)


class PoolTask(Task):
    """The base of every pool task (``shared.celery_app`` sets it as the app's task class)."""

    # Celery takes the class or its dotted name; celery-types only knows the name.
    Request = GatedRequest  # type: ignore[assignment]

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().__call__(*args, **kwargs)
        except OUTAGE_ERRORS as exc:  # see the module doc: give the message back
            log.error("Redis unreachable; %s goes back to its queue: %s", self.name, exc)
            raise Reject(exc, requeue=True) from exc


class GatedConsumer(Consumer):
    """Celery's consumer; a body it cannot decode (before any request exists) is recorded and
    dead-lettered too, then dropped as Celery would."""

    def on_decode_error(self, message: Any, exc: Exception) -> None:
        refused(*_names(message), None, _undecodable(exc))
        super().on_decode_error(message, exc)  # logs it and acknowledges the message


def refused(task: str, task_id: str, arg: Any, reason: str) -> InvalidTaskError:
    """Record a message as a failed run and a dead letter; the error that makes Celery drop it
    (rejected, not requeued) is returned for the caller to raise."""
    log.error("refused message %s (%s): %s", task_id, task, reason)
    try:
        execution = identity(task, task_id, arg, context.store().get_schedule)
        runner.dead_letter(context.store(), context.config, execution, reason)
    except Exception:  # recording is best effort: the message must go either way
        log.exception("could not record refused message %s", task_id)
    return InvalidTaskError(reason)


def _names(message: Any) -> tuple[str, str]:
    headers = message.headers or {}
    return str(headers.get("task", ""))[:200], str(headers.get("id", ""))[:200]


def _undecodable(exc: Exception) -> str:
    return f"undecodable message: {type(exc).__name__}: {str(exc)[:200]}"


def shape_problem(task: str, args: Any, kwargs: Any) -> str | None:
    """Why a decoded message can't be run by ``task``, or None."""
    if not isinstance(args, list | tuple) or len(args) != 1 or kwargs:
        return "malformed message: expected exactly one argument"
    arg = args[0]
    try:
        payload_limits.depth(arg, payload_limits.MESSAGE_MAX_DEPTH, "message")
    except payload_limits.TooDeep as exc:
        return str(exc)
    if task in _BATCH_TASKS:
        # Each element is checked by workers.batch, which dead-letters those that are no
        # execution and runs the others.
        problem = None if isinstance(arg, list) and arg else "its argument is not a list"
    elif task in _KIND_BY_TASK:
        problem = body_problem(arg)
    else:
        problem = _shape_problem(task, arg)
    return f"malformed message: {problem}" if problem else None


def _shape_problem(task: str, arg: Any) -> str | None:
    if not isinstance(arg, dict):
        return "its argument is not an object"
    for key, kind in SHAPES.get(task, {}).items():
        value = arg.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            return f"{key!r} missing or not {kind.__name__}"
    return None


def identity(
    task: str, task_id: str, arg: Any, find: Callable[[str], Schedule | None]
) -> Execution:
    """What a refused message says about its execution, read without trusting it: enough to
    record a run and a dead letter (ids, account, attempt), never its payload."""
    arg = arg if isinstance(arg, dict) else {}
    exec_id = _text(arg.get("id")) or task_id.split("/")[0]  # a retry's task id: "<exec>/<n>"
    schedule = _text(arg.get("schedule")) or exec_id.rsplit(":", 1)[0]
    account, dialect = _text(arg.get("account")), _text(arg.get("dialect"))
    if not account:
        stored = find(schedule)
        account, dialect = (stored.account, stored.dialect) if stored else ("", dialect)
    return Execution(
        id=exec_id,
        schedule=schedule,
        account=account,
        dialect=dialect,
        due_ms=_number(arg.get("due_ms")),
        attempt=max(1, _number(arg.get("attempt"))),
        target=Target(_KIND_BY_TASK.get(task, TargetKind.BEACON)),  # no spec: not the payload
    )


def _text(value: Any) -> str:
    return value[:200] if isinstance(value, str) else ""


def _number(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else 0
