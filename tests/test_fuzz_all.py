"""Schemathesis over every operation of /openapi.json, every dialect, signed in.

For each operation, hypothesis generates requests from the document (valid ones, and with
``negative`` mode ones that break it) and sends them to the real app (in-process WSGI, real
Redis). Every answer must be no 5xx (``/readyz`` may say 503: no beat runs here) and must match
the body schema the document declares for its status (``response_schema_conformance``).

To reach past "no such id", each run first creates one live resource per dialect (a job, a push
schedule and a device, a task, a beacon job) and hypothesis chooses, per request, between its
generated path ids and the live one. Bounded: ``EXAMPLES`` requests per operation and mode.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import schemathesis
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import response_schema_conformance

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import basic, now_ms

EXAMPLES = int(os.environ.get("SCHEDULER_FUZZ_EXAMPLES", "80"))
GROUPS = {
    "webhook_jobs": ("/1/jobs",),
    "push_schedules": ("/v4/",),
    "task_scheduler": ("/api/v1/",),
    "beacon_jobs": ("/api/jobs",),
    "native": ("/v1/",),
    "service": ("/dashboard", "/docs", "/openapi.json", "/metrics", "/healthz", "/readyz"),
}
MAY_BE_UNAVAILABLE = {"/readyz"}  # 503 = no fresh beat heartbeat, which is true here


def push_document() -> dict[str, Any]:
    tomorrow = datetime.fromtimestamp(now_ms() / 1000 + 86_400, UTC)
    return {
        "name": "fuzz",
        "enabled": True,
        "trigger": {"single": {"time": tomorrow.strftime("%Y-%m-%d %H:%M:%S"), "zone_type": 1}},
        "push": {
            "from": "push",
            "to": {"registration_id": ["dev-1"]},
            "body": {"platform": "android", "notification": {"alert": "hi"}},
        },
    }


JOB = {"url": "https://example.com/cb", "cron": "0 15 10 ? * *"}
NATIVE = {
    "name": "fuzz",
    "trigger": {"cron": "0 3 * * *"},
    "target": {"webhook": {"url": "https://example.com/cb"}},
}
TASK = {
    "user_id": 1,
    "name": "fuzz",
    "class_name": "\\scheduler\\Tasks\\BackupTask",
    "active": False,
    "repeat_items": [{"repeat_hour": 3, "repeat_minute": 0}],
}


def live_resources(api: FlaskClient, creds: dict[str, str]) -> dict[str, Any]:
    """One live resource per dialect, and a valid document per create/update operation."""
    auth = basic(creds)
    job = api.post("/1/jobs", json=JOB, headers={**auth, "Accept": "text/plain"})
    api.put("/v4/devices/dev-1", json={"timezone": "Asia/Tokyo"}, headers=auth)
    push = api.post("/v4/schedules", json=push_document(), headers=auth)
    task = api.post("/api/v1/api.php?target=scheduler&action=addTask", json=TASK, headers=auth)
    beacon_form = {"name": "fuzz", "q": "1", "tasks": "[]"}
    beacon = api.post("/api/jobs", data={**beacon_form, "userkey": creds["userkey"]})
    task_id = task.get_json()["data"]["id"]
    native = api.post("/v1/schedules", json=NATIVE, headers=auth).get_json()
    key = {"name": "f", "scopes": ["runs:read"]}
    keys = api.get("/v1/api-keys", headers=auth).get_json()["items"]  # at most 100 per account
    key_id = keys[0]["id"] if keys else api.post("/v1/api-keys", json=key, headers=auth).json["id"]
    return {
        "native": {"schedule_id": native["id"], "key_id": key_id},
        "job_id": job.get_data(as_text=True),
        "schedule_id": push.get_json()["schedule_id"],
        "registration_id": "dev-1",
        "taskId": task_id,
        "beacon": str(beacon.get_json()["id"]),
        "shortcut": "0+15+10+%3F+*+*/https%3A%2F%2Fexample.com%2Fcb",
        "bodies": {
            "/1/jobs": JOB,
            "/1/jobs/{job_id}": JOB,
            "/v4/schedules": push_document(),
            "/v4/schedules/{schedule_id}": push_document(),
            "/v4/devices/{registration_id}": {"timezone": "Asia/Tokyo", "tags": ["a"]},
            "/api/v1/api.php": {**TASK, "id": task_id},
            "/api/jobs": beacon_form,
            "/v1/schedules": NATIVE,
            "/v1/schedules/{schedule_id}": NATIVE,
            "/v1/preview": {"trigger": {"rrule": "FREQ=DAILY"}, "count": 3},
            "/v1/api-keys": {"name": "k", "scopes": ["schedules:read"]},
        },
    }


def use_live(case: Any, live: dict[str, Any], mask: int) -> None:
    """Put the live ids into ``case``'s path and query, and mix a valid document into its body:
    each field of it is kept or replaced by the generated one, by the bits of ``mask``."""
    path = case.operation.path
    for name in list(case.path_parameters or {}):
        key = "beacon" if path.startswith("/api/jobs") else name
        own = live["native"] if path.startswith("/v1/") else live
        if key in own:
            case.path_parameters[name] = own[key]
    if path.startswith("/api/v1/") and isinstance(case.query, dict):
        case.query["taskId"] = live["taskId"]
    valid = live["bodies"].get(path)
    if valid is not None and isinstance(case.body, dict):
        mixed = dict(valid)
        for bit, (name, value) in enumerate(case.body.items()):
            if mask >> bit & 1:
                mixed[name] = value
        case.body = mixed


def fuzz_operation(
    operation: Any,
    mode: GenerationMode,
    send: Callable[[Any, int | None], Any],
    statuses: dict[str, set[int]],
) -> list[str]:
    """Run ``EXAMPLES`` generated cases of one operation; the failures, described."""
    failures: list[str] = []

    @settings(
        max_examples=EXAMPLES,
        deadline=None,  # in-process requests vary with the machine's load; the count bounds it
        database=None,
        derandomize=True,  # the same cases on every run: a failure is reproducible
        suppress_health_check=list(HealthCheck),
        phases=[Phase.explicit, Phase.generate],
    )
    @given(
        case=operation.as_strategy(generation_mode=mode),
        live=st.none() | st.integers(0, 2**12),
    )
    def run(case: Any, live: int | None) -> None:
        response = send(case, live)
        statuses.setdefault(operation.label, set()).add(response.status_code)
        where = f"{operation.label} [{mode.value}] {response.status_code}"
        if response.status_code >= 500 and not (
            response.status_code == 503 and operation.path in MAY_BE_UNAVAILABLE
        ):
            failures.append(f"{where}: {case.as_curl_command()[:500]} -> {response.text[:300]}")
            return
        try:
            case.validate_response(response, checks=[response_schema_conformance])
        except Exception as exc:  # schemathesis raises its own failure groups
            failures.append(f"{where}: {str(exc)[:800]}\n  {case.as_curl_command()[:400]}")

    with contextlib.suppress(Unsatisfiable):  # no parameters: no negative cases
        run()
    return failures


@pytest.fixture
def app(config: Config) -> Flask:
    # executeTask waits for a tasks pool that is not running here: don't wait long
    return create_app(dataclasses.replace(config, task_execute_timeout_s=0.05))


# The native API's group runs from tests/test_fuzz_native.py: the longest, on a worker of its own
# when the suite runs in parallel.
@pytest.mark.timeout(600)
@pytest.mark.parametrize("group", sorted(set(GROUPS) - {"native"}))
def test_every_operation_answers_without_server_errors_and_as_documented(
    group: str, app: Flask, config: Config, store: Store
) -> None:
    fuzz_group(group, app, config, store)


def fuzz_group(group: str, app: Flask, config: Config, store: Store) -> None:
    """Every operation of ``group``, positive and negative cases: no 5xx, answers as documented."""
    creds = create_account(store, "fuzz", secret_key=load_secret_key(config), now_ms=now_ms())
    api = app.test_client()
    spec = api.get("/openapi.json").get_json()
    schema = schemathesis.openapi.from_dict(json.loads(json.dumps(spec)))
    schema.app = app
    auth = basic(creds)["Authorization"]
    live: dict[str, Any] = {}

    def send(case: Any, mask: int | None) -> Any:
        """Send ``case`` signed in; with a ``mask``, about the live resources (``use_live``)."""
        case.headers = {**(case.headers or {}), "Authorization": auth}
        if "userkey" in str(case.operation.definition.raw.get("security")):
            case.query = {**(case.query or {}), "userkey": creds["userkey"]}
        if mask is not None:
            use_live(case, live, mask)
        return case.call()

    failures: list[str] = []
    statuses: dict[str, set[int]] = {}
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith(GROUPS[group]):
            continue
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            live.update(live_resources(api, creds))  # anew: a DELETE may have taken them
            failures += fuzz_operation(operation, mode, send, statuses)
    print(group, json.dumps({op: sorted(codes) for op, codes in statuses.items()}, indent=1))
    assert statuses, group
    assert not failures, "\n".join(dict.fromkeys(failures))
