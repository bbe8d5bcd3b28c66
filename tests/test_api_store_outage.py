"""The API while Redis is unreachable: every dialect answers 503 in its own error shape, with
``Retry-After``; the dashboard its page; ``/readyz`` says unavailable; and once Redis answers
again, so does the API, by itself."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any
from xml.etree import ElementTree

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from scheduler_api.adapter import STORE_DOWN, STORE_DOWN_RETRY_AFTER_S
from scheduler_api.app import create_app
from shared.accounts import create_account
from shared.config import Config
from tests.support import basic, free_port, now_ms
from tests.test_dashboard import login_form

Api = tuple[FlaskClient, dict[str, str]]


def redis_stopped(app: Flask) -> Callable[[], None]:
    """Every connection of the app (store, scripts, rate limits, health) now goes to a port
    nobody listens on, as while Redis is down or restarting; the call returned brings it back."""
    pool = app.extensions["scheduler.store"].redis.connection_pool
    port = pool.connection_kwargs["port"]
    pool.connection_kwargs["port"] = free_port()
    pool.disconnect()
    pool.reset()  # forget the connections made to the old port

    def restart() -> None:
        pool.connection_kwargs["port"] = port
        pool.disconnect()
        pool.reset()

    return restart


def json_error(body: str) -> Any:
    return json.loads(body)["error"]


# (request, how the dialect writes the store's message)
DIALECTS: dict[str, tuple[dict[str, Any], Callable[[str], Any], Any]] = {
    "webhook jobs, JSON": (
        {"path": "/1/jobs", "headers": {"Accept": "application/json"}},
        json_error,
        STORE_DOWN,
    ),
    "webhook jobs, XML": (
        {"path": "/1/jobs", "headers": {"Accept": "text/xml"}},
        lambda body: ElementTree.fromstring(body).text,  # <error>...</error>
        STORE_DOWN,
    ),
    "webhook jobs, text": (
        {"path": "/1/jobs", "headers": {"Accept": "text/plain"}},
        lambda body: body,
        STORE_DOWN,
    ),
    "webhook jobs, a write": (
        {
            "path": "/1/jobs",
            "method": "POST",
            "json": {"url": "https://example.com/", "cron": "0 * * * *"},
        },
        json_error,
        STORE_DOWN,
    ),
    "push schedules": (
        {"path": "/v4/schedules"},
        json_error,
        {"code": 28203, "message": STORE_DOWN},
    ),
    "task scheduler": (
        {"path": "/api/v1/api.php?target=scheduler&action=getTasks"},
        json.loads,
        {"success": 0, "message": STORE_DOWN},
    ),
}


@pytest.mark.parametrize("dialect", DIALECTS)
def test_each_dialect_answers_503_in_its_shape(local_api: Api, dialect: str) -> None:
    api, creds = local_api
    request, read, expected = DIALECTS[dialect]
    request = {**request, "headers": {**request.get("headers", {}), **basic(creds)}}
    assert api.open(**request).status_code == 200
    restart = redis_stopped(api.application)
    down = api.open(**request)
    assert down.status_code == 503
    assert down.headers["Retry-After"] == str(STORE_DOWN_RETRY_AFTER_S)
    assert read(down.get_data(as_text=True)) == expected
    restart()
    assert api.open(**request).status_code == 200  # nothing to do: it recovers by itself


def test_beacon_jobs_answer_503_in_their_shape(local_api: Api) -> None:
    api, creds = local_api
    restart = redis_stopped(api.application)
    down = api.get(f"/api/jobs?userkey={creds['userkey']}")
    assert (down.status_code, down.get_json()) == (503, {"error": STORE_DOWN})
    assert down.headers["Retry-After"] == str(STORE_DOWN_RETRY_AFTER_S)
    restart()
    assert api.get(f"/api/jobs?userkey={creds['userkey']}").get_json() == []


def test_the_dashboard_answers_its_page(local_api: Api) -> None:
    api, creds = local_api
    form = login_form(api, creds)
    restart = redis_stopped(api.application)
    down = api.post("/dashboard/login", data=form)
    assert down.status_code == 503 and down.headers["Retry-After"] == "5"
    page = down.get_data(as_text=True)
    assert 'id="error">the schedule store is unreachable; try again later<' in page
    assert "default-src 'none'" in down.headers["Content-Security-Policy"]
    restart()
    assert api.post("/dashboard/login", data=login_form(api, creds)).status_code == 302


def test_health_says_unavailable_and_recovers(local_api: Api) -> None:
    api, _ = local_api
    restart = redis_stopped(api.application)
    ready = api.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "unavailable"
    assert api.get("/healthz").status_code == 200  # the process is alive: do not restart it
    restart()
    assert api.get("/readyz").get_json()["redis"] == "ok"


def test_rate_limits_counted_in_redis_answer_503_too(config: Config) -> None:
    limited = Config.from_env({}, redis_url=config.redis_url, data_dir=config.data_dir)
    app = create_app(limited)  # the default limits: each request is counted in Redis first
    creds = create_account(
        app.extensions["scheduler.store"], "limited", secret_key=b"k" * 32, now_ms=now_ms()
    )
    api = app.test_client()
    redis_stopped(app)
    down = api.get("/v4/schedules", headers=basic(creds))
    assert down.status_code == 503 and down.get_json()["error"]["code"] == 28203
    unauthenticated = api.get("/docs")  # counted per address, before any view
    assert unauthenticated.status_code == 503


@pytest.mark.parametrize(
    "failure",
    [redis.exceptions.SlotNotCoveredError, redis.exceptions.RedisClusterException],
    ids=["slot not covered", "cluster unreachable"],
)
def test_a_cluster_without_a_master_for_a_slot_answers_503_too(
    local_api: Api, monkeypatch: pytest.MonkeyPatch, failure: type[Exception]
) -> None:
    """redis-py's cluster client raises these (not RedisError) when no master serves a slot or
    no node answers a refresh of the map: the API answers as while Redis is down."""
    api, creds = local_api
    pool = api.application.extensions["scheduler.store"].redis.connection_pool

    def unreachable(*args: Any, **kwargs: Any) -> Any:
        raise failure("no node serves slot 1234")

    monkeypatch.setattr(pool, "get_connection", unreachable)  # every command and pipeline
    down = api.get("/1/jobs", headers={"Accept": "application/json", **basic(creds)})
    assert (down.status_code, json_error(down.get_data(as_text=True))) == (503, STORE_DOWN)
    assert down.headers["Retry-After"] == str(STORE_DOWN_RETRY_AFTER_S)
    ready = api.get("/readyz")
    assert ready.status_code == 503 and ready.get_json()["status"] == "unavailable"
    monkeypatch.undo()
    assert (
        api.get("/1/jobs", headers={"Accept": "application/json", **basic(creds)}).status_code
        == 200
    )
