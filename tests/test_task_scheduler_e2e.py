"""Task scheduler end to end: the API, a real beat and a real ``tasks`` worker pool, HTTP-mapped
classes served on 127.0.0.1, BackupTask's snapshot and ``scheduler restore``."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

from scheduler_api.app import create_app
from shared.store import Store
from tests.support import ROOT, HttpReceiver, ProcessGroup, now_ms, wait_until
from tests.test_task_scheduler_api import (
    BACKUP,
    REPORT,
    TaskApi,
    app_config,
    new_account,
    schedule_id,
)

HOLDING = "Holding tank processed. 0 IPv4 and 0 IPv6 blocks moved to the available pool. "


@pytest.fixture
def endpoint() -> Iterator[HttpReceiver]:
    """An application's endpoint for an HTTP-mapped class."""
    with HttpReceiver(answer=json.dumps({"message": HOLDING}).encode()) as server:
        yield server


@pytest.fixture
def live(
    tmp_path: Path, clean_redis: str, store: Store, endpoint: HttpReceiver, processes: ProcessGroup
) -> TaskApi:
    """The API and a ``tasks`` worker sharing one classes file (REPORT -> ``endpoint``)."""
    classes = tmp_path / "task-classes.json"
    classes.write_text(json.dumps({REPORT: f"{endpoint.url}/run"}))
    # a long wait: the first executeTask may come before the worker has started
    config = app_config(clean_redis, tmp_path, task_execute_timeout_s=30)
    processes.worker("tasks", task_classes_file=str(classes), max_attempts=1)
    creds = new_account(store, config, "usernamehere", "America/Chicago")
    return TaskApi(create_app(config).test_client(), creds)


def messages(api: TaskApi, task_id: str) -> list[str]:
    return [entry["message"] for entry in api.ok("getTaskHistory", taskId=task_id)["data"]]


def test_execute_runs_an_inactive_http_class_and_answers_its_message(
    live: TaskApi, endpoint: HttpReceiver, store: Store
) -> None:
    task = live.add(
        name="Process Holding Tank", class_name=REPORT, data={"pool": "v4"}, active=False
    )
    answer = live.ok("executeTask", taskId=task["id"])
    assert answer == {"success": 1, "message": HOLDING, "data": None}
    called_with = [json.loads(r.body) for r in endpoint.requests]
    assert called_with == [{"pool": "v4"}]  # the task's data

    history = live.ok("getTaskHistory", taskId=task["id"])["data"]
    assert [entry["message"] for entry in history] == [
        f"task_id=1 task=Process Holding Tank action=finished message={HOLDING}",
        "task_id=1 task=Process Holding Tank action=started",
        'Task "Process Holding Tank" (1) added',
    ]
    assert [int(e["log_id"]) for e in history] == sorted(
        (int(e["log_id"]) for e in history), reverse=True
    )
    assert history[0]["ip"] == "127.0.0.1" and history[0]["user_id"] == "31"
    [listed] = live.ok("getTasks")["data"]
    assert listed["last_run"] == history[1]["time"]
    assert store.next_fire_ms(schedule_id(live, task["id"])) is None  # still never scheduled


def test_a_failing_http_class_is_reported_and_recorded(
    live: TaskApi, endpoint: HttpReceiver
) -> None:
    endpoint.statuses, endpoint.answer = [500], b"database is down"
    task = live.add(name="Report", class_name=REPORT, active=False)
    response = live.call("executeTask", taskId=task["id"])
    answer = response.get_json()
    assert response.status_code == 200 and answer["success"] == 0
    assert answer["message"] == 'Task "Report" (1) failed: HTTP 500: database is down'
    failed = live.ok("getTaskHistory", taskId=task["id"])["data"][0]
    assert (
        failed["message"] == "task_id=1 task=Report action=failed error=HTTP 500: database is down"
    )
    assert failed["log_level"] == "3"


def test_a_scheduled_backup_runs_on_its_own_and_restore_brings_it_back(
    live: TaskApi, store: Store, processes: ProcessGroup, tmp_path: Path, clean_redis: str
) -> None:
    processes.beat()
    wait_until(store.last_beat_ms, what="beat running")
    task = live.add(name="Nightly backup", class_name=BACKUP)
    sid = schedule_id(live, task["id"])
    # Let "20:00 on a Thursday" come now: the same verb an edit uses, with the fire moved.
    schedule = store.get_schedule(sid)
    assert schedule is not None
    store.put_schedule(schedule, now_ms() + 200, new=False)

    wait_until(lambda: "action=finished" in messages(live, task["id"])[0], what="the scheduled run")
    [scheduled_run] = [m for m in messages(live, task["id"]) if "action=finished" in m]
    assert "message=Backup written:" in scheduled_run and "(1 schedules)" in scheduled_run
    next_ms = store.next_fire_ms(sid)
    assert next_ms is not None and next_ms > now_ms()  # back on its calendar
    backups = sorted((tmp_path / "backups").glob("backup-*.json"))
    assert len(backups) == 1

    manual = live.ok("executeTask", taskId=task["id"])  # and by hand, as well
    assert manual["message"].startswith("Backup written:")
    assert messages(live, task["id"])[:4] == [
        f"task_id=1 task=Nightly backup action=finished message={manual['message']}",
        "task_id=1 task=Nightly backup action=started",
        scheduled_run,
        "task_id=1 task=Nightly backup action=started",
    ]
    before = live.ok("getTasks")["data"]

    redis.Redis.from_url(clean_redis).flushdb()
    restore = subprocess.run(
        [sys.executable, "-m", "scheduler_cli", "restore", str(backups[0])],
        env=processes.env(),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert restore.returncode == 0, restore.stderr
    assert "Restored 1 schedules of account 'usernamehere'" in restore.stdout
    assert sid in restore.stdout and "Nightly backup" in restore.stdout
    after = live.ok("getTasks")["data"]
    assert [{**t, "last_run": None} for t in after] == [{**t, "last_run": None} for t in before]
    assert store.next_fire_ms(sid) is not None
    assert live.add(name="Another")["id"] == "2"  # the id counter came back too
