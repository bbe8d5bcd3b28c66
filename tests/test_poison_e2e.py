"""Poison messages, end to end: tenant A's schedules that a pool cannot process sit next to
tenant B's schedule, with a real beat, a real worker pool and real receivers on 127.0.0.1. B's
fire still runs on time (a bounded lag), and each of A's is recorded as a failed run and
dead-lettered with its reason, never redelivered forever.

Before the gate and the limits, each of these stopped a pool: a callback receiver that trickles
its answer held a webhook process for hours (the read timeout restarts with every byte); two of
them held the whole pool. A message nested ~900 levels deep killed the worker's main process
(RecursionError pickling it for the pool) and, back in the queue, every restarted worker too. A
task class that ended its process (``os._exit``, ``sys.exit``, a hard kill) came back with its
message forever (``acks_late`` + reject on worker lost).
"""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from shared import beacon_jobs, schedules
from shared.accounts import create_account
from shared.config import Config
from shared.messages import build_message
from shared.model import OnceTrigger, Schedule, Target
from shared.store import Store
from tests.support import ROOT, HttpReceiver, ProcessGroup, basic, iso, now_ms, wait_until

LIMIT_S = 2  # SCHEDULER_ATTEMPT_TIME_LIMIT_S of the pools under test
HARD_S = LIMIT_S * 1.25 + 1  # when Celery kills a process that ignores the soft limit
SLACK_MS = 3000  # scheduling, forks and polling on a busy 2-core machine


def too_deep(levels: int = 900) -> Any:
    value: Any = "bottom"
    for _ in range(levels):
        value = [value]
    return value


def legacy(store: Store, account: str, dialect: str, target: Target, due_ms: int) -> Schedule:
    """A schedule written straight to the store, as one stored before the limits (or by a bug)
    would be: nothing checks it on the way in."""
    schedule = Schedule(
        id=f"legacy-{account[:6]}-{due_ms}",
        account=account,
        dialect=dialect,
        trigger=OnceTrigger(at_ms=due_ms),
        target=target,
        created_ms=now_ms(),
    )
    store.put_schedule(schedule, due_ms)
    return schedule


def dead_letter(store: Store, account: str, dialect: str, schedule_id: str) -> dict[str, Any]:
    def find() -> dict[str, Any] | None:
        letters = store.dead_letters(owner=(account, dialect))
        return next((d for d in letters if d["execution"]["schedule"] == schedule_id), None)

    return wait_until(find, timeout_s=30, what=f"dead letter of {schedule_id}")


def statuses(store: Store, schedule_id: str) -> list[str]:
    return [run.status for run in store.history(schedule_id)]


class Tarpit:
    """A callback receiver that answers 200 with a long body, one byte per 0.2 s: every read
    gets a byte well within the read timeout, so only a bound on the whole attempt ends it."""

    def __enter__(self) -> Tarpit:
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stop = threading.Event()
        self.hits = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()
        return self

    def _serve(self) -> None:
        self._server.settimeout(0.2)
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            self.hits += 1
            threading.Thread(target=self._trickle, args=(conn,), daemon=True).start()

    def _trickle(self, conn: socket.socket) -> None:
        with conn:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n")
            while not self._stop.wait(0.2):
                try:
                    conn.sendall(b"x")
                except OSError:
                    return

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=5)
        self._server.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}/cb"


@pytest.fixture
def tenants(store: Store) -> tuple[dict[str, str], dict[str, str]]:
    a = create_account(store, "tenant-a", secret_key=b"k" * 32, now_ms=now_ms())
    b = create_account(store, "tenant-b", secret_key=b"k" * 32, now_ms=now_ms())
    return a, b


def pool_settings(**more: Any) -> dict[str, Any]:
    return {
        "attempt_time_limit_s": LIMIT_S,
        "max_attempts": 2,
        "max_deliveries": 2,
        "retry_base_s": 0.2,
        "retry_max_s": 0.4,
        **more,
    }


# --- webhooks ----------------------------------------------------------------------------------


def test_webhooks_tarpits_and_a_deep_message_leave_another_tenants_callback_on_time(
    local_api: tuple[FlaskClient, dict[str, str]],
    store: Store,
    processes: ProcessGroup,
    receiver: HttpReceiver,
    tenants: tuple[dict[str, str], dict[str, str]],
) -> None:
    api, _ = local_api
    a, b = tenants
    processes.beat()
    processes.worker("webhooks", concurrency=2, **pool_settings())
    wait_until(store.last_beat_ms, what="beat running")
    headers = {"Content-Type": "application/json"}
    with Tarpit() as tarpit:
        start = now_ms() + 1500
        # Two tarpits (as many as the pool has processes), created through the API...
        pits = [
            api.post(
                "/1/jobs",
                data=json.dumps({"url": tarpit.url, "data": "a", "when": iso(start)}),
                headers={**basic(a), **headers},
            ).get_data(as_text=True)
            for _ in range(2)
        ]
        # ... and a stored definition too deep for any pool, all due just before B's callback.
        spec = {"url": receiver.url + "/a", "data": "a", "extra": too_deep()}
        deep = legacy(store, a["appkey"], "webhook_jobs", Target("webhook", spec), start)
        due_b = start + 500
        api.post(
            "/1/jobs",
            data=json.dumps({"url": receiver.url + "/b", "data": "b", "when": iso(due_b)}),
            headers={**basic(b), **headers},
        )

        hit = wait_until(lambda: receiver.requests, timeout_s=30, what="B's callback")[0]
        assert hit.path == "/b" and hit.body == b"b"
        assert hit.at_ms - due_b < LIMIT_S * 1000 + SLACK_MS

        letter = dead_letter(store, a["appkey"], "webhook_jobs", deep.id)
        assert "nested more than 40 levels deep" in letter["error"]
        assert statuses(store, deep.id) == ["failed"]
        for pit in pits:
            letter = dead_letter(store, a["appkey"], "webhook_jobs", pit)
            assert f"ran past {LIMIT_S} s" in letter["error"]
            assert statuses(store, pit) == ["dead", "retrying"]  # newest first
        assert tarpit.hits == 4  # two attempts each, then never again
    assert [r.path for r in receiver.requests] == ["/b"]  # the deep one was never delivered


# --- tasks -------------------------------------------------------------------------------------

HOSTILE_CLASSES = """
import os, time

class Exit:  # ends its process: nothing in it can record anything
    def run(self, ctx):
        os._exit(3)

class SysExit:
    def run(self, ctx):
        raise SystemExit(3)

class Hang:  # swallows the soft time limit, so only the hard kill ends it
    def run(self, ctx):
        while True:
            try:
                time.sleep(0.05)
            except BaseException:
                pass
"""


@pytest.fixture
def hostile_plugin(tmp_path: Path) -> Path:
    """An installed plugin (an entry point of group ``scheduler.tasks``) with hostile classes."""
    site = tmp_path / "site"
    info = site / "hostile_tasks-1.0.dist-info"
    info.mkdir(parents=True)
    (site / "hostile_tasks.py").write_text(HOSTILE_CLASSES)
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: hostile-tasks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[scheduler.tasks]\n"
        + "".join(f"\\Hostile\\{c} = hostile_tasks:{c}\n" for c in ("Exit", "SysExit", "Hang"))
    )
    return site


def task_target(class_name: str) -> Target:
    spec = {"class_name": class_name, "data": {}, "task_id": "1", "name": "t", "user_id": "1"}
    return Target("task", spec)


def once(store: Store, config: Config, account: str, target: Target, due_ms: int) -> Schedule:
    """A one-shot through the core's checks (what the API would store)."""
    schedule = Schedule(
        id=f"once-{account[:6]}-{target.spec.get('class_name', '')[-7:]}-{due_ms}",
        account=account,
        dialect="task_scheduler",
        trigger=OnceTrigger(at_ms=due_ms),
        target=target,
        created_ms=now_ms(),
    )
    schedules.create(store, config, schedule, now_ms=schedule.created_ms)
    return schedule


def test_tasks_classes_that_exit_crash_or_hang_leave_another_tenants_task_on_time(
    config: Config,
    store: Store,
    processes: ProcessGroup,
    tenants: tuple[dict[str, str], dict[str, str]],
    hostile_plugin: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    a, b = tenants
    base_env = processes.env
    monkeypatch.setattr(  # the worker sees the plugin installed
        processes, "env", lambda **s: {**base_env(**s), "PYTHONPATH": f"{ROOT}:{hostile_plugin}"}
    )
    processes.beat()
    processes.worker("tasks", concurrency=2, **pool_settings())
    wait_until(store.last_beat_ms, what="beat running")
    start = now_ms() + 2000
    hostile = {
        name: once(store, config, a["appkey"], task_target(f"\\Hostile\\{name}"), start)
        for name in ("Exit", "SysExit", "Hang")
    }
    due_b = start + 500
    backup = once(store, config, b["appkey"], task_target("\\scheduler\\Tasks\\BackupTask"), due_b)

    runs = wait_until(lambda: store.history(backup.id), timeout_s=30, what="B's task")
    assert runs[0].status == "succeeded", runs[0]
    assert (runs[0].started_ms or 0) - due_b < HARD_S * 1000 + SLACK_MS

    lost = dead_letter(store, a["appkey"], "task_scheduler", hostile["Exit"].id)
    assert "delivered 2 times and never finished" in lost["error"]
    assert statuses(store, hostile["Exit"].id) == ["failed"]
    exited = dead_letter(store, a["appkey"], "task_scheduler", hostile["SysExit"].id)
    assert exited["error"].startswith("SystemExit")
    hung = dead_letter(store, a["appkey"], "task_scheduler", hostile["Hang"].id)
    assert "delivered 2 times and never finished" in hung["error"]
    # Dead letters are final: nothing of A's runs again.
    seen = {s.id: statuses(store, s.id) for s in hostile.values()}
    time.sleep(HARD_S)
    assert {s.id: statuses(store, s.id) for s in hostile.values()} == seen


# --- jobs --------------------------------------------------------------------------------------


def raw_message(task: str, task_id: str, queue: str, body: bytes) -> str:
    """A task message whose body is ``body`` as it is (possibly not JSON at all)."""
    message = json.loads(build_message(task, task_id, queue, [{}]))
    message["body"] = base64.b64encode(body).decode()
    return json.dumps(message)


def test_jobs_deep_malformed_and_undecodable_messages_leave_another_tenants_job_on_time(
    config: Config,
    store: Store,
    processes: ProcessGroup,
    tenants: tuple[dict[str, str], dict[str, str]],
) -> None:
    a, b = tenants
    processes.beat()
    processes.worker("jobs", concurrency=2, **pool_settings())
    wait_until(store.last_beat_ms, what="beat running")
    start = now_ms() + 1500
    template = {"name": "j", "user": "u", "beacon_name": "default", "tasks": too_deep()}
    deep = legacy(
        store, a["appkey"], "beacon_jobs", Target("beacon", {"job_id": 1, "job": template}), start
    )
    spawn = "workers.jobs.spawn"
    malformed_id = f"{deep.id}x:{start}"
    message = build_message(spawn, malformed_id, "jobs", [{"account": a["appkey"]}])
    store.publish("jobs", message, route=malformed_id)
    garbage_id = f"{deep.id}y:{start}"
    store.publish("jobs", raw_message(spawn, garbage_id, "jobs", b"\xff not json"), garbage_id)

    new = beacon_jobs.NewJob(name="b", user="u", schedule=True, cron={"min": "*"})
    scheduled = beacon_jobs.create_job(store, config, {"appkey": b["appkey"]}, new, now_ms=now_ms())
    b_schedule = beacon_jobs.schedule_id(b["appkey"], scheduled["id"])
    due_b = start + 500
    store.redis.zadd(store.keys.due(), {b_schedule: due_b})

    runs = wait_until(lambda: store.history(b_schedule), timeout_s=30, what="B's spawn")
    assert runs[0].status == "succeeded", runs[0]
    assert (runs[0].started_ms or 0) - due_b < SLACK_MS
    assert len(store.job_ids(b["appkey"])) == 2  # the scheduled job and its queued instance

    letter = dead_letter(store, a["appkey"], "beacon_jobs", deep.id)
    assert "nested more than 40 levels deep" in letter["error"]
    assert "spec" not in letter["execution"]["target"]  # the poison itself is not kept
    malformed = wait_until(lambda: store.dead_letter(malformed_id), what="malformed refused")
    assert "malformed message" in malformed["error"]
    garbage = wait_until(lambda: store.dead_letter(garbage_id), what="undecodable refused")
    assert "undecodable message" in garbage["error"]
    assert store.job_ids(a["appkey"]) == []
