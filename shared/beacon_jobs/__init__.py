"""Beacon jobs: the job model and its lifecycle rules, as plain functions over the store.

Modules: ``model`` (constants, errors, a new job's parameters, ids and event messages),
``creating`` (jobs, scheduled jobs, the instances their fires spawn), ``reading`` (the document's
view of jobs) and ``lifecycle`` (pickup, start, progress, finish, leases, events). Import from
``shared.beacon_jobs``.

A job is an ordered list of tasks that an external agent (a "beacon", named by ``beacon_name``)
runs. Its ``status`` moves only along these edges, each one atomic in Redis
(``shared/store/lua/job_*``):

    created                       (neither queued nor scheduled: it waits)
    scheduled                     (a scheduled job: its fires create queued instances)
    queued --pickup--> picked_up --start--> started --finish--> finished
      ^                    |                   |
      +-- pickup lease ----+                   +-- run timeout --> failed

A scheduled job is also a core ``Schedule`` (cron from ``min hour dom month dow`` in the
account's time zone, bounded by ``start_date``/``end_date``, target kind "beacon"): at each fire
the ``jobs`` pool creates a queued instance with ``duplicate_of`` = the scheduled job's id.

Leases: a pickup or a start puts a lease check into the engine's retry index (execution id
``job-lease:...``), so the beat hands it to the ``jobs`` pool at the deadline, whether or not
anybody calls the API; the check requeues or fails the job only if it still holds that lease.

Every transition also publishes a lifecycle event to the ``jobs`` pool, in the same atomic step;
the pool writes it (and a finished job's per-task results) to the job's history.

Times in and out are unix seconds (the document's timestamps); ``now_ms`` is always passed in.
"""

from shared.beacon_jobs.creating import (
    build_schedule,
    check_cron_fields,
    create_job,
    spawn_instance,
)
from shared.beacon_jobs.lifecycle import (
    expire_lease,
    finish,
    pickup,
    record_event,
    set_cur_task,
    set_schedule_active,
    start,
)
from shared.beacon_jobs.model import (
    CRON_FIELDS,
    DEFAULT_BEACON,
    DIALECT,
    INT_PROPERTIES,
    JSON_PROPERTIES,
    LEASE_PREFIX,
    POOL,
    STRING_PROPERTIES,
    InvalidJob,
    JobConflict,
    NewJob,
    event_message,
    schedule_id,
)
from shared.beacon_jobs.reading import get_job, history, list_jobs, owned, scheduled_jobs, view

__all__ = [
    "CRON_FIELDS",
    "DEFAULT_BEACON",
    "DIALECT",
    "INT_PROPERTIES",
    "JSON_PROPERTIES",
    "LEASE_PREFIX",
    "POOL",
    "STRING_PROPERTIES",
    "InvalidJob",
    "JobConflict",
    "NewJob",
    "build_schedule",
    "check_cron_fields",
    "create_job",
    "event_message",
    "expire_lease",
    "finish",
    "get_job",
    "history",
    "list_jobs",
    "owned",
    "pickup",
    "record_event",
    "schedule_id",
    "scheduled_jobs",
    "set_cur_task",
    "set_schedule_active",
    "spawn_instance",
    "start",
    "view",
]
