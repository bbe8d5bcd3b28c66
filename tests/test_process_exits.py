"""How the service's processes end, and come back: a Celery process ends with Celery's exit
code, and ``scheduler dev`` starts again a beat or worker that failed (a process manager's job),
with a pause that grows while it keeps failing."""

from __future__ import annotations

import io
import signal
import sys
import threading
from pathlib import Path

import pytest

from scheduler_cli import dev
from scheduler_cli.dev import ChildSpec, StopRequest, Supervisor, restart_delay, service_children
from scheduler_cli.main import run_celery
from tests.support import wait_until

# Appends a line to the file it is given each time it starts, then exits with the given code.
STARTS = "import sys; open(sys.argv[1], 'a').write('started\\n'); sys.exit(int(sys.argv[2]))"
SLEEPER = "import time; time.sleep(60)"


def python(code: str, *args: object) -> list[str]:
    return [sys.executable, "-c", code, *map(str, args)]


def starts(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


def test_the_pause_doubles_up_to_a_bound() -> None:
    assert [restart_delay(n) for n in range(1, 8)] == [1, 2, 4, 8, 16, 30, 30]


def test_beat_and_workers_are_restarted_the_api_and_flower_are_not() -> None:
    restart = {spec.name: spec.restart for spec in service_children()}
    assert restart.pop("beat") and all(restart.pop(f"worker-{p}") for p in dev.POOLS)
    assert restart == {"api": False, "flower": False}


def test_celerys_exit_code_is_the_commands(monkeypatch: pytest.MonkeyPatch) -> None:
    from celery.bin.celery import celery

    from shared.celery_app import app

    # What click's main hands back, not standalone, once a worker ended with ctx.exit(1)
    # ("Unrecoverable error"); Celery's own start drops it, which is why run_celery exists.
    monkeypatch.setattr(celery, "main", lambda **_: 1)
    assert app.start(["worker"]) is None
    assert run_celery(["worker"]) == 1
    monkeypatch.setattr(celery, "main", lambda **_: None)  # a command that just returned
    assert run_celery(["beat"]) == 0


@pytest.mark.e2e  # starts child processes
@pytest.mark.timeout(60)
def test_a_failing_worker_is_started_again_after_a_growing_pause(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(dev, "RESTART_FIRST_DELAY_S", 0.2)
    log = io.StringIO()
    counter = tmp_path / "starts"
    specs = [
        ChildSpec("api", python(SLEEPER)),
        ChildSpec("worker-webhooks", python(STARTS, counter, 3), restart=True),
    ]
    supervisor = Supervisor(specs, {}, stop_timeout_s=5, log=log)
    stop = StopRequest()
    outcome: list[int] = []
    watcher = threading.Thread(target=lambda: outcome.append(supervisor.watch(stop)))
    supervisor.start()
    try:
        watcher.start()
        wait_until(lambda: starts(counter) >= 3, what="two restarts")
        assert supervisor.children["api"].poll() is None  # the rest of the service stays up
        stop.handle(signal.SIGTERM, None)
        watcher.join(timeout=10)
    finally:
        supervisor.stop()
    assert outcome == [0]
    said = log.getvalue()
    assert "worker-webhooks exited with code 3 (failure 1 in a row); starting it again" in said
    assert "(failure 1 in a row); starting it again in 0.2 s" in said
    assert "(failure 2 in a row); starting it again in 0.4 s" in said
    assert "stopping the rest" not in said


@pytest.mark.e2e  # starts child processes
@pytest.mark.timeout(60)
def test_a_worker_that_exits_0_on_its_own_stops_the_service(tmp_path: Path) -> None:
    log = io.StringIO()
    specs = [
        ChildSpec("api", python(SLEEPER)),
        ChildSpec("worker-webhooks", python(STARTS, tmp_path / "starts", 0), restart=True),
    ]
    supervisor = Supervisor(specs, {}, stop_timeout_s=5, log=log)
    supervisor.start()
    try:
        assert supervisor.watch(StopRequest()) == 1
    finally:
        supervisor.stop()
    assert "worker-webhooks exited with code 0; stopping the rest" in log.getvalue()
    assert supervisor.children["api"].returncode == -signal.SIGTERM
