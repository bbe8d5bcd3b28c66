"""Celery protocol-2 messages, built cheaply, in the exact envelope kombu's Redis transport uses.

The beat LPUSHes these onto the queue lists itself (inside ``commit.lua``), so publishing costs no
extra round trip and happens atomically with the schedule's advance; ``shared.schedules.run_now``
publishes one the same way for a run on demand. Any Celery worker and Flower read them as ordinary
task messages: same headers, same body layout, same properties.
"""

from __future__ import annotations

import base64
import json
import os
import socket
import uuid
from typing import Any

# The body's third element: no callbacks, errbacks, chain or chord.
_EMBED = {"callbacks": None, "errbacks": None, "chain": None, "chord": None}
_ORIGIN = f"{os.getpid()}@{socket.gethostname()}"


def build_message(
    task: str, task_id: str, queue: str, args: list[Any], delivery_tag: str | None = None
) -> str:
    """One task message as kombu's Redis transport stores it in the queue's list.

    ``delivery_tag`` must be unique per message (kombu keys unacknowledged messages by it); the
    beat passes "<claim token>.<n>", cheaper than a uuid per message.
    """
    body = json.dumps([args, {}, _EMBED], separators=(",", ":"))
    message = _envelope(task, task_id, queue, task_id, delivery_tag)
    message["body"] = base64.b64encode(body.encode()).decode()
    message["properties"]["body_encoding"] = "base64"
    return json.dumps(message, separators=(",", ":"))


def batch_envelope(
    task: str, task_id: str, queue: str, count: int, delivery_tag: str
) -> tuple[str, str]:
    """The text before and after the body of a batch message (see commit.lua, which writes the
    body between them once it knows which executions committed). The body is plain JSON text
    (no ``body_encoding``: kombu then takes it as it is), ``[[executions], {}, embed]``."""
    message = _envelope(task, task_id, queue, f"up to {count} executions", delivery_tag)
    message["body"] = _BODY_MARK
    head, tail = json.dumps(message, separators=(",", ":")).split(json.dumps(_BODY_MARK))
    return head, tail


_BODY_MARK = "\x00body\x00"


def _envelope(
    task: str, task_id: str, queue: str, argsrepr: str, delivery_tag: str | None
) -> dict[str, Any]:
    return {
        "body": "",
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {
            "lang": "py",
            "task": task,
            "id": task_id,
            "shadow": None,
            "eta": None,
            "expires": None,
            "group": None,
            "group_index": None,
            "retries": 0,
            "timelimit": [None, None],
            "root_id": task_id,
            "parent_id": None,
            "argsrepr": argsrepr,  # what Flower shows; the execution itself is in the body
            "kwargsrepr": "{}",
            "origin": _ORIGIN,
            "ignore_result": True,
            "replaced_task_nesting": 0,
            "stamped_headers": None,
            "stamps": {},
        },
        "properties": {
            "correlation_id": task_id,
            "reply_to": "",
            "delivery_mode": 2,
            "delivery_info": {"exchange": "", "routing_key": queue},
            "priority": 0,
            "delivery_tag": delivery_tag or str(uuid.uuid4()),
        },
    }
