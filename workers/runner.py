"""The life of one attempt, shared by every pool: dedupe, deliver, then record and decide.

A pool's task calls ``run_execution(store, config, execution, deliver)`` with the ``Execution``
its message carries and its own ``deliver`` function. ``deliver`` returns an ``Outcome`` (it may
also raise: that counts as a retryable failure, unless it is ``InvalidSchedule``; running past
``SCHEDULER_ATTEMPT_TIME_LIMIT_S`` too).
The outcome, the run record and what happens next (done, a retry in our own Redis schedule, or a
dead letter) are written in one atomic step.

Poison: an attempt whose process dies every time (a crash, out of memory, killed at the hard time
limit) comes back with its message each time; ``begin_execution`` counts those deliveries and,
past ``SCHEDULER_MAX_DELIVERIES``, the execution is dead-lettered instead of run again.

Copies: the beat publishes an execution again when no worker began it in time (or its worker
died: the attempt's lease ran out), so two messages of one attempt may exist; ``begin_execution``
tells them apart by the broker's delivery tag of the message being run (``delivery_tag``) and
runs an attempt at most once at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from celery import current_task
from celery.exceptions import SoftTimeLimitExceeded

from shared import logs, metrics
from shared.config import Config
from shared.contract import RunStatus
from shared.errors import InvalidSchedule
from shared.execution import Execution, failure_notice, retry_payload
from shared.model import RunRecord
from shared.public_errors import without_paths
from shared.retry import compute_backoff
from shared.store import Finish, Store, Verdict, dumps
from shared.timing import now_ms
from workers import deadline
from workers.ended import Ended, failure_summary, target_of

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    retryable: bool = False
    result: Any = None
    error: str | None = None
    retry_after_s: float | None = None


Deliver = Callable[[Execution], Outcome]


def run_execution(store: Store, config: Config, execution: Execution, deliver: Deliver) -> Ended:
    """Run one attempt of ``execution``; returns how it ended (for Celery, logs and tests)."""
    # Every line logged meanwhile (ours, the pool's) names the schedule, execution and account.
    with logs.execution_context(**logs.execution_fields(execution)):
        return _run(store, config, execution, deliver)


def _run(store: Store, config: Config, execution: Execution, deliver: Deliver) -> Ended:
    exec_id, attempt = execution.id, execution.attempt
    verdict = store.begin_execution(
        exec_id,
        attempt,
        config.history_retention_s,
        config.max_deliveries,
        now_ms=now_ms(),
        lease_ms=config.attempt_lease_ms,
        delivery_tag=delivery_tag(),
    )
    metrics.record_delivery(execution, verdict)
    if verdict == Verdict.POISON:
        return dead_letter(store, config, execution, lost_reason(config))
    if not verdict.runs:
        log.info("execution %s attempt %d not run: %s", exec_id, attempt, verdict)
        return Ended(verdict)
    if verdict == Verdict.RERUN:
        log.warning(
            "execution %s attempt %d runs again: its last delivery was lost", exec_id, attempt
        )
    started = now_ms()
    limit = execution.policy.attempt_limit_s(config)  # a schedule's retry.timeout_s, if shorter
    try:
        # The soft time limit interrupts a prefork process; in the threads pool, the deadline
        # shuts the attempt's sockets (workers.deadline). Either way: "ran past".
        with (
            deadline.attempt(limit),
            deadline.interrupted_after(limit, config.attempt_time_limit_s),
        ):
            outcome = deliver(execution)
    except SoftTimeLimitExceeded:
        outcome = Outcome(ok=False, retryable=True, error=f"the attempt ran past {limit:g} s")
    except InvalidSchedule as exc:  # the stored definition breaks a rule: retrying can't help
        outcome = Outcome(ok=False, error=str(exc))
    except (Exception, SystemExit) as exc:  # a bug or an unexpected error: retry, and say what
        # SystemExit too: a task class calling sys.exit() must not take its pool process down
        # (the message would come back and do it again).
        log.exception("execution %s attempt %d to %s raised", exec_id, attempt,
                      target_of(config, execution))  # fmt: skip
        outcome = Outcome(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
    return _settle(store, config, execution, storable(outcome), started)


def delivery_tag() -> str:
    """The broker's tag of the message the current Celery task runs ("" outside one)."""
    properties = getattr(getattr(current_task, "request", None), "properties", None)
    return str((properties or {}).get("delivery_tag") or "")


def dead_letter(store: Store, config: Config, execution: Execution, reason: str) -> Ended:
    """Record ``execution`` as failed for ``reason`` and dead-letter it, without running it:
    the end of a message a pool cannot process (see ``workers.gate``)."""
    with logs.execution_context(**logs.execution_fields(execution)):
        log.error("execution %s attempt %d to %s dead-lettered unrun: %s", execution.id,
                  execution.attempt, target_of(config, execution), reason)  # fmt: skip
        return _settle(store, config, execution, Outcome(ok=False, error=reason), now_ms())


def lost_reason(config: Config) -> str:
    return (
        f"delivered {config.max_deliveries} times and never finished: the process running it "
        "died or was killed each time (a crash, no memory left, or the time limit)"
    )


def storable(outcome: Outcome) -> Outcome:
    """``outcome`` as the store can write it: a result that is not JSON or not UTF-8 is dropped
    (said in the error) rather than failing the write and losing the run."""
    error = outcome.error
    if error is not None:
        error = error.encode("utf-8", "replace").decode()
    try:
        dumps(outcome.result).encode()
    except (TypeError, ValueError, RecursionError) as exc:
        note = f"(its result could not be stored: {type(exc).__name__})"
        return replace(outcome, result=None, error=f"{error} {note}" if error else note)
    return replace(outcome, error=error)


def _settle(
    store: Store, config: Config, execution: Execution, outcome: Outcome, started_ms: int
) -> Ended:
    finished = now_ms()
    finish = settlement(config, execution, outcome, started_ms, finished)
    store.finish_execution(
        finish.record,
        finish.outcome,
        account=execution.account,
        now_ms=finished,
        history_cap=config.history_max_runs,
        retention_s=config.history_retention_s,
        retry_at_ms=finish.retry_at_ms,
        payload=finish.payload,
        republish_after_ms=config.republish_after_ms,
        notice=finish.notice,
    )
    return settled(config, execution, finish, finished)


def settlement(
    config: Config, execution: Execution, outcome: Outcome, started_ms: int, finished_ms: int
) -> Finish:
    """What ``finish_execution`` writes for this attempt's ``outcome``: its run record, and done,
    a retry in our own schedule, or a dead letter."""
    attempt = execution.attempt
    # The tenant reads the error (runs, dead letters): no server paths in it.
    error = without_paths(outcome.error) if outcome.error else outcome.error
    status: RunStatus
    if outcome.ok:
        status, verdict = RunStatus.SUCCEEDED, "done"
    elif outcome.retryable and attempt < execution.policy.max_attempts(config):
        status, verdict = RunStatus.RETRYING, "retry"
    else:
        # Out of attempts ("dead") or not worth retrying ("failed"): a dead letter either way,
        # so an operator can redrive it once the receiver is fixed.
        status = RunStatus.DEAD if outcome.retryable else RunStatus.FAILED
        verdict = "dead"
    record = RunRecord(
        id=execution.id,
        schedule=execution.schedule,
        due_ms=execution.due_ms,
        claimed_ms=execution.claimed_ms,
        started_ms=started_ms,
        finished_ms=finished_ms,
        status=status,
        attempt=attempt,
        result=outcome.result,
        error=error,
        late_ms=execution.late_ms,
    )
    retry_at, payload, notice = 0, None, None
    if verdict == "retry":
        base_s, max_s = execution.policy.backoff_s(config)
        delay = compute_backoff(
            attempt, base_s=base_s, max_s=max_s, retry_after_s=outcome.retry_after_s
        )
        retry_at = finished_ms + int(delay * 1000)
        payload = retry_payload(execution.to_message(), attempt + 1)
    elif verdict == "dead":
        payload = {"execution": execution.to_message(), "error": error, "died_ms": finished_ms}
        if execution.policy.on_failure:  # told by an execution of its own, published now
            told = failure_notice(payload, execution.policy.on_failure)
            notice = (told.id, retry_payload(told.to_message(), 1))
    return Finish(record, verdict, execution.account, retry_at, payload, notice)


def settled(config: Config, execution: Execution, finish: Finish, finished_ms: int) -> Ended:
    """Count and log an attempt ``finish`` recorded; returns how it ended."""
    record = finish.record
    metrics.record_attempt(execution, record.status, finished_ms)
    if record.status == RunStatus.SUCCEEDED:
        log.info("execution %s attempt %d: %s", execution.id, execution.attempt, record.status)
        return Ended(finish.outcome)
    retry_in_s = max(0, finish.retry_at_ms - finished_ms) / 1000 if finish.retry_at_ms else None
    summary = failure_summary(config, execution, record.error, retry_in_s)
    log.warning("execution %s %s", execution.id, summary)
    return Ended(finish.outcome, summary, retry_in_s or 0.0)
