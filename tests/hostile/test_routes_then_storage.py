"""Every route under every method; then, last of the package (hence this module's name), a scan
of Redis for any NaN or Infinity the corpus left stored."""

from __future__ import annotations

import re
from collections.abc import Iterator

import redis
from flask import Flask

from tests.hostile.support import Api, beacon_error, push_error, webhook_error

# --- every route, every method -------------------------------------------------------------------


def concrete_paths(app: Flask) -> Iterator[tuple[str, set[str]]]:
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", "1", rule.rule)
        yield path, set(rule.methods or ())


def test_head_and_options_on_every_route_answer_without_server_errors(api: Api) -> None:
    headers = {**api.auth, "Accept": "application/json"}
    seen = 0
    for path, methods in concrete_paths(api.app):
        for query in ("", f"?userkey={api.creds['userkey']}&target=scheduler&action=getTasks"):
            head = api.client.head(path + query, headers=headers)
            ready = path == "/readyz" and head.status_code == 503  # no beat runs here
            assert head.status_code < 500 or ready, (path, head.status_code)
            assert head.get_data() == b""
            options = api.client.options(path + query, headers=headers)
            assert options.status_code == 200, (path, options.status_code)
            allowed = set(options.headers["Allow"].split(", "))
            assert methods <= allowed, (path, allowed)
            seen += 1
    assert seen >= 40


def test_a_405_keeps_its_allow_header_in_each_dialect(api: Api) -> None:
    for path, error_of in (
        ("/1/jobs", webhook_error),
        ("/v4/schedules", push_error),
        ("/api/jobs/scheduled", beacon_error),
    ):
        answer = api.client.patch(path, headers={**api.auth, "Accept": "application/json"})
        assert answer.status_code == 405 and error_of(answer)
        assert "GET" in answer.headers["Allow"]


# --- and nothing of it was stored -----------------------------------------------------------------

JSON_NON_FINITE = re.compile(rb"[:\[,]\s*-?(NaN|Infinity)\b")


def test_zz_no_nan_or_infinity_is_stored_anywhere(api: Api, redis_url: str) -> None:
    """Runs after the corpus above (same module-wide Redis): scan every value."""
    client = redis.Redis.from_url(redis_url)
    scanned = 0
    for key in client.scan_iter(count=1000):
        kind = client.type(key)
        if kind == b"string":
            values = [client.get(key) or b""]
        elif kind == b"hash":
            values = list(client.hgetall(key).values())
        elif kind == b"list":
            values = client.lrange(key, 0, -1)
        elif kind == b"zset":
            values = client.zrange(key, 0, -1)
        elif kind == b"set":
            values = list(client.smembers(key))
        else:
            continue
        for value in values:
            assert not JSON_NON_FINITE.search(value), (key, value[:200])
        scanned += 1
    assert scanned  # the account, the schedules the corpus did not refuse...
