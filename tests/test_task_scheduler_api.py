"""/api/v1/api.php?target=scheduler: the document's calls and shapes, validation, isolation (real
Redis and Flask app; no worker needed here). The calendar rules of a stored task are in
test_task_scheduler_calendar.py."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from scheduler_api.task_scheduler.mapping import in_document_terms
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.errors import InvalidSchedule
from shared.model import CalendarTrigger, RepeatItem
from shared.store import Store
from shared.timing import validate_trigger, zone
from tests.support import UNLIMITED, basic, now_ms

URL = "/api/v1/api.php?target=scheduler&action="
BACKUP = "\\scheduler\\Tasks\\BackupTask"
REPORT = "\\App\\Tasks\\SendReport"

# The document's getTasks example, first task: one item per weekday (Thu, Fri, Sat, Sun) at 20:00.
DOC_ITEMS = [
    {
        "repeat_start": "2015-05-06",
        "repeat_end": None,
        "repeat_interval": None,
        "repeat_year": "*",
        "repeat_month": "*",
        "repeat_day": "*",
        "repeat_week": "*",
        "repeat_weekday": str(weekday),
        "repeat_hour": "20",
        "repeat_minute": "0",
    }
    for weekday in (4, 5, 6, 0)
]
DOC_TASK_KEYS = [
    "id",
    "user_id",
    "name",
    "class_name",
    "active",
    "data",
    "last_run",
    "repeat_items",
]
DOC_ITEM_KEYS = ["id", "task_id", *DOC_ITEMS[0]]
DOC_HISTORY_KEYS = [
    "log_id",
    "time",
    "log_level",
    "user_id",
    "username",
    "log_category",
    "message",
    "ip",
]


class TaskApi:
    """A Flask test client speaking the document's calls with one account's credentials."""

    def __init__(self, client: FlaskClient, creds: dict[str, str]) -> None:
        self.client = client
        self.creds = creds

    def call(self, action: str, body: Any = None, method: str = "", **query: Any) -> Any:
        url = URL + action + "".join(f"&{k}={v}" for k, v in query.items())
        verb = method or ("POST" if body is not None else "GET")
        data = body if isinstance(body, bytes | str) or body is None else json.dumps(body)
        return self.client.open(url, method=verb, data=data, headers=basic(self.creds))

    def ok(self, action: str, body: Any = None, **query: Any) -> dict[str, Any]:
        response = self.call(action, body, **query)
        answer = response.get_json()
        assert response.status_code == 200 and answer["success"] == 1, answer
        return answer

    def add(self, **fields: Any) -> dict[str, Any]:
        return self.ok("addTask", task_body(**fields))["data"]


def task_body(**fields: Any) -> dict[str, Any]:
    body = {
        "user_id": 31,
        "name": "Nightly backup",
        "class_name": BACKUP,
        "data": {},
        "active": True,
        "repeat_items": DOC_ITEMS,
    }
    body.update(fields)
    return body


def app_config(redis_url: str, data_dir: Path, **settings: Any) -> Config:
    classes = data_dir / "task-classes.json"
    if not classes.exists():
        classes.write_text(json.dumps({REPORT: "http://127.0.0.1:9/report"}))
    return Config.from_env(
        {},
        redis_url=redis_url,
        data_dir=str(data_dir),
        target_allowlist=("127.0.0.0/8",),
        task_classes_file=str(classes),
        **{**UNLIMITED, **settings},
    )


def new_account(store: Store, config: Config, name: str, tz: str) -> dict[str, str]:
    return create_account(store, name, tz, secret_key=load_secret_key(config), now_ms=now_ms())


@pytest.fixture
def api(tmp_path: Path, clean_redis: str, store: Store) -> Iterator[TaskApi]:
    config = app_config(clean_redis, tmp_path, task_execute_timeout_s=0.2)
    creds = new_account(store, config, "usernamehere", "America/Chicago")
    yield TaskApi(create_app(config).test_client(), creds)


def schedule_id(api: TaskApi, task_id: str) -> str:
    return f"task-{api.creds['appkey']}-{task_id}"


# --- the document's calls --------------------------------------------------------------------


def test_add_then_get_tasks_has_the_documents_shape_field_for_field(api: TaskApi) -> None:
    added = api.ok("addTask", task_body(name="Process Holding Tank"))
    assert added["message"] == 'Task "Process Holding Tank" (1) added'
    second = api.add(name="New Task", data={"to": "ops"})

    tasks = api.ok("getTasks")["data"]
    assert [list(task) for task in tasks] == [DOC_TASK_KEYS, DOC_TASK_KEYS]
    first = tasks[0]
    assert first["id"] == "1" and first["user_id"] == "31" and first["active"] is True
    assert first["class_name"] == BACKUP and first["last_run"] is None
    assert [list(item) for item in first["repeat_items"]] == [DOC_ITEM_KEYS] * 4
    assert [
        {k: v for k, v in i.items() if k not in ("id", "task_id")} for i in first["repeat_items"]
    ] == DOC_ITEMS
    assert [item["id"] for item in first["repeat_items"]] == ["1", "2", "3", "4"]
    assert {item["task_id"] for item in first["repeat_items"]} == {"1"}
    assert second["id"] == "2" and second["data"] == {"to": "ops"}
    assert [item["id"] for item in tasks[1]["repeat_items"]] == ["5", "6", "7", "8"]


def test_the_getTasks_answer_can_be_sent_back_as_an_update(api: TaskApi) -> None:  # noqa: N802
    task = api.add()
    task["name"] = "Renamed"
    answer = api.ok("updateTask", task)
    assert answer["message"] == 'Task "Renamed" (1) updated'
    assert api.ok("getTasks")["data"][0]["name"] == "Renamed"


def test_update_replaces_fields_and_items_and_recomputes_the_next_fire(
    api: TaskApi, store: Store
) -> None:
    task = api.add()
    sid = schedule_id(api, task["id"])
    before = store.next_fire_ms(sid)
    item = {"repeat_hour": 7, "repeat_minute": 15, "repeat_day": 1}
    api.ok("updateTask", task_body(id=task["id"], name="Monthly", repeat_items=[item]))

    [stored] = api.ok("getTasks")["data"]
    assert stored["name"] == "Monthly" and len(stored["repeat_items"]) == 1
    assert stored["repeat_items"][0]["id"] == "5"  # replaced items get new ids
    assert (stored["repeat_items"][0]["repeat_day"], stored["repeat_items"][0]["repeat_hour"]) == (
        "1",
        "7",
    )
    after = store.next_fire_ms(sid)
    assert after is not None and after != before
    local = datetime.fromtimestamp(after / 1000, zone("America/Chicago"))
    assert (local.day, local.hour, local.minute) == (1, 7, 15)


def test_inactive_task_is_stored_but_never_due(api: TaskApi, store: Store) -> None:
    task = api.add(active=False)
    assert task["active"] is False
    assert store.next_fire_ms(schedule_id(api, task["id"])) is None
    api.ok("updateTask", task_body(id=task["id"], active=True))
    assert store.next_fire_ms(schedule_id(api, task["id"])) is not None


def test_delete_answers_the_documents_message_and_stops_future_fires(
    api: TaskApi, store: Store
) -> None:
    api.add(name="Process Holding Tank")
    task = api.add(name="New Task")
    answer = api.ok("deleteTask", taskId=task["id"])
    assert answer == {"success": 1, "message": 'Task "New Task" (2) deleted', "data": None}
    assert store.next_fire_ms(schedule_id(api, task["id"])) is None
    assert [t["id"] for t in api.ok("getTasks")["data"]] == ["1"]
    gone = api.call("getTaskHistory", taskId=task["id"])
    assert gone.status_code == 404 and gone.get_json()["success"] == 0


def test_history_lists_added_and_updated_newest_first(api: TaskApi) -> None:
    task = api.add(name="Process Holding Tank")
    api.ok("updateTask", task_body(id=1, user_id=7, name="Process Holding Tank"))
    history = api.ok("getTaskHistory", taskId=task["id"])["data"]
    assert [list(entry) for entry in history] == [DOC_HISTORY_KEYS] * 2
    assert [entry["message"] for entry in history] == [
        'Task "Process Holding Tank" (1) updated',
        'Task "Process Holding Tank" (1) added',
    ]
    assert [entry["user_id"] for entry in history] == ["7", "31"]
    assert int(history[0]["log_id"]) > int(history[1]["log_id"])
    assert {entry["username"] for entry in history} == {"usernamehere"}
    assert {(e["log_level"], e["log_category"]) for e in history} == {("6", "System")}
    datetime.strptime(history[0]["time"], "%Y-%m-%d %H:%M:%S")  # the document's format


def test_top_level_repeat_fields_form_the_item_or_fill_it_in(api: TaskApi) -> None:
    alone = api.add(repeat_items=None, repeat_hour=8, repeat_minute=0, repeat_start="2015-05-06")
    assert [
        (i["repeat_hour"], i["repeat_minute"], i["repeat_weekday"]) for i in alone["repeat_items"]
    ] == [("8", "0", "*")]
    filled = api.add(repeat_end="2099-12-31", repeat_items=[{"repeat_weekday": 1}])
    assert filled["repeat_items"][0]["repeat_end"] == "2099-12-31"
    assert filled["repeat_items"][0]["repeat_weekday"] == "1"


# --- errors --------------------------------------------------------------------------------


def error_of(response: Any, status: int) -> str:
    answer = response.get_json()
    assert response.status_code == status, answer
    assert answer["success"] == 0 and set(answer) == {"success", "message"}
    return answer["message"]


def test_credentials_are_required(api: TaskApi) -> None:
    response = api.client.get(URL + "getTasks")
    assert "appkey:master_secret" in error_of(response, 401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    wrong = {**api.creds, "master_secret": "nope"}
    assert error_of(api.client.get(URL + "getTasks", headers=basic(wrong)), 401)


def test_unknown_target_action_and_method(api: TaskApi) -> None:
    headers = basic(api.creds)
    other = api.client.get("/api/v1/api.php?target=ipam&action=getTasks", headers=headers)
    assert "target=scheduler" in error_of(other, 404)
    assert "addTask" in error_of(api.call("nope"), 400)
    assert "POST" in error_of(api.call("addTask", method="GET"), 405)
    assert error_of(api.client.put(URL + "getTasks", headers=headers), 405)


def test_unknown_class_is_refused_listing_the_registered_ones(api: TaskApi) -> None:
    message = error_of(api.call("addTask", task_body(class_name="\\No\\Such")), 400)
    assert "\\No\\Such" in message and BACKUP in message and REPORT in message
    assert api.ok("getTasks")["data"] == []


@pytest.mark.parametrize(
    ("item", "expected"),
    [
        ({"repeat_hour": 24}, "repeat_items[0].repeat_hour 24 out of range 0-23"),
        ({"repeat_minute": 60}, "repeat_items[0].repeat_minute 60 out of range 0-59"),
        ({"repeat_day": 32}, "repeat_items[0].repeat_day 32 out of range 1-31"),
        ({"repeat_week": 6}, "repeat_items[0].repeat_week 6 out of range 1-5"),
        ({"repeat_weekday": 7}, "repeat_items[0].repeat_weekday 7 out of range 0-6"),
        ({"repeat_month": 0}, "repeat_items[0].repeat_month 0 out of range 1-12"),
        ({"repeat_hour": "8am"}, "repeat_items[0].repeat_hour: must be a whole number"),
        (
            {"repeat_start": "2015-5-6"},
            "repeat_items[0].repeat_start '2015-5-6' is not a YYYY-MM-DD",
        ),
        (
            {"repeat_end": "2027-02-30"},
            "repeat_items[0].repeat_end '2027-02-30' is not a real date",
        ),
        ({"repeat_end": "2016-01-01"}, "no future time matches"),
        ({"repeat_start": "2030-01-02", "repeat_end": "2030-01-01"}, "is after end"),
        ({"repeat_interval": 0}, "repeat_items[0].repeat_interval must be an integer >= 1"),
        ({"repeat_interval": 15, "repeat_hour": 8}, "leave repeat_hour at"),
        ({"color": "red"}, "repeat_items[0].color: unknown field"),
    ],
)
def test_bad_repeat_items_are_refused_and_store_nothing(
    api: TaskApi, item: dict[str, Any], expected: str
) -> None:
    task = api.add()
    good = api.ok("getTasks")["data"]
    assert expected in error_of(api.call("addTask", task_body(repeat_items=[item])), 400)
    update = task_body(id=task["id"], name="changed", repeat_items=[item])
    assert expected in error_of(api.call("updateTask", update), 400)
    assert api.ok("getTasks")["data"] == good


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ((RepeatItem(), RepeatItem(hour=24)), "repeat_items[1].repeat_hour 24 out of range 0-23"),
        ((RepeatItem(month=2, day=30),), "repeat_items[0]: no date matches its fields"),
        ((), "repeat_items: at least one repeat item is required"),
    ],
)
def test_core_calendar_errors_are_named_in_the_documents_terms_by_their_parts(
    items: tuple[RepeatItem, ...], expected: str
) -> None:
    with pytest.raises(InvalidSchedule) as raised:
        validate_trigger(CalendarTrigger(items, "UTC"))
    assert in_document_terms(raised.value).message.startswith(expected)


def test_core_errors_of_no_calendar_item_keep_their_message() -> None:
    error = InvalidSchedule("data: 70000 bytes of JSON; at most 65536")
    assert in_document_terms(error).message == str(error)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"", "send the task as one JSON object"),
        (b"{not json", "not valid JSON"),
        (b"[1]", "one JSON object"),
        (json.dumps({"name": "x"}), "user_id: Missing data"),
        (json.dumps(task_body(user_id="abc")), "user_id: must be a whole number"),
        (json.dumps(task_body(active="maybe")), "active: Not a valid boolean"),
        (json.dumps(task_body(name="")), "name:"),
        (json.dumps(task_body(repeat_items=[])), "at least one repeat item"),
        (json.dumps(task_body(repeat_items=[{}] * 101)), "repeat_items:"),
    ],
)
def test_bad_bodies_are_refused_with_a_message(api: TaskApi, body: Any, expected: str) -> None:
    assert expected in error_of(api.call("addTask", body, method="POST"), 400)


def test_task_ids_are_checked_and_accounts_isolated(
    api: TaskApi, store: Store, tmp_path: Path, clean_redis: str
) -> None:
    task = api.add()
    assert "taskId" in error_of(api.call("deleteTask"), 400)
    assert "whole number" in error_of(api.call("deleteTask", taskId="x"), 400)
    assert error_of(api.call("getTaskHistory", taskId=99), 404)

    config = app_config(clean_redis, tmp_path)
    other = TaskApi(api.client, new_account(store, config, "other", "UTC"))
    assert other.ok("getTasks")["data"] == []
    for action in ("deleteTask", "executeTask", "getTaskHistory"):
        assert error_of(other.call(action, taskId=task["id"]), 404)
    assert error_of(other.call("updateTask", task_body(id=task["id"])), 404)
    assert other.add()["id"] == "1"  # ids are per account
    assert [t["name"] for t in api.ok("getTasks")["data"]] == ["Nightly backup"]


def test_execute_without_a_worker_answers_that_it_is_still_running(api: TaskApi) -> None:
    task = api.add(active=False)
    answer = api.ok("executeTask", taskId=task["id"])
    assert "still running" in answer["message"]
