"""Client values that become headers of an outgoing request (a webhook's ``contentType`` is its
callback's ``Content-Type``, its ``signature`` the ``X-Content-Signature``).

A CR or LF there would split the header and let a tenant write headers (or a body) of its own;
a NUL or other control character, or a character outside ASCII, makes the HTTP client refuse
the request at every delivery. So they are refused when the schedule is created, naming the field.
"""

from __future__ import annotations

import re
from typing import NoReturn

from shared.errors import InvalidSchedule

MAX_HEADER_VALUE_CHARS = 1024
# Visible ASCII, with spaces and tabs inside (never at either end: clients strip or refuse them).
_VALUE = re.compile(r"[\x21-\x7e](?:[\x20-\x7e\t]*[\x21-\x7e])?")


def check_header_value(field: str, value: object) -> None:
    """Refuse ``value`` (the field ``field``) unless it can be sent as a header value as is."""
    if not isinstance(value, str) or not _VALUE.fullmatch(value):
        raise InvalidSchedule(
            f"{field}: becomes an HTTP header, so it must be visible ASCII characters (spaces "
            "inside only; no CR, LF, NUL or other control characters)"
        )
    if len(value) > MAX_HEADER_VALUE_CHARS:
        raise InvalidSchedule(f"{field}: at most {MAX_HEADER_VALUE_CHARS} characters")


# Headers a schedule may not set: the signature's (a receiver must be able to trust them),
# the ones that frame the request (a wrong one desynchronises the connection), the hop-by-hop
# ones (RFC 9110 7.6.1: meant for one connection, never forwarded), and the two the schedule
# sets through fields of their own or the worker fixes (a compressed answer is never read).
FORBIDDEN_HEADERS = {
    "webhook-id": "signs the callback",
    "webhook-timestamp": "signs the callback",
    "webhook-signature": "signs the callback",
    "host": "names the URL's host",
    "content-length": "frames the request",
    "transfer-encoding": "frames the request",
    "connection": "is hop-by-hop",
    "keep-alive": "is hop-by-hop",
    "proxy-connection": "is hop-by-hop",
    "proxy-authenticate": "is hop-by-hop",
    "proxy-authorization": "is hop-by-hop",
    "te": "is hop-by-hop",
    "trailer": "is hop-by-hop",
    "upgrade": "is hop-by-hop",
    "content-type": "is set by content_type",
    "accept-encoding": "is always identity (answers are read uncompressed)",
}
MAX_HEADERS = 20
MAX_HEADERS_BYTES = 8192  # names and values together
MAX_HEADER_NAME_CHARS = 64
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token: a header's name


def check_headers(field: str, headers: object) -> None:
    """Refuse custom ``headers`` (the field ``field``) that could not be sent as they are, or
    that would replace what the worker sets; the error names the header (``field.Name``)."""
    if not isinstance(headers, dict):
        raise InvalidSchedule(f"{field}: must be an object of header names to values")
    if len(headers) > MAX_HEADERS:
        raise InvalidSchedule(f"{field}: at most {MAX_HEADERS} headers")
    seen: set[str] = set()
    for name, value in headers.items():
        where = f"{field}.{name}"
        lower = str(name).lower()
        if not isinstance(name, str) or len(name) > MAX_HEADER_NAME_CHARS:
            _refuse(where, f"a header name of at most {MAX_HEADER_NAME_CHARS} characters")
        if not _TOKEN.fullmatch(name):
            _refuse(where, "not a header name (letters, digits and !#$%&'*+.^_`|~- only)")
        if lower in FORBIDDEN_HEADERS:
            _refuse(where, f"may not be set: it {FORBIDDEN_HEADERS[lower]}")
        if lower in seen:
            _refuse(where, "given twice (header names are case-insensitive)")
        seen.add(lower)
        check_header_value(where, value)
    if sum(len(name) + len(value) for name, value in headers.items()) > MAX_HEADERS_BYTES:
        raise InvalidSchedule(f"{field}: at most {MAX_HEADERS_BYTES} bytes of names and values")


def _refuse(where: str, reason: str) -> NoReturn:
    raise InvalidSchedule(f"{where}: {reason}", field=where, reason=reason)
