"""The ``webhooks`` pool: POST a schedule's payload to its callback URL.

A message carries one execution (``deliver``: a re-published copy, a run on demand, a fire or
retry alone) or the fires or retries of one beat tick (``deliver_batch``); both go through
``workers.batch``: the callbacks are in flight together on the process's delivery loop
(``workers.aio_http``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

from shared.accounts import active_webhook_secrets
from shared.celery_app import app
from shared.contract import TaskName
from shared.execution import Execution
from shared.header_values import FORBIDDEN_HEADERS
from shared.timing import now_ms
from workers import aio_http, gate, runner
from workers.batch import Account, run_batch
from workers.context import config, destinations, secret_key, store
from workers.ended import Ended
from workers.http import call_limits
from workers.runner import Outcome
from workers.signing import signature_headers

_sessions: dict[int, aio_http.Session] = {}  # by process: one per delivery loop


@dataclass(frozen=True)
class Callback:
    method: str
    url: str
    body: bytes
    headers: dict[str, str]


def callback_request(execution: Execution) -> Callback:
    """The method, URL, body and headers of the callback for ``execution``: the schedule's own
    headers first, so what the worker sets (content type, signature) always wins (they were
    refused at create time; one stored otherwise is dropped here: it never forges a signature)."""
    spec = execution.spec
    raw = (spec.get("data") or "").encode()
    custom = spec.get("headers") or {}
    headers = {k: v for k, v in custom.items() if k.lower() not in FORBIDDEN_HEADERS}
    headers["Content-Type"] = spec.get("content_type") or "application/octet-stream"
    if spec.get("signature"):
        headers["X-Content-Signature"] = spec["signature"]
    return Callback(spec.get("method") or "POST", spec["url"], raw, headers)


async def deliver_webhook(execution: Execution, account: Account) -> Outcome:
    call = callback_request(execution)
    call.headers.update(_signature(execution, account, call.body))
    limits = call_limits(config, execution.policy)
    return await aio_http.post(
        config, call.url, call.body, call.headers, _session(), destinations(),
        method=call.method, limits=limits,
    )  # fmt: skip


def _signature(execution: Execution, account: Account, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers, signed with the account's active secrets (none if the account
    is gone: the callback still goes out, unsigned, as the schedule asked)."""
    if account is None:
        return {}
    now = now_ms()
    secrets = active_webhook_secrets(account, secret_key(), now)
    return signature_headers(secrets, execution.id, now // 1000, body)


def _session() -> aio_http.Session:
    """This process's session (made on the delivery loop, where it is used)."""
    session = _sessions.get(os.getpid())
    if session is None:
        session = _sessions[os.getpid()] = aio_http.new_session(config)
    return session


def _refuse(body: Any, reason: str) -> Ended:
    """Dead-letter an element of a batch that is no execution (the gate checked the message)."""
    gate.refused(TaskName.WEBHOOK_DELIVER, "", body, reason)
    return Ended("dead", reason)


def _run(bodies: list[Any]) -> list[str]:
    ends = run_batch(store(), config, bodies, deliver_webhook, _refuse, runner.delivery_tag())
    return [end.outcome for end in ends]


# Each attempt shows in Flower as a task of its own (workers.task_states), not the message.
@app.task(name=TaskName.WEBHOOK_DELIVER, acks_late=True, ignore_result=True, send_events=False)
def deliver(execution: dict[str, Any]) -> str:
    return _run([execution])[0]


@app.task(
    name=TaskName.WEBHOOK_DELIVER_BATCH, acks_late=True, ignore_result=True, send_events=False
)
def deliver_batch(executions: list[dict[str, Any]]) -> list[str]:
    return _run(executions)
