"""Outbound calls connect to the addresses the check passed (DNS rebinding), and keep the rules.

Real servers on loopback only. A fake resolver answers for made-up names (``*.test``) and hands
every other lookup to the real one, so the test can script what a hostile DNS server would say.
"""

from __future__ import annotations

import ipaddress
import shutil
import socket
import ssl
import subprocess
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from shared.config import Config
from shared.netguard import UnsafeTarget, read_url
from tests.support import HttpReceiver
from workers.http import _refuse_unless_pinned, post

LOOPBACK = ("127.0.0.0/8",)


def make_config(allowlist: tuple[str, ...] = LOOPBACK, **overrides: Any) -> Config:
    return Config.from_env(
        {},
        target_allowlist=allowlist,
        http_connect_timeout_s=2.0,
        http_read_timeout_s=5.0,
        **overrides,
    )


class FakeDns:
    """Scripted answers for made-up names: one list of addresses per lookup, the last repeating;
    an empty list is "no such host". Every lookup of a scripted name is recorded."""

    def __init__(self) -> None:
        self.answers: dict[str, list[list[str]]] = {}
        self.lookups: list[str] = []
        self._real = socket.getaddrinfo

    def getaddrinfo(self, host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
        name = host.decode() if isinstance(host, bytes) else host
        if name not in self.answers:
            return self._real(host, port, *args, **kwargs)
        self.lookups.append(name)
        n = sum(1 for looked_up in self.lookups if looked_up == name)
        script = self.answers[name]
        addresses = script[min(n, len(script)) - 1]
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, int(port), 0, 0))
            if ":" in a
            else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port)))
            for a in addresses
        ]


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> FakeDns:
    fake = FakeDns()
    monkeypatch.setattr(socket, "getaddrinfo", fake.getaddrinfo)
    return fake


def port_of(receiver: HttpReceiver) -> int:
    port = urlsplit(receiver.url).port
    assert port is not None
    return port


def test_the_connection_uses_the_checked_address_not_a_second_lookup(dns: FakeDns) -> None:
    # The rebinding attack: the check's lookup gets an allowed address, any later lookup (the
    # one a client would make to connect) gets something else; here, no answer at all.
    dns.answers["pinned.test"] = [["127.0.0.1"], []]
    with HttpReceiver() as receiver, requests.Session() as session:
        port = port_of(receiver)
        outcome = post(make_config(), f"http://pinned.test:{port}/x", b"hi", {"X-A": "1"}, session)
        assert outcome.ok, outcome.error
        assert dns.lookups == ["pinned.test"]  # resolved once, by the check
        [request] = receiver.requests
        assert request.path == "/x"
        assert request.headers["Host"] == f"pinned.test:{port}"
        assert request.headers["X-A"] == "1"
        assert request.body == b"hi"


@pytest.mark.parametrize(
    "addresses",
    [["127.0.0.1"], ["93.184.215.14", "127.0.0.1"]],  # every address is checked, not the first
)
def test_a_forbidden_address_is_refused_before_any_connection(
    dns: FakeDns, addresses: list[str]
) -> None:
    dns.answers["evil.test"] = [addresses]
    with HttpReceiver() as receiver, requests.Session() as session:
        url = f"http://evil.test:{port_of(receiver)}/x"
        outcome = post(make_config(allowlist=()), url, b"", {}, session)
        assert not outcome.ok and not outcome.retryable
        assert "127.0.0.1" in (outcome.error or "")
        assert receiver.count() == 0


def test_the_next_address_is_tried_only_when_the_connection_is_refused(dns: FakeDns) -> None:
    # Nothing listens on 127.0.0.2 (the receiver is bound to 127.0.0.1 only): refused, so the
    # request was never sent and the next pinned address gets it.
    dns.answers["dual.test"] = [["127.0.0.2", "127.0.0.1"]]
    with HttpReceiver() as receiver, requests.Session() as session:
        outcome = post(make_config(), f"http://dual.test:{port_of(receiver)}/", b"", {}, session)
        assert outcome.ok, outcome.error
        assert receiver.count() == 1
        assert dns.lookups == ["dual.test"]


def test_no_other_address_is_tried_once_a_connection_was_made(dns: FakeDns) -> None:
    # 127.0.0.2 accepts and hangs up without answering: the request may have arrived, so trying
    # 127.0.0.1 next (where a receiver listens on the same port) could deliver it twice. The
    # attempt fails instead, to be retried later.
    dns.answers["dual.test"] = [["127.0.0.2", "127.0.0.1"]]
    with HttpReceiver() as receiver, requests.Session() as session:
        port = port_of(receiver)
        with socket.create_server(("127.0.0.2", port)) as listener:

            def hang_up() -> None:
                conn, _ = listener.accept()
                conn.recv(65536)
                conn.close()

            thread = threading.Thread(target=hang_up, daemon=True)
            thread.start()
            outcome = post(make_config(), f"http://dual.test:{port}/", b"", {}, session)
            thread.join(5)
        assert not outcome.ok and outcome.retryable
        assert "ConnectionError" in (outcome.error or "")
        assert receiver.count() == 0


def test_redirects_are_not_followed() -> None:
    with HttpReceiver(statuses=[302], headers={"Location": "/elsewhere"}) as receiver:
        with requests.Session() as session:
            outcome = post(make_config(), receiver.url + "/x", b"", {}, session)
        assert not outcome.ok and not outcome.retryable
        assert outcome.error == "HTTP 302"
        assert [r.path for r in receiver.requests] == ["/x"]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_to_a_loopback_address_is_not_followed(dns: FakeDns, status: int) -> None:
    # The callback is allowed (here, by an allowlist of 127.0.0.1); it answers with a redirect
    # to a loopback port where an internal service waits. Followed, it would arrive there.
    dns.answers["callback.test"] = [["127.0.0.1"]]
    with HttpReceiver() as internal:
        location = f"http://127.0.0.1:{port_of(internal)}/admin"
        with HttpReceiver(statuses=[status], headers={"Location": location}) as callback:
            with requests.Session() as session:
                url = f"http://callback.test:{port_of(callback)}/hook"
                outcome = post(make_config(("127.0.0.1/32",)), url, b"", {}, session)
            assert outcome.error == f"HTTP {status}"
            assert callback.count() == 1
        assert internal.count() == 0


def test_a_name_that_does_not_resolve_is_retried_later(dns: FakeDns) -> None:
    dns.answers["not-yet.test"] = [[]]
    with requests.Session() as session:
        outcome = post(make_config(), "http://not-yet.test/hook", b"", {}, session)
    assert not outcome.ok and outcome.retryable
    assert (outcome.error or "").startswith("url: host 'not-yet.test' does not resolve")


def test_a_prepared_request_that_would_go_elsewhere_is_refused() -> None:
    # A belt behind the one reading: if requests ever read the pinned URL differently, the
    # request is not sent.
    reading = read_url("http://93.184.215.14:8080/")
    tricked = requests.Request("POST", "http://127.0.0.1:8080@127.0.0.2:8080/").prepare()
    with pytest.raises(UnsafeTarget, match="^url: the request would go to 127.0.0.2:8080"):
        _refuse_unless_pinned(tricked, reading, ipaddress.ip_address("127.0.0.1"))


@contextmanager
def serving(
    body: bytes = b"ok", tls: ssl.SSLContext | None = None
) -> Iterator[tuple[int, list[dict[str, str]]]]:
    """A server on 127.0.0.1 answering 200 and ``body`` to every POST; yields its port and the
    headers of each request it got."""
    seen: list[dict[str, str]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            seen.append(dict(self.headers))
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    if tls is not None:
        server.socket = tls.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], seen
    finally:
        server.shutdown()
        server.server_close()


def test_the_body_read_stops_at_the_cap() -> None:
    with serving(body=b"x" * 200_000) as (port, _), requests.Session() as session:
        config = make_config(response_body_cap_bytes=1000)
        outcome = post(config, f"http://127.0.0.1:{port}/", b"", {}, session)
    assert outcome.ok, outcome.error
    assert outcome.result["body"] == "x" * 1000


# https: a self-signed certificate made by the openssl command line tool (no Python package is
# added for it); the client trusts exactly that certificate.

needs_openssl = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs openssl")


def self_signed(folder: Path, subject_alt_name: str) -> tuple[Path, Path]:
    cert, key = folder / "cert.pem", folder / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", "/CN=test",
         "-addext", f"subjectAltName={subject_alt_name}"],
        check=True, capture_output=True, timeout=30,
    )  # fmt: skip
    return cert, key


@contextmanager
def https_server(
    folder: Path, subject_alt_name: str
) -> Iterator[tuple[int, Path, list[str | None], list[dict[str, str]]]]:
    """Yields the port, the certificate to trust, the SNI names and the requests' headers."""
    cert, key = self_signed(folder, subject_alt_name)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert, key)
    sni: list[str | None] = []

    def record_sni(_sock: ssl.SSLObject, name: str | None, _ctx: ssl.SSLContext) -> None:
        sni.append(name)

    tls.sni_callback = record_sni
    with serving(tls=tls) as (port, seen):
        yield port, cert, sni, seen


@needs_openssl
def test_https_to_a_pinned_address_uses_the_name_for_sni_and_verification(
    dns: FakeDns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dns.answers["pinned.test"] = [["127.0.0.1"], []]
    with https_server(tmp_path, "DNS:pinned.test") as (port, cert, sni, seen):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # wins over Session.verify
        with requests.Session() as session:
            outcome = post(make_config(), f"https://pinned.test:{port}/x", b"", {}, session)
        assert outcome.ok, outcome.error
        assert dns.lookups == ["pinned.test"]
        assert sni == ["pinned.test"]
        assert [h["Host"] for h in seen] == [f"pinned.test:{port}"]


@needs_openssl
@pytest.mark.parametrize(
    "subject_alt_name",
    [
        "DNS:other.test",
        # valid for the pinned IP but not for the host: verifying against the IP would pass
        "IP:127.0.0.1",
    ],
)
def test_https_to_a_pinned_address_refuses_a_certificate_for_another_name(
    dns: FakeDns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, subject_alt_name: str
) -> None:
    dns.answers["pinned.test"] = [["127.0.0.1"], []]
    with https_server(tmp_path, subject_alt_name) as (port, cert, _, seen):
        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(cert))  # wins over Session.verify
        with requests.Session() as session:
            outcome = post(make_config(), f"https://pinned.test:{port}/x", b"", {}, session)
        assert not outcome.ok
        assert "SSLError" in (outcome.error or "")
        assert "pinned.test" in (outcome.error or "")
        assert seen == []  # no request was sent over the unverified connection
