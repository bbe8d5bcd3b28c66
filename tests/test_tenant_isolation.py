"""No cross-tenant signals: the numeric ids one account sees never move because another account
is busy, and another account's id is simply not found. (Server paths in answers: see
test_no_server_paths.py.)"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.store import Store
from tests.test_task_scheduler_api import TaskApi, app_config, new_account, task_body


def beacon_create(client: FlaskClient, userkey: str, name: str) -> dict[str, Any]:
    response = client.post("/api/jobs", data={"userkey": userkey, "action": "create", "name": name})
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def test_beacon_job_ids_are_per_account(tmp_path: Path, clean_redis: str, store: Store) -> None:
    config = app_config(clean_redis, tmp_path)
    client = create_app(config).test_client()
    a = new_account(store, config, "a", "UTC")
    b = new_account(store, config, "b", "UTC")

    first = beacon_create(client, a["userkey"], "a1")
    b_ids = [beacon_create(client, b["userkey"], f"b{n}")["id"] for n in range(3)]
    second = beacon_create(client, a["userkey"], "a2")
    assert (first["id"], second["id"]) == (1, 2)  # B's three jobs left no gap in A's ids
    assert b_ids == [1, 2, 3]

    def show(userkey: str, job_id: int) -> Any:
        return client.get(f"/api/jobs/{job_id}", query_string={"userkey": userkey})

    assert show(a["userkey"], 1).get_json()["name"] == "a1"  # A's job 1, not B's
    assert show(b["userkey"], 1).get_json()["name"] == "b0"
    assert show(a["userkey"], 3).status_code == 404  # B's job 3 does not exist for A
    listed = client.get("/api/jobs", query_string={"userkey": a["userkey"]}).get_json()
    assert [job["name"] for job in listed] == ["a1", "a2"]


def test_task_history_log_ids_are_per_account(
    tmp_path: Path, clean_redis: str, store: Store
) -> None:
    config = app_config(clean_redis, tmp_path)
    client = create_app(config).test_client()
    a = TaskApi(client, new_account(store, config, "a", "UTC"))
    b = TaskApi(client, new_account(store, config, "b", "UTC"))

    task = a.add(name="Mine")
    for n in range(3):
        b.add(name=f"Theirs {n}")
    a.ok("updateTask", task_body(id=task["id"], name="Mine again"))
    history = a.ok("getTaskHistory", taskId=task["id"])["data"]
    assert [entry["log_id"] for entry in history] == ["2", "1"]  # B's three adds: no gap
    b_logs = [b.ok("getTaskHistory", taskId=n)["data"][0]["log_id"] for n in (1, 2, 3)]
    assert b_logs == ["1", "2", "3"]
