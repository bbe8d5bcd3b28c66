"""The native API's error shape: RFC 9457 ``application/problem+json``, naming each bad field.

``{"type": "about:blank", "title": "Unprocessable Content", "status": 422, "detail": "...",
"errors": [{"field": "trigger.cron", "detail": "..."}]}``: ``detail`` is the whole story in one
line, ``errors`` lists each bad field (by its path in the request document) when there are any.
The core's errors name fields in the core's terms; ``NATIVE_FIELD`` says where each sits in the
native document.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response
from marshmallow import Schema, ValidationError

from scheduler_api import formats
from scheduler_api.adapter import Dialect, DialectError, field_messages, status
from shared.api_keys import InvalidApiKey
from shared.contract import DialectName
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded

DIALECT = DialectName.NATIVE
PROBLEM = "application/problem+json"
CHALLENGE = 'Basic realm="scheduler", Bearer realm="scheduler"'
# A core error's field (the first word of its message) -> the field in the native document.
NATIVE_FIELD = {
    "url": "target.webhook.url",
    "data": "target",  # a webhook's body or a task's data (the message says which)
    "content_type": "target.webhook.content_type",
    "headers": "target.webhook.headers",  # and headers.<name>: target.webhook.headers.<name>
    "method": "target.webhook.method",
    "tasks": "target.beacon.tasks",
    "push": "target.push",
    "trigger": "trigger",
    "cron": "trigger.cron",
    "rrule": "trigger.rrule",
    "calendar": "trigger.calendar",
    "schedule": "body",
}


def problem(status_code: int, detail: str, fields: tuple[tuple[str, str], ...] = ()) -> Response:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": HTTPStatus(status_code).phrase,
        "status": status_code,
        "detail": detail,
    }
    if fields:
        body["errors"] = [{"field": name, "detail": text} for name, text in fields]
    return formats.respond(formats.json_bytes(body), PROBLEM, status_code)


def render(error: DialectError) -> Response:
    return problem(error.status, error.message, error.fields)


def invalid(path: str, detail: str, status_code: int = 422) -> DialectError:
    """A request that breaks a rule about one field."""
    return DialectError(status_code, f"{path}: {detail}", fields=((path, detail),))


def from_core(error: InvalidSchedule | InvalidApiKey) -> DialectError:
    """A core refusal as a 422 naming the field in the native document's terms."""
    message = str(error)
    if isinstance(error, InvalidSchedule) and error.item is not None:  # a calendar item's
        field, item = error.field, error.item
        name = f"trigger.calendar[{item}]" + (f".{field}" if field != "calendar" else "")
        return DialectError(422, f"{name}: {error.reason}", fields=((name, error.reason),))
    head, sep, rest = message.partition(": ")
    core_field = getattr(error, "field", None) or (head if sep and " " not in head else None)
    if core_field is None:
        return DialectError(422, message, fields=(("body", message),))
    head_field, dot, rest_of_path = core_field.partition(".")
    name = NATIVE_FIELD.get(head_field, head_field) + dot + rest_of_path
    detail = rest if sep and head == core_field else message
    return DialectError(422, f"{name}: {detail}", fields=((name, detail),))


def load(schema: Schema, data: Any, **kwargs: Any) -> Any:
    """``schema.load(data)``; its messages as a 422 naming each bad field."""
    try:
        return schema.load(data, **kwargs)
    except ValidationError as exc:
        pairs = tuple(field_messages(exc.messages))
        raise DialectError(422, "; ".join(f"{p}: {t}" for p, t in pairs), fields=pairs) from None


dialect = Dialect(
    name=DIALECT,
    prefixes=("/v1/",),
    render=render,
    unauthorized="authentication required: HTTP Basic appkey:master_secret, or "
    "Authorization: Bearer with an API key",
    core_errors={
        InvalidSchedule: from_core,
        InvalidApiKey: from_core,
        QuotaExceeded: status(403),
        NotFound: status(404),
    },
    challenge=CHALLENGE,
)
