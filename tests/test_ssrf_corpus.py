"""The SSRF corpus (tests/ssrf_corpus.py) at create time and at connect time.

Create time: through the real /1/jobs API, both create routes (a JSON document and the path
shortcut ``/1/jobs/<when>/<callback>``), with no allowlist and with ``127.0.0.0/8``.

Connect time: through ``workers.http.post``, the push gateway call and an HTTP-mapped task class,
against a real receiver on 127.0.0.1: a request arrives only for a loopback spelling that the
allowlist admits, and then it does arrive (so the test can fail in both directions).

Names are answered by a scripted resolver (``DNS`` in the corpus); any other name does not
resolve and nothing is ever looked up on the network. Each test walks the whole corpus and lists
every spelling that got the wrong answer.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import json
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import pytest
import requests
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.ssrf_corpus import BLOCKED, CORPUS, DNS, LOOPBACK, MALFORMED, PUBLIC, Case, spelled
from tests.support import HttpReceiver, basic, now_ms
from workers.http import post

LOOPBACK_ONLY = ("127.0.0.0/8",)
ALLOWLISTS = pytest.mark.parametrize("allowlist", [(), LOOPBACK_ONLY], ids=["none", "loopback"])
pytestmark = pytest.mark.timeout(60)


def test_the_corpus_is_large_and_covers_every_verdict() -> None:
    assert len(CORPUS) >= 150
    assert len({case.url for case in CORPUS}) == len(CORPUS)
    assert {case.verdict for case in CORPUS} == {MALFORMED, BLOCKED, LOOPBACK, PUBLIC}


@pytest.fixture(autouse=True)
def scripted_dns(monkeypatch: pytest.MonkeyPatch) -> None:
    """Names in ``DNS`` get their scripted answers; anything else is only parsed as a numeric
    address (``AI_NUMERICHOST``), never looked up, so no test traffic leaves the machine."""
    real = socket.getaddrinfo

    def getaddrinfo(host: Any, port: Any, family: int = 0, type: int = 0, proto: int = 0,
                    flags: int = 0) -> Any:  # fmt: skip
        name = host.decode() if isinstance(host, bytes) else host
        if name in DNS:
            port = int(port or 0)
            return [
                (socket.AF_INET6, socket.SOCK_STREAM, 6, "", (a, port, 0, 0))
                if ":" in a
                else (socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port))
                for a in DNS[name]
            ]
        return real(host, port, family, type, proto, flags | socket.AI_NUMERICHOST)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


@pytest.fixture
def connections(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every address a socket tries to connect to. Only 127.0.0.1 is let through: should the
    rules ever let something else by, the test fails without sending anything off the machine."""
    tried: list[str] = []
    real = socket.socket.connect

    def connect(sock: socket.socket, address: Any) -> None:
        tried.append(str(address[0]))
        if address[0] != "127.0.0.1":
            raise ConnectionRefusedError(f"test: no connection to {address[0]}")
        real(sock, address)

    monkeypatch.setattr(socket.socket, "connect", connect)
    return tried


def expected_to_pass(case: Case, allowlist: tuple[str, ...]) -> bool:
    return case.verdict == PUBLIC or (case.verdict == LOOPBACK and allowlist == LOOPBACK_ONLY)


# --- create time -------------------------------------------------------------------------------


@pytest.fixture
def account(store: Store, config: Config) -> dict[str, str]:
    return create_account(store, "example", secret_key=load_secret_key(config), now_ms=now_ms())


def api_with(config: Config, allowlist: tuple[str, ...]) -> FlaskClient:
    return create_app(dataclasses.replace(config, target_allowlist=allowlist)).test_client()


def future() -> str:
    return (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")


def create_by_document(api: FlaskClient, auth: dict[str, str], url: str) -> Any:
    body = json.dumps({"url": url, "when": future()})
    headers = {**auth, "Content-Type": "application/json", "Accept": "application/json"}
    return api.post("/1/jobs", data=body, headers=headers)


def create_by_path(api: FlaskClient, auth: dict[str, str], url: str) -> Any:
    path = f"/1/jobs/{quote(future(), safe='')}/{quote(url, safe='')}"
    # the raw path, as gunicorn and werkzeug's server hand it over (decoded once, by the app)
    return api.post(path, headers={**auth, "Accept": "application/json"},
                    environ_base={"RAW_URI": path})  # fmt: skip


def fits_a_path(url: str) -> bool:
    """Whether ``url`` can be the last segment of a request path at all: not empty (that is
    another route), no line breaks (the router's path segments end there), valid UTF-8."""
    try:
        url.encode()
    except UnicodeEncodeError:
        return False
    return bool(url) and "\n" not in url and "\r" not in url


@ALLOWLISTS
@pytest.mark.parametrize("route", [create_by_document, create_by_path], ids=["document", "path"])
def test_every_spelling_gets_its_verdict_at_create_time(
    config: Config,
    account: dict[str, str],
    allowlist: tuple[str, ...],
    route: Callable[[FlaskClient, dict[str, str], str], Any],
) -> None:
    api, auth, port = api_with(config, allowlist), basic(account), 8080
    wrong = []
    for case in CORPUS:
        url = spelled(case, port)
        if route is create_by_path and not fits_a_path(url):
            continue
        try:
            answer = route(api, auth, url)
        except Exception as exc:  # the test client re-raises what would be a 500
            wrong.append(f"{case.verdict} {url!r} ({case.why}): raised {exc!r}")
            continue
        error = (answer.get_json(silent=True) or {}).get("error", "")
        if expected_to_pass(case, allowlist):
            ok = answer.status_code == 200
        else:
            ok = answer.status_code == 400 and "url: " in error  # the field, named
        if not ok:
            wrong.append(f"{case.verdict} {url!r} ({case.why}): {answer.status_code} {error}")
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong)


# --- connect time ------------------------------------------------------------------------------

Deliver = Callable[[Config, str, requests.Session], tuple[bool, str]]


def deliver_by_post(config: Config, url: str, session: requests.Session) -> tuple[bool, str]:
    outcome = post(config, url, b'{"x":1}', {"Content-Type": "application/json"}, session)
    return outcome.ok, outcome.error or ""


def deliver_by_push_gateway(
    config: Config, url: str, session: requests.Session
) -> tuple[bool, str]:
    import workers.push

    previous = workers.push.config
    workers.push.config = dataclasses.replace(config, push_gateway_url=url)
    try:
        outcome = workers.push.send({"to": "all"}, ("key", "secret"))
    finally:
        workers.push.config = previous
    return outcome.ok, outcome.error or ""


def deliver_by_task_class(config: Config, url: str, session: requests.Session) -> tuple[bool, str]:
    from shared.task_classes import TaskContext, TaskFailed
    from workers.task_classes import HttpTask

    ctx = TaskContext(config, cast(Store, None), "acct", "1", "n", "\\App\\T", {"a": 1}, "e:1")
    try:
        HttpTask(url).run(ctx)
    except TaskFailed as exc:
        return False, str(exc)
    return True, ""


@pytest.fixture
def gateway_like_receiver() -> Iterator[HttpReceiver]:
    """Answers what a push gateway answers, so the push path counts a delivery as ok."""
    with HttpReceiver(answer=b'{"msg_id":"m1"}') as receiver:
        yield receiver


@ALLOWLISTS
@pytest.mark.parametrize(
    "deliver",
    [deliver_by_post, deliver_by_push_gateway, deliver_by_task_class],
    ids=["post", "push-gateway", "task-class"],
)
def test_nothing_reaches_the_receiver_unless_the_allowlist_admits_it(
    gateway_like_receiver: HttpReceiver,
    connections: list[str],
    redis_url: str,
    monkeypatch: pytest.MonkeyPatch,
    allowlist: tuple[str, ...],
    deliver: Deliver,
) -> None:
    monkeypatch.setenv("REDIS_URL", redis_url)  # workers.push builds the Celery app on import
    receiver = gateway_like_receiver
    port = int(receiver.url.rsplit(":", 1)[1])
    config = Config.from_env(
        {}, target_allowlist=allowlist, http_connect_timeout_s=1.0, http_read_timeout_s=2.0
    )
    wrong = []
    with requests.Session() as session:
        for case in CORPUS:
            if case.verdict == PUBLIC:
                continue  # never connect outside this machine
            url = spelled(case, port)
            before, tried_before = receiver.count(), len(connections)
            try:
                ok, error = deliver(config, url, session)
            except Exception as exc:  # a crash in the delivering process is a failure too
                ok, error = False, f"raised {exc!r}"
            arrived = receiver.count() - before
            elsewhere = [a for a in connections[tried_before:] if a != "127.0.0.1"]
            if expected_to_pass(case, allowlist):
                right = ok and arrived == 1
            else:
                right = not ok and arrived == 0 and "url: " in error
            if elsewhere:
                right, error = False, f"tried to connect to {elsewhere}; {error}"
            if not right:
                wrong.append(f"{case.verdict} {url!r} ({case.why}): {arrived} arrived, {error}")
    assert not wrong, f"{len(wrong)} wrong:\n" + "\n".join(wrong)


def test_an_unresolvable_name_is_a_clear_error_at_connect_time() -> None:
    with requests.Session() as session:
        ok, error = deliver_by_post(Config(), "http://no-such-host.test/hook", session)
    assert not ok
    assert error.startswith("url: host 'no-such-host.test' does not resolve")


def test_the_scripted_resolver_never_looks_up_a_real_name() -> None:
    with pytest.raises(socket.gaierror):
        socket.getaddrinfo("example.com", 80)
    [info] = socket.getaddrinfo("127.0.0.1", 80, type=socket.SOCK_STREAM)
    assert ipaddress.ip_address(info[4][0]).is_loopback
