"""Reading a call of ``/api/jobs``: its account, its action, its parameters, its results."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import RAISE, Schema, ValidationError

from scheduler_api import formats, params
from scheduler_api.auth import userkey_account
from scheduler_api.beacon_jobs.mapping import store
from scheduler_api.beacon_jobs.render import BeaconError
from scheduler_api.beacon_jobs.schemas import MAX_RESULTS, describe
from scheduler_api.body import read_form

MAX_BODY_BYTES = 1024 * 1024
MAX_FORM_PARTS = MAX_RESULTS + 100  # every result[] and the other parameters, as multipart
COMMON = ("userkey", "action")


def authenticated() -> dict[str, Any]:
    read_form(request, MAX_BODY_BYTES, MAX_FORM_PARTS)  # capped, before request.values parses it
    userkey = request.values.get("userkey", "")
    account = userkey_account(store(), userkey)
    if not userkey:
        raise BeaconError(401, "userkey is required (query string or form field)")
    if account is None:
        raise BeaconError(401, "userkey is not valid")
    return account


def action_of(allowed: dict[str, tuple[str, ...]]) -> str:
    """The call's action: its ``action`` parameter, else the method's default (the first)."""
    offered = allowed.get(request.method, ())
    action = request.values.get("action", "").strip().lower() or offered[0]
    if action in offered:
        return action
    for method, actions in allowed.items():
        if action in actions:
            raise BeaconError(405, f"action={action} needs {method}")
    every = sorted({a for actions in allowed.values() for a in actions})
    raise BeaconError(400, f"action: {action!r} is not one of {', '.join(every)} here")


def load(schema: Schema, ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's parameters (query and form; the first of repeated ones) through ``schema``,
    without ``userkey``, ``action`` and ``ignored``."""
    skip = (*COMMON, *ignored)
    values = {k: v for k, v in request.values.items() if k not in skip}
    try:
        return schema.load(values, unknown=RAISE)
    except ValidationError as exc:
        raise BeaconError(400, describe(exc.messages)) from None


def parse_id(raw: str) -> int:
    number = params.whole_number(raw)
    if number is None or raw != raw.strip():
        raise BeaconError(404, f"no job {raw!r}")
    return number


def results() -> list[Any]:
    """``result[]`` (also read as ``result``), each a JSON value, in the order given."""
    extra = set(request.values) - {*COMMON, "result[]", "result"}
    if extra:
        raise BeaconError(400, f"{sorted(extra)[0]}: unknown parameter")
    raws = request.values.getlist("result[]") + request.values.getlist("result")
    if len(raws) > MAX_RESULTS:
        raise BeaconError(400, f"result[]: {len(raws)} results; at most {MAX_RESULTS}")
    parsed = []
    for n, raw in enumerate(raws):
        try:
            parsed.append(formats.parse_json(raw.encode(), name=f"result[{n}]"))
        except formats.BadDocument as exc:
            raise BeaconError(400, str(exc)) from None
    return parsed
