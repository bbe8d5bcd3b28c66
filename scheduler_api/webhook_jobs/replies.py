"""Answers of ``/1/jobs`` (JSON bodies; the XML and text forms are named, not described)."""

from __future__ import annotations

from scheduler_api.replies import Strict, integer, string
from shared.contract import RunStatus


class Job(Strict):
    id = string()
    account = string()
    url = string()
    signature = string(optional=True)
    contentType = string(optional=True)  # noqa: N815 (the document's field name)
    data = string(optional=True)
    when = string(optional=True)
    cron = string(optional=True)
    next = string(optional=True, nullable=True)


class Run(Strict):
    execution = string()
    attempt = integer()
    status = string(enum=[str(status) for status in RunStatus])
    due = string()
    finished = string(optional=True)
    httpStatus = integer(optional=True)  # noqa: N815
    latencyMs = integer(optional=True)  # noqa: N815
    lateMs = integer()  # noqa: N815
    error = string(optional=True)


class DeadLetter(Strict):
    execution = string()
    job = string()
    attempts = integer(nullable=True)
    due = string()
    died = string()
    error = string(nullable=True)


class Error(Strict):
    error = string()
