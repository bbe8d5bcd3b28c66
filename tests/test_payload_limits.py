"""The one JSON rule (shared.payload_limits): its pure checks, then every dialect refusing the
same hostile JSON in its own error shape, naming the field, with nothing stored."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from scheduler_api.app import create_app
from shared.accounts import create_account
from shared.config import Config
from shared.errors import InvalidSchedule
from shared.payload_limits import MAX_DEPTH, check_json, depth
from shared.store import Store
from tests.push_support import doc as push_doc
from tests.support import basic, now_ms
from tests.test_task_scheduler_api import URL as TASKS_URL
from tests.test_task_scheduler_api import task_body

LIMIT_BYTES = 2048  # the test app's SCHEDULER_JSON_MAX_BYTES


def nested(levels: int) -> str:
    """JSON text of ``levels`` nested arrays around a 1."""
    return "[" * levels + "1" + "]" * levels


# Hostile JSON texts (as a client sends them) -> words the error must contain.
HOSTILE = {
    "deep": (nested(MAX_DEPTH + 1), "nested more than 32 levels"),
    "very deep": (nested(900), "nested"),
    "NaN": ('{"x": NaN}', "NaN"),
    "Infinity": ("[1, Infinity]", "Infinity"),
    "-Infinity": ("-Infinity", "Infinity"),
    "1e999": ("1e999", "Infinity"),
    "lone surrogate": ('"\\ud800"', "Unicode"),
    "surrogate key": ('{"\\udfff": 1}', "Unicode"),
    "large": (json.dumps("x" * LIMIT_BYTES), f"at most {LIMIT_BYTES}"),
}
CASES = list(HOSTILE.values())
IDS = list(HOSTILE)


# --- the rule itself ---------------------------------------------------------------------------


def test_the_limit_is_32_levels_counted_from_the_field() -> None:
    check_json("data", json.loads(nested(MAX_DEPTH)), 10_000)
    with pytest.raises(InvalidSchedule, match=r"^data\[0\]\[0\]\[0\]\.\.\.: nested more than 32"):
        check_json("data", json.loads(nested(MAX_DEPTH + 1)), 10_000)
    deep: list[Any] = []
    for _ in range(5000):
        deep = [deep]
    assert depth(deep) == 5001  # walked without recursion: no RecursionError


@pytest.mark.parametrize(("text", "words"), CASES, ids=IDS)
def test_each_hostile_value_is_refused_naming_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidSchedule, match="^custom") as refused:
        check_json("custom", {"k": json.loads(text)}, LIMIT_BYTES)
    assert words in str(refused.value)


def test_ordinary_json_passes() -> None:
    check_json("data", {"a": [1, 2.5, None, True, "é", {"b": "中文"}], "": -0.0}, LIMIT_BYTES)


def test_errors_never_echo_a_huge_key() -> None:
    with pytest.raises(InvalidSchedule) as refused:
        check_json("data", {"k" * 10_000: float("nan")}, 10**9)
    assert len(str(refused.value)) < 200


# --- each dialect, through its API --------------------------------------------------------------


@pytest.fixture
def api(tmp_path: Path, clean_redis: str, store: Store) -> tuple[FlaskClient, dict[str, str]]:
    config = Config.from_env(
        {}, redis_url=clean_redis, data_dir=str(tmp_path), json_max_bytes=LIMIT_BYTES
    )
    creds = create_account(store, "tenant", secret_key=b"k" * 32, now_ms=now_ms())
    return create_app(config).test_client(), creds


def nothing_stored(store: Store) -> None:
    assert store.redis.hlen(store.keys.definitions()) == 0
    assert not store.redis.keys(f"{store.keys.base}:jobs:job:*")


def with_value(template: dict[str, Any], path: tuple[str, ...], text: str) -> str:
    """``template`` as JSON text with the value at ``path`` replaced by raw JSON ``text``."""
    marker = "__HOSTILE__"
    target = template
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = marker
    return json.dumps(template).replace(f'"{marker}"', text)


@pytest.mark.parametrize(("text", "words"), CASES, ids=IDS)
def test_task_scheduler_data(
    api: tuple[FlaskClient, dict[str, str]], store: Store, text: str, words: str
) -> None:
    client, creds = api
    body = with_value(task_body(), ("data",), text)
    response = client.post(TASKS_URL + "addTask", data=body, headers=basic(creds))
    assert response.status_code == 400, response.get_data(as_text=True)
    answer = response.get_json()
    assert answer["success"] == 0 and words in answer["message"]
    assert answer["message"].startswith(("data", "body is nested")), answer
    nothing_stored(store)


@pytest.mark.parametrize(("text", "words"), CASES, ids=IDS)
def test_push_custom_args(
    api: tuple[FlaskClient, dict[str, str]], store: Store, text: str, words: str
) -> None:
    client, creds = api
    body = with_value(push_doc(), ("push", "custom_args"), text)
    headers = {**basic(creds), "Content-Type": "application/json"}
    response = client.post("/v4/schedules", data=body, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == 28100 and words in error["message"], error
    assert "push" in error["message"] or "body is nested" in error["message"], error
    nothing_stored(store)


@pytest.mark.parametrize(("text", "words"), CASES, ids=IDS)
def test_beacon_job_tasks(
    api: tuple[FlaskClient, dict[str, str]], store: Store, text: str, words: str
) -> None:
    client, creds = api
    tasks = f'[{{"type": "shell", "arg": {text}}}]'
    for scheduled in ({}, {"schedule": "1", "min": "5"}):
        params = {"userkey": creds["userkey"], "action": "create", "name": "j", "tasks": tasks}
        response = client.post("/api/jobs", data={**params, **scheduled})
        assert response.status_code == 400, response.get_data(as_text=True)
        error = response.get_json()["error"]
        assert error.startswith("tasks") and words in error, error
    nothing_stored(store)


@pytest.mark.parametrize(("text", "words"), CASES, ids=IDS)
def test_beacon_job_results(
    api: tuple[FlaskClient, dict[str, str]], store: Store, text: str, words: str
) -> None:
    client, creds = api
    key = {"userkey": creds["userkey"]}
    job = client.post("/api/jobs", data={**key, "action": "create", "name": "j", "q": "1"})
    path = f"/api/jobs/{job.get_json()['id']}"
    for action in ("pickup", "start"):
        assert client.post(path, data={**key, "action": action}).status_code == 200
    results = [("result[]", "1"), ("result[]", text)]
    form = [("userkey", creds["userkey"]), ("action", "finish"), *results]
    response = client.post(path, data=MultiDict(form))
    assert response.status_code == 400, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error.startswith("result[1]") and words in error, error
    shown = client.get(path, query_string={**key, "action": "show"}).get_json()
    assert shown["status"] == "started" and shown["result"] is None  # nothing stored


def test_webhook_data_that_is_not_unicode(
    api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    client, creds = api
    body = '{"url": "https://example.com/cb", "cron": "0 * * * *", "data": "a\\ud800b"}'
    headers = {**basic(creds), "Content-Type": "application/json", "Accept": "application/json"}
    response = client.post("/1/jobs", data=body, headers=headers)
    assert response.status_code == 400, response.get_data(as_text=True)
    assert response.get_json()["error"].startswith("data: not valid Unicode")
    nothing_stored(store)
