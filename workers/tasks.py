"""The ``tasks`` pool: run a task's class, write its history, answer a waiting ``executeTask``.

Every run, scheduled or on demand, writes ``started`` and then ``finished`` (with the class's
message) or ``failed`` (with the error) to the task's history. A run on demand carries a
``context`` (who asked); its outcome is also pushed where the API is waiting for it.
"""

from __future__ import annotations

import logging
from typing import Any

from shared.celery_app import app
from shared.config import Config
from shared.contract import TaskName
from shared.execution import Execution
from shared.public_errors import without_paths
from shared.store import Store
from shared.task_classes import MAX_MESSAGE_CHARS, TaskContext, TaskFailed
from shared.timing import now_ms
from workers.context import config, store
from workers.runner import Outcome, run_execution
from workers.task_classes import resolve
from workers.task_states import THROWS, end_task

log = logging.getLogger(__name__)

LEVEL_INFO, LEVEL_ERROR = 6, 3  # syslog levels, as the document's log_level "6"
RESULT_GRACE_S = 60  # an on-demand result outlives the API's wait by this much


@app.task(name=TaskName.TASK_RUN, acks_late=True, ignore_result=True, throws=THROWS)
def run(execution: dict[str, Any]) -> str:
    body = Execution.from_message(execution)
    ended = run_execution(store(), config, body, lambda e: perform(store(), config, e))
    return end_task(ended)  # Flower counts it as the attempt ended (workers.task_states)


def perform(store: Store, config: Config, execution: Execution) -> Outcome:
    """One attempt: resolve the class, run it, and record what happened."""
    spec = execution.spec
    prefix = f"task_id={spec.get('task_id')} task={spec.get('name')}"
    started = now_ms()
    record(store, config, execution, f"{prefix} action=started", LEVEL_INFO, started)
    ctx = TaskContext(
        config=config,
        store=store,
        account=execution.account,
        task_id=str(spec.get("task_id", "")),
        name=str(spec.get("name", "")),
        class_name=spec["class_name"],
        data=spec.get("data"),
        execution_id=execution.id,
    )
    try:
        message = str(resolve(ctx.class_name, config).run(ctx))[:MAX_MESSAGE_CHARS]
    except TaskFailed as exc:
        return failed(store, config, execution, prefix, str(exc), exc.retryable)
    except Exception as exc:  # a bug in a class: recorded, and retried like any failure
        log.exception("execution %s attempt %d: task class %s raised", execution.id,
                      execution.attempt, ctx.class_name)  # fmt: skip
        return failed(store, config, execution, prefix, f"{type(exc).__name__}: {exc}", True)
    record(store, config, execution, f"{prefix} action=finished message={message}", LEVEL_INFO)
    answer(store, config, execution, {"ok": True, "message": message})
    return Outcome(ok=True, result={"message": message})


def failed(
    store: Store,
    config: Config,
    execution: Execution,
    prefix: str,
    error: str,
    retryable: bool,
) -> Outcome:
    error = without_paths(error)  # the tenant reads it (history, executeTask): no server paths
    record(store, config, execution, f"{prefix} action=failed error={error}", LEVEL_ERROR)
    answer(store, config, execution, {"ok": False, "message": error})
    return Outcome(ok=False, retryable=retryable, error=error)


def record(
    store: Store,
    config: Config,
    execution: Execution,
    message: str,
    level: int,
    run_started_ms: int | None = None,
) -> None:
    context = execution.context or {}
    entry = {
        "t": now_ms(),
        "level": level,
        "user_id": execution.spec.get("user_id"),
        "message": message,
        "ip": context.get("ip"),
    }
    store.log_task(
        execution.schedule,
        entry,
        account=execution.account,
        cap=config.task_history_max_entries,
        retention_s=config.history_retention_s,
        run_started_ms=run_started_ms,
    )


def answer(store: Store, config: Config, execution: Execution, result: dict[str, Any]) -> None:
    """Hand an on-demand run's outcome to the ``executeTask`` call waiting for it."""
    if execution.context:
        ttl = int(config.task_execute_timeout_s) + RESULT_GRACE_S
        store.put_task_result(execution.id, result, ttl)
