"""``scheduler api`` serves with gunicorn (scheduler_api.production): its settings, its worker
processes and threads, its refusals, and what it says when it cannot start."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import redis

from scheduler_api.production import ApiSyncWorker, ApiThreadWorker, gunicorn_settings
from shared import embedded_redis
from shared.config import Config
from tests.raw_http import exchange, healthy, request_head
from tests.support import ProcessGroup, free_port, wait_until

STOP_S = 15.0  # gunicorn's workers finish and exit well within this once nothing is in flight


def test_the_settings_size_gunicorn_and_set_the_request_caps() -> None:
    config = Config.from_env(
        {"SCHEDULER_API_WORKERS": "3", "SCHEDULER_API_THREADS": "6"},
        api_max_request_line_bytes=4000,
        api_max_header_line_bytes=3000,
        api_max_header_count=50,
    )
    settings = gunicorn_settings(config)
    assert (settings["workers"], settings["threads"]) == (3, 6)
    assert settings["worker_class"] is ApiThreadWorker
    assert settings["bind"] == ["127.0.0.1:8080"]
    assert settings["limit_request_line"] == 4000
    assert settings["limit_request_field_size"] == 3000
    assert settings["limit_request_fields"] == 50


def test_one_thread_is_gunicorns_sync_worker_and_an_ipv6_host_is_bracketed() -> None:
    settings = gunicorn_settings(Config(api_threads=1, api_host="::1", api_port=9000))
    assert settings["worker_class"] is ApiSyncWorker
    assert settings["bind"] == ["[::1]:9000"]


@pytest.mark.parametrize("name", ["SCHEDULER_API_WORKERS", "SCHEDULER_API_THREADS"])
def test_zero_workers_or_threads_is_refused_by_name(name: str) -> None:
    from shared.errors import ConfigError

    with pytest.raises(ConfigError, match=name):
        Config.from_env({name: "0"})


# --- the real process ------------------------------------------------------------------------


def children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if int(stat.read().rsplit(")", 1)[1].split()[1]) == pid:
                        found.append(int(entry))
            except OSError:
                continue
    return found


@pytest.mark.e2e
@pytest.mark.timeout(90)
@pytest.mark.parametrize("threads", [1, 4], ids=["sync", "gthread"])
def test_scheduler_api_runs_the_configured_workers_and_stops_on_sigterm(
    clean_redis: str, tmp_path: Path, threads: int
) -> None:
    port = free_port()
    group = ProcessGroup(clean_redis, tmp_path)
    try:
        api = group.start(
            ["scheduler_cli.main", "api"],
            api_port=port,
            api_workers=3,
            api_threads=threads,
            log_format="text",
        )
        wait_until(lambda: healthy(port), timeout_s=30, what="scheduler api up")
        wait_until(lambda: len(children(api.pid)) == 3, timeout_s=30, what="3 gunicorn workers")
        for head, status in (
            (request_head("GET", "/1/jobs?" + "a" * 9000, {}), 414),
            (request_head("GET", "/1/jobs", {f"X-P-{n}": "v" * 7000 for n in range(3)}), 431),
            (request_head("GET", "/1/jobs", {}), 401),
        ):
            assert exchange(port, head).status == status
        secret = "s3cr3t-" + "u" * 30
        assert exchange(port, request_head("GET", f"/api/jobs?userkey={secret}", {})).status == 401
        workers = children(api.pid)
        api.send_signal(signal.SIGTERM)
        assert api.wait(timeout=STOP_S) == 0
        wait_until(lambda: not any(alive(pid) for pid in workers), timeout_s=5, what="workers gone")
        logs = group.logs()
        assert "Traceback" not in logs
        # One access line per request, through our handler: the userkey redacted.
        assert '"GET /api/jobs?userkey=[redacted] HTTP/1.1" 401' in logs, logs[-2000:]
        assert secret not in logs
    finally:
        group.stop_all()


@pytest.mark.e2e
@pytest.mark.timeout(90)
def test_a_connection_stays_open_unless_a_body_was_left_unread(
    clean_redis: str, tmp_path: Path
) -> None:
    port = free_port()
    group = ProcessGroup(clean_redis, tmp_path)
    try:
        group.start(["scheduler_cli.main", "api"], api_port=port)
        wait_until(lambda: healthy(port), timeout_s=30, what="scheduler api up")
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            reader = sock.makefile("rb")
            for _ in range(2):  # kept alive: both answered on one connection
                sock.sendall(request_head("GET", "/healthz", {}))
                assert read_answer(reader).startswith(b"HTTP/1.1 200")
            # A body of 1 GB announced, refused (401) before any of it is read: the server
            # closes the connection instead of reading the gigabyte after the answer.
            sock.sendall(request_head("POST", "/1/jobs", {"Content-Length": str(10**9)}))
            assert read_answer(reader).startswith(b"HTTP/1.1 401")
            assert sent_until_closed(sock, most=256 * 1024 * 1024) < 64 * 1024 * 1024
    finally:
        group.stop_all()


def read_answer(reader: Any) -> bytes:
    status = reader.readline()
    length = 0
    while (line := reader.readline()) not in (b"\r\n", b""):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":")[1])
    reader.read(length)
    return bytes(status)


def sent_until_closed(sock: socket.socket, most: int) -> int:
    """Bytes sent before the peer's close shows (a reset or a broken pipe), at most ``most``."""
    sent, chunk = 0, b"x" * 65536
    try:
        while sent < most:
            sock.sendall(chunk)
            sent += len(chunk)
    except OSError:
        pass
    return sent


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def scheduler_api(**env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    return subprocess.run(
        [sys.executable, "-m", "scheduler_cli.main", "api"],
        env={**base, "SCHEDULER_API_PORT": str(free_port()), **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


@pytest.mark.e2e
@pytest.mark.timeout(60)
def test_an_unusable_redis_is_one_clear_line_not_a_traceback_per_worker(tmp_path: Path) -> None:
    started = time.monotonic()
    unreachable = f"redis://127.0.0.1:{embedded_redis.free_port()}/0"
    result = scheduler_api(REDIS_URL=unreachable, SCHEDULER_DATA_DIR=str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "cannot reach Redis" in result.stderr and "Traceback" not in result.stderr
    with embedded_redis.start_redis_server(tmp_path / "redis") as server:
        redis.Redis.from_url(server.url).config_set("maxmemory-policy", "allkeys-lru")
        result = scheduler_api(REDIS_URL=server.url, SCHEDULER_DATA_DIR=str(tmp_path))
    assert result.returncode == 2, result.stderr
    assert "allkeys-lru" in result.stderr and "Traceback" not in result.stderr
    assert "gunicorn" not in result.stderr + result.stdout  # refused before gunicorn started
    assert time.monotonic() - started < 30
