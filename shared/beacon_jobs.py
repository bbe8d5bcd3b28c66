"""Beacon jobs: the job model and its lifecycle rules, as plain functions over the store.

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

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from shared import payload_limits, schedules
from shared.config import Config
from shared.contract import DialectName, Pool, TargetKind, TaskName
from shared.errors import InvalidSchedule, InvalidTrigger, NotFound, SchedulerError
from shared.execution import Execution
from shared.messages import build_message
from shared.model import CronTrigger, Schedule, Target
from shared.store import LeaseOutcome, Step, Store, Transition, dumps
from shared.timing import validate_trigger

DIALECT = DialectName.BEACON_JOBS
POOL = Pool.JOBS
DEFAULT_BEACON = "default"
CRON_FIELDS = ("min", "hour", "dom", "month", "dow")  # the Unix cron order
LEASE_PREFIX = "job-lease:"

# Job properties a list may filter on, by kind of value (the document's list, plus status,
# end_time and id).
STRING_PROPERTIES = ("beacon_name", "user", "name", "status")
INT_PROPERTIES = (
    "id",
    "cur_task",
    "total_tasks",
    "add_time",
    "q_time",
    "pickup_time",
    "start_time",
    "end_time",
    "duplicate_of",
)
JSON_PROPERTIES = ("result",)


class InvalidJob(InvalidSchedule):
    """A request names a bad value; the message says which (a 400)."""


class JobConflict(SchedulerError):
    """The job is not in the state this transition needs (a 409); the message says why."""


@dataclass(frozen=True)
class NewJob:
    """A job as a client asks for it (already type-checked by the API's schema)."""

    name: str
    user: str
    beacon_name: str = DEFAULT_BEACON
    tasks: list[Any] = field(default_factory=list)
    q: bool = False
    q_time: int | None = None
    schedule: bool = False
    cron: dict[str, str] = field(default_factory=dict)
    start_date: int | None = None
    end_date: int | None = None
    duplicate_of: int | None = None


# --- creating ------------------------------------------------------------------------------


def schedule_id(appkey: str, job_id: int) -> str:
    """Job ids are per account, so the schedule id names the account too."""
    return f"beacon-job-{appkey}-{job_id}"


def create_job(
    store: Store,
    config: Config,
    account: dict[str, Any],
    new: NewJob,
    *,
    now_ms: int,
    dedupe: str | None = None,
) -> dict[str, Any]:
    """Store a job (and its schedule, if scheduled); returns its view. ``dedupe`` (an execution
    id) makes a repeated call return the job the first call created."""
    payload_limits.check_json("tasks", new.tasks, config.json_max_bytes)
    job_id = store.next_job_id(account["appkey"])
    now_s = now_ms // 1000
    if new.schedule:
        # First, so a bad cron or a full quota leaves no job behind.
        schedule = build_schedule(job_id, account, new, now_ms)
        schedules.create(store, config, schedule, now_ms=now_ms)
    queue_at = (now_s if new.q_time is None else new.q_time) if new.q else None
    status = "queued" if new.q else ("scheduled" if new.schedule else "created")
    doc = {
        "name": new.name,
        "user": new.user,
        "tasks": new.tasks,
        "add_time": now_s,
        "duplicate_of": new.duplicate_of,
        "schedule": new.schedule,
    }
    if new.schedule:
        doc.update(new.cron, start_date=new.start_date, end_date=new.end_date)
    fields = {
        "account": account["appkey"],
        "status": status,
        "beacon_name": new.beacon_name,
        "total_tasks": str(len(new.tasks)),
        "doc": dumps(doc),
        "keep": "1" if new.schedule else "0",
    }
    if new.schedule:
        fields["schedule_active"] = "1"
    q_time = queue_at if queue_at is not None else new.q_time
    if q_time is not None:
        fields["q_time"] = str(q_time)
    entry = {"event": "created", "time": now_s, "status": status, "q_time": q_time}
    if new.duplicate_of is not None:
        entry["duplicate_of"] = new.duplicate_of
    created = store.create_job(
        job_id,
        account["appkey"],
        new.beacon_name,
        fields,
        queue_at_s=queue_at,
        event=event_message(account["appkey"], job_id, [entry]),
        dedupe=dedupe,
        retention_s=config.history_retention_s,
    )
    return view(created, store.get_job(account["appkey"], created))


def build_schedule(job_id: int, account: dict[str, Any], new: NewJob, now_ms: int) -> Schedule:
    """The core schedule of a scheduled job: its cron in the account's zone, its date window."""
    cron = {name: new.cron.get(name, "*") for name in CRON_FIELDS}
    timezone = account.get("timezone", "UTC")
    check_cron_fields(cron, timezone)
    if new.start_date is not None and new.end_date is not None and new.end_date < new.start_date:
        raise InvalidJob(f"end_date: {new.end_date} is before start_date {new.start_date}")
    template = {
        "name": new.name,
        "user": new.user,
        "beacon_name": new.beacon_name,
        "tasks": new.tasks,
    }
    return Schedule(
        id=schedule_id(account["appkey"], job_id),
        account=account["appkey"],
        dialect=DIALECT,
        trigger=CronTrigger(expr=" ".join(cron[name] for name in CRON_FIELDS), timezone=timezone),
        target=Target(TargetKind.BEACON, {"job_id": job_id, "job": template}),
        created_ms=now_ms,
        start_ms=None if new.start_date is None else new.start_date * 1000,
        end_ms=None if new.end_date is None else new.end_date * 1000,
        doc={"job_id": job_id},
    )


def check_cron_fields(cron: dict[str, str], timezone: str) -> None:
    """Each field on its own first, so the message names the bad one; then all together."""
    for name in CRON_FIELDS:
        value = cron[name]
        if not value or value.split() != [value]:
            raise InvalidJob(f"{name}: {value!r} must be one cron field (such as 5, 1-5, */15, *)")
        alone = " ".join(value if other == name else "*" for other in CRON_FIELDS)
        try:
            validate_trigger(CronTrigger(expr=alone, timezone=timezone))
        except InvalidTrigger as exc:
            raise InvalidJob(f"{name}: {value!r} is not a valid cron field ({exc})") from None
    expr = " ".join(cron[name] for name in CRON_FIELDS)
    try:
        validate_trigger(CronTrigger(expr=expr, timezone=timezone))
    except InvalidTrigger as exc:
        raise InvalidJob(f"schedule: {exc}") from None


def spawn_instance(store: Store, config: Config, execution: Execution) -> int:
    """One fire of a scheduled job: a queued instance, eligible at the fire's instant. The
    execution id dedupes, so a redelivered fire returns the instance it already created."""
    spec = execution.spec
    template = spec["job"]
    account = {"appkey": execution.account}
    new = NewJob(
        name=template["name"],
        user=template["user"],
        beacon_name=template["beacon_name"],
        tasks=template["tasks"],
        q=True,
        q_time=execution.due_ms // 1000,
        duplicate_of=spec["job_id"],
    )
    job = create_job(store, config, account, new, now_ms=now(), dedupe=execution.id)
    job_id: int = job["id"]
    return job_id


# --- reading -------------------------------------------------------------------------------


def view(job_id: int, raw: dict[str, str]) -> dict[str, Any]:
    """The job as the API shows it: the document's properties, plus ``status`` and the
    scheduling fields."""
    doc = json.loads(raw["doc"])
    shown: dict[str, Any] = {
        "id": job_id,
        "user": doc["user"],
        "name": doc["name"],
        "beacon_name": raw["beacon_name"],
        "status": raw["status"],
        "tasks": doc["tasks"],
        "cur_task": _int(raw.get("cur_task")),
        "total_tasks": int(raw["total_tasks"]),
        "add_time": doc["add_time"],
        "q_time": _int(raw.get("q_time")),
        "pickup_time": _int(raw.get("pickup_time")),
        "start_time": _int(raw.get("start_time")),
        "end_time": _int(raw.get("end_time")),
        "result": json.loads(raw["result"]) if raw.get("result") else None,
        "duplicate_of": doc.get("duplicate_of"),
        "schedule": bool(doc.get("schedule")),
        "schedule_active": raw.get("schedule_active") == "1" if doc.get("schedule") else None,
    }
    if doc.get("schedule"):
        shown.update({name: doc.get(name) for name in CRON_FIELDS})
        shown.update(start_date=doc.get("start_date"), end_date=doc.get("end_date"))
    return shown


def _int(raw: str | None) -> int | None:
    return None if raw is None or raw == "" else int(raw)


def owned(store: Store, account: dict[str, Any], job_id: int) -> dict[str, str]:
    """The job's hash, if it is the account's; another account's job is not found."""
    raw = store.get_job(account["appkey"], job_id)
    if not raw or raw.get("account") != account["appkey"]:
        raise NotFound(f"no job {job_id}")
    return raw


def get_job(store: Store, account: dict[str, Any], job_id: int) -> dict[str, Any]:
    return view(job_id, owned(store, account, job_id))


def list_jobs(
    store: Store, account: dict[str, Any], filters: dict[str, Any]
) -> list[dict[str, Any]]:
    """The account's jobs, oldest first, whose properties equal every filter (None matches a
    property with no value)."""
    appkey = account["appkey"]
    if filters.get("status") == "queued" and isinstance(filters.get("beacon_name"), str):
        ids = sorted(store.queued_job_ids(appkey, filters["beacon_name"]))
    else:
        ids = store.job_ids(appkey)
    raws = store.get_jobs(appkey, ids)
    store.forget_job_ids(appkey, [i for i, raw in zip(ids, raws, strict=True) if not raw])
    jobs = [view(i, raw) for i, raw in zip(ids, raws, strict=True) if raw]
    return [job for job in jobs if all(job.get(k) == v for k, v in filters.items())]


def scheduled_jobs(store: Store, account: dict[str, Any]) -> list[dict[str, Any]]:
    """The account's scheduled jobs: name, scheduled job id and whether it is active."""
    ids = store.list_schedule_ids(account["appkey"], DIALECT, 0, -1)
    return [
        {
            "id": schedule.doc["job_id"],
            "name": schedule.target.spec["job"]["name"],
            "active": schedule.enabled,
            "next_time": _next_s(store, schedule),
        }
        for schedule in store.get_schedules(ids)
    ]


def _next_s(store: Store, schedule: Schedule) -> int | None:
    next_ms = store.next_fire_ms(schedule.id)
    return None if next_ms is None else next_ms // 1000


def history(store: Store, account: dict[str, Any], job_id: int) -> list[dict[str, Any]]:
    owned(store, account, job_id)
    return store.job_history(account["appkey"], job_id)


# --- lifecycle -----------------------------------------------------------------------------


def pickup(
    store: Store,
    config: Config,
    account: dict[str, Any],
    job_id: int,
    beacon: str | None,
    *,
    now_ms: int,
) -> dict[str, Any]:
    """Queued -> picked_up, for ``beacon`` (when given, it must be the job's beacon)."""
    raw = owned(store, account, job_id)
    if beacon is not None and beacon != raw["beacon_name"]:
        raise JobConflict(f"job {job_id} is for beacon {raw['beacon_name']!r}, not {beacon!r}")
    now_s = now_ms // 1000
    lease = _lease(job_id, account, raw["beacon_name"], "pickup", now_ms, config.job_pickup_lease_s)
    entry = {"event": "picked_up", "time": now_s, "beacon_name": beacon or raw["beacon_name"]}
    outcome = store.pickup_job(
        job_id,
        account["appkey"],
        raw["beacon_name"],
        now_s,
        lease,
        event_message(account["appkey"], job_id, [entry]),
    )
    _check(outcome, job_id, "picked up", "queued")
    return get_job(store, account, job_id)


def start(
    store: Store, config: Config, account: dict[str, Any], job_id: int, *, now_ms: int
) -> dict[str, Any]:
    """Picked_up -> started."""
    raw = owned(store, account, job_id)
    now_s = now_ms // 1000
    lease = _lease(job_id, account, raw["beacon_name"], "run", now_ms, config.job_run_timeout_s)
    entry = {"event": "started", "time": now_s}
    appkey = account["appkey"]
    outcome = store.start_job(job_id, appkey, now_s, lease, event_message(appkey, job_id, [entry]))
    _check(outcome, job_id, "started", "picked up")
    return get_job(store, account, job_id)


def finish(
    store: Store,
    config: Config,
    account: dict[str, Any],
    job_id: int,
    results: list[Any],
    *,
    now_ms: int,
) -> dict[str, Any]:
    """Started -> finished, with one result per task (in the order given)."""
    payload_limits.check_fields(
        {f"result[{n}]": result for n, result in enumerate(results)}, config.json_max_bytes
    )
    owned(store, account, job_id)
    now_s = now_ms // 1000
    entries: list[dict[str, Any]] = [{"event": "finished", "time": now_s, "results": len(results)}]
    entries += [
        {"event": "result", "time": now_s, "task": n, "result": result}
        for n, result in enumerate(results)
    ]
    outcome = store.finish_job(
        job_id,
        account["appkey"],
        now_s,
        dumps(results),
        event_message(account["appkey"], job_id, entries),
        config.history_retention_s,
    )
    _check(outcome, job_id, "finished", "started")
    return get_job(store, account, job_id)


def set_cur_task(
    store: Store, account: dict[str, Any], job_id: int, cur_task: int, *, now_ms: int
) -> dict[str, Any]:
    """A started job reports the task it is on (0 .. total_tasks)."""
    owned(store, account, job_id)
    if cur_task < 0:
        raise InvalidJob(f"curtask: {cur_task} must be 0 or more")
    entry = {"event": "cur_task", "time": now_ms // 1000, "cur_task": cur_task}
    appkey = account["appkey"]
    outcome = store.set_job_task(job_id, appkey, cur_task, event_message(appkey, job_id, [entry]))
    if outcome.step == Step.RANGE:
        raise InvalidJob(f"curtask: {cur_task} is past the job's {outcome.detail} tasks")
    _check(outcome, job_id, "updated with a curtask", "started")
    return get_job(store, account, job_id)


def set_schedule_active(
    store: Store,
    config: Config,
    account: dict[str, Any],
    job_id: int,
    active: bool,
    *,
    now_ms: int,
) -> dict[str, Any]:
    """Pause or resume a scheduled job (the document: ignored for a job that is not scheduled)."""
    raw = owned(store, account, job_id)
    if raw.get("keep") != "1":
        return view(job_id, raw)
    appkey = account["appkey"]
    current = schedules.get(store, appkey, schedule_id(appkey, job_id))
    schedules.replace_schedule(store, config, replace(current, enabled=active), now_ms=now_ms)
    store.set_job_field(appkey, job_id, "schedule_active", "1" if active else "0")
    entry = {"event": "schedule_active", "time": now_ms // 1000, "active": active}
    store.publish(POOL, event_message(appkey, job_id, [entry]))
    return get_job(store, account, job_id)


def _check(outcome: Transition, job_id: int, done: str, needed: str) -> None:
    """Turn a transition script's refusal into NotFound or a JobConflict that says why."""
    if outcome.step == Step.OK:
        return
    if outcome.step == Step.MISSING:
        raise NotFound(f"no job {job_id}")
    if outcome.step == Step.EARLY:
        raise JobConflict(
            f"job {job_id} is queued for q_time {outcome.detail}: it can't be picked up before then"
        )
    status = "unknown" if outcome.detail is None else outcome.detail
    raise JobConflict(
        f"job {job_id} is {status.replace('_', ' ')}: only a {needed} job can be {done}"
    )


def _lease(
    job_id: int, account: dict[str, Any], beacon: str, kind: str, now_ms: int, seconds: float
) -> tuple[str, int, str] | None:
    """(member, deadline ms, retry JSON) of a lease check; None when leases are off (<= 0)."""
    if seconds <= 0:
        return None
    member = f"{LEASE_PREFIX}{job_id}:{kind}:{now_ms}:{uuid.uuid4().hex[:8]}"
    check = {
        "id": member,
        "attempt": 1,
        "job": job_id,
        "account": account["appkey"],
        "dialect": DIALECT,
        "beacon_name": beacon,
        "kind": kind,
        "seconds": seconds,
    }
    payload = {"task": TaskName.JOB_LEASE, "queue": POOL, "execution": check}
    return member, now_ms + int(seconds * 1000), dumps(payload)


def expire_lease(store: Store, config: Config, check: dict[str, Any], now_ms: int) -> LeaseOutcome:
    """Enforce one lease whose deadline came (see ``LeaseOutcome``)."""
    now_s = now_ms // 1000
    seconds = check.get("seconds")
    requeued = {
        "event": "lease_expired",
        "time": now_s,
        "detail": f"picked up but not started within {seconds} s: back in the queue",
    }
    failed = {
        "event": "failed",
        "time": now_s,
        "detail": f"started but not finished within {seconds} s: marked failed",
    }
    return store.expire_job_lease(
        int(check["job"]),
        check["account"],
        check["beacon_name"],
        check["id"],
        now_s,
        (dumps(requeued), dumps(failed)),
        config.job_history_max_entries,
        config.history_retention_s,
    )


def record_event(store: Store, config: Config, event: dict[str, Any]) -> bool:
    """Write one lifecycle event to its job's history (once, however often it is delivered)."""
    return store.append_job_history(
        event["account"],
        int(event["job"]),
        event["id"],
        [dumps(entry) for entry in event["entries"]],
        config.job_history_max_entries,
        config.history_retention_s,
    )


def event_message(appkey: str, job_id: int, entries: list[dict[str, Any]]) -> str:
    """The Celery message that hands a lifecycle event to the ``jobs`` pool."""
    event_id = uuid.uuid4().hex
    event = {"id": event_id, "account": appkey, "job": job_id, "entries": entries}
    return build_message(TaskName.JOB_EVENT, f"job-event:{event_id}", POOL, [event])


def now() -> int:
    return schedules.now_ms()
