"""Request limits over real HTTP: the real ``scheduler api`` process (gunicorn, and werkzeug's
development server with ``--dev-server``), raw sockets.

Head caps (request line 414, header lines 431) answer fast and the server goes on serving; body
caps count the bytes read, so chunked bodies (no Content-Length) and Content-Lengths that lie are
held to each dialect's cap, answered 413 in the dialect's own error shape; no error carries the
body back. Flask's test client would compute a Content-Length, hence raw sockets.
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.raw_http import (
    FAST_S,
    MARKER,
    Answer,
    exchange,
    healthy,
    request_head,
)
from tests.support import ProcessGroup, basic, free_port, now_ms, wait_until

# The real `scheduler api` process, started by the module fixture below.
pytestmark = pytest.mark.e2e


@dataclass
class ApiProcess:
    group: ProcessGroup
    port: int


# `scheduler api`'s flags of each server it can serve with; every test runs against each.
SERVERS = {"gunicorn": [], "werkzeug": ["--dev-server"]}


@pytest.fixture(scope="module", params=list(SERVERS))
def api(
    request: pytest.FixtureRequest, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ApiProcess]:
    """The real ``scheduler api`` process, with the caps, for the module (once per server)."""
    served = ApiProcess(ProcessGroup(redis_url, tmp_path_factory.mktemp("api")), free_port())
    argv = ["scheduler_cli.main", "api", *SERVERS[request.param]]
    served.group.start(argv, api_port=served.port, log_format="text")
    try:
        wait_until(lambda: healthy(served.port), timeout_s=30, what="scheduler api up")
        yield served
    finally:
        served.group.stop_all()


@pytest.fixture
def api_port(api: ApiProcess) -> int:
    return api.port


@pytest.fixture
def creds(clean_redis: str, tmp_path: Path) -> dict[str, str]:
    config = Config.from_env({}, redis_url=clean_redis, data_dir=str(tmp_path))
    store = Store.from_url(clean_redis, config.key_prefix)
    return create_account(store, "limits", secret_key=load_secret_key(config), now_ms=now_ms())


# --- request line and headers ----------------------------------------------------------------


def test_a_64_kb_query_string_is_a_fast_414_and_the_server_serves_on(api_port: int) -> None:
    for target in (
        "/1/jobs?" + "a" * 65_000,
        "/api/jobs?userkey=" + "k" * 60_000,
        "/" + "p" * 9000,
    ):
        answer = exchange(api_port, request_head("GET", target, {}))
        assert answer.status == 414, answer.head
        assert answer.seconds < FAST_S
    assert healthy(api_port)


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Big": "v" * 65_000},  # one 64 KB header
        {"Authorization": "Basic " + "A" * 65_000},
        {f"X-Part-{n}": "v" * 7000 for n in range(3)},  # each under the line cap, together over
        {f"X-Many-{n}": "v" for n in range(150)},  # more than 100 headers
    ],
    ids=["64 KB header", "64 KB Authorization", "headers over 16 KiB", "150 headers"],
)
def test_large_or_many_headers_are_a_fast_431(api_port: int, headers: dict[str, str]) -> None:
    answer = exchange(api_port, request_head("GET", "/1/jobs", headers))
    assert answer.status == 431, answer.head
    assert answer.seconds < FAST_S
    assert healthy(api_port)


def test_requests_inside_the_caps_are_served(api_port: int, creds: dict[str, str]) -> None:
    headers = {**basic(creds), "Accept": "application/json", "X-Pad": "v" * 7000}
    answer = exchange(api_port, request_head("GET", "/1/jobs?" + "a" * 8000, headers))
    assert answer.status == 200, answer.head


# --- bodies ------------------------------------------------------------------------------------

TASKS_API = "/api/v1/api.php?target=scheduler&action=addTask"


def dialect_posts(creds: dict[str, str]) -> list[tuple[str, dict[str, str], int]]:
    """(target, headers, cap) of one body-reading call per dialect."""
    auth = basic(creds)
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    return [
        ("/1/jobs", {**auth, "Content-Type": "application/json"}, 16 * 1024),
        ("/v4/schedules", {**auth, "Content-Type": "application/json"}, 256 * 1024),
        (TASKS_API, {**auth, "Content-Type": "application/json"}, 64 * 1024),
        (f"/api/jobs?action=create&userkey={creds['userkey']}", form, 1024 * 1024),
    ]


def error_text(target: str, answer: Answer) -> str:
    """The error message, read from the dialect's own error shape (which this checks)."""
    doc = answer.json()
    assert isinstance(doc, dict), doc
    if target.startswith("/v4/"):
        assert doc["error"]["code"] == 28100
        return str(doc["error"]["message"])
    if target.startswith("/api/v1/"):
        assert doc["success"] == 0
        return str(doc["message"])
    return str(doc["error"])


def test_chunked_bodies_over_each_dialects_cap_are_413_in_its_shape(
    api_port: int, creds: dict[str, str]
) -> None:
    for target, headers, cap in dialect_posts(creds):
        chunk = (MARKER * 2048)[:16_384].encode()
        chunks = [chunk] * (cap // len(chunk) + 2)
        head = request_head("POST", target, {**headers, "Transfer-Encoding": "chunked"})
        answer = exchange(api_port, head, chunks)
        assert answer.status == 413, (target, answer.head, answer.body[:300])
        assert f"larger than {cap} bytes" in error_text(target, answer)
        assert MARKER.encode() not in answer.body
        assert answer.seconds < FAST_S * 2


def test_an_endless_chunked_body_is_refused_while_it_is_still_coming(
    api_port: int, creds: dict[str, str]
) -> None:
    """The server reads a bounded amount and answers: it never waits for the body's end."""
    most = 64 * 1024 * 1024
    for target, headers, _cap in dialect_posts(creds):
        sent = [0]
        sock = socket.create_connection(("127.0.0.1", api_port), timeout=30)

        def stream(sock: socket.socket = sock, sent: list[int] = sent) -> None:
            frame = b"%x\r\n%s\r\n" % (65536, b"x" * 65536)
            with contextlib.suppress(OSError):
                while sent[0] < most:
                    sock.sendall(frame)
                    sent[0] += len(frame)

        head = request_head("POST", target, {**headers, "Transfer-Encoding": "chunked"})
        sock.sendall(head)
        sender = threading.Thread(target=stream, daemon=True)
        sender.start()
        with sock:
            status_line = sock.makefile("rb").readline()
            sent_by_then = sent[0]
        sender.join(timeout=30)
        assert status_line.startswith(b"HTTP/1.1 413"), (target, status_line)
        assert sent_by_then < most // 4, (target, sent_by_then)


def test_a_content_length_over_the_cap_is_refused_before_the_body_comes(
    api_port: int, creds: dict[str, str]
) -> None:
    for target, headers, _cap in dialect_posts(creds):
        head = request_head("POST", target, {**headers, "Content-Length": str(10**12)})
        answer = exchange(api_port, head)  # no body is ever sent
        assert answer.status == 413, (target, answer.head)
        assert answer.seconds < FAST_S
        error_text(target, answer)


def test_only_content_length_bytes_are_read_and_a_short_body_is_a_400(
    api_port: int, creds: dict[str, str]
) -> None:
    target, headers, _ = dialect_posts(creds)[0]
    # Content-Length says 10 of these 20 KB: the 10 are read (not valid JSON), never the rest.
    head = request_head("POST", target, {**headers, "Content-Length": "10"})
    answer = exchange(api_port, head, b'{"url": "' + b"x" * 20_000)
    assert answer.status == 400, answer.head
    assert "not valid JSON" in error_text(target, answer)
    # Content-Length says more than comes: the client stops sending, the read ends in a 400.
    sock = socket.create_connection(("127.0.0.1", api_port), timeout=30)
    with sock:
        sock.sendall(request_head("POST", target, {**headers, "Content-Length": "5000"}) + b"{")
        sock.shutdown(socket.SHUT_WR)
        reply = sock.recv(65536)
    assert reply.startswith(b"HTTP/1.1 400"), reply[:200]


def test_broken_chunked_framing_is_a_400_not_a_500(api_port: int, creds: dict[str, str]) -> None:
    for target, headers, _cap in dialect_posts(creds):
        head = request_head("POST", target, {**headers, "Transfer-Encoding": "chunked"})
        answer = exchange(api_port, head, b"zz\r\nnot a chunk\r\n")
        assert answer.status == 400, (target, answer.head, answer.body[:300])
        error_text(target, answer)


def test_chunked_bodies_within_the_cap_are_read(api_port: int, creds: dict[str, str]) -> None:
    job = {"url": "http://127.0.0.1:9/hook", "when": "2099-01-01T00:00:00Z", "data": "x" * 2000}
    raw = json.dumps(job).encode()
    target, headers, _ = dialect_posts(creds)[0]
    head = request_head("POST", target, {**headers, "Transfer-Encoding": "chunked"})
    answer = exchange(api_port, head, [raw[i : i + 7] for i in range(0, len(raw), 7)])
    assert answer.status == 200, (answer.head, answer.body[:300])
    target, headers, _ = dialect_posts(creds)[3]
    head = request_head("POST", target, {**headers, "Transfer-Encoding": "chunked"})
    answer = exchange(api_port, head, [b"name=chunked&", b"beacon_name=box-1"])
    assert answer.status == 200, (answer.head, answer.body[:300])
    assert answer.json()["name"] == "chunked"  # type: ignore[index]


def test_errors_never_carry_the_body_back(api_port: int, creds: dict[str, str]) -> None:
    value = MARKER + "z" * 3000
    auth = basic(creds)
    as_json = {**auth, "Content-Type": "application/json"}
    cases = [
        ("/1/jobs", as_json, json.dumps({"url": value})),
        ("/1/jobs", as_json, json.dumps({value: 1})),
        ("/1/jobs", as_json, "{" + value),
        ("/1/jobs", {**auth, "Content-Type": "text/xml"}, f"<{value}/>"),
        ("/1/jobs", {**auth, "Content-Type": "text/xml"}, f'<!DOCTYPE job SYSTEM "{value}"><job/>'),
        ("/1/jobs", {**auth, "Content-Type": "text/plain"}, value),
        ("/1/jobs", {**auth, "Content-Type": "application/json", "Accept": "text/plain"}, value),
        ("/v4/schedules", as_json, json.dumps({"name": value, "enabled": True})),
        ("/v4/schedules", as_json, value),
        (TASKS_API, as_json, json.dumps({"name": value, "class_name": value})),
        (TASKS_API, as_json, value),
        (
            f"/api/jobs?action=create&userkey={creds['userkey']}",
            {"Content-Type": "application/x-www-form-urlencoded"},
            f"{value}=1&tasks={value}",
        ),
    ]
    for target, headers, text in cases:
        data = text.encode()
        head = request_head("POST", target, {**headers, "Content-Length": str(len(data))})
        answer = exchange(api_port, head, data)
        assert 400 <= answer.status < 500, (target, answer.head, answer.body[:300])
        assert "z" * 100 not in answer.body.decode(errors="replace"), (target, answer.body[:300])
        assert len(answer.body) < 2000, (target, len(answer.body))


def test_integers_past_4300_digits_are_a_400_in_every_dialect(
    api_port: int, creds: dict[str, str]
) -> None:
    digits = "9" * 5000  # Python's int() refuses these with a ValueError
    auth = basic(creds)
    as_json = {**auth, "Content-Type": "application/json"}
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    beacon = f"/api/jobs/1?action=end&userkey={creds['userkey']}"
    cases = [
        ("/1/jobs", as_json, f'{{"url": {digits}}}'),
        ("/1/jobs", as_json, f'{{"url": {digits},}}'),  # the trailing-comma reading too
        ("/v4/schedules", as_json, f'{{"name": {digits}}}'),
        (TASKS_API, as_json, f'{{"user_id": {digits}}}'),
        (beacon, form, f"result[]={digits}"),
        (f"/api/jobs?userkey={creds['userkey']}&result={digits}", form, ""),
        ("/1/jobs/" + digits + "/https%3A%2F%2Fexample.com", auth, ""),
    ]
    for target, headers, text in cases:
        data = text.encode()
        method = "GET" if target.startswith("/api/jobs?") else "POST"
        head = request_head(method, target, {**headers, "Content-Length": str(len(data))})
        answer = exchange(api_port, head, data)
        assert answer.status == 400, (target[:40], answer.head, answer.body[:300])
        error_text(target, answer)


def test_dashboard_forms_are_capped(api_port: int) -> None:
    head = request_head(
        "POST",
        "/dashboard/login",
        {"Content-Type": "application/x-www-form-urlencoded", "Transfer-Encoding": "chunked"},
    )
    answer = exchange(api_port, head, [b"appkey=" + b"a" * 16_384] * 4)
    assert answer.status == 413, answer.head


def test_the_beacon_form_counts_multipart_parts(api_port: int, creds: dict[str, str]) -> None:
    boundary = "b0undary"
    part = f'--{boundary}\r\nContent-Disposition: form-data; name="result[]"\r\n\r\n1\r\n'
    data = (part * 1200 + f"--{boundary}--\r\n").encode()
    headers = {"Content-Type": f"multipart/form-data; boundary={boundary}"}
    target = f"/api/jobs/1?action=end&userkey={creds['userkey']}"
    head = request_head("POST", target, {**headers, "Content-Length": str(len(data))})
    answer = exchange(api_port, head, data)
    assert answer.status == 413, (answer.head, answer.body[:300])
    assert "parts" in error_text(target, answer)


def test_no_refusal_here_was_a_server_error(api: ApiProcess) -> None:
    """Runs last: every refusal above was an answer, none an exception in the server's log."""
    assert healthy(api.port)
    logs = api.group.logs()
    assert "Traceback" not in logs and "Error on request" not in logs, logs[-3000:]
