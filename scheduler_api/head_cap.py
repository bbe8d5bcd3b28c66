"""All header lines of a request together, capped (431) whatever server parsed them.

gunicorn caps each header line and their count, not their sum (up to count x line size, ~800
KiB at the defaults); werkzeug's server under ``scheduler_api.serving`` caps the sum while it
reads. This WSGI middleware holds every server to ``api_max_headers_bytes`` before the app runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from werkzeug.exceptions import RequestHeaderFieldsTooLarge

# Headers WSGI names without the HTTP_ prefix (PEP 3333).
_UNPREFIXED = ("CONTENT_TYPE", "CONTENT_LENGTH")
_LINE_OVERHEAD = len(": ") + len("\r\n")


class HeadersCap:
    """``app`` behind a cap of ``most`` bytes on all header lines together (as sent: name,
    ``": "``, value, CRLF)."""

    def __init__(self, app: Any, most: int) -> None:
        self.app = app
        self.most = most

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
        if header_bytes(environ) > self.most:
            refusal = RequestHeaderFieldsTooLarge(f"header lines over {self.most} bytes")
            return refusal(environ, start_response)
        return self.app(environ, start_response)


def header_bytes(environ: dict[str, Any]) -> int:
    total = 0
    for key, value in environ.items():
        if key.startswith("HTTP_"):
            total += len(key) - len("HTTP_") + len(value) + _LINE_OVERHEAD
        elif key in _UNPREFIXED:
            total += len(key) + len(value) + _LINE_OVERHEAD
    return total
