"""Answers of ``/api/jobs``."""

from __future__ import annotations

from marshmallow import INCLUDE, fields

from scheduler_api.replies import Strict, boolean, integer, list_of, string

STATUSES = ["created", "scheduled", "queued", "picked_up", "started", "finished", "failed"]


class BeaconJob(Strict):
    id = integer()
    user = string()
    name = string()
    beacon_name = string()
    status = string(enum=STATUSES)
    tasks = list_of(fields.Dict())
    cur_task = integer(nullable=True)
    total_tasks = integer()
    add_time = integer()
    q_time = integer(nullable=True)
    pickup_time = integer(nullable=True)
    start_time = integer(nullable=True)
    end_time = integer(nullable=True)
    result = list_of(fields.Raw(allow_none=True), nullable=True)
    duplicate_of = integer(nullable=True)
    schedule = boolean()
    schedule_active = boolean(nullable=True)
    # A scheduled job's cron fields and date range: absent on any other job.
    min = string(optional=True, nullable=True)
    hour = string(optional=True, nullable=True)
    dom = string(optional=True, nullable=True)
    month = string(optional=True, nullable=True)
    dow = string(optional=True, nullable=True)
    start_date = integer(optional=True, nullable=True)
    end_date = integer(optional=True, nullable=True)


class ScheduledJob(Strict):
    id = integer()
    name = string()
    active = boolean()
    next_time = integer(nullable=True)


class Event(Strict):
    """One history entry: an event (``event``, ``time``, ...) or a task's result."""

    class Meta:
        unknown = INCLUDE

    event = string()


class Error(Strict):
    error = string()
