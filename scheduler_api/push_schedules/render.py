"""What ``/v4`` answers: the schedule as sent, and the error shape
``{"error": {"code": 28xxx, "message": ...}}`` with the Dialect that draws it."""

from __future__ import annotations

from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

from scheduler_api import formats
from scheduler_api.adapter import Dialect, DialectError, status
from shared.contract import DialectName
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.model import Schedule

DIALECT = DialectName.PUSH_SCHEDULES
NO_TARGET = 28105  # 404: no device of the audience is at a future time
# The document's codes by HTTP status (others: 28100 below 500, 28200 from 500); 28129 is
# ours: the table's pattern (28000 + 100 * class + rest) for HTTP 429.
CODES = {400: 28100, 401: 28101, 404: 28104, 429: 28129, 500: 28200, 503: 28203}


def code_of(error: DialectError) -> int:
    if error.code is not None:
        return error.code
    return CODES.get(error.status, 28200 if error.status >= 500 else 28100)


def render_error(error: DialectError) -> Response:
    body = {"error": {"code": code_of(error), "message": error.message}}
    return answer(body, error.status)


def from_http(error: HTTPException) -> DialectError:
    status = error.code or 500
    if status == 404:
        return DialectError(404, "no such resource: " + request.path)
    if status >= 500 and status != 503:  # 503: Redis unreachable (scheduler_api.adapter)
        return DialectError(status, "server internal error")
    return DialectError(status, error.description or error.name)


def quota_reached(error: QuotaExceeded) -> DialectError:
    return DialectError(
        400, f"the account already has {error.limit} unexpired schedules, the most it may have"
    )


dialect = Dialect(
    name=DIALECT,
    prefixes=("/v4/schedules", "/v4/devices"),
    render=render_error,
    unauthorized="Basic authentication failed: appkey and master_secret do not match",
    core_errors={InvalidSchedule: status(400), QuotaExceeded: quota_reached, NotFound: status(404)},
    from_http=from_http,
    dotted_index=True,
)


def not_found(schedule_id: str) -> DialectError:
    return DialectError(404, f"schedule {schedule_id!r} does not exist (wrong id, or already sent)")


def view(schedule: Schedule) -> dict[str, Any]:
    return {
        "schedule_id": schedule.id,
        "name": schedule.doc.get("name", ""),
        "enabled": schedule.enabled,
        "trigger": schedule.doc.get("trigger", {}),
        "push": schedule.target.spec.get("push", {}),
    }


def answer(data: Any, status: int = 200) -> Response:
    return formats.respond(formats.json_bytes(data), formats.JSON, status)
