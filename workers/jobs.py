"""The ``jobs`` pool: creates the queued instances of scheduled beacon jobs, writes lifecycle
events to each job's history, and enforces pickup and run leases.

- ``workers.jobs.spawn``: one fire of a scheduled job (sent by the beat); the execution id
  dedupes twice over (the runner's execution mark, and the create script's own record), so a
  redelivered fire never creates a second instance.
- ``workers.jobs.event``: one lifecycle event the API published with its transition.
- ``workers.jobs.expire_lease``: a lease check the beat publishes at the lease's deadline (and
  records in the ledger, like an execution: a lost one is published again).
"""

from __future__ import annotations

import logging
from typing import Any

from shared import beacon_jobs
from shared.celery_app import app
from shared.contract import TaskName
from shared.execution import Execution
from shared.store import LeaseOutcome
from shared.timing import now_ms
from workers.context import config, store
from workers.runner import Outcome, run_execution
from workers.task_states import THROWS, end_task

log = logging.getLogger(__name__)


def create_instance(execution: Execution) -> Outcome:
    job_id = beacon_jobs.spawn_instance(store(), config, execution, now_ms())
    return Outcome(ok=True, result={"job_id": job_id})


@app.task(name=TaskName.JOB_SPAWN, acks_late=True, ignore_result=True, throws=THROWS)
def spawn(execution: dict[str, Any]) -> str:
    body = Execution.from_message(execution)
    return end_task(run_execution(store(), config, body, create_instance))


# Bookkeeping, not attempts: no events, so they don't crowd Flower's task list (their failures
# still show in the worker's log: Celery logs a task that raises whether it sends events or not).
@app.task(name=TaskName.JOB_EVENT, acks_late=True, ignore_result=True, send_events=False)
def event(job_event: dict[str, Any]) -> bool:
    return beacon_jobs.record_event(store(), config, job_event)


@app.task(name=TaskName.JOB_LEASE, acks_late=True, ignore_result=True, send_events=False)
def expire_lease(check: dict[str, Any]) -> str:
    outcome = beacon_jobs.expire_lease(store(), config, check, now_ms())
    if outcome != LeaseOutcome.STALE:
        log.info("job %s: %s lease ran out: %s", check.get("job"), check.get("kind"), outcome)
    # The beat recorded the check in the ledger when it published it (a lost check would leave
    # its job held forever); it is enforced (idempotent: a copy finds it STALE), so settle it.
    store().settle(check["id"], route=check["account"])
    return outcome
