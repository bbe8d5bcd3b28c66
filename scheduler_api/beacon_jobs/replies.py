"""Answers of ``/api/jobs``."""

from __future__ import annotations

from marshmallow import INCLUDE, fields

from scheduler_api.replies import Strict

STATUSES = ["created", "scheduled", "queued", "picked_up", "started", "finished", "failed"]


def _time() -> fields.Integer:
    return fields.Integer(required=True, allow_none=True)


class BeaconJob(Strict):
    id = fields.Integer(required=True)
    user = fields.String(required=True)
    name = fields.String(required=True)
    beacon_name = fields.String(required=True)
    status = fields.String(required=True, metadata={"enum": STATUSES})
    tasks = fields.List(fields.Dict(), required=True)
    cur_task = _time()
    total_tasks = fields.Integer(required=True)
    add_time = fields.Integer(required=True)
    q_time = _time()
    pickup_time = _time()
    start_time = _time()
    end_time = _time()
    result = fields.List(fields.Raw(allow_none=True), required=True, allow_none=True)
    duplicate_of = fields.Integer(required=True, allow_none=True)
    schedule = fields.Boolean(required=True)
    schedule_active = fields.Boolean(required=True, allow_none=True)
    min = fields.String(allow_none=True)
    hour = fields.String(allow_none=True)
    dom = fields.String(allow_none=True)
    month = fields.String(allow_none=True)
    dow = fields.String(allow_none=True)
    start_date = fields.Integer(allow_none=True)
    end_date = fields.Integer(allow_none=True)


class ScheduledJob(Strict):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    active = fields.Boolean(required=True)
    next_time = fields.Integer(required=True, allow_none=True)


class Event(Strict):
    """One history entry: an event (``event``, ``time``, ...) or a task's result."""

    class Meta:
        unknown = INCLUDE

    event = fields.String(required=True)


class Error(Strict):
    error = fields.String(required=True)
