"""``scheduler dev``: the whole service on one machine, as child processes of one supervisor.

Every child (and the embedded Redis) runs in its own session, so a Ctrl-C in the terminal reaches
only this supervisor. It then stops the children itself, in order: SIGTERM to each (Celery and
werkzeug shut down warmly on it), a bounded wait, SIGKILL to the process group of any straggler,
and Redis last, so no worker loses its broker mid-shutdown. A child that dies on its own stops the
rest too: a service missing its beat or a pool only looks alive.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from types import FrameType
from typing import TextIO
from urllib.parse import urlsplit

from shared import embedded_redis
from shared.config import Config
from shared.contract import POOLS
from shared.store import Store

STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]


def service_children(python: str = sys.executable) -> list[ChildSpec]:
    """api, beat, one worker per pool, flower: each a ``scheduler`` subcommand of its own."""
    base = [python, "-m", "scheduler_cli.main"]
    specs = [ChildSpec("api", [*base, "api"]), ChildSpec("beat", [*base, "beat"])]
    specs += [ChildSpec(f"worker-{pool}", [*base, "worker", "--pool", pool]) for pool in POOLS]
    specs.append(ChildSpec("flower", [*base, "flower"]))
    return specs


class StopRequest:
    """Set by SIGINT/SIGTERM. A plain attribute, not a threading.Event: setting an Event from a
    signal handler can deadlock if the signal lands while the main thread holds the Event's lock."""

    def __init__(self) -> None:
        self.signum: int | None = None

    def __bool__(self) -> bool:
        return self.signum is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum


@contextlib.contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Catch SIGINT and SIGTERM for the duration (restoring the previous handlers after)."""
    request = StopRequest()
    previous = {sig: signal.signal(sig, request.handle) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Supervisor:
    """Starts child processes, notices the first to exit, and stops them all within a bound."""

    def __init__(
        self,
        specs: list[ChildSpec],
        env: dict[str, str],
        stop_timeout_s: float = STOP_TIMEOUT_S,
        log: TextIO | None = None,
    ) -> None:
        self.specs = specs
        self.env = env
        self.stop_timeout_s = stop_timeout_s
        self.log = log  # None: sys.stderr as it is when we print (tests swap it)
        self.children: dict[str, subprocess.Popen[bytes]] = {}

    def start(self) -> None:
        for spec in self.specs:
            self.children[spec.name] = subprocess.Popen(
                spec.argv, env=self.env, stdin=subprocess.DEVNULL, start_new_session=True
            )

    def watch(self, stop: StopRequest) -> int:
        """Block until a stop is requested (0) or a child exits on its own (1)."""
        while not stop:
            for name, process in self.children.items():
                if process.poll() is not None:
                    self._say(f"{name} exited with code {process.returncode}; stopping the rest")
                    return 1
            time.sleep(POLL_INTERVAL_S)  # a signal cuts the wait short only by its handler
        return 0

    def stop(self) -> None:
        running = {name: p for name, p in self.children.items() if p.poll() is None}
        for process in running.values():
            process.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout_s
        for name, process in running.items():
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                self._kill(name, process)

    def _kill(self, name: str, process: subprocess.Popen[bytes]) -> None:
        self._say(f"{name} still running after {self.stop_timeout_s:g} s; killing it")
        # Not yet reaped, so its pid (= its process group id) cannot belong to anyone else;
        # the group takes its own children (a prefork pool) down with it.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()

    def _say(self, message: str) -> None:
        print(f"scheduler dev: {message}", file=self.log or sys.stderr, flush=True)


def run_dev(
    config: Config,
    specs: list[ChildSpec] | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
) -> int:
    """Run the service until Ctrl-C/SIGTERM (exit 0) or until a child dies (exit 1)."""
    with stop_signals() as stop:
        server = None if config.redis_url else embedded_redis.start(config)
        try:
            url = server.url if server else config.redis_url
            Store.from_url(url, config.key_prefix).check_redis_is_safe()
            env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
            supervisor = Supervisor(specs or service_children(), env, stop_timeout_s)
            try:
                supervisor.start()
                print(banner(config, url, server), flush=True)
                return supervisor.watch(stop)
            finally:
                supervisor.stop()
        finally:
            if server is not None:
                server.stop()


def banner(config: Config, url: str, server: embedded_redis.RedisServer | None) -> str:
    if server is None:
        origin = "from REDIS_URL"
    elif server.owned:
        origin = f"embedded, data in {config.data_path / 'redis'}"
    else:
        origin = "embedded, already running: left running on exit"
    return "\n".join(
        [
            "scheduler dev: the service is running; Ctrl-C stops it.",
            f"  API        http://{config.api_host}:{config.api_port}/",
            f"  API docs   http://{config.api_host}:{config.api_port}/docs (/openapi.json)",
            f"  Dashboard  http://{config.api_host}:{config.api_port}/dashboard/",
            f"  Metrics    http://{config.api_host}:{config.api_port}/metrics",
            f"  Flower     http://{config.api_host}:{config.flower_port}/",
            f"  Redis      {redact(url)} ({origin})",
        ]
    )


def redact(url: str) -> str:
    """The URL without its password: the banner ends up in terminals and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
