"""The names the API, the beat, the workers and deploy/ share, each spelled once.

Each is a ``StrEnum``: a member is its string (``Pool.WEBHOOKS == "webhooks"``, JSON writes it as
``"webhooks"``), so stored documents and Celery messages read and write the same text as before,
while the code names them by member. deploy/ keeps the strings (YAML); tests/test_deploy.py checks
its pools against ``Pool``, tests/test_contract.py that every task name the beat or the API
publishes is registered by the worker modules and the other way round.
"""

from __future__ import annotations

from enum import StrEnum


class TargetKind(StrEnum):
    """What a fire does (``Target.kind``); each kind is delivered by one pool."""

    PUSH = "push"
    WEBHOOK = "webhook"
    TASK = "task"
    BEACON = "beacon"


class Pool(StrEnum):
    """A Celery worker pool, and the queue it consumes (one queue per pool)."""

    PUSH = "push"
    WEBHOOKS = "webhooks"
    TASKS = "tasks"
    JOBS = "jobs"


class DialectName(StrEnum):
    """An API dialect; each keeps its schedules in its own per-account index
    (``Schedule.dialect``)."""

    WEBHOOK_JOBS = "webhook_jobs"
    PUSH_SCHEDULES = "push_schedules"
    TASK_SCHEDULER = "task_scheduler"
    BEACON_JOBS = "beacon_jobs"
    NATIVE = "native"  # the service's own API, /v1/
    CLI = "cli"  # `scheduler schedules add-webhook`


class RunStatus(StrEnum):
    """How one attempt of one execution ended (``RunRecord.status``)."""

    SUCCEEDED = "succeeded"
    FAILED = "failed"  # not worth retrying: dead-lettered at once
    RETRYING = "retrying"  # failed; another attempt is scheduled
    SKIPPED = "skipped"  # a missed fire the schedule's misfire policy skips
    DEAD = "dead"  # failed on its last attempt: dead-lettered


class TaskName(StrEnum):
    """The Celery tasks the workers register and the beat and the API publish."""

    PUSH_DELIVER = "workers.push.deliver"
    WEBHOOK_DELIVER = "workers.webhooks.deliver"
    WEBHOOK_DELIVER_BATCH = "workers.webhooks.deliver_batch"  # the fires of one beat tick
    TASK_RUN = "workers.tasks.run"
    JOB_SPAWN = "workers.jobs.spawn"
    JOB_EVENT = "workers.jobs.event"  # a beacon job's lifecycle event (published by the API)
    JOB_LEASE = "workers.jobs.expire_lease"  # a pickup or run lease ran out (via the beat)


POOLS: tuple[Pool, ...] = tuple(Pool)
# The pools whose work is waiting on a receiver (HTTP): their workers run Celery's threads pool,
# many deliveries in flight per process. The others run processes (prefork): a task class may
# compute, and a lifecycle update is a few Redis calls.
DELIVERY_POOLS: frozenset[Pool] = frozenset({Pool.PUSH, Pool.WEBHOOKS})
DIALECTS: tuple[DialectName, ...] = tuple(DialectName)

# Each target kind is delivered by its own pool, listening on its own queue.
QUEUE_BY_TARGET: dict[TargetKind, Pool] = {
    TargetKind.PUSH: Pool.PUSH,
    TargetKind.WEBHOOK: Pool.WEBHOOKS,
    TargetKind.TASK: Pool.TASKS,
    TargetKind.BEACON: Pool.JOBS,
}

# The task that delivers several fires of one kind in one message: the beat publishes the fires
# of one tick this way, for the kinds listed (workers.batch).
BATCH_TASK_BY_TARGET: dict[TargetKind, TaskName] = {
    TargetKind.WEBHOOK: TaskName.WEBHOOK_DELIVER_BATCH,
}

# The task that delivers each target kind: what the beat publishes for a fire.
TASK_BY_TARGET: dict[TargetKind, TaskName] = {
    TargetKind.PUSH: TaskName.PUSH_DELIVER,
    TargetKind.WEBHOOK: TaskName.WEBHOOK_DELIVER,
    TargetKind.TASK: TaskName.TASK_RUN,
    TargetKind.BEACON: TaskName.JOB_SPAWN,
}
