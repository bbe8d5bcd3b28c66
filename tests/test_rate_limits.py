"""Rate limits on a real Redis: each dialect's 429, failed-authentication throttling, and the cap on
executeTask waits. Limits are set small here; every other test file turns them off."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scheduler_api.app import create_app
from shared.accounts import create_account
from shared.config import Config
from shared.errors import ConfigError
from shared.store import Store
from tests.support import UNLIMITED, basic, now_ms, wait_until
from tests.test_dashboard import csrf_of

TASKS = "/api/v1/api.php?target=scheduler&action="
BACKUP = "\\scheduler\\Tasks\\BackupTask"
KEY = b"k" * 32


def make_app(redis_url: str, tmp_path: Path, **settings: Any) -> Flask:
    config = Config.from_env(
        {},
        redis_url=redis_url,
        data_dir=str(tmp_path),
        secret_key=KEY.decode(),
        **{**UNLIMITED, **settings},
    )
    return create_app(config)


def client(app: Flask, address: str = "127.0.0.1") -> FlaskClient:
    test_client = app.test_client()
    test_client.environ_base["REMOTE_ADDR"] = address
    return test_client


def account(store: Store, name: str = "acme") -> dict[str, str]:
    return create_account(store, name, secret_key=KEY, now_ms=now_ms())


def wrong(creds: dict[str, str]) -> dict[str, str]:
    return basic({**creds, "master_secret": "not-" + creds["master_secret"]})


def assert_refused(answer: TestResponse, limit: int, window_s: int) -> None:
    """A 429 with a sane Retry-After and the IETF RateLimit fields."""
    assert answer.status_code == 429, answer.get_data(as_text=True)
    headers = answer.headers
    assert 1 <= int(headers["Retry-After"]) <= window_s
    assert headers["RateLimit-Limit"] == str(limit)
    assert headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(headers["RateLimit-Reset"]) <= window_s
    assert f"{limit};w={window_s}" in headers["RateLimit-Policy"]


def exhaust(send: Any, times: int) -> TestResponse:
    """Send ``times`` requests that must pass, then one more; return that last answer."""
    for i in range(times):
        answer = send()
        assert answer.status_code < 400, (i, answer.status_code, answer.get_data(as_text=True))
    return send()


# --- per-account limits, in each dialect's error shape ------------------------------------------


@pytest.fixture
def limited(clean_redis: str, tmp_path: Path) -> Flask:
    return make_app(clean_redis, tmp_path, rate_limit_per_account="3/minute")


@pytest.mark.parametrize("accept", ["application/json", "text/xml", "text/plain"])
def test_webhook_jobs_429_follows_accept(limited: Flask, store: Store, accept: str) -> None:
    api, creds = client(limited), account(store)
    headers = {**basic(creds), "Accept": accept}
    answer = exhaust(lambda: api.get("/1/jobs", headers=headers), 3)
    assert_refused(answer, 3, 60)
    text = answer.get_data(as_text=True)
    if accept == "application/json":
        message = json.loads(text)["error"]
    elif accept == "text/xml":
        element = ElementTree.fromstring(text)
        assert element.tag == "error"
        message = element.text or ""
    else:
        message = text
    expected = "rate limit exceeded: requests of this account are limited to 3 per 1 minute;"
    assert expected in message


def test_push_429_is_code_28129(limited: Flask, store: Store) -> None:
    api, creds = client(limited), account(store)
    answer = exhaust(lambda: api.get("/v4/schedules", headers=basic(creds)), 3)
    assert_refused(answer, 3, 60)
    error = answer.get_json()["error"]
    assert error["code"] == 28129 and "requests of this account" in error["message"]


def test_task_scheduler_429_is_its_envelope(limited: Flask, store: Store) -> None:
    api, creds = client(limited), account(store)
    answer = exhaust(lambda: api.get(TASKS + "getTasks", headers=basic(creds)), 3)
    assert_refused(answer, 3, 60)
    body = answer.get_json()
    assert body["success"] == 0 and "requests of this account" in body["message"]


def test_beacon_429_is_its_error_object(limited: Flask, store: Store) -> None:
    api, creds = client(limited), account(store)
    answer = exhaust(lambda: api.get("/api/jobs", query_string={"userkey": creds["userkey"]}), 3)
    assert_refused(answer, 3, 60)
    assert "requests of this account" in answer.get_json()["error"]


def test_counted_answers_report_what_is_left(limited: Flask, store: Store) -> None:
    api, creds = client(limited), account(store)
    left = [api.get("/1/jobs", headers=basic(creds)).headers["RateLimit-Remaining"] for _ in "abc"]
    assert left == ["2", "1", "0"]
    assert "Retry-After" not in api.get("/healthz").headers  # probes are never counted


def test_the_limit_is_per_account_and_shared_by_api_processes(
    clean_redis: str, tmp_path: Path, store: Store
) -> None:
    # two apps on one Redis: two gunicorn workers, or two hosts
    settings = {"rate_limit_per_account": "4/minute"}
    first, second = (make_app(clean_redis, tmp_path, **settings) for _ in "ab")
    acme, other = account(store, "acme"), account(store, "other")
    for api in (client(first), client(second), client(first), client(second)):
        assert api.get("/1/jobs", headers=basic(acme)).status_code == 200
    assert client(second).get("/1/jobs", headers=basic(acme)).status_code == 429
    assert client(first).get("/1/jobs", headers=basic(other)).status_code == 200


# --- unauthenticated callers: per client address ------------------------------------------------


def test_unauthenticated_requests_are_limited_per_address(clean_redis: str, tmp_path: Path) -> None:
    # Windows of a minute and more: a loaded machine can take over a second for three requests
    # (the first builds the OpenAPI document), and a 1 s window would pass between them.
    app = make_app(clean_redis, tmp_path, rate_limit_per_address="2/minute;4/hour")
    api = client(app, "192.0.2.1")
    answer = exhaust(lambda: api.get("/openapi.json"), 2)
    assert answer.status_code == 429
    assert 1 <= int(answer.headers["Retry-After"]) <= 60
    # an unknown path under a dialect's prefix: refused in that dialect's shape
    routed = client(app, "192.0.2.1").get("/v4/schedules/a/b/c")
    assert routed.status_code == 429 and routed.get_json()["error"]["code"] == 28129
    assert client(app, "192.0.2.2").get("/openapi.json").status_code == 200
    # an IPv6 client counts per /64: another address of that /64 shares its counter
    v6 = [client(app, f"2001:db8::{n}").get("/docs").status_code for n in range(1, 6)]
    assert v6[:2] == [200, 200] and set(v6[2:]) == {429}


def test_dashboard_429_is_a_dashboard_page(clean_redis: str, tmp_path: Path) -> None:
    app = make_app(clean_redis, tmp_path, rate_limit_per_address="2/minute")
    api = client(app)
    answer = exhaust(lambda: api.get("/dashboard/login"), 2)
    assert_refused(answer, 2, 60)
    assert answer.mimetype == "text/html"
    assert "unauthenticated requests from this address" in answer.get_data(as_text=True)


# --- failed authentication ----------------------------------------------------------------------


@pytest.fixture
def guarded(clean_redis: str, tmp_path: Path) -> Flask:
    return make_app(
        clean_redis,
        tmp_path,
        auth_failures_per_address="3/minute",
        auth_failures_per_appkey="5/minute",
    )


def test_failures_from_one_address_lock_it_out_even_with_the_right_password(
    guarded: Flask, store: Store
) -> None:
    creds, attacker = account(store), client(guarded, "198.51.100.7")
    assert [attacker.get("/1/jobs", headers=wrong(creds)).status_code for _ in "abc"] == [401] * 3
    answer = attacker.get("/1/jobs", headers=basic(creds))
    assert_refused(answer, 3, 60)
    assert "failed authentications from this address" in answer.get_json()["error"]
    # the account itself still works from elsewhere
    assert client(guarded, "198.51.100.8").get("/1/jobs", headers=basic(creds)).status_code == 200


def test_failures_against_one_appkey_from_many_addresses_lock_that_appkey(
    guarded: Flask, store: Store
) -> None:
    victim, bystander = account(store, "victim"), account(store, "bystander")
    for n in range(5):  # one failure from each of five addresses: no address reaches its limit
        answer = client(guarded, f"203.0.113.{n}").get("/v4/schedules", headers=wrong(victim))
        assert answer.status_code == 401
    answer = client(guarded, "203.0.113.99").get("/v4/schedules", headers=basic(victim))
    assert_refused(answer, 5, 60)
    assert "failed authentications for this appkey" in answer.get_json()["error"]["message"]
    ok = client(guarded, "203.0.113.99").get("/v4/schedules", headers=basic(bystander))
    assert ok.status_code == 200


def test_requests_without_credentials_are_no_failed_attempts(guarded: Flask, store: Store) -> None:
    creds, api = account(store), client(guarded)
    for _ in range(5):  # e.g. a client that waits for the 401 challenge before sending Basic
        assert api.get(TASKS + "getTasks").status_code == 401
    assert api.get(TASKS + "getTasks", headers=basic(creds)).status_code == 200


def test_wrong_userkeys_lock_out_the_address(guarded: Flask, store: Store) -> None:
    creds, api = account(store), client(guarded)
    for n in range(3):
        assert api.get("/api/jobs", query_string={"userkey": f"guess-{n}"}).status_code == 401
    answer = api.get("/api/jobs", query_string={"userkey": creds["userkey"]})
    assert_refused(answer, 3, 60)
    assert "failed authentications from this address" in answer.get_json()["error"]


def test_wrong_dashboard_sign_ins_lock_out_the_address(guarded: Flask, store: Store) -> None:
    creds, api = account(store), client(guarded)
    csrf = csrf_of(api.get("/dashboard/login").text)  # the form's own token: not a forged post
    form = {"appkey": creds["appkey"], "master_secret": "wrong", "csrf": csrf}
    for _ in range(3):
        answer = api.post("/dashboard/login", data=form)
        assert answer.status_code == 200 and "Wrong appkey or master secret" in answer.text
    answer = api.post("/dashboard/login", data={**form, "master_secret": creds["master_secret"]})
    assert_refused(answer, 3, 60)
    assert answer.mimetype == "text/html" and "failed authentications" in answer.text


# --- executeTask waits -------------------------------------------------------------------------


def add_task(api: FlaskClient, creds: dict[str, str]) -> str:
    body = {
        "user_id": 1,
        "name": "slow",
        "class_name": BACKUP,
        "data": {},
        "active": False,
        "repeat_items": [{"repeat_start": "2015-05-06", "repeat_hour": 20, "repeat_minute": 0}],
    }
    answer = api.post(TASKS + "addTask", data=json.dumps(body), headers=basic(creds))
    return answer.get_json()["data"]["id"]


def test_an_execute_task_flood_never_exceeds_the_wait_caps(
    clean_redis: str, tmp_path: Path, store: Store
) -> None:
    # No tasks worker runs, so each executeTask waits its whole timeout.
    app = make_app(
        clean_redis,
        tmp_path,
        task_execute_timeout_s=3,
        task_execute_max_waits_per_account=2,
        task_execute_max_waits=3,
    )
    acme, other = account(store, "acme"), account(store, "other")
    tasks = {"acme": add_task(client(app), acme), "other": add_task(client(app), other)}
    slots = app.extensions["scheduler.waits"]
    answers: list[TestResponse] = []
    lock = threading.Lock()

    def execute(creds: dict[str, str], name: str) -> None:
        url = f"{TASKS}executeTask&taskId={tasks[name]}"
        answer = client(app).get(url, headers=basic(creds))
        with lock:
            answers.append(answer)

    flood = [threading.Thread(target=execute, args=(acme, "acme")) for _ in range(8)]
    for thread in flood:
        thread.start()
    wait_until(lambda: len(answers) == 6, timeout_s=2.5)  # all but two are refused at once
    assert slots.held() == 2
    refused = [a for a in answers if a.status_code == 429]
    assert len(refused) == 6 and all(a.get_json()["success"] == 0 for a in refused)
    assert all(a.headers["Retry-After"] == "3" for a in refused)
    assert "runs of this account are already waiting" in refused[0].get_json()["message"]
    waiting = threading.Thread(target=execute, args=(other, "other"))
    waiting.start()
    wait_until(lambda: slots.held() == 3, timeout_s=2)
    execute(other, "other")  # the process is full: 503 for anybody
    busy = answers[-1]
    assert busy.status_code == 503 and busy.headers["Retry-After"] == "3"
    assert "the server is waiting on 3 runs" in busy.get_json()["message"]
    for thread in [*flood, waiting]:
        thread.join(timeout=10)
    assert slots.held() == 0
    still_running = [a for a in answers if a.status_code == 200]
    assert len(still_running) == 3
    assert all("still running" in a.get_json()["message"] for a in still_running)


def test_execute_wait_and_limits_are_checked_settings() -> None:
    with pytest.raises(ConfigError, match="TASK_EXECUTE_TIMEOUT_S=31.0: must be 0-30"):
        Config.from_env({"SCHEDULER_TASK_EXECUTE_TIMEOUT_S": "31"})
    with pytest.raises(ConfigError, match="SCHEDULER_RATE_LIMIT_PER_ACCOUNT='20 a second'"):
        Config.from_env({"SCHEDULER_RATE_LIMIT_PER_ACCOUNT": "20 a second"})
    config = Config.from_env({"SCHEDULER_AUTH_FAILURES_PER_APPKEY": ""})
    assert config.auth_failures_per_appkey == ""  # off
