"""The operator commands as real processes: a reader that goes away (``| head -1``) and a Redis
that is not there end them quietly, never with a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shared.contract import DialectName
from shared.model import CronTrigger, Schedule, Target
from shared.store import Store
from tests.support import ROOT, free_port
from tests.test_cli import scheduler

pytestmark = [pytest.mark.e2e, pytest.mark.timeout(60)]

SCHEDULES = 1500  # a listing of well over a pipe's 64 KiB buffer


def many_schedules(store: Store, appkey: str) -> None:
    store.put_account({"appkey": appkey, "name": "acme", "userkey_sha256": "x", "created_ms": 1})
    store.put_schedules(
        (
            Schedule(
                id=f"s{n:05}",
                account=appkey,
                dialect=DialectName.CLI,
                trigger=CronTrigger("0 9 * * *"),
                target=Target("webhook", {"url": "http://127.0.0.1:9/hook"}),  # type: ignore[arg-type]
                created_ms=1_000 + n,
            ),
            1_800_000_000_000,
        )
        for n in range(SCHEDULES)
    )


def env_of(redis_url: str, tmp_path: Path) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("SCHEDULER_", "REDIS_URL"))}
    return {**base, "REDIS_URL": redis_url, "SCHEDULER_DATA_DIR": str(tmp_path)}


@pytest.mark.parametrize("mode", [(), ("--json",)])
def test_a_reader_that_stops_early_gets_what_it_read_and_no_traceback(
    clean_redis: str, tmp_path: Path, mode: tuple[str, ...]
) -> None:
    many_schedules(Store.from_url(clean_redis), "acme-key")
    command = f"{sys.executable} -m scheduler_cli.main schedules list {' '.join(mode)} | head -1"
    piped = subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        cwd=ROOT,
        env=env_of(clean_redis, tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert piped.stderr == ""
    assert piped.returncode == 0  # with pipefail: our exit code too
    header = "ACCOUNT ID API NAME STATE TRIGGER TARGET NEXT FIRE"
    assert piped.stdout.split() == (["["] if mode else header.split())


def test_a_pipe_closed_before_the_first_line_is_no_error(clean_redis: str, tmp_path: Path) -> None:
    """The reader is gone before anything is written (even a short listing's one flush fails)."""
    Store.from_url(clean_redis).put_account({"appkey": "k", "name": "acme", "userkey_sha256": "x"})
    reader, writer = os.pipe()
    os.close(reader)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "scheduler_cli.main", "accounts", "list"],
            cwd=ROOT,
            env=env_of(clean_redis, tmp_path),
            stdout=writer,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
    finally:
        os.close(writer)
    assert (done.returncode, done.stderr) == (0, "")


@pytest.mark.parametrize(
    "command",
    [
        ("schedules", "list"),
        ("schedules", "show", "some-id", "--json"),
        ("dead-letters", "list"),
        ("accounts", "list", "--json"),
        ("api-keys", "list", "acme"),
    ],
)
def test_a_missing_redis_is_one_line_and_exit_2(tmp_path: Path, command: tuple[str, ...]) -> None:
    nobody = f"redis://127.0.0.1:{free_port()}/0"  # a port nothing listens on
    result = scheduler(*command, REDIS_URL=nobody, SCHEDULER_DATA_DIR=str(tmp_path))
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("scheduler: cannot reach Redis")
    assert "REDIS_URL" in result.stderr
    assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr


def test_no_redis_configured_at_all_is_one_line_too(tmp_path: Path) -> None:
    result = scheduler("schedules", "list", SCHEDULER_DATA_DIR=str(tmp_path))
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1
    assert "REDIS_URL is not set" in result.stderr
