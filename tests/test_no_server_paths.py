"""Error messages never show a tenant where the server keeps its files.

A session that makes things fail the way files fail (a backup folder in the way, an unreachable
task class, a broken task classes file), with a real ``tasks`` worker, and every answer it got
searched for the data dir."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scheduler_api.app import create_app
from shared.public_errors import without_paths
from shared.store import Store
from tests.support import ProcessGroup, basic
from tests.test_dashboard import login_form
from tests.test_task_scheduler_api import (
    BACKUP,
    REPORT,
    TaskApi,
    app_config,
    new_account,
    task_body,
)


class Recorder:
    """A test client that keeps every answer's headers and body."""

    def __init__(self, client: FlaskClient) -> None:
        self.client = client
        self.answers: list[str] = []

    def open(self, *args: Any, **kwargs: Any) -> TestResponse:
        response = self.client.open(*args, **kwargs)
        self.answers.append(f"{response.headers}\n{response.get_data(as_text=True)}")
        return response


def test_without_paths_keeps_the_file_name_and_leaves_urls_alone() -> None:
    error = str(FileExistsError(17, "File exists", "/srv/scheduler/var/backups"))
    assert without_paths(f"FileExistsError: {error}") == (
        "FileExistsError: [Errno 17] File exists: 'backups'"
    )
    url = "HTTP 500 from https://example.com/hooks/run/1 and http://127.0.0.1:9/a/b"
    assert without_paths(url) == url
    assert without_paths("Error 2 connecting to unix socket: /run/redis/redis.sock.") == (
        "Error 2 connecting to unix socket: redis.sock."
    )
    started = time.monotonic()
    without_paths("/a" * 100_000 + " " + "/" * 100_000 + "x/" * 100_000)
    assert time.monotonic() - started < 1.0  # linear: hostile text can't stall a worker


def test_no_answer_in_a_session_shows_the_data_dir(
    tmp_path: Path, clean_redis: str, store: Store, processes: ProcessGroup
) -> None:
    config = app_config(clean_redis, tmp_path, task_execute_timeout_s=30)
    processes.worker("tasks", task_classes_file=config.task_classes_file, max_attempts=1)
    creds = new_account(store, config, "acme", "UTC")
    recorder = Recorder(create_app(config).test_client())
    api = TaskApi(recorder, creds)  # type: ignore[arg-type]

    backup = api.add(name="Backup", class_name=BACKUP, active=False)
    written = api.ok("executeTask", taskId=backup["id"])["message"]
    assert written.startswith("Backup written: backup-")
    shutil.rmtree(tmp_path / "backups")
    (tmp_path / "backups").write_text("a file where the backup folder should be")
    failed = api.call("executeTask", taskId=backup["id"]).get_json()
    assert failed["success"] == 0 and "File exists: 'backups'" in failed["message"]

    report = api.add(name="Report", class_name=REPORT, active=False)  # nobody listens there
    assert api.call("executeTask", taskId=report["id"]).get_json()["success"] == 0
    for task in (backup, report):
        api.ok("getTaskHistory", taskId=task["id"])
    api.ok("getTasks")

    userkey = {"userkey": creds["userkey"]}
    job = recorder.open("/api/jobs", method="POST", data={**userkey, "name": "j"}).get_json()
    recorder.open(f"/api/jobs/{job['id']}", query_string={**userkey, "action": "history"})
    recorder.open("/1/jobs/dead-letters", headers=basic(creds))
    form = login_form(recorder.client, creds)
    page = recorder.open("/dashboard/login", method="POST", data=form, follow_redirects=True)
    assert "File exists" in page.get_data(as_text=True)  # the failed run, among recent runs
    recorder.open("/readyz")

    Path(config.task_classes_file).write_text("{not json")  # an operator's typo
    broken = api.call("addTask", task_body(class_name=REPORT))
    assert broken.status_code == 500 and "task-classes.json" in broken.get_json()["message"]

    leaks = [answer for answer in recorder.answers if str(tmp_path) in answer]
    assert leaks == []
    assert not any(json.dumps(str(tmp_path))[1:-1] in answer for answer in recorder.answers)
