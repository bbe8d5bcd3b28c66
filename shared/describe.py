"""A schedule in a few words for a person: its name, state, trigger and target; a span of time.

The CLI's tables and the dashboard show the same things, so they say them the same way; each
formats instants its own way (local time at a terminal, UTC on the page) and passes that in.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shared.model import (
    DEFAULT_OVERLAP,
    CalendarTrigger,
    CronTrigger,
    InstantsTrigger,
    IntervalTrigger,
    OnceTrigger,
    Schedule,
    Trigger,
)

ShowTime = Callable[[int], Any]  # an instant (UTC ms) as the caller shows it


def schedule_name(schedule: Schedule) -> str:
    """What the schedule is called: the name its API stored (native, CLI), else its push's or
    beacon job's own name; empty when it has none (a webhook job, a task)."""
    spec = schedule.target.spec
    return str(schedule.doc.get("name") or name_in(spec, "push") or name_in(spec, "job") or "")


def schedule_state(schedule: Schedule, next_ms: int | None) -> str:
    """``paused`` (disabled), ``active`` (has a next fire) or ``done`` (none left)."""
    if not schedule.enabled:
        return "paused"
    return "active" if next_ms is not None else "done"


def describe_trigger(trigger: Trigger, show_time: ShowTime) -> str:
    match trigger:
        case OnceTrigger(at_ms=at_ms):
            return f"once at {show_time(at_ms)}"
        case CronTrigger(expr=expr, timezone=tz):
            return f"cron {expr} ({tz})"
        case CalendarTrigger(items=items, timezone=tz):
            return f"calendar, {len(items)} rule(s) ({tz})"
        case IntervalTrigger(every_ms=every_ms):
            return f"every {duration(every_ms)}"
        case InstantsTrigger(at_ms=instants):
            return f"{len(instants)} instants from {show_time(instants[0])}"
    return trigger.kind


def describe_target(schedule: Schedule, width: int = 50) -> str:
    """The target kind and what names it best: a URL, a task class, a push's or job's name
    (cut to ``width`` characters)."""
    spec = schedule.target.spec
    what = (
        spec.get("url") or spec.get("class_name") or name_in(spec, "push") or name_in(spec, "job")
    )
    kind = str(schedule.target.kind)
    return f"{kind} {shorten(str(what), width)}" if what else kind


def describe_policies(schedule: Schedule) -> str:
    """What a schedule asks beyond the defaults: its overlap policy, retries, attempt timeout and
    failure URL; empty when it keeps every default (each dialect's own behaviour)."""
    parts = [] if schedule.overlap == DEFAULT_OVERLAP else [f"overlap {schedule.overlap}"]
    retry = schedule.policy.retry
    if retry.max_attempts:
        parts.append(f"{retry.max_attempts} attempt(s)")
    if retry.initial_s or retry.max_s:
        first = f"{retry.initial_s} s" if retry.initial_s else "default"
        most = f"{retry.max_s} s" if retry.max_s else "default"
        parts.append(f"retry after {first}, at most {most} apart")
    if retry.timeout_s:
        parts.append(f"{retry.timeout_s} s per attempt")
    if schedule.policy.on_failure:
        parts.append(f"on failure {shorten(schedule.policy.on_failure)}")
    return ", ".join(parts)


def name_in(spec: dict[str, Any], key: str) -> Any:
    """The ``name`` of the object ``spec[key]`` (a push, a beacon job), if it has one."""
    inner = spec.get(key)
    return inner.get("name") if isinstance(inner, dict) else None


def duration(ms: int | None) -> str | None:
    """A span for a person: ``350 ms``, ``4.2 s``, ``3 min 5 s``, ``2 h 10 min``, ``3 d 4 h``."""
    if ms is None:
        return None
    if abs(ms) < 1000:
        return f"{ms} ms"
    seconds = ms / 1000
    if abs(seconds) < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min"
    days, hours = divmod(hours, 24)
    return f"{days} d {hours} h"


def shorten(text: str | None, width: int = 60) -> str | None:
    """One line of at most ``width`` characters (an error message, a URL) for a table cell."""
    if not text:
        return text
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 3] + "..."
