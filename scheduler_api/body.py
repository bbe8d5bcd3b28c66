"""Reading request bodies with a cap on the bytes actually read, for every dialect.

A ``Content-Length`` over the cap is refused before anything is read. A body without one
(``Transfer-Encoding: chunked``) or one longer than it claims is read through werkzeug's
``LimitedStream``, at most cap + 1 bytes, so no body costs more than its cap in memory or time
whatever the headers say. Too large is werkzeug's ``RequestEntityTooLarge`` (413) with a message
naming the cap, which each dialect's ``HTTPException`` handler renders in its own error shape.
Messages never quote the body.
"""

from __future__ import annotations

from flask import Flask, Request
from werkzeug.datastructures import MultiDict
from werkzeug.exceptions import BadRequest, RequestEntityTooLarge

from shared.config import Config

# A client that stops mid-body, or chunked framing that is not valid: the servers' readers raise
# these (werkzeug's dev server OSError, gunicorn IOError subclasses, werkzeug ClientDisconnected
# is already a 400).
_BROKEN_BODY = (OSError, ValueError)


def install(app: Flask, config: Config) -> None:
    """App-wide caps, for any route that reads a body or a form without its own (dashboard,
    errors); the dialects set smaller ones per request through ``read`` and ``read_form``."""
    app.config.update(
        MAX_CONTENT_LENGTH=config.api_max_body_bytes,
        MAX_FORM_MEMORY_SIZE=config.api_max_body_bytes,
        MAX_FORM_PARTS=config.api_max_form_parts,
    )


def too_large(limit: int, what: str = "body") -> RequestEntityTooLarge:
    return RequestEntityTooLarge(f"{what} is larger than {limit} bytes")


def read_capped(request: Request, limit: int, what: str = "body", cache: bool = False) -> bytes:
    """The request body, at most ``limit`` bytes; a 413 naming ``what`` if it is longer."""
    # limit + 1: werkzeug's cap refuses a chunked body that reaches it exactly; ours does not.
    request.max_content_length = limit + 1
    try:
        data = request.get_data(cache=cache)
    except RequestEntityTooLarge:
        raise too_large(limit, what) from None
    except _BROKEN_BODY:
        raise BadRequest(f"{what}: ended early, or its chunked framing is broken") from None
    if len(data) > limit:
        raise too_large(limit, what)
    return data


def read_form(request: Request, limit: int, max_parts: int = 1000) -> MultiDict[str, str]:
    """The form fields (``request.form``; ``request.values`` may be read after this), the body
    read with a cap of ``limit`` bytes and ``max_parts`` multipart parts."""
    # Read (and cache) the whole body first: werkzeug parses a urlencoded form from a stream it
    # assumes is already limited, so a chunked form past the cap would be cut short, not refused.
    read_capped(request, limit, cache=True)
    request.max_form_memory_size = limit
    request.max_form_parts = max_parts
    try:
        return request.form
    except RequestEntityTooLarge:
        raise RequestEntityTooLarge(f"form is over {limit} bytes or {max_parts} parts") from None
    except ValueError:
        raise BadRequest("body: the form is not UTF-8") from None
