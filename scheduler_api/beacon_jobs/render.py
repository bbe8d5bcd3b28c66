"""The answers of ``/api/jobs``: JSON, and ``{"error": "..."}`` for every refusal, by the
``Dialect`` below (``scheduler_api.adapter``)."""

from __future__ import annotations

from typing import Any

from flask import Response

from scheduler_api import formats
from scheduler_api.adapter import Dialect, DialectError
from scheduler_api.beacon_jobs.mapping import CORE_ERRORS


def answer(data: Any, status: int = 200) -> Response:
    return formats.respond(formats.json_bytes(data), formats.JSON, status)


def render_error(error: DialectError) -> Response:
    body = formats.json_bytes({"error": error.message})
    return formats.respond(body, formats.JSON, error.status)


PATH = "/api/jobs"
dialect = Dialect(
    name="beacon_jobs",
    prefixes=(PATH,),
    render=render_error,
    unauthorized="userkey is not valid",
    core_errors=CORE_ERRORS,
    challenge=None,  # a userkey is no HTTP authentication scheme
    unknown_field="unknown parameter",
)
