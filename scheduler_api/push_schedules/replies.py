"""Answers of ``/v4/schedules`` and ``/v4/devices``."""

from __future__ import annotations

from marshmallow import fields

from scheduler_api.replies import Strict, boolean, integer, json_object, list_of, nested, string

CODES = [28100, 28101, 28104, 28105, 28129, 28200, 28203]


class Created(Strict):
    schedule_id = string()
    name = string()


class PushSchedule(Strict):
    """The schedule as the client sent it (``trigger`` and ``push`` verbatim)."""

    schedule_id = string()
    name = string()
    enabled = boolean()
    trigger = json_object()
    push = json_object()


class Page(Strict):
    total_count = integer()
    total_pages = integer()
    page = integer()
    schedules = list_of(fields.Nested(PushSchedule))


class MsgIds(Strict):
    count = integer()
    msgids = list_of(fields.String())


class Device(Strict):
    registration_id = string()
    timezone = string(optional=True)
    tags = list_of(fields.String(), optional=True)
    alias = string(optional=True)


class ErrorDetail(Strict):
    code = integer(enum=CODES)
    message = string()


class Error(Strict):
    error = nested(ErrorDetail)
