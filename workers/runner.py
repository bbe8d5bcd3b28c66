"""The life of one attempt, shared by every pool: dedupe, deliver, then record and decide.

A pool's task calls ``run_execution(store, config, execution, deliver)`` with its own ``deliver``
function. ``deliver`` returns an ``Outcome`` (it may also raise: that counts as a retryable
failure). The outcome, the run record and what happens next (done, a retry in our own Redis
schedule, or a dead letter) are written in one atomic step.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from shared import logs, metrics
from shared.config import Config
from shared.model import RunRecord, retry_payload
from shared.public_errors import without_paths
from shared.retry import compute_backoff
from shared.store import Store

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    result: Any = None
    error: str | None = None
    retry_after_s: float | None = None


Deliver = Callable[[dict[str, Any]], Outcome]


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_execution(store: Store, config: Config, execution: dict[str, Any], deliver: Deliver) -> str:
    """Run one attempt of ``execution``; returns what happened (for logs and tests)."""
    # Every line logged meanwhile (ours, the pool's) names the schedule, execution and account.
    with logs.execution_context(**logs.execution_fields(execution)):
        return _run(store, config, execution, deliver)


def _run(store: Store, config: Config, execution: dict[str, Any], deliver: Deliver) -> str:
    exec_id, attempt = execution["id"], int(execution["attempt"])
    verdict = store.begin_execution(exec_id, attempt, config.history_retention_s)
    if verdict != "run":
        log.info("execution %s attempt %d not run: %s", exec_id, attempt, verdict)
        return verdict
    started = now_ms()
    try:
        outcome = deliver(execution)
    except Exception as exc:  # a bug or an unexpected error in delivery: retry, and say what
        log.exception("execution %s attempt %d raised", exec_id, attempt)
        outcome = Outcome(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    return _settle(store, config, execution, outcome, started)


def _settle(
    store: Store, config: Config, execution: dict[str, Any], outcome: Outcome, started_ms: int
) -> str:
    attempt = int(execution["attempt"])
    finished = now_ms()
    # The tenant reads the error (runs, dead letters): no server paths in it.
    error = without_paths(outcome.error) if outcome.error else outcome.error
    if outcome.ok:
        status, verdict = "succeeded", "done"
    elif outcome.retryable and attempt < config.max_attempts:
        status, verdict = "retrying", "retry"
    else:
        # Out of attempts ("dead") or not worth retrying ("failed"): a dead letter either way,
        # so an operator can redrive it once the receiver is fixed.
        status, verdict = ("dead" if outcome.retryable else "failed"), "dead"
    record = RunRecord(
        id=execution["id"],
        schedule=execution["schedule"],
        due_ms=execution["due_ms"],
        claimed_ms=execution.get("claimed_ms"),
        started_ms=started_ms,
        finished_ms=finished,
        status=status,
        attempt=attempt,
        result=outcome.result,
        error=error,
        late_ms=execution.get("late_ms", 0),
    )
    retry_at, payload = 0, None
    if verdict == "retry":
        delay = compute_backoff(
            attempt,
            base_s=config.retry_base_s,
            max_s=config.retry_max_s,
            retry_after_s=outcome.retry_after_s,
        )
        retry_at = finished + int(delay * 1000)
        payload = retry_payload(execution, attempt + 1)
    elif verdict == "dead":
        payload = {"execution": execution, "error": error, "died_ms": finished}
    store.finish_execution(
        record,
        verdict,
        account=execution["account"],
        now_ms=finished,
        history_cap=config.history_max_runs,
        retention_s=config.history_retention_s,
        retry_at_ms=retry_at,
        payload=payload,
    )
    metrics.record_attempt(execution, status, finished)
    log.info("execution %s attempt %d: %s", execution["id"], attempt, status)
    return verdict
