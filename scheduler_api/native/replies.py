"""Answers of ``/v1`` (JSON), described for ``/openapi.json``; errors are problem documents."""

from __future__ import annotations

from marshmallow import fields

from scheduler_api.replies import Strict, boolean, integer, json_object, list_of, string
from shared.api_keys import SCOPES
from shared.contract import RunStatus
from shared.model import OVERLAP_POLICIES


class Schedule(Strict):
    id = string()
    name = string()
    state = string(enum=["active", "paused", "done"])
    paused = boolean()
    trigger = json_object()
    target = json_object()
    timezone = string()
    dst = string(enum=["cron", "skip"])
    overlap = string(enum=list(OVERLAP_POLICIES))  # see ScheduleDoc.overlap
    start = string(optional=True)
    end = string(optional=True)
    max_runs = integer(optional=True)
    jitter_s = integer(optional=True)
    catchup_window_s = integer(optional=True)
    retry = json_object(optional=True)
    on_failure = string(optional=True)
    metadata = json_object(optional=True)
    next_fires = list_of(fields.String())
    created = string()
    updated = string()


class SchedulePage(Strict):
    items = list_of(fields.Nested(Schedule))
    next_cursor = string(nullable=True)


class Run(Strict):
    execution = string()
    attempt = integer()
    status = string(enum=[str(status) for status in RunStatus])
    scheduled = string()
    started = string(optional=True)
    finished = string(optional=True)
    late_ms = integer()
    result = json_object(optional=True)
    error = string(optional=True)
    reason = string(optional=True)  # why a skipped fire (missed, or overlapping) was not run


class RunPage(Strict):
    items = list_of(fields.Nested(Run))
    next_cursor = string(nullable=True)


class Triggered(Strict):
    execution = string()


class Backfilled(Strict):
    executions = list_of(fields.String())


class Preview(Strict):
    timezone = string()
    fires = list_of(fields.String())


class DeadLetter(Strict):
    execution = string()
    schedule = string()
    attempts = integer(nullable=True)
    scheduled = string()
    died = string()
    error = string(nullable=True)


class DeadLetterPage(Strict):
    items = list_of(fields.Nested(DeadLetter))
    next_cursor = string(nullable=True)


class ApiKey(Strict):
    id = string()
    name = string()
    scopes = list_of(fields.String(metadata={"enum": list(SCOPES)}))
    created = string()
    prefix = string()
    key = string(optional=True)  # only in the answer that made it


class ApiKeyList(Strict):
    items = list_of(fields.Nested(ApiKey))


class Rotated(Strict):
    webhook_secret = string()
    previous_valid_until = string()


class FieldProblem(Strict):
    field = string()
    detail = string()


class Problem(Strict):
    type = string()
    title = string()
    status = integer()
    detail = string()
    errors = list_of(fields.Nested(FieldProblem), optional=True)
