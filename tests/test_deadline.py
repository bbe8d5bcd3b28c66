"""A whole attempt is bounded, not only each read (workers.deadline): a receiver trickling its
headers or its body one byte at a time is cut at the limit, and the thread is free again."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from shared.config import Config
from workers import deadline
from workers.http import new_session, post

CONFIG = Config(target_allowlist=("127.0.0.0/8",), http_read_timeout_s=5)
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"


@contextmanager
def trickler(prefix: bytes) -> Iterator[str]:
    """A server that sends ``prefix`` at once, then one byte every 0.2 s (within any read
    timeout), for ever."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()

    def serve(conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            try:
                conn.sendall(prefix)
                while not stop.wait(0.2):
                    conn.sendall(b"x")
            except OSError:
                return

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except OSError:
                return
            threading.Thread(target=serve, args=(conn,), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/cb"
    finally:
        stop.set()
        server.close()


@pytest.mark.parametrize("prefix", [HEAD, b"HTTP/1.1 200 OK\r\nX-Slow: "], ids=["body", "headers"])
def test_a_trickling_receiver_is_cut_at_the_attempt_limit(prefix: bytes) -> None:
    with trickler(prefix) as url:
        started = time.monotonic()
        with deadline.attempt(1.0):
            outcome = post(CONFIG, url, b"{}", {}, new_session(CONFIG))
        took = time.monotonic() - started
    assert not outcome.ok and outcome.retryable
    assert outcome.error == "the attempt ran past 1 s"
    assert 1.0 <= took < 2.0


def test_an_attempt_within_its_limit_is_not_cut() -> None:
    with trickler(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n") as url:
        with deadline.attempt(1.0):
            outcome = post(CONFIG, url, b"{}", {}, new_session(CONFIG))
        assert deadline.expired() is None
    assert outcome.ok, outcome
