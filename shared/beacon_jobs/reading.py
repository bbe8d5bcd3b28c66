"""Reading jobs: one job as the document shows it, an account's jobs, scheduled jobs, history."""

from __future__ import annotations

import json
from typing import Any

from shared.beacon_jobs.model import (
    CRON_FIELDS,
    DIALECT,
)
from shared.errors import NotFound
from shared.model import Schedule
from shared.store import Store


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
