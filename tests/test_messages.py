"""The beat's hand-built messages are the same envelope Celery itself puts on a Redis queue."""

from __future__ import annotations

import base64
import json

import redis
from celery import Celery

from shared.messages import build_message


def test_message_matches_what_celery_send_task_publishes(clean_redis: str) -> None:
    app = Celery(broker=clean_redis)
    app.send_task("workers.webhooks.deliver", args=[{"id": "s:1"}], task_id="s:1", queue="webhooks")
    celery_made = json.loads(redis.Redis.from_url(clean_redis).lindex("webhooks", 0))
    ours = json.loads(build_message("workers.webhooks.deliver", "s:1", "webhooks", [{"id": "s:1"}]))

    assert ours.keys() == celery_made.keys()
    assert ours["headers"].keys() == celery_made["headers"].keys()
    assert ours["properties"].keys() == celery_made["properties"].keys()
    for name in ("task", "id", "root_id", "lang", "retries", "timelimit"):
        assert ours["headers"][name] == celery_made["headers"][name]
    assert ours["properties"]["delivery_info"] == celery_made["properties"]["delivery_info"]
    decode = lambda m: json.loads(base64.b64decode(m["body"]))  # noqa: E731
    assert decode(ours) == decode(celery_made)
