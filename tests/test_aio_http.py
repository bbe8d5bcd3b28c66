"""The webhooks pool's client (workers.aio_http over workers.h1) keeps the rules of workers.http.

Real servers on loopback only: tests.support's HttpReceiver, the https servers of
test_pinned_http, and a scripted one here that answers each request with given bytes (to check
framing: chunked, cut short, interim answers, read time-outs, kept-alive connections). The fake
resolver of test_pinned_http scripts what a hostile DNS server would say.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from shared.config import Config
from tests.support import HttpReceiver, wait_until
from tests.test_pinned_http import (
    LOOPBACK,
    FakeDns,
    dns,  # noqa: F401 (the fixture)
    https_server,
    needs_openssl,
    port_of,
    serving,
)
from workers import aio_http, event_loop
from workers.runner import Outcome


def make_config(allowlist: tuple[str, ...] = LOOPBACK, **overrides: Any) -> Config:
    settings = {"http_connect_timeout_s": 2.0, "http_read_timeout_s": 5.0, **overrides}
    return Config.from_env({}, target_allowlist=allowlist, **settings)


Answer = bytes | Callable[[socket.socket], None]  # bytes to send, or what to do instead


def post(
    config: Config, url: str, body: bytes = b"", headers: dict[str, str] | None = None
) -> Outcome:
    """One call on the delivery loop, with a fresh pool of connections."""
    return call_with(aio_http.new_session(config), config, url, body, headers)


def call_with(
    session: aio_http.Session,
    config: Config,
    url: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> Outcome:
    coroutine = aio_http.post(config, url, body, headers or {}, session)
    return event_loop.run(coroutine, timeout_s=30)


@dataclass
class Scripted:
    """A server that answers the n-th request with ``answers[n]`` (the last repeats) on the
    same connection, counting connections and keeping each request's bytes."""

    answers: list[Answer]
    requests: list[bytes] = field(default_factory=list)
    connections: int = 0
    port: int = 0

    def serve(self, listener: socket.socket) -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            while (request := _read_request(conn)) is not None:
                self.requests.append(request)
                answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
                if callable(answer):
                    answer(conn)
                    return
                conn.sendall(answer)


def _read_request(conn: socket.socket) -> bytes | None:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return None
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next((int(x.split(b":")[1]) for x in lines if x.startswith(b"content-length:")), 0)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@contextmanager
def scripted(*answers: Answer) -> Iterator[Scripted]:
    server = Scripted(list(answers))
    with socket.create_server(("127.0.0.1", 0)) as listener:
        server.port = listener.getsockname()[1]
        threading.Thread(target=server.serve, args=(listener,), daemon=True).start()
        yield server


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
CHUNKED = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n3\r\ncde\r\n0\r\n\r\n"


def test_the_connection_uses_the_checked_address_not_a_second_lookup(dns: FakeDns) -> None:  # noqa: F811
    dns.answers["pinned.test"] = [["127.0.0.1"], []]
    with HttpReceiver() as receiver:
        port = port_of(receiver)
        outcome = post(make_config(), f"http://pinned.test:{port}/x?a=1", b"hi", {"X-A": "1"})
        assert outcome.ok, outcome.error
        assert dns.lookups == ["pinned.test"]  # resolved once, by the check
        [request] = receiver.requests
        assert request.path == "/x?a=1"
        assert request.headers["Host"] == f"pinned.test:{port}"
        assert request.headers["X-A"] == "1"
        assert request.headers["Accept-Encoding"] == "identity"
        assert request.body == b"hi"


def test_a_forbidden_address_is_refused_before_any_connection(dns: FakeDns) -> None:  # noqa: F811
    dns.answers["evil.test"] = [["93.184.215.14", "127.0.0.1"]]
    with HttpReceiver() as receiver:
        outcome = post(make_config(allowlist=()), f"http://evil.test:{port_of(receiver)}/x")
        assert not outcome.ok and not outcome.retryable
        assert "127.0.0.1" in (outcome.error or "")
        assert receiver.count() == 0


def test_the_next_address_is_tried_only_when_the_connection_is_refused(dns: FakeDns) -> None:  # noqa: F811
    dns.answers["dual.test"] = [["127.0.0.2", "127.0.0.1"]]
    with HttpReceiver() as receiver:
        outcome = post(make_config(), f"http://dual.test:{port_of(receiver)}/")
        assert outcome.ok, outcome.error
        assert receiver.count() == 1


def test_no_other_address_is_tried_once_a_connection_was_made(dns: FakeDns) -> None:  # noqa: F811
    # 127.0.0.2 reads the request and hangs up: it may have arrived, so 127.0.0.1 (a receiver
    # on the same port) must not get it too. The attempt fails, to be retried later.
    dns.answers["dual.test"] = [["127.0.0.2", "127.0.0.1"]]
    with HttpReceiver() as receiver, socket.create_server(("127.0.0.2", port_of(receiver))) as hang:

        def hang_up() -> None:
            conn, _ = hang.accept()
            conn.recv(65536)
            conn.close()

        threading.Thread(target=hang_up, daemon=True).start()
        outcome = post(make_config(), f"http://dual.test:{port_of(receiver)}/")
        assert not outcome.ok and outcome.retryable
        assert outcome.error == (
            "ConnectionError: the receiver closed the connection without a whole answer"
        )
        assert receiver.count() == 0


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_not_followed(status: int) -> None:
    with HttpReceiver() as internal:
        location = f"http://127.0.0.1:{port_of(internal)}/admin"
        with HttpReceiver(statuses=[status], headers={"Location": location}) as callback:
            outcome = post(make_config(), callback.url + "/hook")
            assert outcome.error == f"HTTP {status}" and not outcome.retryable
            assert callback.count() == 1
        assert internal.count() == 0


def test_the_body_read_stops_at_the_cap() -> None:
    with serving(body=b"x" * 200_000) as (port, _):
        outcome = post(make_config(response_body_cap_bytes=1000), f"http://127.0.0.1:{port}/")
    assert outcome.ok, outcome.error
    assert outcome.result["body"] == "x" * 1000


def test_a_kept_alive_connection_carries_the_next_calls() -> None:
    with scripted(OK) as server:
        config = make_config()
        session = aio_http.new_session(config)
        url = f"http://127.0.0.1:{server.port}"
        outcomes = [call_with(session, config, f"{url}/{n}") for n in range(3)]
        assert all(o.ok for o in outcomes), outcomes
        assert [r.split(b" ")[1] for r in server.requests] == [b"/0", b"/1", b"/2"]
        assert server.connections == 1


def test_a_connection_the_receiver_closed_while_idle_is_not_reused() -> None:
    def answer_then_close(conn: socket.socket) -> None:
        conn.sendall(OK)  # kept alive by its framing, then closed by the receiver

    with scripted(answer_then_close) as server:
        config = make_config()
        session = aio_http.new_session(config)
        url = f"http://127.0.0.1:{server.port}/"
        assert call_with(session, config, url).ok
        wait_until(
            lambda: not any(c.usable for kept in session._idle.values() for c in kept),
            what="the client to see the receiver's close",
        )
        outcome = call_with(session, config, url)
        assert outcome.ok, outcome.error
        assert server.connections == 2


def test_an_answer_cut_at_the_cap_is_never_reused() -> None:
    big = b"HTTP/1.1 200 OK\r\nContent-Length: 5000\r\n\r\n" + b"y" * 5000
    with scripted(big) as server:
        config = make_config(response_body_cap_bytes=100)
        session = aio_http.new_session(config)
        for _ in range(2):
            outcome = call_with(session, config, f"http://127.0.0.1:{server.port}/")
            assert outcome.ok and outcome.result["body"] == "y" * 100
        assert server.connections == 2  # the unread rest would be read as the next answer


@pytest.mark.parametrize(
    ("answer", "body"),
    [
        (CHUNKED, "abcde"),
        (b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "ok"),
        (b"HTTP/1.1 204 No Content\r\n\r\n", ""),
    ],
)  # fmt: skip
def test_framed_answers_are_read_whole(answer: bytes, body: str) -> None:
    with scripted(answer) as server:
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/")
    assert outcome.ok, outcome.error
    assert outcome.result["body"] == body


def test_an_answer_read_until_the_close() -> None:
    def answer_and_close(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.0 200 OK\r\n\r\nall of it")

    with scripted(answer_and_close) as server:
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/")
    assert outcome.ok and outcome.result["body"] == "all of it"


def test_an_answer_cut_short_fails_retryable() -> None:
    def cut(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this")

    with scripted(cut) as server:
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/")
    assert not outcome.ok and outcome.retryable
    assert outcome.error == "ConnectionError: the answer was cut short"


def test_an_answer_that_is_not_http_fails_retryable() -> None:
    with scripted(b"SSH-2.0-OpenSSH\r\n") as server:
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/")
    assert not outcome.ok and outcome.retryable
    assert (outcome.error or "").startswith("ConnectionError: the answer is not HTTP")


def test_a_status_and_retry_after_are_read() -> None:
    answer = b"HTTP/1.1 503 Busy\r\nRetry-After: 7\r\nContent-Length: 4\r\n\r\nbusy"
    with scripted(answer) as server:
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/")
    assert not outcome.ok and outcome.retryable and outcome.error == "HTTP 503"
    assert outcome.retry_after_s == 7
    assert outcome.result["status"] == 503 and outcome.result["body"] == "busy"


def test_a_silent_receiver_is_cut_at_the_read_timeout() -> None:
    with scripted(lambda conn: time.sleep(10)) as server:
        config = make_config(http_read_timeout_s=0.5)
        outcome = post(config, f"http://127.0.0.1:{server.port}/")
    assert not outcome.ok and outcome.retryable
    assert outcome.error == "ReadTimeout: no data for 0.5 s"


def test_a_trickling_receiver_is_cut_at_the_attempt_limit() -> None:
    def trickle(conn: socket.socket) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n")
        with contextlib.suppress(OSError):  # until the client hangs up
            for _ in range(100):  # a byte every 0.2 s: never quiet for the read timeout (5 s)
                time.sleep(0.2)
                conn.sendall(b"x")

    with scripted(trickle) as server:
        config = make_config(attempt_time_limit_s=2.0)  # its read timeout: 5 s
        started = time.monotonic()
        outcome = post(config, f"http://127.0.0.1:{server.port}/")
    assert outcome.error == "the attempt ran past 2 s" and outcome.retryable
    assert time.monotonic() - started < 10


@pytest.mark.parametrize(
    "headers",
    [{"X-Evil": "a\r\nX-Injected: 1"}, {"X-Evil": "a\nb"}, {"Bad Name": "1"}, {"X-Nul": "a\x00"}],
)
def test_a_header_that_would_split_the_request_is_refused_unsent(headers: dict[str, str]) -> None:
    with scripted(OK) as server:
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/", b"", headers)
    assert not outcome.ok and not outcome.retryable
    assert server.requests == []


def test_framing_headers_given_are_not_sent() -> None:
    with scripted(OK) as server:
        headers = {"Content-Length": "999", "Transfer-Encoding": "chunked", "Host": "else.test"}
        outcome = post(make_config(), f"http://127.0.0.1:{server.port}/", b"abc", headers)
    assert outcome.ok, outcome.error
    [request] = server.requests
    lines = request.split(b"\r\n\r\n")[0].lower().split(b"\r\n")
    assert b"content-length: 3" in lines and b"transfer-encoding: chunked" not in lines
    assert [line for line in lines if line.startswith(b"host:")] == [
        f"host: 127.0.0.1:{server.port}".encode()
    ]


def test_no_connection_within_the_connect_timeout() -> None:
    # https to a server that accepts and never answers the TLS handshake: no connection is
    # made (nothing was sent), so it is the connect timeout that ends the call.
    with scripted(OK) as server:
        outcome = post(make_config(http_connect_timeout_s=0.5), f"https://127.0.0.1:{server.port}/")
    assert not outcome.ok and outcome.retryable
    assert outcome.error == "ConnectTimeout: no connection within 0.5 s"
    assert server.requests == []


@needs_openssl
def test_https_uses_the_name_for_sni_and_verification(
    dns: FakeDns,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    dns.answers["pinned.test"] = [["127.0.0.1"], []]
    with https_server(tmp_path, "DNS:pinned.test") as (port, cert, sni, seen):
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the standard library's trust store
        outcome = post(make_config(), f"https://pinned.test:{port}/x")
        assert outcome.ok, outcome.error
        assert dns.lookups == ["pinned.test"]
        assert sni == ["pinned.test"]
        assert [h["Host"] for h in seen] == [f"pinned.test:{port}"]


@needs_openssl
@pytest.mark.parametrize("subject_alt_name", ["DNS:other.test", "IP:127.0.0.1"])
def test_https_refuses_a_certificate_for_another_name(
    dns: FakeDns,  # noqa: F811
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    subject_alt_name: str,
) -> None:
    dns.answers["pinned.test"] = [["127.0.0.1"], []]
    with https_server(tmp_path, subject_alt_name) as (port, cert, _, seen):
        monkeypatch.setenv("SSL_CERT_FILE", str(cert))
        outcome = post(make_config(), f"https://pinned.test:{port}/x")
        assert not outcome.ok and outcome.retryable
        assert "SSLError" in (outcome.error or "") and "pinned.test" in (outcome.error or "")
        assert seen == []  # no request was sent over the unverified connection
