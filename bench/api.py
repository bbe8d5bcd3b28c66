"""How fast the API creates webhook jobs (``POST /1/jobs``), as ``make run`` serves it (gunicorn),
rate limits off and on, and through werkzeug's development server (the baseline), at several
concurrencies; optionally the same from an older source tree (``--before``, what was cut) and
granian (a server whose HTTP layer is Rust, a candidate).

Starts its own redis-server (``shared.embedded_redis``, append-only file on, as ``make run``)
and each setup as its own ``scheduler api`` process; loads it with ``bench/http_load.py``.
Prints what it does as it goes; the last line is one JSON object. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import http_load

from shared.accounts import create_account
from shared.config import Config
from shared.contract import DialectName
from shared.embedded_redis import RedisServer, free_port, start_redis_server
from shared.store import Store
from shared.timing import now_ms

SERVERS = ("gunicorn", "werkzeug", "granian")
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0  # gunicorn's graceful timeout is 30 s
CALLBACK = "http://127.0.0.1:9/"  # never called: no beat runs here
# Rate limits off (one account would be refused after 20 requests a second)...
LIMITS_OFF = {
    "SCHEDULER_RATE_LIMIT_PER_ACCOUNT": "",
    "SCHEDULER_RATE_LIMIT_PER_ADDRESS": "",
    "SCHEDULER_AUTH_FAILURES_PER_ADDRESS": "",
    "SCHEDULER_AUTH_FAILURES_PER_APPKEY": "",
}
# ... or on, counted as with the defaults (two windows per account, both failure checks) but
# with amounts no run reaches.
LIMITS_ON = {"SCHEDULER_RATE_LIMIT_PER_ACCOUNT": "1000000000/second;1000000000/minute"}
# What every setup runs with, on top of the defaults: the callback's address allowed, no quota.
SERVER_ENV = {
    "SCHEDULER_TARGET_ALLOWLIST": "127.0.0.1/32",
    "SCHEDULER_MAX_SCHEDULES_PER_ACCOUNT": str(10**9),
    "SCHEDULER_LOG_FORMAT": "text",  # as `scheduler dev` sets it
}


def say(line: str) -> None:
    print(line, flush=True)


# --- the server ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """One server as measured: which, with rate limits or not, from which source tree."""

    server: str
    limits: bool
    source: Path | None = None  # another checkout's tree (``--before``); None: this one

    @property
    def name(self) -> str:
        return self.server + ("+limits" if self.limits else "") + ("@before" if self.source else "")

    def argv(self, port: int, config: Config) -> list[str]:
        if self.server == "granian":  # the WSGI module, as granian's own CLI serves an app
            return [
                sys.executable, "-m", "granian", "--interface", "wsgi", "--no-ws",
                "--workers", str(config.api_workers),
                "--blocking-threads", str(config.api_threads),
                "--host", "127.0.0.1", "--port", str(port), "scheduler_api.wsgi:app",
                *(["--access-log"] if config.api_access_log else []),
            ]  # fmt: skip
        flags = ["--dev-server"] if self.server == "werkzeug" else []
        return [sys.executable, "-m", "scheduler_cli.main", "api", *flags]

    def env(self) -> dict[str, str]:
        env = {**SERVER_ENV, **LIMITS_OFF, **(LIMITS_ON if self.limits else {})}
        if self.source is not None:  # its packages first on the path, before this tree's
            env["PYTHONPATH"] = str(self.source)
        return env


@contextmanager
def api_server(
    setup: Setup, redis_url: str, tmp: Path, extra_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``setup``'s server on a free port, its output in a log file."""
    port = free_port()
    env = {
        **os.environ,
        **setup.env(),
        **extra_env,
        "REDIS_URL": redis_url,
        "SCHEDULER_DATA_DIR": str(tmp),
        "SCHEDULER_API_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    argv = setup.argv(port, Config.from_env(env))
    with open(tmp / f"api-{setup.name}.log", "wb") as log:
        process = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=setup.source
        )
    process.port = port  # type: ignore[attr-defined]
    try:
        wait_healthy(process, port)
        if setup.server == "gunicorn":
            wait_workers_idle(process, Config.from_env(env).api_workers)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=STOP_TIMEOUT_S)


def wait_healthy(process: subprocess.Popen[bytes], port: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"scheduler api exited with code {process.returncode}")
        if healthy(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"scheduler api not answering on port {port} after {START_TIMEOUT_S} s")


def wait_workers_idle(process: subprocess.Popen[bytes], workers: int) -> None:
    """Wait until each of gunicorn's ``workers`` has been seen waiting for connections.

    gunicorn's workers each build the app after the fork, so /healthz answers as soon as the
    first is up; a run started then found only that one accepting, and its kept-alive
    connections stayed there (every row at one concurrency on one core). Seen by the kernel's
    wait channel (``/proc/PID/wchan``: ``do_epoll_wait`` in the worker's loop); at most
    ``START_TIMEOUT_S``, and where wchan says nothing (``0``) it is not waited for."""
    deadline = time.monotonic() + START_TIMEOUT_S
    seen: set[int] = set()
    while time.monotonic() < deadline:
        pids = http_load.children(process.pid)
        for pid in pids:
            channel = wait_channel(pid)
            if "epoll" in channel or channel in ("", "0"):
                seen.add(pid)
        if len(pids) >= workers and seen.issuperset(pids):
            return
        time.sleep(0.01)
    say(f"  (not every worker seen idle after {START_TIMEOUT_S} s: measuring anyway)")


def wait_channel(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/wchan") as wchan:
            return wchan.read().strip()
    except OSError:
        return ""  # gone, or not readable here


def healthy(port: int) -> bool:
    import http.client

    try:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
        connection.request("GET", "/healthz")
        return connection.getresponse().status == 200
    except OSError:
        return False


# --- the workload -------------------------------------------------------------------------------


def create_request(creds: dict[str, str], when: str) -> bytes:
    """One ``POST /1/jobs``: a webhook job for ``when``, JSON in and out, HTTP Basic."""
    token = base64.b64encode(f"{creds['appkey']}:{creds['master_secret']}".encode()).decode()
    body = json.dumps({"url": CALLBACK, "when": when, "data": '{"order": 42}'}).encode()
    head = (
        "POST /1/jobs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        f"Authorization: Basic {token}\r\nContent-Type: application/json\r\n"
        f"Accept: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def measure_setup(
    setup: Setup, store: Store, redis: RedisServer, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    creds = create_account(store, f"bench-{setup.name}", secret_key=b"k" * 32, now_ms=now_ms())
    when = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = create_request(creds, when)
    extra_env = {"SCHEDULER_SECRET_KEY": "k" * 32}
    if args.no_access_log:
        extra_env["SCHEDULER_API_ACCESS_LOG"] = "false"
    redis_pid = redis.process.pid if redis.process else None
    with api_server(setup, redis.url, tmp, extra_env) as process:
        rows = [one_run(setup.name, process, redis_pid, request, c, args) for c in args.concurrency]
    created = sum(row.pop("answered_200") for row in rows)
    stored = store.count_schedules(creds["appkey"], DialectName.WEBHOOK_JOBS)
    say(f"  {setup.name}: {created} answered 200, {stored} jobs stored")
    if created != stored:
        raise RuntimeError(f"{setup.name}: {created} creates answered 200 but {stored} stored")
    return {"by_concurrency": rows, "created": created}


def one_run(
    name: str,
    process: subprocess.Popen[bytes],
    redis_pid: int | None,
    request: bytes,
    concurrency: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    loadavg = os.getloadavg()[0]
    redis_cpu_before = http_load.cpu_seconds(redis_pid) if redis_pid else 0.0
    cpu_before = http_load.cpu_seconds_by_pid(process.pid)
    port: int = process.port  # type: ignore[attr-defined]
    load = http_load.run(port, lambda: request, concurrency, args.duration, args.warmup)
    cpu_after = http_load.cpu_seconds_by_pid(process.pid)
    redis_cpu_s = (http_load.cpu_seconds(redis_pid) if redis_pid else 0.0) - redis_cpu_before
    cpu_by_pid = {pid: cpu_after[pid] - cpu_before.get(pid, 0.0) for pid in cpu_after}
    server_cpu_s = sum(cpu_by_pid.values())
    if set(load.statuses) != {200}:
        raise RuntimeError(f"{name} at {concurrency}: answers {load.statuses}")
    answered = load.answered()
    row = {
        "concurrency": concurrency,
        "creates_per_s": round(load.per_s),
        "p50_ms": round(load.percentile_ms(0.50), 2),
        "p99_ms": round(load.percentile_ms(0.99), 2),
        "max_ms": round(load.percentile_ms(1.0), 1),
        "server_cpu_us_per_create": round(1e6 * server_cpu_s / answered),
        "client_cpu_us_per_create": round(1e6 * load.client_cpu_s / answered),
        "redis_cpu_us_per_create": round(1e6 * redis_cpu_s / answered),
        "connections": load.connections_opened,
        "busiest_process_cpu_share": round(max(cpu_by_pid.values()) / server_cpu_s, 2),
        "loadavg_before": round(loadavg, 2),
        "answered_200": answered,
    }
    say(
        f"  {name:<24} c={concurrency:<3} {row['creates_per_s']:>6} creates/s  "
        f"p50 {row['p50_ms']:>6} ms  p99 {row['p99_ms']:>7} ms  "
        f"server CPU {row['server_cpu_us_per_create']} µs/create "
        f"({round(100 * row['busiest_process_cpu_share'])}% in one process)  "
        f"(client {row['client_cpu_us_per_create']} µs, redis {row['redis_cpu_us_per_create']} µs, "
        f"load avg before {row['loadavg_before']})"
    )
    return row


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=10.0, help="measured s per run (10)")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured s first (2)")
    parser.add_argument(
        "--concurrency", type=lambda s: [int(c) for c in s.split(",")], default=[1, 8, 32]
    )
    parser.add_argument(
        "--servers", default="gunicorn,werkzeug", help="of gunicorn,werkzeug,granian (the first "
        "is measured with rate limits off and on, the others off)",
    )  # fmt: skip
    parser.add_argument(
        "--before", type=Path, help="also the first server (limits off and on) from this source "
        "tree, e.g. `git worktree add /tmp/before <commit>`",
    )  # fmt: skip
    parser.add_argument("--no-access-log", action="store_true", help="SCHEDULER_API_ACCESS_LOG=0")
    args = parser.parse_args(None if argv is None else list(argv))
    args.servers = args.servers.split(",")
    if unknown := set(args.servers) - set(SERVERS):
        parser.error(f"unknown servers {sorted(unknown)}: choose from {', '.join(SERVERS)}")
    return args


def setups(args: argparse.Namespace) -> list[Setup]:
    """The first server with limits off and on (from the older tree too, if given), then the
    others with limits off."""
    first, *others = args.servers
    sources = [None, args.before.resolve()] if args.before else [None]
    paired = [Setup(first, limits, source) for limits in (False, True) for source in sources]
    return paired + [Setup(server, False) for server in others]


def bench(args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {"duration_s": args.duration, "cores": os.cpu_count()}
    for name in ("SCHEDULER_API_WORKERS", "SCHEDULER_API_THREADS"):
        if name in os.environ:
            out[name.lower()] = os.environ[name]
    with tempfile.TemporaryDirectory(prefix="api-bench-") as tmp:
        redis_server = start_redis_server(Path(tmp) / "redis", appendonly=True)
        try:
            store = Store.from_url(redis_server.url)
            say(f"redis at {redis_server.url} (AOF on); load average {os.getloadavg()[0]:.2f}")
            for setup in setups(args):
                say(f"{setup.name}:")
                out[setup.name] = measure_setup(setup, store, redis_server, Path(tmp), args)
        finally:
            redis_server.stop()
    out["ratios"] = ratios(out)
    for pair, values in out["ratios"].items():
        say(f"{pair} creates/s at {args.concurrency}: {values}")
    return out


def ratios(out: dict[str, Any]) -> dict[str, list[float]]:
    """creates/s of each setup over the werkzeug baseline's, and over its own older tree's."""

    def per_s(name: str) -> list[float]:
        return [row["creates_per_s"] for row in out[name]["by_concurrency"]]

    pairs = [(name, "werkzeug") for name in out if isinstance(out[name], dict)]
    pairs += [(name, f"{name}@before") for name in out if f"{name}@before" in out]
    return {
        f"{new} / {old}": [round(a / b, 2) for a, b in zip(per_s(new), per_s(old), strict=True)]
        for new, old in pairs
        if old in out and new != old and not new.endswith("@before")
    }


def main(argv: Iterable[str] | None = None) -> int:
    result = bench(parse_args(argv))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
