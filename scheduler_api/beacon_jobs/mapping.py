"""Beacon jobs onto the core (``shared.beacon_jobs``): the new job; core errors as statuses."""

from __future__ import annotations

from typing import Any

from scheduler_api.adapter import CoreErrorMapping, status
from shared import beacon_jobs
from shared.beacon_jobs import JobConflict, NewJob
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded, SchedulerError


def new_job(params: dict[str, Any], account: dict[str, Any]) -> NewJob:
    user = params.get("user_id") or params.get("user_guid") or account["appkey"]
    return NewJob(
        name=params["name"],
        user=user,
        beacon_name=params.get("beacon_name", beacon_jobs.DEFAULT_BEACON),
        tasks=params.get("tasks", []),
        q=params.get("q", False),
        q_time=params.get("q_time"),
        schedule=params.get("schedule", False),
        cron={k: params[k] for k in beacon_jobs.CRON_FIELDS if k in params},
        start_date=params.get("start_date"),
        end_date=params.get("end_date"),
    )


CORE_ERRORS: dict[type[SchedulerError], CoreErrorMapping] = {
    NotFound: status(404),
    JobConflict: status(409),
    QuotaExceeded: status(403),
    InvalidSchedule: status(400),
}
