"""Creating jobs: a queued or waiting job, a scheduled job (also a core schedule), and the
queued instance each of its fires spawns."""

from __future__ import annotations

from typing import Any

from shared import payload_limits, schedules
from shared.beacon_jobs.model import (
    CRON_FIELDS,
    DIALECT,
    InvalidJob,
    NewJob,
    event_message,
    schedule_id,
)
from shared.beacon_jobs.reading import (
    view,
)
from shared.config import Config
from shared.contract import TargetKind
from shared.errors import InvalidTrigger
from shared.execution import Execution
from shared.model import CronTrigger, Schedule, Target
from shared.store import Store, dumps
from shared.timing import validate_trigger


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


def spawn_instance(store: Store, config: Config, execution: Execution, now_ms: int) -> int:
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
    job = create_job(store, config, account, new, now_ms=now_ms, dedupe=execution.id)
    job_id: int = job["id"]
    return job_id
