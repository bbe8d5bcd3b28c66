"""``scheduler dev``: the whole service on one machine, as child processes of one supervisor.

Every child (and the embedded Redis) runs in its own session, so a Ctrl-C, or the SIGHUP of a
closed terminal, reaches only this supervisor. It then stops the children itself, in order:
SIGTERM to each (Celery and gunicorn shut down warmly on it), a bounded wait, SIGKILL to the
process group of any straggler, and Redis last, so no worker loses its broker mid-shutdown. A
supervisor that dies without doing so (SIGKILL, a crash) still takes them along: each child has
asked the kernel for a SIGTERM when its parent ends (``shared.lifeline``).

It prints little: a line per process once it is really ready (``dev_ready``), then the URLs. The
children's own output (Celery's banners, their logs) goes to ``<data dir>/logs/NAME.log``, or to
the terminal with ``--verbose``. Every port is checked before anything starts (``dev_ports``).

A beat or worker that exits non-zero on its own (Celery ends one so when it cannot recover, e.g.
an unrecoverable error after losing Redis) is started again after a pause that doubles with each
failure in a row (1 s up to 30 s; a child that ran a minute starts over at 1 s), as any process
manager would. Any other child that ends on its own (the API, Flower, or a beat or worker that
exited 0, i.e. was stopped by someone) stops the rest: a service missing a part only looks alive.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import IO, TextIO
from urllib.parse import urlsplit

from scheduler_cli.dev_ports import check_ports_free
from scheduler_cli.dev_ready import Probe, service_probes
from shared import embedded_redis
from shared.config import Config
from shared.contract import POOLS
from shared.lifeline import die_with_parent
from shared.service_urls import api_url, browsable_host, service_links
from shared.store import Store

STOP_TIMEOUT_S = 10.0
POLL_INTERVAL_S = 0.1
RESTART_FIRST_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
STABLE_AFTER_S = 60.0  # a child that ran this long before failing is not in a crash loop
READY_PATIENCE_S = 60.0  # then the URLs are printed anyway, naming who is not ready
LABEL_WIDTH = 16  # of the URL block
LOG_TAIL_LINES = 5  # of a child's log, shown when it exits
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)  # Ctrl-C, kill, terminal closed


@dataclass(frozen=True)
class ChildSpec:
    name: str
    argv: list[str]
    restart: bool = False  # started again when it exits non-zero on its own (see module doc)
    ready: Probe | None = field(default=None, compare=False)  # None: ready once started


def service_children(
    python: str = sys.executable, probes: Mapping[str, Probe] | None = None
) -> list[ChildSpec]:
    """api, beat, one worker per pool, flower: each a ``scheduler`` subcommand of its own."""
    base = [python, "-m", "scheduler_cli.main"]
    argvs = {"api": [*base, "api"], "beat": [*base, "beat"]}
    argvs |= {f"worker-{pool}": [*base, "worker", "--pool", pool] for pool in POOLS}
    argvs["flower"] = [*base, "flower"]
    restart = {"beat", *(f"worker-{pool}" for pool in POOLS)}
    probes = probes or {}
    return [ChildSpec(n, argv, n in restart, probes.get(n)) for n, argv in argvs.items()]


def restart_delay(failures: int) -> float:
    """The pause before starting again a child that failed ``failures`` times in a row."""
    return min(RESTART_MAX_DELAY_S, RESTART_FIRST_DELAY_S * 2 ** (failures - 1))


class StopRequest:
    """Set by any of ``STOP_SIGNALS``, or by the terminal hanging up. A plain attribute, not a
    threading.Event: setting an Event from a signal handler can deadlock if the signal lands
    while the main thread holds its lock.

    ``terminal``: a descriptor of our controlling terminal, watched because a closed terminal
    signals only its session's leader; a shell passes the SIGHUP on to us, but a ``make run``
    that leads its own session (``setsid``, some IDEs) keeps it and waits for us for ever."""

    def __init__(self, terminal: int | None = None) -> None:
        self.signum: int | None = None
        self.terminal = terminal

    def __bool__(self) -> bool:
        if self.signum is None and self.terminal is not None and hung_up(self.terminal):
            self.signum = signal.SIGHUP
        return self.signum is not None

    def handle(self, signum: int, frame: FrameType | None) -> None:
        self.signum = signum


def hung_up(terminal: int) -> bool:
    """True once the terminal behind ``terminal`` is gone (its calls then fail with EIO)."""
    try:
        os.tcgetpgrp(terminal)
    except OSError as exc:
        return exc.errno == errno.EIO
    return False


def controlling_terminal() -> int | None:
    """Our stdin, stdout or stderr if one is a terminal (None: no terminal to watch)."""
    return next((fd for fd in (0, 1, 2) if os.isatty(fd)), None)


@contextlib.contextmanager
def stop_signals() -> Iterator[StopRequest]:
    """Catch ``STOP_SIGNALS`` for the duration (restoring the previous handlers after)."""
    request = StopRequest(controlling_terminal())
    previous = {sig: signal.signal(sig, request.handle) for sig in STOP_SIGNALS}
    try:
        yield request
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)


class Supervisor:
    """Starts child processes, says when each is ready, restarts those that may be, notices the
    first child whose end ends the service, and stops them all within a bound.

    ``log_dir``: each child's output goes to ``log_dir/NAME.log`` (None: this process's own
    stdout and stderr). ``out``: where the ready lines go; ``log``: where problems go."""

    def __init__(
        self,
        specs: list[ChildSpec],
        env: dict[str, str],
        stop_timeout_s: float = STOP_TIMEOUT_S,
        log: TextIO | None = None,
        log_dir: Path | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.specs = specs
        self.env = env
        self.stop_timeout_s = stop_timeout_s
        self.log = log  # None: sys.stderr as it is when we print (tests swap it)
        self.out = out  # None: sys.stdout as it is when we print
        self.log_dir = log_dir
        self.children: dict[str, subprocess.Popen[bytes]] = {}
        self.ready: set[str] = set()
        self._started_at: dict[str, float] = {}
        self._failures: dict[str, int] = {}  # failures in a row, per child
        self._restart_at: dict[str, float] = {}  # children waiting out their pause
        self._all_ready_said = False
        self._begun = time.monotonic()

    def start(self) -> None:
        """Start every child (from this thread: their parent-death signal is tied to it)."""
        self._begun = time.monotonic()
        for spec in self.specs:
            self._spawn(spec)

    def _spawn(self, spec: ChildSpec) -> None:
        with self._output(spec.name) as output:
            self.children[spec.name] = subprocess.Popen(
                spec.argv,
                env=self.env,
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT if output else None,
                start_new_session=True,
                preexec_fn=die_with_parent(),
            )
        self._started_at[spec.name] = time.monotonic()

    @contextlib.contextmanager
    def _output(self, name: str) -> Iterator[IO[bytes] | None]:
        """The child's log file, new for this run, appended to by a restart (None: inherit)."""
        if self.log_dir is None:
            yield None
            return
        self.log_dir.mkdir(parents=True, exist_ok=True)
        mode = "ab" if name in self.children else "wb"
        with open(self.log_dir / f"{name}.log", mode) as output:
            yield output

    def watch(self, stop: StopRequest, on_ready: Callable[[], None] | None = None) -> int:
        """Block until a stop is requested (0) or a child's end ends the service (1); call
        ``on_ready`` once, when every child was ready (or READY_PATIENCE_S passed)."""
        while not stop:
            for spec in self.specs:
                if not self._keep_going(spec):
                    return 1
            if not self._all_ready_said and self._check_ready():
                self._all_ready_said = True
                if on_ready is not None:
                    on_ready()
            time.sleep(POLL_INTERVAL_S)  # a signal cuts the wait short only by its handler
        return 0

    def _check_ready(self) -> bool:
        """Ask each running child not yet ready; true once all are, or once patience ran out."""
        for spec in self.specs:
            if spec.name in self.ready or self.children[spec.name].poll() is not None:
                continue
            if spec.ready is None or spec.ready():
                self.ready.add(spec.name)
                took = time.monotonic() - self._begun
                self._print(f"scheduler dev: {spec.name} ready ({took:.1f} s)")
        if len(self.ready) == len(self.specs):
            return True
        if time.monotonic() - self._begun < READY_PATIENCE_S:
            return False
        late = ", ".join(s.name for s in self.specs if s.name not in self.ready)
        self._say(f"not ready after {READY_PATIENCE_S:g} s: {late}{self._where_logs()}")
        return True

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
        self._show_log_tail(spec.name)
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

    def _show_log_tail(self, name: str) -> None:
        """The last lines a child wrote, when they went to a file: why it ended, most likely."""
        if self.log_dir is None:
            return
        path = self.log_dir / f"{name}.log"
        with contextlib.suppress(OSError):
            lines = path.read_text(errors="replace").splitlines()[-LOG_TAIL_LINES:]
            self._say(f"{name}'s last lines ({path}):\n" + "\n".join(f"  | {x}" for x in lines))

    def _where_logs(self) -> str:
        return f" (their logs: {self.log_dir})" if self.log_dir else ""

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
        write(f"scheduler dev: {message}", self.log or sys.stderr)

    def _print(self, message: str) -> None:
        write(message, self.out or sys.stdout)


def write(message: str, stream: TextIO) -> None:
    """Print, unless the terminal is gone (closed: SIGHUP), which must not stop the shutdown."""
    with contextlib.suppress(OSError):
        print(message, file=stream, flush=True)


def run_dev(
    config: Config,
    specs: list[ChildSpec] | None = None,
    stop_timeout_s: float = STOP_TIMEOUT_S,
    verbose: bool = False,
) -> int:
    """Run the service until Ctrl-C/SIGTERM/SIGHUP (exit 0) or until a child's end ends it
    (exit 1). ``specs``: other children than the service's (tests); their ports aren't checked.
    ``verbose``: the children write to this terminal, not to log files."""
    if specs is None:
        check_ports_free(config)  # before anything starts: nothing to undo
    with stop_signals() as stop:
        server = None if config.redis_url else embedded_redis.start(config)
        try:
            url = server.url if server else config.redis_url
            Store.from_url(
                url, config.key_prefix, partitions=config.partitions
            ).check_redis_is_safe()
            write(f"scheduler dev: redis ready ({redis_origin(config, server)})", sys.stdout)
            env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
            specs = specs or service_children(probes=service_probes(config, url))
            log_dir = None if verbose else logs_path(config)
            supervisor = Supervisor(specs, env, stop_timeout_s, log_dir=log_dir)
            urls = banner(config, url, server, log_dir)
            try:
                supervisor.start()
                code = supervisor.watch(stop, on_ready=lambda: write(urls, sys.stdout))
                if stop.signum is not None:
                    name = signal.Signals(stop.signum).name
                    write(f"scheduler dev: {name}: stopping every process", sys.stderr)
                return code
            finally:
                supervisor.stop()
        finally:
            if server is not None:
                server.stop()


def logs_path(config: Config) -> Path:
    return config.data_path / "logs"


def redis_origin(config: Config, server: embedded_redis.RedisServer | None) -> str:
    if server is None:
        return "from REDIS_URL"
    if server.owned:
        return f"embedded, data in {config.data_path / 'redis'}"
    return "embedded, already running: left running on exit"


def banner(
    config: Config,
    url: str,
    server: embedded_redis.RedisServer | None,
    log_dir: Path | None = None,
) -> str:
    """The URL block: the first URL is the landing page, which links the rest."""
    lines = ["", "scheduler dev: the service is running; Ctrl-C stops it."]
    for link in service_links(config, api_url(config), browsable_host(config)):
        if link.key != "health":
            lines.append(f"  {link.label:<{LABEL_WIDTH}} {link.url}")
    lines.append(f"  {'Redis':<{LABEL_WIDTH}} {redact(url)} ({redis_origin(config, server)})")
    if log_dir is not None:
        lines.append(f"  {'Logs':<{LABEL_WIDTH}} {log_dir}/NAME.log (or --verbose)")
    return "\n".join(lines)


def redact(url: str) -> str:
    """The URL without its password: the banner ends up in terminals and logs."""
    parts = urlsplit(url)
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return parts._replace(netloc=netloc).geturl()
