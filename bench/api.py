"""How fast the API creates webhook jobs (``POST /1/jobs``), as ``make run`` serves it (gunicorn)
and through werkzeug's development server (the baseline), at several concurrencies.

Starts its own redis-server (``shared.embedded_redis``, append-only file on, as ``make run``)
and each server as its own ``scheduler api`` process; loads it with ``bench/http_load.py``.
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
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import http_load

from shared.accounts import create_account
from shared.contract import DialectName
from shared.embedded_redis import free_port, start_redis_server
from shared.store import Store
from shared.timing import now_ms

SERVERS = {"gunicorn": [], "werkzeug": ["--dev-server"]}  # `scheduler api` flags of each
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 40.0  # gunicorn's graceful timeout is 30 s
CALLBACK = "http://127.0.0.1:9/"  # never called: no beat runs here
# What the servers run with, on top of the defaults: rate limits off (one account would be
# refused after 20 requests a second), the callback's loopback address allowed, no quota.
SERVER_ENV = {
    "SCHEDULER_RATE_LIMIT_PER_ACCOUNT": "",
    "SCHEDULER_RATE_LIMIT_PER_ADDRESS": "",
    "SCHEDULER_AUTH_FAILURES_PER_ADDRESS": "",
    "SCHEDULER_AUTH_FAILURES_PER_APPKEY": "",
    "SCHEDULER_TARGET_ALLOWLIST": "127.0.0.1/32",
    "SCHEDULER_MAX_SCHEDULES_PER_ACCOUNT": str(10**9),
    "SCHEDULER_LOG_FORMAT": "text",  # as `scheduler dev` sets it
}


def say(line: str) -> None:
    print(line, flush=True)


# --- the server ---------------------------------------------------------------------------------


@contextmanager
def api_server(
    server: str, redis_url: str, tmp: Path, extra_env: dict[str, str]
) -> Iterator[subprocess.Popen[bytes]]:
    """``scheduler api`` (with ``server``'s flags) on a free port, its output in a log file."""
    port = free_port()
    env = {
        **os.environ,
        **SERVER_ENV,
        **extra_env,
        "REDIS_URL": redis_url,
        "SCHEDULER_DATA_DIR": str(tmp),
        "SCHEDULER_API_PORT": str(port),
        "PYTHONUNBUFFERED": "1",
    }
    argv = [sys.executable, "-m", "scheduler_cli.main", "api", *SERVERS[server]]
    with open(tmp / f"api-{server}.log", "wb") as log:
        process = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT)
    process.port = port  # type: ignore[attr-defined]
    try:
        wait_healthy(process, port)
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


def measure_server(
    server: str, store: Store, redis_url: str, tmp: Path, args: argparse.Namespace
) -> dict[str, Any]:
    creds = create_account(store, f"bench-{server}", secret_key=b"k" * 32, now_ms=now_ms())
    when = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    request = create_request(creds, when)
    extra_env = {"SCHEDULER_SECRET_KEY": "k" * 32}
    if args.no_access_log:
        extra_env["SCHEDULER_API_ACCESS_LOG"] = "false"
    with api_server(server, redis_url, tmp, extra_env) as process:
        rows = [one_run(server, process, request, c, args) for c in args.concurrency]
    created = sum(row.pop("answered_200") for row in rows)
    stored = store.count_schedules(creds["appkey"], DialectName.WEBHOOK_JOBS)
    say(f"  {server}: {created} answered 200, {stored} jobs stored")
    if created != stored:
        raise RuntimeError(f"{server}: {created} creates answered 200 but {stored} jobs stored")
    return {"by_concurrency": rows, "created": created}


def one_run(
    server: str,
    process: subprocess.Popen[bytes],
    request: bytes,
    concurrency: int,
    args: argparse.Namespace,
) -> dict[str, Any]:
    loadavg = os.getloadavg()[0]
    cpu_before = http_load.cpu_seconds(process.pid)
    port: int = process.port  # type: ignore[attr-defined]
    load = http_load.run(port, lambda: request, concurrency, args.duration, args.warmup)
    server_cpu_s = http_load.cpu_seconds(process.pid) - cpu_before
    if set(load.statuses) != {200}:
        raise RuntimeError(f"{server} at {concurrency}: answers {load.statuses}")
    answered = load.answered()
    row = {
        "concurrency": concurrency,
        "creates_per_s": round(load.per_s),
        "p50_ms": round(load.percentile_ms(0.50), 2),
        "p99_ms": round(load.percentile_ms(0.99), 2),
        "max_ms": round(load.percentile_ms(1.0), 1),
        "server_cpu_us_per_create": round(1e6 * server_cpu_s / answered),
        "client_cpu_us_per_create": round(1e6 * load.client_cpu_s / answered),
        "connections": load.connections_opened,
        "loadavg_before": round(loadavg, 2),
        "answered_200": answered,
    }
    say(
        f"  {server:<8} c={concurrency:<3} {row['creates_per_s']:>6} creates/s  "
        f"p50 {row['p50_ms']:>6} ms  p99 {row['p99_ms']:>7} ms  "
        f"server CPU {row['server_cpu_us_per_create']} µs/create  "
        f"(client {row['client_cpu_us_per_create']} µs, load avg before {row['loadavg_before']})"
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
    parser.add_argument("--servers", default="gunicorn,werkzeug", help="gunicorn,werkzeug")
    parser.add_argument("--no-access-log", action="store_true", help="SCHEDULER_API_ACCESS_LOG=0")
    return parser.parse_args(None if argv is None else list(argv))


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
            for server in args.servers.split(","):
                say(f"{server}:")
                out[server] = measure_server(server, store, redis_server.url, Path(tmp), args)
        finally:
            redis_server.stop()
    if "gunicorn" in out and "werkzeug" in out:
        ratios = [
            round(g["creates_per_s"] / w["creates_per_s"], 2)
            for g, w in zip(
                out["gunicorn"]["by_concurrency"], out["werkzeug"]["by_concurrency"], strict=True
            )
        ]
        out["gunicorn_over_werkzeug"] = ratios
        say(f"gunicorn / werkzeug creates/s: {ratios}")
    return out


def main(argv: Iterable[str] | None = None) -> int:
    result = bench(parse_args(argv))
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
