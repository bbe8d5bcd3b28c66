"""A native schedule document as a core ``Schedule``, and back.

The trigger kinds map onto the core's: ``at`` a one-shot, ``cron`` a cron in the schedule's zone,
``every`` an interval from its ``anchor`` (default: the schedule's start, else its creation),
``rrule`` an RFC 5545 rule from the same instant, ``calendar`` the task scheduler's calendar
items. Each target kind onto the engine's own, delivered by its pool as the other dialects' are.
The document the client sent is kept in ``Schedule.doc`` so answers render from it.
"""

from __future__ import annotations

import json
from typing import Any

from scheduler_api.adapter import DialectError, config
from scheduler_api.native.problems import DIALECT, invalid
from shared.accounts import valid_timezone
from shared.beacon_jobs import DEFAULT_BEACON
from shared.contract import TargetKind
from shared.errors import ConfigError
from shared.model import (
    DEFAULT_DST,
    DEFAULT_OVERLAP,
    CalendarTrigger,
    CronTrigger,
    DstPolicy,
    IntervalTrigger,
    OnceTrigger,
    RepeatItem,
    RRuleTrigger,
    Schedule,
    Target,
    Trigger,
)
from shared.policy import Policy, RetryPolicy
from shared.task_classes import canonical, registered, unknown_class_message
from shared.timing import min_gap_ms, parse_iso8601
from shared.timing.rrule import parse_duration_ms

LAST_MS = 253_370_678_400_000  # 9998-12-31T00:00:00Z: the engine computes no fire after it
KEPT = (
    "name",
    "trigger",
    "target",
    "timezone",
    "dst",
    "start",
    "end",
    "max_runs",
    "jitter_s",
    "catchup_window_s",
    "overlap",
    "retry",
    "on_failure",
    "metadata",
)


def build(
    doc: dict[str, Any], account: dict[str, Any], schedule_id: str, created_ms: int, now: int
) -> Schedule:
    """The core schedule of ``doc`` (already checked by ``ScheduleDoc``)."""
    timing = timed(doc, account, created_ms)
    kept = {name: doc[name] for name in KEPT if name in doc}
    kept.update(timezone=timing["timezone"], updated_ms=now)
    return Schedule(
        id=schedule_id,
        account=account["appkey"],
        dialect=DIALECT,
        trigger=timing["trigger"],
        target=target_of(doc, account),
        created_ms=created_ms,
        enabled=not doc.get("paused", False),
        start_ms=timing["start_ms"],
        end_ms=timing["end_ms"],
        max_runs=doc.get("max_runs"),
        doc=kept,
        jitter_ms=jitter_ms(doc, timing["trigger"], now),
        catchup_ms=None if "catchup_window_s" not in doc else doc["catchup_window_s"] * 1000,
        overlap=doc.get("overlap", DEFAULT_OVERLAP),
        policy=policy_of(doc),
    )


def policy_of(doc: dict[str, Any]) -> Policy:
    """``retry`` and ``on_failure`` as the core's policy (checked by ``RetryDoc`` and, for what
    the server can apply, ``shared.schedules``)."""
    return Policy(retry=RetryPolicy(**doc.get("retry", {})), on_failure=doc.get("on_failure"))


def jitter_ms(doc: dict[str, Any], trigger: Trigger, now: int) -> int | None:
    """``jitter_s`` in ms; shorter than the smallest gap between fires, so that moved fires
    keep their order and none overtakes the next."""
    jitter = doc.get("jitter_s", 0) * 1000
    if not jitter:
        return None
    gap = min_gap_ms(trigger, now)
    if gap is not None and jitter >= gap:
        raise invalid(
            "jitter_s", f"must be shorter than the smallest gap between fires, {gap // 1000} s"
        )
    return int(jitter)


def timed(doc: dict[str, Any], account: dict[str, Any], created_ms: int) -> dict[str, Any]:
    """The trigger, zone and bounds of a schedule or preview document."""
    dst = doc.get("dst", DEFAULT_DST)
    wall_clock = {"cron", "calendar"} & set(doc["trigger"])
    if dst != DEFAULT_DST and not wall_clock:
        raise invalid("dst", "skip applies to cron and calendar triggers only")
    timezone = zone_of(doc, account)
    start_ms = instant(doc["start"], "start") if "start" in doc else None
    end_ms = instant(doc["end"], "end") if "end" in doc else None
    if start_ms is not None and end_ms is not None and end_ms < start_ms:
        raise invalid("end", "is before start")
    origin = created_ms if start_ms is None else start_ms
    return {
        "trigger": trigger_of(doc["trigger"], timezone, origin, dst),
        "timezone": timezone,
        "start_ms": start_ms,
        "end_ms": end_ms,
    }


def instant(text: str, field: str) -> int:
    """An ISO 8601 date-time between 1970 and 9998 (UTC) as ms: the range every answer can
    write back and the engine computes in."""
    at_ms = parse_iso8601(text, field)
    if not 0 <= at_ms <= LAST_MS:
        raise invalid(field, "must be between 1970 and 9998 (UTC)")
    return at_ms


def zone_of(doc: dict[str, Any], account: dict[str, Any]) -> str:
    name = doc.get("timezone") or account.get("timezone") or "UTC"
    try:
        return valid_timezone(name)
    except ConfigError as exc:
        raise invalid("timezone", str(exc)) from None


def trigger_of(
    trigger: dict[str, Any], timezone: str, origin_ms: int, dst: DstPolicy = DEFAULT_DST
) -> Trigger:
    if "at" in trigger:
        return OnceTrigger(at_ms=instant(trigger["at"], "trigger.at"))
    if "cron" in trigger:
        return CronTrigger(expr=trigger["cron"].strip(), timezone=timezone, dst=dst)
    if "every" in trigger:
        every_ms = parse_duration_ms(trigger["every"], "trigger.every")
        anchor = trigger.get("anchor")
        anchor_ms = origin_ms if anchor is None else instant(anchor, "trigger.anchor")
        return IntervalTrigger(every_ms=every_ms, anchor_ms=anchor_ms)
    if "rrule" in trigger:
        return RRuleTrigger(rule=trigger["rrule"], dtstart_ms=origin_ms, timezone=timezone)
    items = tuple(RepeatItem(**item) for item in trigger["calendar"])
    return CalendarTrigger(items=items, timezone=timezone, dst=dst)


def target_of(doc: dict[str, Any], account: dict[str, Any]) -> Target:
    target = doc["target"]
    if "webhook" in target:
        return webhook_target(target["webhook"])
    if "push" in target:
        zone_name = account.get("timezone") or "UTC"
        spec = {"push": target["push"], "zone_type": 1, "account_zone": zone_name}
        return Target(TargetKind.PUSH, spec)
    if "task" in target:
        return task_target(target["task"])
    beacon = target["beacon"]
    job = {
        "name": doc["name"],
        "user": account["appkey"],
        "beacon_name": beacon.get("beacon_name", DEFAULT_BEACON),
        "tasks": beacon["tasks"],
    }
    return Target(TargetKind.BEACON, {"job_id": None, "job": job})


def webhook_target(webhook: dict[str, Any]) -> Target:
    spec: dict[str, Any] = {"url": webhook["url"]}
    if webhook.get("method", "POST") != "POST":  # absent means POST: stored forms stay small
        spec["method"] = webhook["method"]
    if webhook.get("headers"):
        spec["headers"] = webhook["headers"]
    body = webhook.get("body")
    if body is not None:
        is_text = isinstance(body, str)
        spec["data"] = body if is_text else json.dumps(body, separators=(",", ":"))
        spec["content_type"] = "text/plain; charset=utf-8" if is_text else "application/json"
    if "content_type" in webhook:
        spec["content_type"] = webhook["content_type"]
    return Target(TargetKind.WEBHOOK, spec)


def task_target(task: dict[str, Any]) -> Target:
    class_name = task["class_name"].strip()
    if canonical(class_name) not in registered(config()):
        detail = unknown_class_message(class_name, config()).removeprefix("class_name: ")
        raise invalid("target.task.class_name", detail)
    return Target(TargetKind.TASK, {"class_name": class_name, "data": task.get("data")})


def merge_patch(current: Any, patch: Any) -> Any:
    """RFC 7396 JSON Merge Patch: objects merge key by key, ``null`` deletes, the rest replaces."""
    if not isinstance(patch, dict):
        return patch
    merged = dict(current) if isinstance(current, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def stored_document(schedule: Schedule) -> dict[str, Any]:
    """The document a PUT of this schedule would send (the base of a PATCH)."""
    doc = {name: schedule.doc[name] for name in KEPT if name in schedule.doc}
    doc["paused"] = not schedule.enabled
    return doc


def not_found(schedule_id: str) -> DialectError:
    return DialectError(404, f"no schedule {schedule_id!r}")
