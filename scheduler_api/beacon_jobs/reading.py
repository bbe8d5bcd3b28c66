"""Reading a call of ``/api/jobs``: its account, its action, its parameters, its results."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import RAISE, Schema

from scheduler_api import formats, params
from scheduler_api.adapter import DialectError
from scheduler_api.beacon_jobs.render import dialect
from scheduler_api.beacon_jobs.schemas import MAX_RESULTS
from scheduler_api.body import read_form

MAX_BODY_BYTES = 1024 * 1024
MAX_FORM_PARTS = MAX_RESULTS + 100  # every result[] and the other parameters, as multipart
COMMON = ("userkey", "action")


def authenticated() -> dict[str, Any]:
    read_form(request, MAX_BODY_BYTES, MAX_FORM_PARTS)  # capped, before request.values parses it
    userkey = request.values.get("userkey", "")
    return dialect.userkey_account(userkey, "userkey is required (query string or form field)")


def action_of(allowed: dict[str, tuple[str, ...]]) -> str:
    """The call's action: its ``action`` parameter, else the method's default (the first)."""
    offered = allowed.get(request.method, ())
    action = request.values.get("action", "").strip().lower() or offered[0]
    if action in offered:
        return action
    for method, actions in allowed.items():
        if action in actions:
            raise DialectError(405, f"action={action} needs {method}")
    every = sorted({a for actions in allowed.values() for a in actions})
    raise DialectError(400, f"action: {action!r} is not one of {', '.join(every)} here")


def load(schema: Schema, ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's parameters (query and form; the first of repeated ones) through ``schema``,
    without ``userkey``, ``action`` and ``ignored``."""
    skip = (*COMMON, *ignored)
    values = {k: v for k, v in request.values.items() if k not in skip}
    loaded: dict[str, Any] = dialect.load(schema, values, unknown=RAISE)
    return loaded


def parse_id(raw: str) -> int:
    number = params.whole_number(raw)
    if number is None or raw != raw.strip():
        raise DialectError(404, f"no job {raw!r}")
    return number


def results() -> list[Any]:
    """``result[]`` (also read as ``result``), each a JSON value, in the order given."""
    extra = set(request.values) - {*COMMON, "result[]", "result"}
    if extra:
        raise DialectError(400, f"{sorted(extra)[0]}: unknown parameter")
    raws = request.values.getlist("result[]") + request.values.getlist("result")
    if len(raws) > MAX_RESULTS:
        raise DialectError(400, f"result[]: {len(raws)} results; at most {MAX_RESULTS}")
    parsed = []
    for n, raw in enumerate(raws):
        try:
            parsed.append(formats.parse_json(raw.encode(), name=f"result[{n}]"))
        except formats.BadDocument as exc:
            raise DialectError(400, str(exc)) from None
    return parsed
