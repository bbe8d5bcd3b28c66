"""Answers of ``/1/jobs`` (JSON bodies; the XML and text forms are named, not described)."""

from __future__ import annotations

from marshmallow import fields

from scheduler_api.replies import Strict


class Job(Strict):
    id = fields.String(required=True)
    account = fields.String(required=True)
    url = fields.String(required=True)
    signature = fields.String()
    contentType = fields.String()  # noqa: N815 (the document's field name)
    data = fields.String()
    when = fields.String()
    cron = fields.String()
    next = fields.String(allow_none=True)


class Run(Strict):
    execution = fields.String(required=True)
    attempt = fields.Integer(required=True)
    status = fields.String(required=True)
    due = fields.String(required=True)
    finished = fields.String()
    httpStatus = fields.Integer()  # noqa: N815
    latencyMs = fields.Integer()  # noqa: N815
    lateMs = fields.Integer(required=True)  # noqa: N815
    error = fields.String()


class DeadLetter(Strict):
    execution = fields.String(required=True)
    job = fields.String(required=True)
    attempts = fields.Integer(required=True, allow_none=True)
    due = fields.String(required=True)
    died = fields.String(required=True)
    error = fields.String(required=True, allow_none=True)


class Error(Strict):
    error = fields.String(required=True)
