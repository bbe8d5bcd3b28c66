"""Answers of ``/v4/schedules`` and ``/v4/devices``."""

from __future__ import annotations

from marshmallow import fields

from scheduler_api.replies import Strict

CODES = [28100, 28101, 28104, 28105, 28129, 28200, 28203]


class Created(Strict):
    schedule_id = fields.String(required=True)
    name = fields.String(required=True)


class PushSchedule(Strict):
    """The schedule as the client sent it (``trigger`` and ``push`` verbatim)."""

    schedule_id = fields.String(required=True)
    name = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    trigger = fields.Dict(required=True)
    push = fields.Dict(required=True)


class Page(Strict):
    total_count = fields.Integer(required=True)
    total_pages = fields.Integer(required=True)
    page = fields.Integer(required=True)
    schedules = fields.List(fields.Nested(PushSchedule), required=True)


class MsgIds(Strict):
    count = fields.Integer(required=True)
    msgids = fields.List(fields.String(), required=True)


class Device(Strict):
    registration_id = fields.String(required=True)
    timezone = fields.String()
    tags = fields.List(fields.String())
    alias = fields.String()


class ErrorDetail(Strict):
    code = fields.Integer(required=True, metadata={"enum": CODES})
    message = fields.String(required=True)


class Error(Strict):
    error = fields.Nested(ErrorDetail, required=True)
