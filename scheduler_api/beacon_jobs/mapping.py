"""Beacon jobs onto the core (``shared.beacon_jobs``): the new job, core errors as statuses."""

from __future__ import annotations

from typing import Any

from flask import current_app

from scheduler_api.beacon_jobs.render import BeaconError
from shared import beacon_jobs
from shared.beacon_jobs import JobConflict, NewJob
from shared.config import Config
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.store import Store


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


def guarded(call: Any) -> Any:
    """Run a core call, mapping its errors onto this dialect's statuses."""
    try:
        return call()
    except NotFound as exc:
        raise BeaconError(404, str(exc)) from None
    except JobConflict as exc:
        raise BeaconError(409, str(exc)) from None
    except QuotaExceeded as exc:
        raise BeaconError(403, str(exc)) from None
    except InvalidSchedule as exc:
        raise BeaconError(400, str(exc)) from None


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
