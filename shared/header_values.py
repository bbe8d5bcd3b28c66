"""Client values that become headers of an outgoing request (a webhook's ``contentType`` is its
callback's ``Content-Type``, its ``signature`` the ``X-Content-Signature``).

A CR or LF there would split the header and let a tenant write headers (or a body) of its own;
a NUL or other control character, or a character outside ASCII, makes the HTTP client refuse
the request at every delivery. So they are refused when the schedule is created, naming the field.
"""

from __future__ import annotations

import re

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
