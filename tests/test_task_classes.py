"""The task class registry (entry points, the HTTP mapping file) and BackupTask's snapshot,
rotation and restore, against a real Redis."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest
import redis

from shared.backup import (
    BackupTask,
    backup_dir,
    read_backup,
    restore_backup,
    take_snapshot,
    write_backup,
)
from shared.config import Config
from shared.errors import ConfigError
from shared.store import Store
from shared.task_classes import TaskContext, TaskFailed, registered
from tests.support import basic
from tests.test_task_scheduler_api import BACKUP, REPORT, TaskApi, api  # noqa: F401
from workers.task_classes import HttpTask, message_of, resolve


def config_with(tmp_path: Path, **settings: object) -> Config:
    return Config.from_env({}, data_dir=str(tmp_path), **settings)  # type: ignore[arg-type]


def test_backup_task_is_registered_through_the_installed_entry_point() -> None:
    from importlib.metadata import entry_points

    points = {ep.name: ep.value for ep in entry_points(group="scheduler.tasks")}
    assert points[BACKUP] == "shared.backup:BackupTask"
    assert isinstance(resolve(BACKUP, Config()), BackupTask)
    assert isinstance(resolve("scheduler\\Tasks\\BackupTask", Config()), BackupTask)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("classes.json", json.dumps({REPORT: "https://reports.example.com/run"})),
        ("classes.toml", '"\\\\App\\\\Tasks\\\\SendReport" = "https://reports.example.com/run"\n'),
    ],
)
def test_the_classes_file_maps_names_to_endpoints(tmp_path: Path, name: str, content: str) -> None:
    path = tmp_path / name
    path.write_text(content)
    config = config_with(tmp_path, task_classes_file=str(path))
    assert registered(config)[REPORT] == "https://reports.example.com/run"
    assert resolve(REPORT, config) == HttpTask("https://reports.example.com/run")


def test_an_edited_classes_file_is_read_again(tmp_path: Path) -> None:
    path = tmp_path / "classes.json"
    path.write_text(json.dumps({REPORT: "https://a.example.com/"}))
    config = config_with(tmp_path, task_classes_file=str(path))
    assert REPORT in registered(config)
    path.write_text(json.dumps({"\\App\\Tasks\\Other": "https://a.example.com/"}))
    os.utime(path, ns=(1, 1))  # a different mtime, however fast the test runs
    assert REPORT not in registered(config) and "\\App\\Tasks\\Other" in registered(config)


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        ("{not json", "SCHEDULER_TASK_CLASSES_FILE"),
        ("[1, 2]", "expected an object"),
        (json.dumps({REPORT: "ftp://example.com/"}), "must map to an http(s) URL"),
    ],
)
def test_a_bad_classes_file_says_what_is_wrong(tmp_path: Path, content: str, expected: str) -> None:
    path = tmp_path / "classes.json"
    path.write_text(content)
    with pytest.raises(ConfigError, match=expected.replace("(", r"\(").replace(")", r"\)")):
        registered(config_with(tmp_path, task_classes_file=str(path)))


def test_an_unknown_class_lists_the_registered_ones() -> None:
    with pytest.raises(TaskFailed, match=r"unknown task class .*registered: .*BackupTask"):
        resolve("\\No\\Such", Config())


def test_message_of_an_answer() -> None:
    assert message_of('{"message": "done: 3 rows", "x": 1}') == "done: 3 rows"
    assert message_of("  plain text\n") == "plain text"
    assert message_of('["not", "an object"]') == '["not", "an object"]'


def test_an_http_class_is_refused_a_private_address_unless_allowlisted(
    tmp_path: Path, store: Store
) -> None:
    ctx = TaskContext(Config(), store, "a", "1", "n", REPORT, {}, "x:1")
    with pytest.raises(TaskFailed, match="private|loopback") as failure:
        HttpTask("http://127.0.0.1:9/run").run(ctx)
    assert failure.value.retryable is False


# --- BackupTask ------------------------------------------------------------------------------


def test_backup_rotates_writes_atomically_and_restores_into_an_empty_redis(
    api: TaskApi,  # noqa: F811
    store: Store,
    tmp_path: Path,
    clean_redis: str,
) -> None:
    api.add(name="Process Holding Tank")
    api.add(name="Off", active=False)
    appkey = api.creds["appkey"]
    before = api.ok("getTasks")["data"]
    config = config_with(tmp_path / "b", backup_keep=2)

    paths = []
    for n in range(3):
        path, removed = write_backup(config, take_snapshot(store, appkey, 1_700_000_000_000 + n))
        paths.append(path)
        assert removed == (1 if n == 2 else 0)
    folder = backup_dir(config)
    assert sorted(folder.iterdir()) == paths[1:]  # newest two kept, no temporary file left
    assert stat.S_IMODE(paths[-1].stat().st_mode) == 0o600  # it holds secret digests
    doc = read_backup(paths[-1])
    assert {s["definition"]["doc"]["name"] for s in doc["schedules"]} == {
        "Process Holding Tank",
        "Off",
    }

    redis.Redis.from_url(clean_redis).flushdb()
    assert api.call("getTasks").status_code == 401  # the account is gone too
    restored = restore_backup(store, doc, 1_700_000_000_000)
    assert len(restored) == 2
    assert api.ok("getTasks")["data"] == before  # same ids, items and item ids
    nexts = {s.doc["name"]: n for s, n in restored}
    assert nexts["Off"] is None and nexts["Process Holding Tank"] is not None
    assert store.next_fire_ms(f"task-{appkey}-1") == nexts["Process Holding Tank"]
    assert api.add(name="After")["id"] == "3"  # the id counter came back too


def test_a_snapshot_holds_every_dialect_of_the_account_and_nothing_else(
    api: TaskApi,  # noqa: F811
    store: Store,
    tmp_path: Path,
) -> None:
    api.add()
    webhook = {"url": "https://example.com/cb", "cron": "0 15 10 ? * *"}
    created = api.client.post("/1/jobs", json=webhook, headers=basic(api.creds))
    assert created.status_code == 200
    snapshot = take_snapshot(store, api.creds["appkey"], 0)
    assert sorted(s["definition"]["dialect"] for s in snapshot["schedules"]) == [
        "task_scheduler",
        "webhook_jobs",
    ]
    assert all(s["next_ms"] for s in snapshot["schedules"])
    assert snapshot["task_counters"] == {"task": 1, "item": 4}
    account = snapshot["account"]
    assert "master_secret" not in account and "master_secret_sha256" in account


def test_backup_task_run_reports_what_it_wrote(
    api: TaskApi,  # noqa: F811
    store: Store,
    tmp_path: Path,
) -> None:
    api.add()
    config = config_with(tmp_path / "c")
    ctx = TaskContext(config, store, api.creds["appkey"], "1", "b", BACKUP, {}, "x:1")
    message = BackupTask().run(ctx)
    [path] = backup_dir(config).iterdir()
    assert message.startswith(f"Backup written: {path.name} (1 schedules)")
    assert str(path.parent) not in message  # the server's folders are not the tenant's business
