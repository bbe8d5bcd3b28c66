"""/api/jobs through the Flask app on a real Redis: create, list filters, scheduled jobs, the
lifecycle's order and atomic pickup, errors, and account isolation. (The pool, the beat and the
agent run for real in test_beacon_jobs_e2e.py and test_beacon_agent.py.)"""

from __future__ import annotations

import json
import threading
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from shared import beacon_jobs
from shared.accounts import create_account
from shared.config import Config
from shared.execution import new_execution
from shared.store import Store
from shared.timing import next_schedule_fire
from tests.support import now_ms, published_messages

Api = tuple[FlaskClient, dict[str, str]]


ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)


def post(api: Api, path: str, **params: Any) -> Any:
    client, creds = api
    data = {"userkey": creds["userkey"], **params}
    return client.post(path, data=data)


def get(api: Api, path: str, **params: Any) -> Any:
    client, creds = api
    return client.get(path, query_string={"userkey": creds["userkey"], **params})


def create(api: Api, **params: Any) -> dict[str, Any]:
    response = post(api, "/api/jobs", action="create", **params)
    assert response.status_code == 200, response.get_json()
    return response.get_json()


def ids(response: Any) -> list[int]:
    assert response.status_code == 200, response.get_json()
    return [job["id"] for job in response.get_json()]


TASKS = json.dumps([{"type": "shell", "command": "echo hi"}, {"type": "http", "url": "http://x"}])


def test_create_show_and_tasks(local_api: Api) -> None:
    job = create(local_api, name="backup", tasks=TASKS)
    assert job["name"] == "backup"
    assert job["beacon_name"] == "default"
    assert job["status"] == "created"
    assert job["user"] == local_api[1]["appkey"]  # the user making the request
    assert job["total_tasks"] == 2 and job["cur_task"] is None
    assert isinstance(job["id"], int) and isinstance(job["add_time"], int)
    shown = get(local_api, f"/api/jobs/{job['id']}")  # show is GET's default action
    assert shown.get_json() == job
    tasks = get(local_api, f"/api/jobs/{job['id']}/tasks", action="show")
    assert tasks.get_json() == json.loads(TASKS)
    # parameters may come in the query string of a POST too
    client, creds = local_api
    by_query = client.post(
        "/api/jobs", query_string={"action": "create", "userkey": creds["userkey"], "name": "q"}
    )
    assert by_query.get_json()["name"] == "q"


def test_user_id_wins_over_user_guid(local_api: Api) -> None:
    assert create(local_api, name="a", user_id="7", user_guid="g-1")["user"] == "7"
    assert create(local_api, name="b", user_guid="g-1")["user"] == "g-1"


def test_q_queues_now_or_at_q_time_and_announces_to_the_pool(local_api: Api, store: Store) -> None:
    now_job = create(local_api, name="now", q="1")
    assert now_job["status"] == "queued"
    assert abs(now_job["q_time"] - now_job["add_time"]) <= 1
    later = create(local_api, name="later", q="true", q_time="4102444800")
    assert (later["status"], later["q_time"]) == ("queued", 4102444800)
    events = published_messages(store, "jobs")
    assert {m["headers"]["task"] for m in events} == {"workers.jobs.event"}
    assert len(events) == 2


def test_list_filters_on_each_property(local_api: Api, store: Store, config: Config) -> None:
    a = create(local_api, name="a", beacon_name="east", user_id="u1", tasks=TASKS, q="1")
    b = create(local_api, name="b", beacon_name="west", user_id="u2", q="1", q_time="4102444800")
    c = create(local_api, name="a", tasks=TASKS)
    post(local_api, f"/api/jobs/{a['id']}", action="pickup")
    post(local_api, f"/api/jobs/{a['id']}", action="start")
    post(local_api, f"/api/jobs/{a['id']}", action="update", curtask="1")
    post(local_api, f"/api/jobs/{a['id']}", action="end", **{"result[]": '{"ok":true}'})
    account = {"appkey": local_api[1]["appkey"]}
    sched = create(local_api, name="s", schedule="1", min="0")
    schedule = store.get_schedule(beacon_jobs.schedule_id(account["appkey"], sched["id"]))
    execution = new_execution(schedule, "x:1", 1_900_000_000_000, 0)
    spawned = beacon_jobs.spawn_instance(store, config, execution, now_ms())
    d = beacon_jobs.get_job(store, account, spawned)
    a = get(local_api, f"/api/jobs/{a['id']}").get_json()
    everyone = [a["id"], b["id"], c["id"], sched["id"], d["id"]]
    assert ids(get(local_api, "/api/jobs")) == everyone  # list is GET's default action

    def listed(**filters: Any) -> list[int]:
        return ids(get(local_api, "/api/jobs", action="list", **filters))

    assert listed(beacon_name="east") == [a["id"]]
    assert listed(beacon_name="default") == [c["id"], sched["id"], d["id"]]
    assert listed(user="u2") == [b["id"]]
    assert listed(name="a") == [a["id"], c["id"]]
    assert listed(cur_task="1") == [a["id"]]
    assert listed(total_tasks="2") == [a["id"], c["id"]]
    same_second = listed(add_time=str(b["add_time"]))
    assert b["id"] in same_second
    assert all(
        get(local_api, f"/api/jobs/{j}").get_json()["add_time"] == b["add_time"]
        for j in same_second
    )
    assert listed(add_time="1") == []
    assert listed(q_time="4102444800") == [b["id"]]
    assert listed(q_time="1900000000") == [d["id"]]
    assert listed(pickup_time=str(a["pickup_time"])) == [a["id"]]
    assert listed(start_time=str(a["start_time"])) == [a["id"]]
    assert listed(result='[{"ok": true}]') == [a["id"]]
    assert listed(result="null") == [b["id"], c["id"], sched["id"], d["id"]]
    assert listed(duplicate_of=str(sched["id"])) == [d["id"]]
    assert listed(status="queued", beacon_name="west") == [b["id"]]
    assert listed(beacon_name="east", name="b") == []


def test_scheduled_jobs_list_and_pause(local_api: Api, store: Store) -> None:
    job = create(
        local_api, name="nightly", schedule="1", min="15", hour="9", dow="1-5", tasks=TASKS
    )
    assert (job["status"], job["schedule"], job["schedule_active"]) == ("scheduled", True, True)
    listing = get(local_api, "/api/jobs/scheduled", action="list").get_json()
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    expected = next(
        t
        for t in (now + timedelta(minutes=i) for i in range(1, 20000))
        if (t.minute, t.hour) == (15, 9) and t.isoweekday() <= 5
    )
    assert listing == [
        {"id": job["id"], "name": "nightly", "active": True, "next_time": int(expected.timestamp())}
    ]
    paused = post(local_api, f"/api/jobs/{job['id']}", action="update", schedule_active="0")
    assert paused.get_json()["schedule_active"] is False
    listing = get(local_api, "/api/jobs/scheduled").get_json()
    assert (listing[0]["active"], listing[0]["next_time"]) == (False, None)
    resumed = post(local_api, f"/api/jobs/{job['id']}", schedule_active="yes")  # update default
    assert resumed.get_json()["schedule_active"] is True
    resumed_listing = get(local_api, "/api/jobs/scheduled").get_json()
    assert resumed_listing[0]["next_time"] == int(expected.timestamp())


def test_a_scheduled_job_fires_at_the_minutes_of_its_fields_in_the_account_zone(
    store: Store,
) -> None:
    account = {"appkey": "a", "timezone": "Europe/Paris"}
    start = int(datetime(2026, 3, 27, tzinfo=UTC).timestamp())  # a Friday; DST starts Sunday
    end = int(datetime(2026, 4, 1, tzinfo=UTC).timestamp())
    new = beacon_jobs.NewJob(
        name="n",
        user="u",
        schedule=True,
        cron={"min": "0,30", "hour": "9", "dow": "1,5"},
        start_date=start,
        end_date=end,
    )
    schedule = beacon_jobs.build_schedule(1, account, new, 0)
    fires, after = [], start * 1000 - 1
    while (after := next_schedule_fire(schedule, after, 0)) is not None:
        fires.append(datetime.fromtimestamp(after / 1000, ZoneInfo("Europe/Paris")))
    assert [(f.day, f.hour, f.minute, f.utcoffset().seconds // 3600) for f in fires] == [
        (27, 9, 0, 1),
        (27, 9, 30, 1),
        (30, 9, 0, 2),
        (30, 9, 30, 2),
    ]


def test_spawning_one_fire_twice_creates_one_instance(
    local_api: Api, store: Store, config: Config
) -> None:
    sched = create(local_api, name="s", schedule="1", tasks=TASKS, beacon_name="b1")
    schedule = store.get_schedule(beacon_jobs.schedule_id(local_api[1]["appkey"], sched["id"]))
    execution = new_execution(schedule, "fire:1", 1_900_000_060_000, 0)
    first = beacon_jobs.spawn_instance(store, config, execution, now_ms())
    assert beacon_jobs.spawn_instance(store, config, execution, now_ms()) == first
    instance = get(local_api, f"/api/jobs/{first}").get_json()
    assert instance["duplicate_of"] == sched["id"]
    assert (instance["status"], instance["q_time"], instance["beacon_name"]) == (
        "queued",
        1_900_000_060,
        "b1",
    )
    assert instance["tasks"] == json.loads(TASKS) and instance["schedule"] is False
    assert ids(get(local_api, "/api/jobs", duplicate_of=str(sched["id"]))) == [first]


def test_lifecycle_only_in_order(local_api: Api, store: Store) -> None:
    job = create(local_api, name="j", q="1", tasks=TASKS)
    path = f"/api/jobs/{job['id']}"
    start = post(local_api, path, action="start")
    assert (
        start.status_code == 409
        and "only a picked up job can be started" in start.get_json()["error"]
    )
    assert post(local_api, path, action="end").status_code == 409
    assert post(local_api, path, action="update", curtask="0").status_code == 409
    picked = get(local_api, path, action="pickup")  # GET works for pickup
    assert picked.status_code == 200 and picked.get_json()["status"] == "picked_up"
    assert [m for m in store.redis.zrange(store.keys.retries(), 0, -1) if ":pickup:" in m]
    assert post(local_api, path, action="end").status_code == 409
    started = post(local_api, path, action="start").get_json()
    assert started["status"] == "started" and started["start_time"] >= started["pickup_time"]
    leases = store.redis.zrange(store.keys.retries(), 0, -1)
    assert [":run:" in m for m in leases] == [True]  # the pickup lease became a run lease
    assert post(local_api, path, action="update", curtask="3").status_code == 400
    assert post(local_api, path, action="update", curtask="1").get_json()["cur_task"] == 1
    client, creds = local_api
    ended = client.post(
        path,
        data=MultiDict(
            [
                ("userkey", creds["userkey"]),
                ("action", "finish"),
                ("result[]", '{"task": 0, "out": "b"}'),
                ("result[]", '{"task": 1, "out": "a"}'),
            ]
        ),
    ).get_json()
    assert ended["status"] == "finished" and ended["end_time"] >= ended["start_time"]
    assert ended["result"] == [{"task": 0, "out": "b"}, {"task": 1, "out": "a"}]
    assert store.redis.zcard(store.keys.retries()) == 0
    for action in ("pickup", "start", "end"):
        again = post(local_api, path, action=action)
        assert again.status_code == 409 and "finished" in again.get_json()["error"]


def test_a_pickup_race_has_exactly_one_winner(local_api: Api) -> None:
    job = create(local_api, name="race", q="1")
    app = local_api[0].application
    answers: list[Any] = []
    barrier = threading.Barrier(8)

    def racer() -> None:
        client = app.test_client()
        barrier.wait()
        response = client.post(
            f"/api/jobs/{job['id']}",
            data={"userkey": local_api[1]["userkey"], "action": "pickup"},
        )
        answers.append((response.status_code, response.get_json()))

    threads = [threading.Thread(target=racer) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in answers) == [200] + [409] * 7
    losers = [body["error"] for code, body in answers if code == 409]
    assert all("is picked up: only a queued job can be picked up" in e for e in losers)


def test_pickup_waits_for_q_time_and_checks_the_beacon(local_api: Api) -> None:
    later = create(local_api, name="later", q="1", q_time="4102444800")
    early = post(local_api, f"/api/jobs/{later['id']}", action="pickup")
    assert early.status_code == 409 and "4102444800" in early.get_json()["error"]
    job = create(local_api, name="east", q="1", beacon_name="east")
    wrong = post(local_api, f"/api/jobs/{job['id']}", action="pickup", beacon_name="west")
    assert wrong.status_code == 409 and "beacon 'east'" in wrong.get_json()["error"]
    right = post(local_api, f"/api/jobs/{job['id']}", action="pickup", beacon_name="east")
    assert right.status_code == 200


def test_another_accounts_userkey_gets_nothing(local_api: Api, store: Store) -> None:
    job = create(local_api, name="mine", q="1", schedule="1")
    other = create_account(store, "other", secret_key=b"k" * 32, now_ms=now_ms())
    client = local_api[0]
    theirs = (client, other)
    assert ids(get(theirs, "/api/jobs")) == []
    assert get(theirs, "/api/jobs/scheduled").get_json() == []
    for path, params in [
        (f"/api/jobs/{job['id']}", {}),
        (f"/api/jobs/{job['id']}/tasks", {}),
        (f"/api/jobs/{job['id']}", {"action": "history"}),
    ]:
        assert get(theirs, path, **params).status_code == 404
    for action in ("pickup", "start", "end"):
        assert post(theirs, f"/api/jobs/{job['id']}", action=action).status_code == 404, action
    paused = post(theirs, f"/api/jobs/{job['id']}", action="update", schedule_active="0")
    assert paused.status_code == 404
    assert get(local_api, f"/api/jobs/{job['id']}").get_json()["status"] == "queued"
    assert get(local_api, "/api/jobs/scheduled").get_json()[0]["active"] is True


@pytest.mark.parametrize(
    ("method", "path", "params", "status", "needle"),
    [
        ("post", "/api/jobs", {"action": "create"}, 400, "name"),
        ("post", "/api/jobs", {"name": "x", "tasks": "[1,2]"}, 400, "tasks"),
        ("post", "/api/jobs", {"name": "x", "tasks": "{nope"}, 400, "tasks"),
        ("post", "/api/jobs", {"name": "x", "q": "maybe"}, 400, "q:"),
        ("post", "/api/jobs", {"name": "x", "q_time": "soon"}, 400, "q_time"),
        ("post", "/api/jobs", {"name": "x", "schedule": "1", "min": "61"}, 400, "min"),
        ("post", "/api/jobs", {"name": "x", "schedule": "1", "hour": "1 2"}, 400, "hour"),
        (
            "post",
            "/api/jobs",
            {"name": "x", "schedule": "1", "dom": "31", "month": "2"},
            400,
            "never",
        ),
        (
            "post",
            "/api/jobs",
            {"name": "x", "schedule": "1", "start_date": "200", "end_date": "100"},
            400,
            "end_date",
        ),
        ("post", "/api/jobs", {"name": "x", "colour": "red"}, 400, "colour"),
        ("post", "/api/jobs", {"name": "x", "tasks": json.dumps([{}] * 101)}, 400, "at most 100"),
        ("get", "/api/jobs", {"q_time": "yesterday"}, 400, "q_time"),
        ("get", "/api/jobs", {"colour": "red"}, 400, "colour"),
        ("get", "/api/jobs", {"action": "explode"}, 400, "explode"),
        ("get", "/api/jobs", {"action": "create"}, 405, "POST"),
        ("get", "/api/jobs/abc", {}, 404, "abc"),
        ("get", "/api/jobs/99999", {}, 404, "99999"),
        ("post", "/api/jobs/99999", {"action": "start"}, 404, "99999"),
        ("get", "/api/jobs/1/nothing", {}, 404, ""),
    ],
)
def test_bad_input_gets_a_clear_json_error(
    local_api: Api, method: str, path: str, params: dict[str, str], status: int, needle: str
) -> None:
    response = (post if method == "post" else get)(local_api, path, **params)
    assert response.status_code == status
    assert needle in response.get_json()["error"]


def test_bad_finish_input_changes_nothing(local_api: Api) -> None:
    job = create(local_api, name="j", q="1")
    path = f"/api/jobs/{job['id']}"
    post(local_api, path, action="pickup")
    post(local_api, path, action="start")
    bad = post(local_api, path, action="end", **{"result[]": "not json"})
    assert bad.status_code == 400 and "result[0]" in bad.get_json()["error"]
    assert get(local_api, path).get_json()["status"] == "started"


def test_userkey_is_required_and_checked(local_api: Api) -> None:
    client, _ = local_api
    missing = client.get("/api/jobs")
    assert missing.status_code == 401 and "userkey" in missing.get_json()["error"]
    wrong = client.get("/api/jobs", query_string={"userkey": "nope"})
    assert wrong.status_code == 401 and "userkey" in wrong.get_json()["error"]
