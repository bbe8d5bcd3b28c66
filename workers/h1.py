"""HTTP/1.1 exchanges on the delivery loop: one request to one pinned address, and its answer.

``workers.aio_http`` decides where a callback may go and how long it may take; this module only
moves the bytes: it connects to exactly the address it is given (no lookup: a numeric host),
writes a request built from bytes, and reads the answer with httptools (llhttp, Node's C
parser). Connections are kept alive per (scheme, address, port, TLS name): a connection
verified for one name is never reused for another on the same address. With it instead of
aiohttp's request machinery, a fire costs the pool 0.14 ms of CPU in-process instead of 0.23 ms
(bench/README.md, ``delivery_cpu.py``).

What it never does: follow a redirect, decompress, keep cookies, read the environment (proxies,
netrc), read more of a body than its cap (the connection is closed instead of drained).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from collections.abc import Mapping
from dataclasses import dataclass
from typing import cast

import httptools

Key = tuple[str, str, int, str]  # scheme, address, port, the name TLS verifies
IDLE_S = 15.0  # an unused kept-alive connection is closed after this long (aiohttp's default)
_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 9110's token: a method, a name
_UNSENDABLE = re.compile(r"[\x00\r\n]")  # would split the request (aiohttp refused them too)
_FRAMING = frozenset({"host", "content-length", "transfer-encoding", "connection"})


class ConnectFailed(Exception):
    """No connection (refused, unreachable, TLS refused): nothing was sent."""


class ConnectTimedOut(ConnectFailed):
    """No connection within the connect timeout: nothing was sent."""


class ReadTimedOut(Exception):
    """The receiver sent nothing for the read timeout."""


class Disconnected(Exception):
    """The connection closed before a whole answer."""


class BadAnswer(Exception):
    """What came back is not HTTP/1.x."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes  # at most the cap
    retry_after: str | None


def request_bytes(
    method: str, request_uri: str, host: str, headers: Mapping[str, str], body: bytes
) -> bytes:
    """The request as sent: ``headers`` less the ones this module frames (Host, Content-Length,
    Transfer-Encoding, Connection). ``ValueError`` for a method, name or value that would
    split it."""
    if not _TOKEN.fullmatch(method) or _UNSENDABLE.search(request_uri) or " " in request_uri:
        raise ValueError(f"cannot send {method!r} {request_uri!r}")
    lines = [f"{method} {request_uri} HTTP/1.1", f"Host: {host}"]
    for name, value in headers.items():
        if not _TOKEN.fullmatch(name) or _UNSENDABLE.search(value):
            raise ValueError(f"header {name!r}: not sendable as is (CR, LF or NUL, or no name)")
        if name.lower() not in _FRAMING:
            lines.append(f"{name}: {value}")
    lines.append(f"Content-Length: {len(body)}\r\n\r\n")
    return "\r\n".join(lines).encode() + body


class Pool:
    """The kept-alive connections of one delivery loop (make it and use it on that loop)."""

    def __init__(self, idle_per_key: int, idle_s: float = IDLE_S) -> None:
        self._idle: dict[Key, list[_Connection]] = {}
        self._idle_per_key = idle_per_key
        self._idle_s = idle_s
        self._tls: ssl.SSLContext | None = None
        self._sweeping = False

    async def exchange(
        self, key: Key, request: bytes, connect_s: float, read_s: float, body_cap: int
    ) -> Answer:
        """Send ``request`` over a kept-alive connection to ``key`` or a new one; its answer."""
        connection = self._reused(key) or await self._connect(key, connect_s)
        answer = await connection.exchange(request, read_s, body_cap)
        if connection.reusable:
            self._keep(key, connection)
        return answer

    def close(self) -> None:
        for connections in self._idle.values():
            for connection in connections:
                connection.close()
        self._idle.clear()

    def _reused(self, key: Key) -> _Connection | None:
        connections = self._idle.get(key)
        now = asyncio.get_running_loop().time()
        while connections:
            connection = connections.pop()  # the most recently used: least likely timed out
            if connection.usable and now - connection.idle_since < self._idle_s:
                return connection
            connection.close()
        return None

    async def _connect(self, key: Key, connect_s: float) -> _Connection:
        scheme, address, port, name = key
        loop = asyncio.get_running_loop()
        tls = self._tls_context() if scheme == "https" else None
        try:
            async with asyncio.timeout(connect_s):
                _, connection = await loop.create_connection(
                    _Connection, address, port, ssl=tls, server_hostname=name if tls else None
                )
        except TimeoutError:
            raise ConnectTimedOut(f"no connection within {connect_s:g} s") from None
        except ssl.SSLError as exc:
            raise ConnectFailed(f"SSLError: {name}:{port}: {exc}") from None
        except OSError as exc:
            raise ConnectFailed(f"{address}:{port}: {exc.strerror or exc}") from None
        return connection

    def _tls_context(self) -> ssl.SSLContext:
        """The system's trust store, certificates and names verified (SSL_CERT_FILE read once,
        as the standard library reads it)."""
        if self._tls is None:
            self._tls = ssl.create_default_context()
        return self._tls

    def _keep(self, key: Key, connection: _Connection) -> None:
        connections = self._idle.setdefault(key, [])
        if len(connections) >= self._idle_per_key:
            connections.pop(0).close()  # the oldest
        connection.idle_since = asyncio.get_running_loop().time()
        connections.append(connection)
        if not self._sweeping:
            self._sweeping = True
            asyncio.get_running_loop().call_later(self._idle_s, self._sweep)

    def _sweep(self) -> None:
        """Close the connections idle past ``idle_s`` (and forget closed ones)."""
        now = asyncio.get_running_loop().time()
        for key, connections in list(self._idle.items()):
            fresh = [c for c in connections if c.usable and now - c.idle_since < self._idle_s]
            for connection in connections:
                if connection not in fresh:
                    connection.close()
            if fresh:
                self._idle[key] = fresh
            else:
                del self._idle[key]
        self._sweeping = bool(self._idle)
        if self._sweeping:
            asyncio.get_running_loop().call_later(self._idle_s, self._sweep)


class _Connection(asyncio.Protocol):
    """One connection; one exchange at a time on it."""

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._transport: asyncio.Transport | None = None
        self.closed = False
        self.reusable = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[Answer] | None = None
        self._parser = httptools.HttpResponseParser(self)
        self._status = 0
        self._retry_after: bytes | None = None
        self._body: list[bytes] = []
        self._body_size = 0
        self._cap = 0
        self._read_s = 0.0
        self._last_read = 0.0
        self._headers_done = False
        self._framed = False  # Content-Length or chunked: a close before its end cuts it short
        self._timer: asyncio.TimerHandle | None = None

    async def exchange(self, request: bytes, read_s: float, body_cap: int) -> Answer:
        assert self._transport is not None and self._answer is None
        self._answer = answer = self._loop.create_future()
        self._cap, self._read_s = body_cap, read_s
        self._last_read = self._loop.time()
        self._timer = self._loop.call_at(self._last_read + read_s, self._check_read)
        self._transport.write(request)
        try:
            return await answer
        finally:
            self._timer.cancel()
            self._answer = None
            if not (answer.done() and not answer.cancelled() and self.reusable):
                self.reusable = False
                self.close()  # cut short, failed or not to be kept: never reused

    @property
    def usable(self) -> bool:
        """Open, and not closing (a close the peer began and asyncio has not yet reported)."""
        return not self.closed and not (self._transport is None or self._transport.is_closing())

    def close(self) -> None:
        self.closed = True
        if self._transport is not None:
            self._transport.close()

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        if self._headers_done and self._status >= 200 and not self._framed:
            self._end(reusable=False)  # a body read until the close, as HTTP/1.0 does
        elif self._headers_done:
            self._fail(Disconnected("the answer was cut short"))
        else:
            self._fail(Disconnected("the receiver closed the connection without a whole answer"))

    def data_received(self, data: bytes) -> None:
        if self._answer is None or self._answer.done():  # nothing asked: not HTTP we can use
            self.close()
            return
        self._last_read = self._loop.time()
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserUpgrade:  # a 101: the answer is its status
            self._end(reusable=False)
        except httptools.HttpParserError as exc:
            self._fail(BadAnswer(f"the answer is not HTTP: {exc}"))

    # httptools' callbacks

    def on_header(self, name: bytes, value: bytes) -> None:
        name = name.lower()
        if name == b"retry-after":
            self._retry_after = value
        elif name in (b"content-length", b"transfer-encoding"):
            self._framed = True

    def on_headers_complete(self) -> None:
        self._status = self._parser.get_status_code()
        self._headers_done = True

    def on_body(self, body: bytes) -> None:
        if self._answer is None or self._answer.done():
            return
        room = self._cap - self._body_size
        if room > 0:
            self._body.append(body[:room])
            self._body_size += min(room, len(body))
        if len(body) >= room:  # at the cap: the rest is never read
            self._end(reusable=False)

    def on_message_complete(self) -> None:
        if self._status < 200:  # an interim answer (100 Continue): the final one follows
            self._headers_done, self._retry_after, self._framed = False, None, False
            return
        self._end(reusable=self._parser.should_keep_alive())

    # the end of an exchange

    def _end(self, reusable: bool) -> None:
        if self._answer is None or self._answer.done():
            return
        self.reusable = reusable and not self.closed
        retry_after = self._retry_after.decode("latin-1") if self._retry_after else None
        self._answer.set_result(Answer(self._status, b"".join(self._body), retry_after))
        self._status, self._retry_after, self._headers_done = 0, None, False
        self._body, self._body_size, self._framed = [], 0, False

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)
        self.close()

    def _check_read(self) -> None:
        if self._answer is None or self._answer.done():
            return
        quiet_until = self._last_read + self._read_s
        if self._loop.time() >= quiet_until:
            self._fail(ReadTimedOut(f"no data for {self._read_s:g} s"))
        else:  # data came meanwhile: one timer per quiet spell, not one per chunk read
            self._timer = self._loop.call_at(quiet_until, self._check_read)
