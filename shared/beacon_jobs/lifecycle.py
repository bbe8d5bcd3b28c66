"""A job's lifecycle: pickup, start, progress, finish, pausing a scheduled job, the leases that
requeue or fail it, and the events written to its history."""

from __future__ import annotations

import uuid
from dataclasses import replace
from typing import Any

from shared import payload_limits, schedules
from shared.beacon_jobs.model import (
    DIALECT,
    LEASE_PREFIX,
    POOL,
    InvalidJob,
    JobConflict,
    event_message,
    schedule_id,
)
from shared.beacon_jobs.reading import (
    get_job,
    owned,
    view,
)
from shared.config import Config
from shared.contract import TaskName
from shared.errors import NotFound
from shared.store import LeaseOutcome, Step, Store, Transition, dumps


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
    store.publish(POOL, event_message(appkey, job_id, [entry]), route=appkey)
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
