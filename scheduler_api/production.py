"""The production server of ``scheduler api`` (and so of ``make run``): gunicorn, as in deploy/.

gunicorn runs in this process as its arbiter (``BaseApplication``), with ``api_workers`` worker
processes of ``api_threads`` threads each (gunicorn's gthread worker; one thread is its plain
sync worker). Each worker builds the app itself after the fork (no preload), so no Redis
connection is shared across a fork. The request caps are gunicorn's own flags, set from the
``api_max_*`` settings as deploy/ sets them, and two things gunicorn does not do alone:

- a request line over the cap is answered 414, not gunicorn's 400 (``ApiThreadWorker`` and
  ``ApiSyncWorker``), as ``scheduler_api.serving`` answers it;
- all header lines together are capped (431) by ``scheduler_api.app``'s head check, which every
  server gets;
- a connection whose request body the app left unread (refused early: 401, 413, ...) is closed
  after the answer: gunicorn would otherwise read and discard all of that body, however long,
  before the next request on the connection, holding a thread as long as the client sends.

Two more, for speed (bench/README.md, ``api.py``): a worker whose threads are all taken leaves
new connections to the other workers for a bounded pause (gunicorn's let the busiest worker take
every kept-alive connection), and a thread serves its kept-alive connection's next request itself
when it comes within a few milliseconds (``ApiThreadWorker``). deploy/ runs the same worker class.

gunicorn's own log lines go through the process's handler (``shared.logs``: JSON or text, secrets
redacted), not a handler of its own.
"""

from __future__ import annotations

import contextlib
import os
import select
import selectors
import time
from typing import Any

from flask import Flask
from gunicorn import glogging, util
from gunicorn.app.base import BaseApplication
from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.http.errors import LimitRequestLine
from gunicorn.workers.base import Worker
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

from shared.accounts import load_secret_key
from shared.config import Config
from shared.redis_url import resolve_redis_url
from shared.store import Store

GRACEFUL_TIMEOUT_S = 30  # requests in flight may finish this long after SIGTERM (as deploy/)
# How long a worker whose threads are all taken leaves new connections to the others (see
# ApiThreadWorker): long enough for an idle worker to be scheduled on a loaded machine, short
# enough that a connection waiting out the pause with every worker busy hardly notices.
ACCEPT_PAUSE_S = 0.05
# How long a thread waits for a kept-alive connection's next request before handing it back to
# the worker's loop (see ApiThreadWorker.next_request_soon).
LINGER_S = 0.005


def gunicorn_settings(config: Config) -> dict[str, Any]:
    """gunicorn's settings for ``config``, by gunicorn's names."""
    threaded = config.api_threads > 1
    return {
        "bind": [f"{_host(config.api_host)}:{config.api_port}"],
        "workers": config.api_workers,
        "threads": config.api_threads,
        "worker_class": ApiThreadWorker if threaded else ApiSyncWorker,
        "graceful_timeout": GRACEFUL_TIMEOUT_S,
        "limit_request_line": config.api_max_request_line_bytes,
        "limit_request_fields": config.api_max_header_count,
        "limit_request_field_size": config.api_max_header_line_bytes,
        "logger_class": ProcessLogger,
        "errorlog": "-",
        "accesslog": "-" if config.api_access_log else None,
        "proc_name": "scheduler-api",
    }


def _host(host: str) -> str:
    return f"[{host}]" if ":" in host else host  # an IPv6 literal


class ApiServer(BaseApplication):
    """gunicorn serving ``create_app(config)``; ``run()`` returns only by exiting."""

    def __init__(self, config: Config) -> None:
        self.config = config
        super().__init__(prog="scheduler api")

    def load_config(self) -> None:
        for name, value in gunicorn_settings(self.config).items():
            self.cfg.set(name, value)

    def load(self) -> Flask:
        from scheduler_api.app import create_app

        return create_app(self.config)


def serve(config: Config) -> None:
    """Serve the API on the configured host and port until SIGTERM or SIGINT (then exit)."""
    check_before_serving(config)
    ApiServer(config).run()


def check_before_serving(config: Config) -> None:
    """What every worker's ``create_app`` needs, checked once here: a mistake is then one line
    and exit 2 (``scheduler_cli``), not a traceback from each worker and gunicorn's exit 3. The
    key file, when there is none yet, is also written once, before the workers race to."""
    load_secret_key(config)
    store = Store.from_url(
        resolve_redis_url(config), config.key_prefix, partitions=config.partitions
    )
    try:
        store.check_redis_is_safe()
    finally:
        store.redis.close()  # the workers open their own after the fork


class _Answers414(Worker):
    def handle_error(self, req: Any, client: Any, addr: Any, exc: BaseException) -> None:
        if not isinstance(exc, LimitRequestLine):
            super().handle_error(req, client, addr, exc)
            return
        # RFC 9110 names this 414; gunicorn says 400. Nothing of the line is echoed back.
        self.log.warning("Invalid request from ip=%s: request line too long", (addr or ("",))[0])
        try:
            util.write_error(client, 414, "URI Too Long", "Request line too long")
        except OSError:
            self.log.debug("Failed to send error message.")


class ApiThreadWorker(_Answers414, ThreadWorker):
    """gunicorn's gthread worker, answering 414 to a long request line, closing a kept-alive
    connection whose request body was left unread (the sync worker closes every connection),
    serving a connection's next request in the same thread when it comes at once, and leaving
    new connections to the other workers while its threads are all taken.

    Why the last: every worker waits on the one listening socket, and the busiest one is the
    likeliest to be running when a connection arrives, so one worker took every kept-alive
    connection and the API ran on one core (bench/README.md, ``api.py``). So, when there are
    other workers, one with at least as many active connections as threads (being served, or
    accepted and not yet served; idle kept-alive ones do not count) stops accepting for up to
    ``ACCEPT_PAUSE_S``, and an idle worker takes the next connection meanwhile. The pause is
    bounded, so with every worker busy a connection waits at most that long more; it ends early
    when one of the worker's connections closes (clients that do not keep connections alive are
    then not held back). A kept-alive connection between two requests does not end it: that
    short lull came at every request, before another worker had even woken up."""

    poller: selectors.BaseSelector
    _lock: Any

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.threads = int(self.cfg.threads)  # gunicorn's settings are slow to look up
        self.alone = self.cfg.workers < 2
        self.accept_pause_until = 0.0  # monotonic
        self.connections_at_pause = 0
        self.paused_listeners: list[tuple[Any, Any]] = []  # (socket, gunicorn's acceptor)
        self.wake_read = self.wake_write = -1  # a pipe, once the loop runs (after the fork)

    def run(self) -> None:
        self.poller.close()  # none registered yet: gunicorn's run() registers the listeners
        self.poller = _PausingSelector(self)
        self.wake_read, self.wake_write = os.pipe()  # ends the threads' lingering
        os.set_blocking(self.wake_read, False)
        os.set_blocking(self.wake_write, False)
        try:
            super().run()
        finally:
            os.close(self.wake_read)
            os.close(self.wake_write)
            self.wake_read = self.wake_write = -1

    def accept(self, server: Any, listener: Any) -> None:
        super().accept(server, listener)
        if self.nr_conns > self.threads:
            self.wake_lingering()  # this connection may need a thread that lingers
        if self.paused_listeners or self.alone:
            return  # already paused (another listener's accept in the same round), or alone
        if self.active_connections() >= self.threads:
            self.pause_accepts()

    def active_connections(self) -> int:
        return int(self.nr_conns) - len(self._keep)  # _keep: the idle kept-alive ones

    def pause_accepts(self) -> None:
        with self._lock:
            for sock in self.sockets:
                key = self.poller.unregister(sock)
                self.paused_listeners.append((sock, key.data))
        self.accept_pause_until = time.monotonic() + ACCEPT_PAUSE_S
        self.connections_at_pause = self.nr_conns

    def resume_accepts_if_due(self) -> float | None:
        """Accept again once the pause is over or a connection closed; the seconds the pause
        has left (the most the worker's loop may wait), or None when not paused."""
        if not self.paused_listeners:
            return None
        left = self.accept_pause_until - time.monotonic()
        if left > 0 and self.nr_conns >= self.connections_at_pause:
            return left
        with self._lock:
            for sock, acceptor in self.paused_listeners:
                self.poller.register(sock, selectors.EVENT_READ, acceptor)
            self.paused_listeners.clear()
        return None

    def handle(self, conn: Any) -> tuple[bool, Any]:
        """Serve ``conn``'s requests while they come soon one after another (see
        ``next_request_soon``); then hand the connection back to gunicorn's loop, as it is."""
        while True:
            keepalive, conn = super().handle(conn)
            if not (keepalive and self.next_request_soon(conn)):
                return keepalive, conn

    def next_request_soon(self, conn: Any) -> bool:
        """Whether ``conn``'s next request arrived within ``LINGER_S``, waited for in this thread
        while the worker has a thread for each of its connections.

        gunicorn's loop otherwise takes a kept-alive connection back after every answer (its
        poller, a thread-pool job, callbacks, ~100 µs of CPU a request here) even when the client
        sends its next request a fraction of a millisecond later. A connection accepted meanwhile
        that may need a thread ends every thread's wait at once (``wake_lingering``)."""
        if not self.alive or self.nr_conns > self.threads:
            return False
        # A wake left from before is stale: no connection needs a thread now. (One written just
        # after that check is taken too: its connection then waits at most LINGER_S.)
        self.take_wake()
        poller = select.poll()
        poller.register(conn.sock, select.POLLIN)
        poller.register(self.wake_read, select.POLLIN)
        ready = [fd for fd, _ in poller.poll(1000 * LINGER_S)]
        return conn.sock.fileno() in ready  # served here even if woken: it is ready now

    def wake_lingering(self) -> None:
        if self.wake_write < 0:
            return  # no loop ran: no thread either
        with contextlib.suppress(BlockingIOError):  # the pipe is full: they are woken already
            os.write(self.wake_write, b"!")

    def take_wake(self) -> None:
        with contextlib.suppress(BlockingIOError):  # none waiting (or another thread took it)
            os.read(self.wake_read, 4096)

    def handle_request(self, req: Any, conn: Any) -> bool:
        asked = req.should_close  # consulted once the answer is written
        req.should_close = lambda: asked() or body_left(req)
        return bool(super().handle_request(req, conn))


class _PausingSelector(selectors.DefaultSelector):
    """The gthread worker's poller, ending an accept pause when due: its loop waits on this
    (up to a second at a time), so that wait is cut to what the pause has left. Closed when the
    worker's loop ends."""

    def __init__(self, worker: ApiThreadWorker) -> None:
        super().__init__()
        self.worker = worker

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        left = self.worker.resume_accepts_if_due()
        if left is not None:
            timeout = left if timeout is None else min(timeout, left)
        return super().select(timeout)

    def close(self) -> None:
        """The loop is over (the worker stops): threads waiting for a next request stop too."""
        self.worker.wake_lingering()
        super().close()


def body_left(req: Any) -> bool:
    """Whether part of ``req``'s body is still unread, by the state of gunicorn's readers."""
    reader = getattr(req.body, "reader", None)
    if isinstance(reader, LengthReader):
        return bool(reader.length > 0)
    if isinstance(reader, ChunkedReader):
        return reader.parser is not None  # None once the last chunk was read
    return False  # no body, or read to the end of the connection (which then closes anyway)


class ApiSyncWorker(_Answers414, SyncWorker):
    """gunicorn's sync worker, answering 414 to a long request line."""


class ProcessLogger(glogging.Logger):
    """gunicorn's loggers, handing their records to the root logger's handler."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        for log in (self.error_log, self.access_log):
            log.handlers.clear()
            log.propagate = True

    def access(self, resp: Any, req: Any, environ: dict[str, Any], request_time: Any) -> None:
        """One short line per request: client, request line, status, bytes sent, milliseconds.
        gunicorn's own builds a dict of every header and environ value per line first, which
        cost as much as a third of a small request's CPU."""
        if not self.cfg.accesslog:
            return
        self.access_log.info(
            '%s "%s %s %s" %s %s %.1f ms',
            environ.get("REMOTE_ADDR", "-"),
            environ.get("REQUEST_METHOD", "-"),
            environ.get("RAW_URI", "-"),
            environ.get("SERVER_PROTOCOL", "-"),
            str(resp.status).split(" ", 1)[0],
            getattr(resp, "sent", "-"),
            request_time.total_seconds() * 1000,
        )
