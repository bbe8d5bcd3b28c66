"""``scheduler dev``'s supervisor, with stand-in children: a ready line per child once its probe
says so, the URLs once all are, each child's output in its log file (its last lines shown when it
exits), and children that end with a parent that was SIGKILLed (shared.lifeline)."""

from __future__ import annotations

import dataclasses
import io
import signal
import subprocess
import sys
import threading
from pathlib import Path

import psutil
import pytest

from scheduler_cli.dev import ChildSpec, StopRequest, Supervisor, banner
from shared.config import Config
from tests.support import wait_until

SLEEPER = "import time; print('started', flush=True); time.sleep(60)"
# A parent that starts a sleeper which dies with it, prints the sleeper's pid, and waits.
PARENT = """
import subprocess, sys, time
from shared.lifeline import die_with_parent
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"],
                         preexec_fn=die_with_parent())
print(child.pid, flush=True)
time.sleep(60)
"""


def alive(pid: int) -> bool:
    """Running (a zombie waiting for whoever adopted it to reap it has ended)."""
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def python(code: str) -> list[str]:
    return [sys.executable, "-c", code]


def test_the_url_block_starts_with_the_landing_page_and_lists_every_port() -> None:
    config = Config.from_env({}, beat_metrics_port=9101, worker_metrics_port=9102)
    lines = banner(config, "redis://:secret@127.0.0.1:6390/0", None, Path("/d/logs")).splitlines()
    assert lines[:3] == [
        "",
        "scheduler dev: the service is running; Ctrl-C stops it.",
        "  API              http://127.0.0.1:8080/",
    ]
    assert "  Beat metrics     http://127.0.0.1:9101/metrics" in lines
    assert "  Jobs metrics     http://127.0.0.1:9105/metrics" in lines
    assert "  Flower           http://127.0.0.1:5555/" in lines
    assert "  Redis            redis://:***@127.0.0.1:6390/0 (from REDIS_URL)" in lines
    assert lines[-1] == "  Logs             /d/logs/NAME.log (or --verbose)"
    wildcard = dataclasses.replace(config, api_host="0.0.0.0")
    assert "  API              http://127.0.0.1:8080/" in banner(wildcard, "redis://r", None)


@pytest.mark.e2e  # starts child processes
@pytest.mark.timeout(60)
def test_ready_lines_come_as_probes_say_so_and_the_urls_after_all(tmp_path: Path) -> None:
    gate = tmp_path / "b-may-be-ready"
    specs = [
        ChildSpec("a", python(SLEEPER)),  # no probe: ready once started
        ChildSpec("b", python(SLEEPER), ready=gate.exists),
    ]
    out, said = io.StringIO(), []
    supervisor = Supervisor(specs, {}, log_dir=tmp_path / "logs", out=out, log=io.StringIO())
    stop = StopRequest()
    watcher = threading.Thread(target=supervisor.watch, args=(stop, lambda: said.append("urls")))
    supervisor.start()
    try:
        watcher.start()
        wait_until(lambda: "a ready" in out.getvalue(), what="a's ready line")
        assert "b ready" not in out.getvalue() and said == []
        gate.touch()
        wait_until(lambda: said == ["urls"], what="the URLs, once b is ready")
        assert [x.split(" (")[0] for x in out.getvalue().splitlines()] == [
            "scheduler dev: a ready",
            "scheduler dev: b ready",
        ]
    finally:
        stop.handle(signal.SIGTERM, None)
        watcher.join(timeout=10)
        supervisor.stop()
    assert (tmp_path / "logs" / "a.log").read_text() == "started\n"  # not in this terminal


@pytest.mark.e2e  # starts child processes
@pytest.mark.timeout(60)
def test_a_child_that_exits_shows_the_last_lines_of_its_log(tmp_path: Path) -> None:
    noisy = "import sys; print('\\n'.join(f'line {n}' for n in range(20))); sys.exit(3)"
    log = io.StringIO()
    supervisor = Supervisor([ChildSpec("noisy", python(noisy))], {}, log=log, log_dir=tmp_path)
    supervisor.start()
    try:
        assert supervisor.watch(StopRequest()) == 1
    finally:
        supervisor.stop()
    said = log.getvalue()
    assert f"noisy's last lines ({tmp_path / 'noisy.log'}):" in said
    assert "  | line 15\n" in said and "  | line 19\n" in said and "line 14" not in said
    assert "noisy exited with code 3; stopping the rest" in said


@pytest.mark.e2e  # starts child processes
@pytest.mark.timeout(60)
def test_a_child_ends_with_its_sigkilled_parent() -> None:
    parent = subprocess.Popen(python(PARENT), stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        assert alive(child)
        parent.kill()
        parent.wait(timeout=10)
        wait_until(lambda: not alive(child), what="the child to end")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
