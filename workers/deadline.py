"""A bound on a whole delivery attempt in a threads-pool worker: its sockets are shut at the limit.

The connect and read timeouts bound each wait, not the attempt: a receiver that sends one byte
per second (headers or body) keeps a call going for ever. A prefork worker has Celery's soft time
limit for that; Celery's threads pool (the delivery pools) has no time limits at all, and a thread
cannot be interrupted. So each attempt runs under ``attempt(limit_s)``: every socket the thread
connects or reuses meanwhile (``DeadlineConnection``) is registered, and one watchdog thread per
process shuts those sockets down once the limit has passed. The blocked read then fails at once,
the caller sees ``expired()`` and records "the attempt ran past N s", and the thread is free.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

TICK_S = 0.1  # how late past its limit an attempt may be cut


@dataclass
class _Attempt:
    deadline: float  # monotonic
    limit_s: float
    sockets: list[socket.socket] = field(default_factory=list)
    expired: bool = False
    done: bool = False


_local = threading.local()
_lock = threading.Lock()
_heap: list[tuple[float, int, _Attempt]] = []
_order = itertools.count()
_watchdog: threading.Thread | None = None


@contextmanager
def attempt(limit_s: float) -> Iterator[None]:
    """Bound what this thread does inside to ``limit_s`` seconds of socket use."""
    current = _Attempt(time.monotonic() + limit_s, limit_s)
    _local.attempt = current
    with _lock:
        heapq.heappush(_heap, (current.deadline, next(_order), current))
        _start_watchdog()
    try:
        yield
    finally:
        with _lock:
            current.done = True
            current.sockets.clear()
        _local.attempt = None


@contextmanager
def interrupted_after(limit_s: float, server_limit_s: float) -> Iterator[None]:
    """In a prefork process (the main thread runs the task), raise Celery's
    ``SoftTimeLimitExceeded`` once ``limit_s`` has passed, as Celery's own soft limit
    (``server_limit_s``) does: how a schedule's shorter ``retry.timeout_s`` stops a task class
    that computes rather than waits on a socket. Elsewhere (a thread), or when the limit is no
    shorter than the server's, nothing changes: the server's limit applies."""
    main = threading.current_thread() is threading.main_thread()
    if not main or limit_s >= server_limit_s:
        yield
        return

    def expire(signum: int, frame: Any) -> None:
        raise SoftTimeLimitExceeded(f"the attempt ran past {limit_s:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, limit_s)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def expired() -> float | None:
    """The limit of this thread's attempt if it was cut at its limit, else None."""
    current: _Attempt | None = getattr(_local, "attempt", None)
    return current.limit_s if current is not None and current.expired else None


def watch(sock: socket.socket | None) -> None:
    """Shut ``sock`` down if this thread's attempt outlives its limit."""
    current: _Attempt | None = getattr(_local, "attempt", None)
    if sock is None or current is None:
        return
    with _lock:
        if current.expired:
            _shut(sock)
        else:
            current.sockets.append(sock)


def _start_watchdog() -> None:
    global _watchdog
    if _watchdog is None or not _watchdog.is_alive():
        _watchdog = threading.Thread(target=_watch, name="attempt-deadlines", daemon=True)
        _watchdog.start()


def _watch() -> None:
    while True:
        time.sleep(TICK_S)
        now = time.monotonic()
        with _lock:
            while _heap and _heap[0][0] <= now:
                _, _, due = heapq.heappop(_heap)
                if due.done:
                    continue
                due.expired = True
                for sock in due.sockets:
                    _shut(sock)


def _shut(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)


class DeadlineConnection(HTTPConnection):
    """urllib3's connection, its socket watched by the attempt that connects or reuses it."""

    def connect(self) -> None:
        super().connect()
        watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch(self.sock)  # a kept-alive connection, reused by this attempt
        super().request(*args, **kwargs)


class DeadlineHTTPSConnection(HTTPSConnection):
    def connect(self) -> None:
        super().connect()
        watch(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        watch(self.sock)
        super().request(*args, **kwargs)


class DeadlinePool(HTTPConnectionPool):
    ConnectionCls = DeadlineConnection


class DeadlineHTTPSPool(HTTPSConnectionPool):
    ConnectionCls = DeadlineHTTPSConnection


POOL_CLASSES = {"http": DeadlinePool, "https": DeadlineHTTPSPool}
