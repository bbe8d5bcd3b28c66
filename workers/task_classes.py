"""The ``tasks`` pool's side of the task-class registry (``shared.task_classes``): a name
mapped to an HTTP endpoint becomes an ``HttpTask``, which POSTs through ``workers.http``."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass

import requests

from shared.config import Config
from shared.task_classes import MAX_MESSAGE_CHARS, TaskClass, TaskContext, TaskFailed, find
from workers.http import post

_session = requests.Session()


def resolve(name: str, config: Config) -> TaskClass:
    """An instance of the class registered as ``name``; ``TaskFailed`` if there is none."""
    found = find(name, config)
    return HttpTask(found) if isinstance(found, str) else found


@dataclass(frozen=True)
class HttpTask:
    """A class served by an application: POST the task's data, its answer is the message."""

    url: str

    def run(self, ctx: TaskContext) -> str:
        body = json.dumps(ctx.data, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Task-Id": ctx.task_id,
            "X-Task-Class": ctx.class_name.encode("ascii", "replace").decode(),
            "X-Execution-Id": ctx.execution_id,
        }
        outcome = post(ctx.config, self.url, body, headers, _session)
        text = message_of((outcome.result or {}).get("body", ""))
        if outcome.ok:
            return text or f"HTTP {outcome.result['status']}"
        error = f"{outcome.error}: {text}" if text else str(outcome.error)
        raise TaskFailed(error, retryable=outcome.retryable)


def message_of(body: str) -> str:
    """The ``message`` of a JSON object answer, else the answer's text."""
    with contextlib.suppress(ValueError):
        doc = json.loads(body)
        if isinstance(doc, dict) and isinstance(doc.get("message"), str):
            return doc["message"][:MAX_MESSAGE_CHARS]
    return body.strip()[:MAX_MESSAGE_CHARS]
