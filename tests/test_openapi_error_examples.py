"""The error examples in /openapi.json are what the API really answers: for each dialect, a
request that breaks a rule gets exactly the body the document shows for that status (the same
message, the same shape, the same code)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scheduler_api.app import create_app
from scheduler_api.push_schedules.examples import SCHEDULE_ID
from scheduler_api.webhook_jobs.examples import CALLBACK
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import basic, now_ms

TASKS = "/api/v1/api.php?target=scheduler&action="
TASK = {
    "user_id": 1,
    "name": "",  # too short: the 400 example
    "class_name": "\\scheduler\\Tasks\\BackupTask",
    "active": True,
    "repeat_items": [{"repeat_hour": 3, "repeat_minute": 0}],
}
PUSH = {
    "name": "",  # not a name: the 400 example
    "enabled": True,
    "trigger": {"single": {"time": "2030-01-01 08:00:00", "zone_type": 1}},
    "push": {
        "from": "push",
        "to": "all",
        "body": {"platform": "all", "notification": {"alert": "hi"}},
    },
}
JSON_BODY = {"Content-Type": "application/json"}
Call = Callable[[FlaskClient, dict[str, str], dict[str, str]], TestResponse]
# (method, documented path, status): the request that answers it (client, auth headers, creds)
CASES: dict[tuple[str, str, int], Call] = {
    ("post", "/1/jobs", 400): lambda api, auth, _: api.post(
        "/1/jobs", json={"url": CALLBACK, "cron": "0,5 * * * *"}, headers=auth
    ),
    ("get", "/1/jobs", 401): lambda api, auth, _: api.get("/1/jobs", headers=JSON_BODY),
    ("get", "/1/jobs/{job_id}", 404): lambda api, auth, _: api.get(
        "/1/jobs/6efa63ed-0000-4000-8000-000000000000", headers=auth
    ),
    ("post", "/1/jobs", 413): lambda api, auth, _: api.post(
        "/1/jobs", data="x" * 20_000, headers={**auth, **JSON_BODY}
    ),
    ("post", "/1/jobs", 415): lambda api, auth, _: api.post(
        "/1/jobs", data="x", headers={**auth, "Content-Type": "text/csv"}
    ),
    ("post", "/v4/schedules", 400): lambda api, auth, _: api.post(
        "/v4/schedules", json=PUSH, headers=auth
    ),
    ("get", "/v4/schedules", 401): lambda api, auth, _: api.get("/v4/schedules"),
    ("get", "/v4/schedules/{schedule_id}", 404): lambda api, auth, _: api.get(
        f"/v4/schedules/{SCHEDULE_ID}", headers=auth
    ),
    ("post", "/v4/schedules", 413): lambda api, auth, _: api.post(
        "/v4/schedules", data="x" * 300_000, headers={**auth, **JSON_BODY}
    ),
    ("post", "/api/v1/api.php", 400): lambda api, auth, _: api.post(
        TASKS + "addTask", json=TASK, headers=auth
    ),
    ("get", "/api/v1/api.php", 401): lambda api, auth, _: api.get(TASKS + "getTasks"),
    ("get", "/api/v1/api.php", 404): lambda api, auth, _: api.get(
        TASKS + "getTaskHistory&taskId=999", headers=auth
    ),
    ("get", "/api/v1/api.php", 405): lambda api, auth, _: api.get(TASKS + "addTask", headers=auth),
    ("post", "/api/v1/api.php", 413): lambda api, auth, _: api.post(
        TASKS + "addTask", data="x" * 70_000, headers={**auth, **JSON_BODY}
    ),
    ("post", "/api/jobs", 400): lambda api, _, creds: api.post(
        "/api/jobs", data={"userkey": creds["userkey"], "name": "x", "q_time": "soon"}
    ),
    ("get", "/api/jobs", 401): lambda api, _, creds: api.get("/api/jobs?userkey=wrong"),
    ("get", "/api/jobs/{job_id}", 404): lambda api, _, creds: api.get(
        f"/api/jobs/999?userkey={creds['userkey']}"
    ),
    ("get", "/api/jobs/{job_id}", 405): lambda api, _, creds: api.get(
        f"/api/jobs/1?action=start&userkey={creds['userkey']}"
    ),
    ("post", "/api/jobs/{job_id}", 409): lambda api, _, creds: started_twice(api, creds),
    ("post", "/api/jobs", 413): lambda api, _, creds: api.post(
        f"/api/jobs?userkey={creds['userkey']}",
        data="x=" + "y" * 1_100_000,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    ),
}


def started_twice(api: FlaskClient, creds: dict[str, str]) -> TestResponse:
    key = creds["userkey"]
    form = {"userkey": key, "name": "Render report", "q": "1", "tasks": json.dumps([{}])}
    number = api.post("/api/jobs", data=form).get_json()["id"]
    api.post(f"/api/jobs/{number}?action=pickup&userkey={key}")
    api.post(f"/api/jobs/{number}?action=start&userkey={key}")
    return api.post(f"/api/jobs/{number}?action=start&userkey={key}")


@pytest.mark.parametrize("case", sorted(CASES), ids=lambda case: f"{case[0]} {case[1]} {case[2]}")
def test_the_documented_error_example_is_the_real_answer(
    case: tuple[str, str, int], config: Config, store: Store
) -> None:
    method, path, status = case
    app = create_app(config)
    api = app.test_client()
    spec: dict[str, Any] = api.get("/openapi.json").get_json()
    creds = create_account(store, "example", secret_key=load_secret_key(config), now_ms=now_ms())
    answer = CASES[case](api, {**basic(creds), "Accept": "application/json"}, creds)
    documented = spec["paths"][path][method]["responses"][str(status)]["content"]
    examples = documented["application/json"]["examples"]
    assert answer.status_code == status
    assert answer.get_json() in [named["value"] for named in examples.values()]
