"""Reading a ``/1/jobs`` request: the job document (JSON, XML or the path shortcut)."""

from __future__ import annotations

from typing import Any
from urllib.parse import unquote, urlsplit

from flask import request

from scheduler_api import formats
from scheduler_api.adapter import DialectError
from scheduler_api.body import read_capped
from scheduler_api.webhook_jobs.render import JOB_TYPES, dialect
from scheduler_api.webhook_jobs.schemas import MAX_BODY_BYTES, JobDocument
from shared.errors import InvalidSchedule
from shared.timing import parse_iso8601

# One instance for every request: building a marshmallow schema deep-copies its fields (~130 µs),
# and load() keeps no state on it.
JOB_DOCUMENT = JobDocument()


def read_document() -> dict[str, Any]:
    raw = read_capped(request, MAX_BODY_BYTES)
    kind = formats.media_type(request)
    try:
        if kind == formats.JSON:
            doc = formats.parse_json(raw)
        elif kind in formats.XML_TYPES:
            doc = formats.parse_xml_fields(raw, "job")
        else:
            accepted = ", ".join(JOB_TYPES)
            raise DialectError(415, f"Content-Type {kind or '(none)'!r}: send one of {accepted}")
    except formats.BadDocument as exc:
        raise DialectError(400, str(exc)) from None
    if not isinstance(doc, dict):
        raise DialectError(400, "body must be a job object")
    return validate_document(doc)


def validate_document(doc: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = dialect.load(JOB_DOCUMENT, doc)
    return loaded


def decode_data(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise DialectError(
            400, "data: must be UTF-8 text (encode binary payloads, e.g. base64)"
        ) from None


def split_shortcut() -> tuple[dict[str, str], str]:
    """The path's ``<when or cron>`` and ``<callback>``, each URL-decoded on its own.

    The raw (still encoded) path is used when the server provides it, so an encoded ``/`` inside
    a cron (``0%2F15 ...``) or the callback does not split the path in the wrong place.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    path = urlsplit(raw).path if raw else request.path
    rest = path.split("/1/jobs/", 1)[-1]
    head, _, callback = rest.partition("/")
    if not callback:
        raise DialectError(404, "use POST /1/jobs/<when or cron>/<callback URL>")
    text = unquote(head)
    try:
        parse_iso8601(text, "when")
        return {"when": text}, unquote(callback)
    except InvalidSchedule:
        return {"cron": unquote(head.replace("+", " "))}, unquote(callback)
