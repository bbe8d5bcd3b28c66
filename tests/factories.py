"""Small builders of core objects for tests."""

from __future__ import annotations

import uuid
from typing import Any

from shared.model import CronTrigger, IntervalTrigger, OnceTrigger, Schedule, Target, Trigger


def webhook_schedule(
    trigger: Trigger,
    url: str = "http://127.0.0.1:9/hook",
    *,
    account: str = "acct",
    data: str = '{"hello":"world"}',
    **fields: Any,
) -> Schedule:
    return Schedule(
        id=fields.pop("id", uuid.uuid4().hex),
        account=account,
        dialect="test",
        trigger=trigger,
        target=Target("webhook", {"url": url, "data": data, "content_type": "application/json"}),
        created_ms=fields.pop("created_ms", 1_700_000_000_000),
        **fields,
    )


def once(at_ms: int) -> OnceTrigger:
    return OnceTrigger(at_ms=at_ms)


def every(ms: int, anchor_ms: int) -> IntervalTrigger:
    return IntervalTrigger(every_ms=ms, anchor_ms=anchor_ms)


def cron(expr: str, timezone: str = "UTC") -> CronTrigger:
    return CronTrigger(expr=expr, timezone=timezone)
