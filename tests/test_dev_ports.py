"""``scheduler dev`` with a port it needs already taken: one line naming the port's setting, and
whose it is (this project's leftover, or another program), exit 2, nothing started."""

from __future__ import annotations

import dataclasses
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from scheduler_cli.dev_ports import PortInUse, check_ports_free
from shared.config import Config
from tests.dev_support import dev_env
from tests.support import free_port, wait_until


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port this test process listens on (as any other program might)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def dev(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "scheduler_cli.main", "dev"]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


def test_a_port_taken_by_another_program_is_one_line_naming_its_setting(
    taken_port: int, tmp_path: Path
) -> None:
    result = dev(dev_env(tmp_path / "var", SCHEDULER_API_PORT=str(taken_port)))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {taken_port} (SCHEDULER_API_PORT) is already in use by " in result.stderr
    assert f"(pid {os.getpid()})" in result.stderr and "of this project" not in result.stderr
    assert not (tmp_path / "var").exists()  # checked before anything started


def test_a_metrics_port_names_its_setting_and_pool(taken_port: int, config: Config) -> None:
    ports = {"api_port": free_port(), "flower_port": free_port()}
    config = dataclasses.replace(config, **ports, worker_metrics_port=taken_port)
    with pytest.raises(PortInUse, match=r"SCHEDULER_WORKER_METRICS_PORT \(\+0: the push pool\)"):
        check_ports_free(config)


@pytest.mark.e2e  # a real API process holds the port
@pytest.mark.timeout(90)
def test_a_port_held_by_a_leftover_of_ours_says_so(clean_redis: str, tmp_path: Path) -> None:
    env = dev_env(tmp_path / "var", REDIS_URL=clean_redis)
    port = int(env["SCHEDULER_API_PORT"])
    api = subprocess.Popen(
        [sys.executable, "-m", "scheduler_cli.main", "api"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_until(lambda: listening(port), timeout_s=30, what="the leftover API")
        result = dev(env)
    finally:
        api.terminate()
        api.wait(timeout=30)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1, result.stderr
    assert f"port {port} (SCHEDULER_API_PORT) is held by `scheduler api`" in result.stderr
    assert f"(pid {api.pid}) of this project" in result.stderr
    assert f"kill {api.pid}" in result.stderr


def listening(port: int) -> bool:
    with socket.socket() as sock:
        return sock.connect_ex(("127.0.0.1", port)) == 0
