"""The ``webhooks`` pool: POST a schedule's payload to its callback URL."""

from __future__ import annotations

from typing import Any

from shared.accounts import active_webhook_secrets
from shared.celery_app import app
from shared.contract import TaskName
from shared.execution import Execution
from shared.timing import now_ms
from workers.context import config, destinations, secret_key, store
from workers.http import new_session, post
from workers.runner import Outcome, run_execution
from workers.signing import signature_headers

_session = new_session(config)


def callback_request(execution: Execution) -> tuple[str, bytes, dict[str, str]]:
    """The URL, body and headers of the callback for ``execution``."""
    spec = execution.spec
    raw = (spec.get("data") or "").encode()
    headers = {"Content-Type": spec.get("content_type") or "application/octet-stream"}
    if spec.get("signature"):
        headers["X-Content-Signature"] = spec["signature"]
    return spec["url"], raw, headers


def deliver_webhook(execution: Execution) -> Outcome:
    url, body, headers = callback_request(execution)
    headers.update(_signature(execution, body))
    return post(config, url, body, headers, _session, destinations())


def _signature(execution: Execution, body: bytes) -> dict[str, str]:
    """Standard Webhooks headers, signed with the account's active secrets (none if the account
    is gone: the callback still goes out, unsigned, as the schedule asked)."""
    account = store().get_account(execution.account)
    if account is None:
        return {}
    now = now_ms()
    secrets = active_webhook_secrets(account, secret_key(), now)
    return signature_headers(secrets, execution.id, now // 1000, body)


@app.task(name=TaskName.WEBHOOK_DELIVER, acks_late=True, ignore_result=True)
def deliver(execution: dict[str, Any]) -> str:
    return run_execution(store(), config, Execution.from_message(execution), deliver_webhook)
