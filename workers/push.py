"""The ``push`` pool: at each fire, POST the schedule's push to the push gateway.

The gateway is ``SCHEDULER_PUSH_GATEWAY_URL``, the full URL of an EngageLab-compatible ``/v4/push``
endpoint (JSON push in, ``{"msg_id": ...}`` out), called with the account's gateway credentials
(HTTP Basic). Each push's ``msg_id`` is stored for ``GET /v4/schedules/<id>/msg-ids`` and returned
in the run record.

A ``zone_type`` 1 fire sends the push as the client wrote it. A ``zone_type`` 2 fire is one time
zone's fire: its devices are resolved from the registry now and sent as a ``registration_id``
audience, in batches of ``shared.push.BATCH``. A batch already sent is not sent again by a retry
(its msg_id is stored), so a gateway that fails half way through a large audience does not get
the first batches twice.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from shared import push
from shared.celery_app import app
from shared.contract import TaskName
from shared.execution import Execution
from workers.context import config, destinations, secret_key, store
from workers.http import CallLimits, call_limits, new_session, post
from workers.runner import Outcome, run_execution
from workers.task_states import THROWS, end_task

_session = new_session(config)


def pushes(execution: Execution) -> list[tuple[str, dict[str, Any]]]:
    """The pushes of one fire: (part, push document), ``part`` = "<due ms>:<batch>"."""
    spec = execution.spec
    document, due_ms = spec["push"], execution.due_ms
    if spec.get("zone_type") != 2:
        return [(f"{due_ms}:0", document)]
    zones = zones_of_fire(spec, due_ms)
    account_zone = spec["account_zone"]
    groups = push.by_zone(
        push.audience_zones(store(), execution.account, document["to"]), account_zone
    )
    devices = [rid for zone_name in zones for rid in groups.get(zone_name, [])]
    return [
        (f"{due_ms}:{n}", {**document, "to": {"registration_id": batch}})
        for n, batch in enumerate(push.batches(devices))
    ]


def zones_of_fire(spec: dict[str, Any], due_ms: int) -> list[str]:
    """The zones whose fire this is: those planned at the first planned instant at or after
    ``due_ms`` (exactly ``due_ms``, unless the fire was brought forward)."""
    planned = sorted((int(at), zones) for at, zones in spec["zones"].items())
    for at_ms, zones in planned:
        if at_ms >= due_ms:
            return zones
    return planned[-1][1] if planned else []


def deliver_push(execution: Execution) -> Outcome:
    if not config.push_gateway_url:
        return Outcome(ok=False, error="SCHEDULER_PUSH_GATEWAY_URL is not set")
    creds = push.credentials(store(), secret_key(), execution.account)
    if creds is None:
        return Outcome(
            ok=False,
            error="the account has no push gateway credentials "
            "(scheduler accounts push-credentials APPKEY --key K --secret S)",
        )
    parts = pushes(execution)
    if not parts:
        return Outcome(ok=True, result={"msg_ids": [], "note": "no device in this time zone"})
    sent = store().push_msg_ids(execution.schedule)
    msg_ids = []
    for part, document in parts:
        if part not in sent:
            outcome = send(document, creds, call_limits(config, execution.policy))
            if not outcome.ok:
                return outcome
            sent[part] = outcome.result["msg_id"]
            store().add_push_msg_id(
                execution.schedule, part, sent[part], config.history_retention_s
            )
        msg_ids.append(sent[part])
    return Outcome(ok=True, result={"msg_ids": msg_ids})


def send(
    document: dict[str, Any], creds: tuple[str, str], limits: CallLimits | None = None
) -> Outcome:
    """One POST to the gateway (within ``limits``: a schedule's ``retry.timeout_s``); ok only
    with a ``msg_id`` in its answer."""
    token = base64.b64encode(f"{creds[0]}:{creds[1]}".encode()).decode()
    headers = {
        "Content-Type": "application/json",
        "Accept": "application/json",
        "Authorization": f"Basic {token}",
    }
    body = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode()
    url = config.push_gateway_url
    outcome = post(config, url, body, headers, _session, destinations(), limits)
    if not outcome.ok:
        return outcome
    msg_id = _msg_id(outcome.result.get("body", ""))
    if msg_id is None:
        return Outcome(
            ok=False, result=outcome.result, error="the gateway answered without a msg_id"
        )
    return Outcome(ok=True, result={**outcome.result, "msg_id": msg_id})


def _msg_id(body: str) -> str | None:
    try:
        answer = json.loads(body)
    except ValueError:
        return None
    msg_id = answer.get("msg_id") if isinstance(answer, dict) else None
    return None if msg_id in (None, "") else str(msg_id)


@app.task(name=TaskName.PUSH_DELIVER, acks_late=True, ignore_result=True, throws=THROWS)
def deliver(execution: dict[str, Any]) -> str:
    body = Execution.from_message(execution)
    return end_task(run_execution(store(), config, body, deliver_push))
