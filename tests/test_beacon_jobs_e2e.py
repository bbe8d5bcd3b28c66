"""/api/jobs end to end: the API writes, a real beat and ``jobs`` worker spawn scheduled jobs'
instances, write lifecycle events and task results to the history, and enforce leases."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from scheduler_api.app import create_app
from shared import beacon_jobs
from shared.accounts import authenticate_userkey, create_account, load_secret_key
from shared.config import Config
from shared.execution import execution_id, new_execution
from shared.messages import build_message
from shared.store import Store
from tests.support import UNLIMITED, ProcessGroup, now_ms, wait_until

LEASE_S = 1.0


@pytest.fixture
def api(clean_redis: str, tmp_path: Path, store: Store) -> tuple[FlaskClient, str]:
    """An API with one-second pickup and run leases, and an account's userkey."""
    config = Config.from_env(
        {},
        redis_url=clean_redis,
        data_dir=str(tmp_path),
        job_pickup_lease_s=LEASE_S,
        job_run_timeout_s=LEASE_S,
        **UNLIMITED,
    )
    creds = create_account(store, "example", secret_key=load_secret_key(config), now_ms=now_ms())
    return create_app(config).test_client(), creds["userkey"]


def call(api: tuple[FlaskClient, str], method: str, path: str, **params: Any) -> Any:
    client, userkey = api
    if method == "GET":
        response = client.get(path, query_string={"userkey": userkey, **params})
    else:
        response = client.post(path, data=MultiDict([("userkey", userkey), *params.items()]))
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def appkey_of(api: tuple[FlaskClient, str], store: Store) -> str:
    account = authenticate_userkey(store, api[1])
    assert account is not None
    return account["appkey"]


def events(api: tuple[FlaskClient, str], job_id: int) -> list[str]:
    return [e["event"] for e in call(api, "GET", f"/api/jobs/{job_id}", action="history")]


def test_a_scheduled_job_fire_creates_one_queued_instance(
    api: tuple[FlaskClient, str], store: Store, processes: ProcessGroup
) -> None:
    processes.beat()
    processes.worker("jobs")
    tasks = json.dumps([{"type": "shell", "command": "true"}])
    # a minute half an hour away: no real fire can land while the test runs
    minute = (datetime.now(UTC).minute + 30) % 60
    job = call(api, "POST", "/api/jobs", name="hourly", schedule="1", min=str(minute), tasks=tasks)
    sid = beacon_jobs.schedule_id(appkey_of(api, store), job["id"])

    def fires_at_the_minute(ms: int | None) -> bool:
        return ms is not None and datetime.fromtimestamp(ms / 1000, UTC).minute == minute

    first = store.next_fire_ms(sid)
    assert fires_at_the_minute(first) and first % 60_000 == 0
    # Bring the next fire forward to now, as if its minute had come (the beat fires what the due
    # index says is due; which minutes those are is tested in test_beacon_jobs_api).
    due = now_ms()
    store.redis.zadd(store.keys.due(), {sid: due})
    store.redis.publish(store.keys.wake_channel(), due)
    instances = wait_until(
        lambda: call(api, "GET", "/api/jobs", duplicate_of=str(job["id"])), what="the instance"
    )
    assert [(i["status"], i["q_time"], i["tasks"]) for i in instances] == [
        ("queued", due // 1000, json.loads(tasks))
    ]
    wait_until(lambda: store.history(sid), what="the fire's run record")
    assert [r.status for r in store.history(sid)] == ["succeeded"]
    assert store.history(sid)[0].result == {"job_id": instances[0]["id"]}
    # the schedule went on to the next time its minute comes
    next_ms = store.next_fire_ms(sid)
    assert fires_at_the_minute(next_ms) and next_ms % 60_000 == 0 and 0 < next_ms - due <= 3_600_000
    # the same fire delivered again creates no second instance
    fire = execution_id(sid, due)
    again = new_execution(store.get_schedule(sid), fire, due, due)
    message = build_message("workers.jobs.spawn", fire, "jobs", [again.to_message()])
    store.publish("jobs", message, route=fire)
    # consumed and acknowledged (kombu keeps a message in "unacked" until its task has run)
    wait_until(
        lambda: store.redis.llen("jobs") == 0 and store.redis.hlen("unacked") == 0,
        what="the redelivery handled",
    )
    assert len(call(api, "GET", "/api/jobs", duplicate_of=str(job["id"]))) == 1
    assert len(store.history(sid)) == 1  # the second delivery was skipped, not run


def test_an_every_minute_job_spawns_on_the_real_minute_boundary(
    api: tuple[FlaskClient, str], store: Store, processes: ProcessGroup
) -> None:
    """No clock tricks: the beat fires when the wall clock reaches the next minute (≤ 60 s away)."""
    processes.beat()
    processes.worker("jobs")
    # not in the last seconds of a minute, so the create lands in the minute it is measured in
    wait_until(lambda: now_ms() % 60_000 < 58_000, timeout_s=3, what="a minute's start")
    created_s = now_ms() / 1000
    job = call(api, "POST", "/api/jobs", name="minutely", schedule="1", min="*")
    boundary_s = (int(created_s) // 60 + 1) * 60
    instances = wait_until(
        lambda: call(api, "GET", "/api/jobs", duplicate_of=str(job["id"])),
        timeout_s=boundary_s - created_s + 15,
        what="the instance of the next minute",
    )
    assert [i["q_time"] for i in instances] == [boundary_s]
    # created once the minute had come, not ahead of it
    assert instances[0]["add_time"] >= boundary_s
    sid = beacon_jobs.schedule_id(appkey_of(api, store), job["id"])
    assert store.next_fire_ms(sid) == (boundary_s + 60) * 1000


def test_leases_requeue_an_unstarted_job_and_fail_an_unfinished_one(
    api: tuple[FlaskClient, str], store: Store, processes: ProcessGroup
) -> None:
    processes.beat()
    processes.worker("jobs")
    job = call(api, "POST", "/api/jobs", name="slow", q="1")
    path = f"/api/jobs/{job['id']}"
    assert call(api, "POST", path, action="pickup")["status"] == "picked_up"
    requeued = wait_until(
        lambda: (j := call(api, "GET", path))["status"] == "queued" and j,
        timeout_s=LEASE_S + 10,
        what="the pickup lease to expire",
    )
    assert requeued["pickup_time"] is None
    call(api, "POST", path, action="pickup", beacon_name="default")
    started = call(api, "POST", path, action="start")
    failed = wait_until(
        lambda: (j := call(api, "GET", path))["status"] == "failed" and j,
        timeout_s=LEASE_S + 10,
        what="the run timeout",
    )
    assert failed["end_time"] >= started["start_time"]
    late = call_raw(api, path, action="end")
    assert late.status_code == 409 and "failed" in late.get_json()["error"]
    history = wait_until(
        lambda: (e := events(api, job["id"])).count("picked_up") == 2 and "started" in e and e,
        what="the lifecycle events",
    )
    assert {"created", "lease_expired", "failed"} <= set(history)


def call_raw(api: tuple[FlaskClient, str], path: str, **params: Any) -> Any:
    client, userkey = api
    return client.post(path, data={"userkey": userkey, **params})


def test_results_and_progress_land_in_the_history(
    api: tuple[FlaskClient, str], store: Store, processes: ProcessGroup
) -> None:
    processes.worker("jobs")
    tasks = json.dumps([{"type": "shell", "command": "a"}, {"type": "shell", "command": "b"}])
    job = call(api, "POST", "/api/jobs", name="two", q="1", tasks=tasks)
    path = f"/api/jobs/{job['id']}"
    call(api, "POST", path, action="pickup")
    call(api, "POST", path, action="start")
    call(api, "POST", path, action="update", curtask="0")
    call(api, "POST", path, action="update", curtask="1")
    client, userkey = api
    results = [{"out": "first"}, {"out": "second"}]
    ended = client.post(
        path,
        data=MultiDict(
            [("userkey", userkey), ("action", "end")]
            + [("result[]", json.dumps(r)) for r in results]
        ),
    )
    assert ended.get_json()["result"] == results

    def history() -> list[dict[str, Any]]:
        entries = call(api, "GET", path, action="history")
        return entries if sum(e["event"] == "result" for e in entries) == 2 else []

    entries = wait_until(history, what="the results in the history")
    assert [(e["task"], e["result"]) for e in entries if e["event"] == "result"] == [
        (0, results[0]),
        (1, results[1]),
    ]
    wait_until(lambda: len(events(api, job["id"])) == 8, what="every event")
    assert sorted(events(api, job["id"])) == sorted(
        ["created", "picked_up", "started", "cur_task", "cur_task", "finished", "result", "result"]
    )
    assert [e["cur_task"] for e in call(api, "GET", path, action="history") if "cur_task" in e] in (
        [0, 1],
        [1, 0],  # two workers may write two events in either order; each entry has its time
    )
    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    assert (
        client.get(
            path, query_string={"userkey": other["userkey"], "action": "history"}
        ).status_code
        == 404
    )
