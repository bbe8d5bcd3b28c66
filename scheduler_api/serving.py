"""The HTTP server of ``scheduler api`` (werkzeug's, threaded), with caps on what a request may
send before the app sees it.

Python's ``http.server`` (under werkzeug's dev server) reads request lines and header lines of up
to 64 KiB each, and werkzeug drains up to 10 GB of unread body after each answer. Here the request
line, each header line, all header lines together and their count are capped (414, 431), and a
connection may send at most a budget of body bytes (a few times the largest body cap, so chunked
framing fits) before it reads as ended. gunicorn in ``deploy/`` gets the same caps as flags.

``CappedHead`` fits any ``BaseHTTPRequestHandler`` (tests' receivers too); ``request_handler``
makes the werkzeug handler with a config's caps.
"""

from __future__ import annotations

import http.client
import io
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any, ClassVar

from flask import Flask
from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server, run_simple

from shared.config import Config

_BODY_BUDGET_FACTOR = 4  # raw bytes per body byte a connection may send (chunked framing)
_BODY_BUDGET_SLACK = 64 * 1024


@dataclass(frozen=True)
class HeadLimits:
    request_line_bytes: int
    header_line_bytes: int
    headers_bytes: int
    header_count: int
    body_budget_bytes: int

    @classmethod
    def from_config(cls, config: Config) -> HeadLimits:
        return cls(
            request_line_bytes=config.api_max_request_line_bytes,
            header_line_bytes=config.api_max_header_line_bytes,
            headers_bytes=config.api_max_headers_bytes,
            header_count=config.api_max_header_count,
            body_budget_bytes=_BODY_BUDGET_FACTOR * config.api_max_body_bytes + _BODY_BUDGET_SLACK,
        )


class CappedHead(BaseHTTPRequestHandler):
    """Refuses a long request line (414) and long or many header lines (431) without reading
    past the caps; mix in before the server's handler class."""

    limits: ClassVar[HeadLimits] = HeadLimits.from_config(Config())
    raw_requestline: bytes  # read by http.server's handle_one_request before parse_request

    def parse_request(self) -> bool:
        if len(self.raw_requestline) > self.limits.request_line_bytes:
            # Cleared, as http.server does for its own 414, so the log line stays short.
            self.requestline = self.request_version = self.command = ""
            self.send_error(414, "Request line too long")
            return False
        connection = self.rfile
        # http.server reads the header lines through self.rfile: through the caps here.
        self.rfile = _HeadReader(connection, self.limits)  # type: ignore[assignment]
        try:
            return super().parse_request()
        finally:
            self.rfile = _Budget(connection, self.limits.body_budget_bytes)  # type: ignore[assignment]


class _HeadReader:
    """``readline`` for ``http.client.parse_headers``, raising the errors ``http.server`` turns
    into 431."""

    def __init__(self, rfile: Any, limits: HeadLimits) -> None:
        self._rfile = rfile
        self._limits = limits
        self._total = self._count = 0

    def readline(self, size: int = -1) -> bytes:
        most = self._limits.header_line_bytes
        line: bytes = self._rfile.readline(most + 1)
        if len(line) > most:
            raise http.client.LineTooLong(f"header line over {most} bytes")
        self._total += len(line)
        self._count += 1
        if self._total > self._limits.headers_bytes:
            raise http.client.LineTooLong(f"header lines over {self._limits.headers_bytes} bytes")
        if self._count > self._limits.header_count + 1:  # + the empty line that ends them
            raise http.client.HTTPException(f"more than {self._limits.header_count} headers")
        return line


class _Budget(io.RawIOBase):
    """The connection's reader after the head: at most ``budget`` more bytes, then end of
    stream (werkzeug's dev server closes every connection after one answer)."""

    def __init__(self, rfile: Any, budget: int) -> None:
        super().__init__()
        self._rfile = rfile
        self._left = budget

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self._rfile.close()  # the socket's file: its close lets the socket's own close finish
        super().close()

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def read(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        return self._take(self._rfile.read(wanted) if wanted else b"")

    def readline(self, size: int | None = -1) -> bytes:
        wanted = self._left if size is None or size < 0 else min(size, self._left)
        return self._take(self._rfile.readline(wanted) if wanted else b"")

    def _take(self, data: bytes) -> bytes:
        self._left -= len(data)
        return data


def request_handler(config: Config) -> type[WSGIRequestHandler]:
    """werkzeug's request handler with ``config``'s caps."""
    limits = HeadLimits.from_config(config)
    return type("CappedRequestHandler", (CappedHead, WSGIRequestHandler), {"limits": limits})


def serve(app: Flask, config: Config) -> None:
    """Serve ``app`` on the configured host and port until interrupted (``scheduler api``)."""
    handler = request_handler(config)
    run_simple(config.api_host, config.api_port, app, threaded=True, request_handler=handler)


def capped_server(host: str, port: int, app: Any, config: Config | None = None) -> BaseWSGIServer:
    """A threaded server of ``app`` with the caps, to run in a thread (tests, tools)."""
    handler = request_handler(config or Config())
    return make_server(host, port, app, threaded=True, request_handler=handler)
