"""The reference beacon agent as a real process (``python -m scheduler_cli.main beacon``) against
a real API served on 127.0.0.1: it runs tasks in order, reports progress and results, outlives
API restarts, and stops cleanly on SIGTERM."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from werkzeug.serving import BaseWSGIServer

from scheduler_api.app import create_app
from scheduler_api.serving import capped_server
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import UNLIMITED, HttpReceiver, ProcessGroup, now_ms, wait_until

# Run alone after the parallel pass (Makefile): it stops its API server and expects the agent
# to find nothing on that port meanwhile (a test running in parallel could bind it).
pytestmark = pytest.mark.serial


class ApiServer:
    """The API app served by werkzeug in a thread; it can be stopped and started again on the
    same port (an API restart, as the agent sees it)."""

    def __init__(self, app: Flask) -> None:
        self.app = app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: BaseWSGIServer | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.server = capped_server("127.0.0.1", self.port, self.app)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server.server_close()
            self.server = None


@pytest.fixture
def served(clean_redis: str, tmp_path: Path, store: Store) -> Iterator[tuple[ApiServer, str]]:
    config = Config.from_env(
        {},
        redis_url=clean_redis,
        data_dir=str(tmp_path),
        target_allowlist=("127.0.0.0/8",),
        **UNLIMITED,  # the test polls the job far faster than a client may
    )
    creds = create_account(store, "example", secret_key=load_secret_key(config), now_ms=now_ms())
    server = ApiServer(create_app(config))
    try:
        yield server, creds["userkey"]
    finally:
        server.stop()


def agent(processes: ProcessGroup, server: ApiServer, userkey: str) -> subprocess.Popen[bytes]:
    return processes.start(
        [
            "scheduler_cli.main",
            "beacon",
            "--name",
            "box-1",
            "--url",
            server.url,
            f"--userkey={userkey}",  # as README writes it: takes a key starting with "-" too
            "--poll-s",
            "0.2",
            "--max-backoff-s",
            "0.5",
        ]
    )


def create(server: ApiServer, userkey: str, tasks: list[dict[str, Any]]) -> int:
    client = server.app.test_client()
    response = client.post(
        "/api/jobs",
        data={
            "userkey": userkey,
            "name": "job",
            "beacon_name": "box-1",
            "q": "1",
            "tasks": json.dumps(tasks),
        },
    )
    assert response.status_code == 200, response.get_json()
    return response.get_json()["id"]


def show(server: ApiServer, userkey: str, job_id: int, action: str = "show") -> Any:
    client = server.app.test_client()
    response = client.get(
        f"/api/jobs/{job_id}", query_string={"userkey": userkey, "action": action}
    )
    return response.get_json()


def finished(server: ApiServer, userkey: str, job_id: int) -> Any:
    job = show(server, userkey, job_id)
    return job if job["status"] == "finished" else None


def test_the_agent_runs_tasks_in_order_and_finishes_with_their_results(
    served: tuple[ApiServer, str], processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    server, userkey = served
    server.start()
    processes.worker("jobs")
    tasks = [
        {"type": "shell", "command": "echo hello; echo oops >&2", "timeout": 5},
        {"type": "http", "method": "POST", "url": receiver.url + "/hook", "body": "ping"},
        {"type": "shell", "command": "exit 3"},
        {"type": "shell", "command": "echo never"},
    ]
    job_id = create(server, userkey, tasks)
    agent(processes, server, userkey)
    job = wait_until(lambda: finished(server, userkey, job_id), what="the job to finish")
    shell, http, failing, skipped = job["result"]
    assert (shell["status"], shell["stdout"], shell["stderr"]) == ("ok", "hello\n", "oops\n")
    assert (http["status"], http["http_status"], http["body"]) == ("ok", 200, "ok")
    assert [r.body for r in receiver.requests] == [b"ping"]
    assert (failing["status"], failing["exit_code"]) == ("failed", 3)
    assert skipped["status"] == "skipped"
    assert job["cur_task"] == 2  # the last task it got to
    history = wait_until(
        lambda: [e for e in show(server, userkey, job_id, "history") if e["event"] == "result"],
        what="the results in the history",
    )
    assert [e["result"]["status"] for e in history] == ["ok", "ok", "failed", "skipped"]
    progress = wait_until(
        lambda: (
            sorted(
                e["cur_task"]
                for e in show(server, userkey, job_id, "history")
                if e["event"] == "cur_task"
            )
            or None
        ),
        what="the progress events",
    )
    assert progress == [0, 1, 2]


def test_the_agent_outlives_api_restarts(
    served: tuple[ApiServer, str], processes: ProcessGroup
) -> None:
    server, userkey = served
    proc = agent(processes, server, userkey)  # the API is not up yet
    first = create(server, userkey, [{"type": "shell", "command": "echo one"}])
    wait_until(lambda: "API unavailable" in processes.logs(), what="the agent to retry")
    server.start()
    assert wait_until(lambda: finished(server, userkey, first))["result"][0]["stdout"] == "one\n"
    server.stop()
    retries = processes.logs().count("API unavailable")
    wait_until(
        lambda: processes.logs().count("API unavailable") > retries, what="retries while down"
    )
    second = create(server, userkey, [{"type": "shell", "command": "echo two"}])
    server.start()
    assert wait_until(lambda: finished(server, userkey, second))["result"][0]["stdout"] == "two\n"
    assert proc.poll() is None


def test_sigterm_stops_the_agent_cleanly_and_finishes_its_job(
    served: tuple[ApiServer, str], processes: ProcessGroup
) -> None:
    server, userkey = served
    server.start()
    job_id = create(
        server,
        userkey,
        [{"type": "shell", "command": "sleep 30"}, {"type": "shell", "command": "echo after"}],
    )
    proc = agent(processes, server, userkey)
    wait_until(lambda: show(server, userkey, job_id)["cur_task"] == 0, what="the first task to run")
    stopped_at = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert time.monotonic() - stopped_at < 5
    job = show(server, userkey, job_id)
    assert job["status"] == "finished"
    assert [r["status"] for r in job["result"]] == ["stopped", "skipped"]
    assert "stopped" in processes.logs()


def test_a_rate_limited_agent_waits_as_long_as_retry_after_says(
    capsys: pytest.CaptureFixture[str],
) -> None:
    from scheduler_cli.beacon import Agent

    with HttpReceiver(statuses=[429, 200], headers={"Retry-After": "1"}) as api:
        agent = Agent(api.url, "box-1", "key", max_backoff_s=5)
        started = time.monotonic()
        answer = agent.call("POST", "/api/jobs/1", {"action": "start"})
        waited = time.monotonic() - started
        assert answer is not None and answer.status_code == 200
        assert api.count() == 2  # the 429 was retried, not returned
    assert "HTTP 429" in capsys.readouterr().err
    assert waited >= 0.9  # Retry-After (1 s), not the first backoff step (at most 0.25 s)
