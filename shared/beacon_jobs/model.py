"""The beacon job's constants, errors and the parameters of a new job."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

from shared.contract import DialectName, Pool, TaskName
from shared.errors import InvalidSchedule, SchedulerError
from shared.messages import build_message

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


def schedule_id(appkey: str, job_id: int) -> str:
    """Job ids are per account, so the schedule id names the account too."""
    return f"beacon-job-{appkey}-{job_id}"


def event_message(appkey: str, job_id: int, entries: list[dict[str, Any]]) -> str:
    """The Celery message that hands a lifecycle event to the ``jobs`` pool."""
    event_id = uuid.uuid4().hex
    event = {"id": event_id, "account": appkey, "job": job_id, "entries": entries}
    return build_message(TaskName.JOB_EVENT, f"job-event:{event_id}", POOL, [event])
