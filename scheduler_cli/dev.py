"""``scheduler dev``: the whole service on one machine, as child processes of one supervisor.

Every child (and the embedded Redis) runs in its own session, so a Ctrl-C in the terminal reaches
only this supervisor. It then stops the children itself, in order: SIGTERM to each (Celery and
werkzeug shut down warmly on it), a bounded wait, SIGKILL to the process group of any straggler,
and Redis last, so no worker loses its broker mid-shutdown.

A beat or worker that exits non-zero on its own (Celery ends one so when it cannot recover, e.g.
an unrecoverable error after losing Redis) is started again after a pause that doubles with each
failure in a row (1 s up to 30 s; a child that ran a minute starts over at 1 s), as any process
manager would. Any other child that ends on its own (the API, Flower, or a beat or worker that
exited 0, i.e. was stopped by someone) stops the rest: a service missing a part only looks alive.
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
RESTART_FIRST_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before failing is not in a crash loop


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]
    restart: bool = False  # started again when it exits non-zero on its own (see module doc)


def service_children(python: str = sys.executable) -> list[ChildSpec]:
    """api, beat, one worker per pool, flower: each a ``scheduler`` subcommand of its own."""
    base = [python, "-m", "scheduler_cli.main"]
    specs = [ChildSpec("api", [*base, "api"]), ChildSpec("beat", [*base, "beat"], restart=True)]
    specs += [
        ChildSpec(f"worker-{pool}", [*base, "worker", "--pool", pool], restart=True)
        for pool in POOLS
    ]
    specs.append(ChildSpec("flower", [*base, "flower"]))
    return specs


def restart_delay(failures: int) -> float:
    """The pause before starting again a child that failed ``failures`` times in a row."""
    return min(RESTART_MAX_DELAY_S, RESTART_FIRST_DELAY_S * 2 ** (failures - 1))


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
    """Starts child processes, restarts those that may be, notices the first child whose end
    ends the service, and stops them all within a bound."""

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
        self._started_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # failures in a row, per child
        self._restart_at: dict[str, float] = {}  # children waiting out their pause

    def start(self) -> None:
        for spec in self.specs:
            self._spawn(spec)

    def _spawn(self, spec: ChildSpec) -> None:
        self.children[spec.name] = subprocess.Popen(
            spec.argv, env=self.env, stdin=subprocess.DEVNULL, start_new_session=True
        )
        self._started_at[spec.name] = time.monotonic()

    def watch(self, stop: StopRequest) -> int:
        """Block until a stop is requested (0) or a child's end ends the service (1)."""
        while not stop:
            for spec in self.specs:
                if not self._keep_going(spec):
                    return 1
            time.sleep(POLL_INTERVAL_S)  # a signal cuts the wait short only by its handler
        return 0

    def _keep_going(self, spec: ChildSpec) -> bool:
        """False once ``spec``'s child ended the service; true while it runs or waits out its
        pause before a restart (started again once the pause is over)."""
        due = self._restart_at.get(spec.name)
        if due is not None:
            if time.monotonic() >= due:
                del self._restart_at[spec.name]
                self._say(f"{spec.name}: starting it again")
                self._spawn(spec)
            return True
        code = self.children[spec.name].poll()
        if code is None:
            return True
        if not spec.restart or code == 0:
            self._say(f"{spec.name} exited with code {code}; stopping the rest")
            return False
        self._pause_before_restart(spec, code)
        return True

    def _pause_before_restart(self, spec: ChildSpec, code: int) -> None:
        ran_s = time.monotonic() - self._started_at[spec.name]
        failures = 1 if ran_s >= STABLE_AFTER_S else self._failures.get(spec.name, 0) + 1
        self._failures[spec.name] = failures
        delay = restart_delay(failures)
        self._restart_at[spec.name] = time.monotonic() + delay
        self._say(
            f"{spec.name} exited with code {code} (failure {failures} in a row); "
            f"starting it again in {delay:g} s"
        )

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
    """Run the service until Ctrl-C/SIGTERM (exit 0) or until a child's end ends it (exit 1)."""
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
