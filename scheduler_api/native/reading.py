"""Reading a native request: a JSON object body, a query string, through a schema."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema

from scheduler_api import formats
from scheduler_api.adapter import DialectError
from scheduler_api.body import read_capped
from scheduler_api.native.access import MAX_BODY_BYTES
from scheduler_api.native.problems import load


def json_object(optional: bool = False) -> dict[str, Any]:
    """The body: a JSON object (``{}`` when ``optional`` and the body is empty)."""
    raw = read_capped(request, MAX_BODY_BYTES, cache=True)
    if optional and not raw.strip():
        return {}
    kind = formats.media_type(request)
    if kind not in (formats.JSON, "application/merge-patch+json"):
        raise DialectError(415, f"Content-Type {kind or '(none)'!r}: send application/json")
    try:
        doc = formats.parse_json(raw)
    except formats.BadDocument as exc:
        raise DialectError(400, str(exc)) from None
    if not isinstance(doc, dict):
        raise DialectError(400, "body: must be a JSON object", fields=(("body", "not an object"),))
    return doc


def document(schema: Schema, optional: bool = False) -> dict[str, Any]:
    loaded: dict[str, Any] = load(schema, json_object(optional))
    return loaded


def query(schema: Schema) -> dict[str, Any]:
    args = {key: request.args.getlist(key) for key in request.args}
    repeated = [key for key, values in args.items() if len(values) > 1]
    if repeated:
        raise DialectError(400, f"{repeated[0]}: given more than once")
    try:
        loaded: dict[str, Any] = load(schema, {k: v[0] for k, v in args.items()})
    except DialectError as exc:
        raise DialectError(400, str(exc), fields=exc.fields) from None
    return loaded
