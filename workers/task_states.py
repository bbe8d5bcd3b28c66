"""Every attempt in Celery's own terms, so Flower (and ``celery events``) count them: succeeded,
failed (dead-lettered, or not worth retrying) and retried (a retry in our own schedule).

Our engine records each attempt (``workers.runner``); Celery only sees the task that ran it.

- A message of one execution run by a prefork pool (tasks, jobs, push): the task ends as its
  attempt did. It returns (SUCCESS); raises ``AttemptFailed``, listed in the task's ``throws``
  (FAILURE: Celery logs one line, no traceback); or raises ``celery.exceptions.Retry`` itself,
  never through ``task.retry()`` (RETRY: ``Request.on_retry`` acknowledges the message and sends
  task-retried; nothing is published again, our own schedule holds the next attempt).
- The webhooks pool (one message may carry the fires of a beat tick): its tasks send no events
  of their own (``send_events = False``); each attempt sends task-received and its end, as task
  "<execution id>/<attempt>" named like a message of one, through the worker's own event
  dispatcher. A pool thread only queues them; at each turn of the worker's event loop (the main
  thread, the only one using the dispatcher) they go into the dispatcher's task buffer, flushed
  as one "task.multi" message the turn after, as Celery does with its own task events.
"""

from __future__ import annotations

import time
from collections import deque
from numbers import Real
from typing import Any, cast

from celery import signals
from celery.exceptions import Retry

from shared.contract import TaskName
from shared.execution import Execution
from workers.ended import Ended


class AttemptFailed(Exception):
    """An attempt that failed for good (dead-lettered); its message says what, where, which."""


# Tasks whose attempts end as Celery tasks: pass as ``throws`` (logged without a traceback).
THROWS = (AttemptFailed,)


def end_task(ended: Ended) -> str:
    """End the running Celery task as its attempt ended (see the module doc)."""
    if ended.outcome == "dead":
        raise AttemptFailed(ended.summary)
    if ended.outcome == "retry":
        # A float is a numbers.Real, as Retry wants; mypy can't see the numeric tower.
        raise Retry(exc=AttemptFailed(ended.summary), when=cast(Real, ended.retry_in_s))
    return ended.outcome


# --- per-attempt events (the webhooks pool) ---------------------------------------------------

BUFFER_LIMIT = 2000  # task events held by the dispatcher at most before it publishes them
_worker: dict[str, Any] = {}  # "consumer": this worker's consumer, once it is ready
_queued: deque[tuple[str, dict[str, Any]]] = deque()


@signals.worker_ready.connect
def _remember_consumer(sender: Any = None, **_: Any) -> None:
    # The consumer, not its dispatcher: a reconnection replaces the dispatcher (the hub stays).
    _worker["consumer"] = sender
    hub = getattr(sender, "hub", None)
    if hub is not None:
        hub.on_tick.add(_dispatch)


def task_id(execution: Execution) -> str:
    return f"{execution.id}/{execution.attempt}"


def attempts_began(executions: list[Execution]) -> None:
    """task-received of each attempt that begins now (no task-started: Flower's counts and
    states need none, and each event costs the webhooks pool its share of a fire)."""
    now = time.time()
    _send(
        [
            (
                "task-received",
                {
                    "uuid": task_id(execution),
                    "name": TaskName.WEBHOOK_DELIVER,
                    "args": repr([execution.id]),
                    "retries": execution.attempt - 1,
                    "timestamp": now,
                },
            )
            for execution in executions
        ]
    )


def attempts_ended(pairs: list[tuple[Execution, Ended]], runtime_s: float) -> None:
    """The end of each attempt that ran and was recorded (``runner.settled``): task-succeeded,
    task-failed or task-retried. A copy that did not run (running or done elsewhere) is no
    attempt: its caller passes none."""
    now = time.time()
    events = []
    for execution, end in pairs:
        fields: dict[str, Any] = {"uuid": task_id(execution), "timestamp": now}
        if end.outcome == "done":
            events.append(("task-succeeded", {**fields, "result": "'done'", "runtime": runtime_s}))
        elif end.outcome in ("dead", "retry"):
            kind = "task-failed" if end.outcome == "dead" else "task-retried"
            events.append((kind, {**fields, "exception": repr(AttemptFailed(end.summary)),
                                  "traceback": ""}))  # fmt: skip
    _send(events)


def _send(events: list[tuple[str, dict[str, Any]]]) -> None:
    """Queue ``events`` for the loop's next turn. No wake-up: each would be a loop turn of its own
    per batch; the loop turns often under load (every message, every acknowledgement) and at
    least at each timer (the worker's heartbeat) when idle."""
    if events and getattr(_worker.get("consumer"), "hub", None) is not None:
        _queued.extend(events)  # not in a worker (a test calling a task) or no loop: none


def _dispatch() -> None:
    """At each turn of the worker's event loop (its main thread, the only one using the
    dispatcher): hand the queued events to the dispatcher, which flushes them next turn."""
    if not _queued:
        return
    dispatcher = getattr(_worker.get("consumer"), "event_dispatcher", None)
    if dispatcher is not None:
        # One "task.multi" message per flush for a whole tick's attempts, not one every 24.
        dispatcher.buffer_limit = BUFFER_LIMIT
    while _queued:
        kind, fields = _queued.popleft()
        if dispatcher is not None:
            dispatcher.send(kind, **fields)
