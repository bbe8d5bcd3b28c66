"""Helpers for tests against real processes: waiting on conditions, processes, HTTP receivers."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import ThreadingHTTPServer
from pathlib import Path
from typing import Any, TypeVar

import redis
from flask.testing import FlaskClient

from scheduler_api.serving import CappedHead, capped_server
from shared.config import Config
from shared.store import Store
from shared.timing import now_ms

T = TypeVar("T")
ROOT = Path(__file__).resolve().parent.parent


def wait_until(predicate: Callable[[], T], timeout_s: float = 40.0, what: str = "") -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what or predicate}")
        time.sleep(0.02)


# Config overrides that turn every rate limit off: tests send requests far faster than a client
# may (tests/test_rate_limits.py turns them on with small numbers).
UNLIMITED: dict[str, Any] = {
    "rate_limit_per_account": "",
    "rate_limit_per_address": "",
    "auth_failures_per_address": "",
    "auth_failures_per_appkey": "",
}


def fresh_api_config(redis_url: str, workdir: Path, **settings: Any) -> Config:
    """Settings of an API under test on an emptied Redis database: callbacks to loopback allowed,
    no rate limits, ``settings`` (``Config`` fields) on top."""
    redis.Redis.from_url(redis_url).flushdb()
    return Config.from_env(
        {},
        redis_url=redis_url,
        data_dir=str(workdir),
        target_allowlist=("127.0.0.0/8",),
        **{**UNLIMITED, **settings},
    )


def basic(creds: dict[str, str]) -> dict[str, str]:
    """The HTTP Basic header of an account's ``appkey:master_secret``."""
    token = base64.b64encode(f"{creds['appkey']}:{creds['master_secret']}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


HOOK = {"webhook": {"url": "http://127.0.0.1:9/hook", "body": {"hello": "world"}}}


def native_schedule(client: FlaskClient, auth: dict[str, str], **doc: Any) -> Any:
    """POST /v1/schedules: a nightly cron webhook schedule, with ``doc``'s fields over it."""
    body = {"name": "nightly", "trigger": {"cron": "0 3 * * *"}, "target": HOOK, **doc}
    return client.post("/v1/schedules", json=body, headers=auth)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "+00:00"


def queued_messages(redis_url: str, queue: str) -> list[dict[str, Any]]:
    """The Celery messages waiting in ``queue`` (kombu's Redis list), oldest first."""
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    return [json.loads(raw) for raw in reversed(client.lrange(queue, 0, -1))]


def published_messages(store: Store, queue: str) -> list[dict[str, Any]]:
    """The Celery messages ``store`` published for ``queue``, oldest first: kombu's list of it,
    or the store's outbox of it when the broker is apart (a cluster's always is)."""
    raws = store.redis.lrange(store.keys.publish_target(queue), 0, -1)
    return [json.loads(raw) for raw in reversed(raws)]


def queued_task_ids(redis_url: str, queue: str) -> list[str]:
    return [m["headers"]["id"] for m in queued_messages(redis_url, queue)]


class ProcessGroup:
    """Real beat / worker processes of this project, with test-sized timings."""

    def __init__(self, redis_url: str, workdir: Path) -> None:
        self.redis_url = redis_url
        self.workdir = workdir
        self.procs: list[subprocess.Popen[bytes]] = []

    def env(self, **settings: Any) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            REDIS_URL=self.redis_url,
            SCHEDULER_DATA_DIR=str(self.workdir),
            SCHEDULER_TARGET_ALLOWLIST="127.0.0.0/8",
            SCHEDULER_BEAT_MAX_SLEEP_S="1",
            PYTHONPATH=str(ROOT),
        )
        env.update({f"SCHEDULER_{k.upper()}": str(v) for k, v in settings.items()})
        return env

    def start(self, args: list[str], **settings: Any) -> subprocess.Popen[bytes]:
        log = open(self.workdir / f"proc-{len(self.procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen(
            [sys.executable, "-m", *args],
            env=self.env(**settings),
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: kill() takes its children too
        )
        self.procs.append(proc)
        return proc

    def beat(self, **settings: Any) -> subprocess.Popen[bytes]:
        return self.start(
            [
                "celery",
                "-A",
                "shared.celery_app",
                "beat",
                "-S",
                "scheduler_beat.scheduler:RedisScheduler",
                "--loglevel",
                "INFO",
            ],
            **settings,
        )

    def worker(
        self, pool: str, concurrency: int | None = None, **settings: Any
    ) -> subprocess.Popen[bytes]:
        """A worker as `scheduler worker` starts it (the delivery pools on gevent); its
        concurrency is the pool's default unless given."""
        args = ["scheduler_cli", "worker", "--pool", pool, "--name", f"{pool}-{len(self.procs)}@%h"]
        if concurrency is not None:
            args += ["--concurrency", str(concurrency)]
        return self.start([*args, "--loglevel", "INFO"], **settings)

    @staticmethod
    def kill(proc: subprocess.Popen[bytes]) -> None:
        """SIGKILL a process and its children (a worker's prefork pool), as a crash would."""
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace") for p in self.workdir.glob("proc-*.log"))

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    at_ms: int
    method: str = "POST"


class _ManyAtOnceServer(ThreadingHTTPServer):
    # Set before listen(): the default backlog of 5 drops the SYNs of a worker that opens dozens
    # of connections at once, and each dropped one retries a second or more later.
    request_queue_size = 256
    daemon_threads = True


@dataclass
class HttpReceiver:
    """A real HTTP server on 127.0.0.1 that records requests and answers from a script.

    ``statuses`` is consumed one per request (the last one repeats); every answer's body is
    ``answer``. With ``hold_first`` the first request gets no answer until the receiver closes (a
    delivery stuck in flight).
    """

    statuses: list[int] = field(default_factory=lambda: [200])
    answer: bytes = b"ok"
    hold_first: bool = False
    delay_s: float = 0.0  # every answer waits this long (a slow receiver)
    hang_prefix: str = ""  # requests to paths starting with this get no answer until close
    headers: dict[str, str] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    def __enter__(self) -> HttpReceiver:
        receiver = self

        class Handler(CappedHead):  # the request caps of every server the project starts
            def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                with receiver._lock:
                    receiver.requests.append(
                        Received(self.path, dict(self.headers), body, now_ms(), self.command)
                    )
                    n = len(receiver.requests)
                    status = receiver.statuses[min(n, len(receiver.statuses)) - 1]
                hangs = receiver.hang_prefix and self.path.startswith(receiver.hang_prefix)
                if (receiver.hold_first and n == 1) or hangs:
                    receiver._released.wait(30)
                    return
                if receiver.delay_s:
                    receiver._released.wait(receiver.delay_s)
                self.send_response(status)
                for name, value in receiver.headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(receiver.answer)))
                self.end_headers()
                self.wfile.write(receiver.answer)

            # A callback may come by any of the methods a webhook target allows.
            do_PUT = do_PATCH = do_DELETE = do_GET = do_POST  # noqa: N815

            def log_message(self, *args: Any) -> None:
                pass

        self._lock = threading.Lock()
        self._released = threading.Event()
        self._server = _ManyAtOnceServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def count(self) -> int:
        with self._lock:
            return len(self.requests)


class ServedApp:
    """A WSGI app served over real HTTP on 127.0.0.1 (for browsers and agent processes)."""

    def __init__(self, app: Any) -> None:
        self._server = capped_server("127.0.0.1", 0, app)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> ServedApp:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_port}"
