"""Reading a ``/v4`` request: its JSON document and its parameters."""

from __future__ import annotations

from typing import Any

from flask import request
from marshmallow import Schema

from scheduler_api import formats, params
from scheduler_api.adapter import DialectError
from scheduler_api.body import read_capped
from scheduler_api.push_schedules.render import dialect
from shared import payload_limits

MAX_BODY_BYTES = 256 * 1024


def read_document(schema: type[Schema]) -> dict[str, Any]:
    """The JSON body, whatever Content-Type says (the document's PUT example sends JSON as
    ``application/x-www-form-urlencoded``), validated by ``schema``."""
    raw = read_capped(request, MAX_BODY_BYTES)
    try:
        doc = formats.parse_json(raw)
    except formats.BadDocument as exc:
        raise DialectError(400, f"request data is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise DialectError(400, "request data must be a JSON object")
    # Before the schema walks it; the core checks the push field again when storing.
    payload_limits.check_json("body", doc, MAX_BODY_BYTES)
    dialect.load(schema(), doc)
    return doc  # as the client wrote it: stored and rendered back verbatim


def page_number(raw: str) -> int:
    if raw.strip() == "":
        return 1
    number = params.whole_number(raw)
    if number is None or number < 1 or len(raw) > 9:
        raise DialectError(400, f"page: {raw!r} must be a whole number from 1")
    return number


def check_registration_id(registration_id: str) -> None:
    if not 0 < len(registration_id) <= 256 or not registration_id.isprintable():
        raise DialectError(400, "registration_id: must be 1-256 printable characters")
