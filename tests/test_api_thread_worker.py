"""``scheduler api``'s gthread worker (scheduler_api.production.ApiThreadWorker) leaves new
connections to the other workers while its threads are all taken, never stops accepting for
longer than its pause, and serves a kept-alive connection's next request in the same thread when
it comes at once, but not while another connection waits for a thread.

Each worker here is the real gunicorn worker class running its real loop (``run()``) in a thread
on a real listening socket, serving a small WSGI app; only the process around it (signals, the
arbiter) is left out. The pause and the linger are set long (a minute) where a test shows what
ends them early, and short where it shows that they end by themselves, so nothing here races
the clock.
"""

from __future__ import annotations

import os
import selectors
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from threading import RLock
from typing import Any

import pytest
from gunicorn import glogging
from gunicorn.config import Config as GunicornConfig

from scheduler_api import production
from scheduler_api.production import ApiThreadWorker
from tests.support import wait_until

THREADS = 2


def hello(environ: dict[str, Any], start_response: Any) -> list[bytes]:
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
    return [b"ok"]


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0), backlog=64)
    try:
        yield sock
    finally:
        sock.close()


@contextmanager
def running_worker(listener: socket.socket, workers: int = 2) -> Iterator[ApiThreadWorker]:
    """An ``ApiThreadWorker`` (of ``workers``) with ``THREADS`` threads, its loop in a thread."""
    cfg = GunicornConfig()
    cfg.set("workers", workers)
    cfg.set("threads", THREADS)
    cfg.set("keepalive", 60)  # kept-alive connections stay for the whole test
    shared = socket.socket(fileno=socket.dup(listener.fileno()))  # the worker closes its own
    # age, the parent's pid (gunicorn's loop stops when it changes), listeners, app, timeout
    worker = ApiThreadWorker(1, os.getppid(), [shared], None, 30, cfg, glogging.Logger(cfg))
    worker.wsgi = hello
    # What ThreadWorker.init_process sets up before its loop (the rest is the process's).
    worker.tpool = worker.get_thread_pool()
    worker.poller = selectors.DefaultSelector()
    worker._lock = RLock()
    loop = threading.Thread(target=worker.run, daemon=True)
    loop.start()
    try:
        yield worker
    finally:
        worker.alive = False
        loop.join(timeout=20)  # its threads stop waiting for next requests at once, too
        worker.tmp.close()
        assert not loop.is_alive(), "the worker's loop did not end"


def connect(listener: socket.socket) -> socket.socket:
    return socket.create_connection(listener.getsockname()[:2], timeout=10)


def ask(sock: socket.socket) -> bytes:
    """One GET on a kept-alive connection; the answer's status line."""
    sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    answer = b""
    while not answer.endswith(b"ok"):
        chunk = sock.recv(4096)
        assert chunk, f"connection closed after {answer!r}"
        answer += chunk
    return answer.split(b"\r\n", 1)[0]


def paused(worker: ApiThreadWorker) -> bool:
    return bool(worker.paused_listeners)


@pytest.mark.timeout(60)
def test_a_worker_whose_threads_are_taken_leaves_the_next_connection_to_another(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 60.0)
    with running_worker(listener) as first:
        held = [connect(listener) for _ in range(THREADS)]  # accepted, nothing sent yet: active
        wait_until(lambda: first.nr_conns == THREADS and paused(first), what="first paused")
        with running_worker(listener) as second:
            held.append(late := connect(listener))
            wait_until(lambda: second.nr_conns == 1, what="second worker accepted it")
            assert first.nr_conns == THREADS and paused(first)
            assert not paused(second)  # one of its two threads taken
            assert ask(late) == b"HTTP/1.1 200 OK"
    for sock in held:
        sock.close()


@pytest.mark.timeout(60)
def test_the_pause_ends_by_itself_so_a_lone_worker_still_serves_every_client(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 0.2)
    with running_worker(listener) as worker:  # the other worker never comes
        held = [connect(listener) for _ in range(THREADS)]
        wait_until(lambda: worker.nr_conns == THREADS, what="both accepted")
        for _ in range(3):  # each one waits out (at most) a pause, and is served
            held.append(late := connect(listener))
            assert ask(late) == b"HTTP/1.1 200 OK"
        assert worker.nr_conns == THREADS + 3
    for sock in held:
        sock.close()


@pytest.mark.timeout(60)
def test_a_closed_connection_ends_the_pause_at_once(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 60.0)
    with running_worker(listener) as worker:
        held = [connect(listener) for _ in range(THREADS)]
        wait_until(lambda: paused(worker), what="paused")
        held.pop().close()  # as a client that does not keep connections alive
        wait_until(lambda: not paused(worker), timeout_s=20, what="accepting again")
        with connect(listener) as late:
            assert ask(late) == b"HTTP/1.1 200 OK"
    for sock in held:
        sock.close()


@pytest.mark.timeout(60)
def test_idle_kept_alive_connections_do_not_pause_accepting(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 60.0)
    with running_worker(listener) as worker:
        idle = []
        for _ in range(THREADS + 2):  # one at a time: served, then idle on the keep-alive list
            idle.append(sock := connect(listener))
            assert ask(sock) == b"HTTP/1.1 200 OK"
            wait_until(lambda: worker.nr_conns - len(worker._keep) == 0, what="idle again")
        assert not paused(worker)
        assert worker.nr_conns == THREADS + 2
        for sock in idle:  # and still kept alive
            assert ask(sock) == b"HTTP/1.1 200 OK"
    for sock in idle:
        sock.close()


@pytest.mark.timeout(60)
def test_a_single_worker_never_pauses(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 60.0)
    with running_worker(listener, workers=1) as worker:
        held = [connect(listener) for _ in range(THREADS + 2)]
        wait_until(lambda: worker.nr_conns == THREADS + 2, what="all accepted")
        assert not paused(worker)
    for sock in held:
        sock.close()


@pytest.mark.timeout(60)
def test_the_loop_waits_no_longer_than_the_pause_has_left(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gunicorn's loop waits on its poller up to a second at a time; the wait is cut to the
    pause, or a paused worker would sit out new connections that long after the pause."""
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 0.2)
    cfg = GunicornConfig()
    worker = ApiThreadWorker(1, os.getppid(), [listener], None, 30, cfg, glogging.Logger(cfg))
    worker._lock = RLock()
    worker.poller = production._PausingSelector(worker)
    worker.poller.register(listener, selectors.EVENT_READ, "acceptor")
    worker.pause_accepts()
    assert listener not in worker.poller.get_map()
    started = time.monotonic()
    worker.poller.select(timeout=60.0)  # nothing to read: returns when the pause is over
    assert time.monotonic() - started < 30
    worker.poller.select(timeout=0)
    assert worker.poller.get_key(listener).data == "acceptor"  # registered again, as it was
    worker.poller.close()
    worker.tmp.close()


def counting_dispatches(worker: ApiThreadWorker) -> list[int]:
    """Count the connections gunicorn's loop hands to a thread (one per request, without the
    linger)."""
    dispatched: list[int] = []
    enqueue = worker.enqueue_req

    def counted(conn: Any) -> None:
        dispatched.append(1)
        enqueue(conn)

    worker.enqueue_req = counted  # type: ignore[method-assign]
    return dispatched


@pytest.mark.timeout(60)
def test_a_kept_alive_connections_next_request_is_served_by_the_same_thread(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "LINGER_S", 60.0)
    with running_worker(listener) as worker:
        dispatched = counting_dispatches(worker)
        with connect(listener) as sock:
            for _ in range(5):
                assert ask(sock) == b"HTTP/1.1 200 OK"
            assert len(dispatched) == 1  # the other four: no round through gunicorn's loop
        # The client closes: the thread sees it at once, gunicorn closes its end.
        wait_until(lambda: worker.nr_conns == 0, timeout_s=20, what="connection closed")


@pytest.mark.timeout(60)
def test_the_linger_ends_when_another_connection_needs_a_thread(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "LINGER_S", 60.0)
    monkeypatch.setattr(production, "ACCEPT_PAUSE_S", 0.0)  # accepting regardless
    with running_worker(listener) as worker:
        lingering = [connect(listener) for _ in range(THREADS)]
        for sock in lingering:  # each thread now waits for its connection's next request
            assert ask(sock) == b"HTTP/1.1 200 OK"
        dispatched = counting_dispatches(worker)
        with connect(listener) as late:  # one more connection than threads
            assert ask(late) == b"HTTP/1.1 200 OK"  # not a minute later
        for sock in lingering:  # handed back to gunicorn's loop, and still kept alive
            assert ask(sock) == b"HTTP/1.1 200 OK"
        assert len(dispatched) >= 1 + THREADS
    for sock in lingering:
        sock.close()


@pytest.mark.timeout(60)
def test_the_linger_ends_by_itself(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "LINGER_S", 0.05)
    with running_worker(listener) as worker, connect(listener) as sock:
        assert ask(sock) == b"HTTP/1.1 200 OK"
        # Back on gunicorn's keep-alive list, a thread free again.
        wait_until(lambda: len(worker._keep) == 1, timeout_s=20, what="handed back")
        assert ask(sock) == b"HTTP/1.1 200 OK"


@pytest.mark.timeout(60)
def test_a_stopping_worker_ends_its_threads_waits_at_once(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(production, "LINGER_S", 60.0)
    # The worker stops first (running_worker: its loop ended within seconds, not after the
    # minute), with the connection still open.
    with connect(listener) as sock, running_worker(listener) as worker:
        assert ask(sock) == b"HTTP/1.1 200 OK"  # its thread now waits a minute for the next
        assert len(worker._keep) == 0
