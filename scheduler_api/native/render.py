"""What the native API answers: a schedule, a run, a dead letter, a page, as plain dicts."""

from __future__ import annotations

import base64
import binascii
from typing import Any, TypeVar

from flask import Response

from scheduler_api import formats
from scheduler_api.native.problems import invalid
from shared import schedules
from shared.contract import RunStatus
from shared.model import Schedule
from shared.store import Store
from shared.timing import format_iso_utc

T = TypeVar("T")

NEXT_FIRES = 5
DEFAULT_LIMIT = 50


def respond(data: Any, status: int = 200, location: str | None = None) -> Response:
    response = formats.respond(formats.json_bytes(data), formats.JSON, status)
    if location:
        response.headers["Location"] = location
    return response


def iso(ms: int | None) -> str | None:
    return None if ms is None else format_iso_utc(ms)


def next_fires(store: Store, schedule: Schedule) -> list[int]:
    """The next fires: the due index's next, then the trigger's (none while paused or done)."""
    first = store.next_fire_ms(schedule.id) if schedule.enabled else None
    if first is None:
        return []
    runs = store.run_count(schedule.id) + 1
    return [first, *schedules.preview(schedule, first, NEXT_FIRES - 1, runs)]


def schedule_view(schedule: Schedule, fires: list[int]) -> dict[str, Any]:
    doc = schedule.doc
    state = "paused" if not schedule.enabled else ("active" if fires else "done")
    view: dict[str, Any] = {
        "id": schedule.id,
        "name": doc.get("name", ""),
        "state": state,
        "paused": not schedule.enabled,
        "trigger": doc.get("trigger", {}),
        "target": doc.get("target", {}),
        "timezone": doc.get("timezone", "UTC"),
        "dst": doc.get("dst", "cron"),
        "overlap": schedule.overlap,
        "next_fires": [format_iso_utc(ms) for ms in fires],
        "created": format_iso_utc(schedule.created_ms),
        "updated": format_iso_utc(doc.get("updated_ms", schedule.created_ms)),
    }
    optional = {
        "start": iso(schedule.start_ms),
        "end": iso(schedule.end_ms),
        "max_runs": schedule.max_runs,
        "jitter_s": doc.get("jitter_s") or None,
        "catchup_window_s": doc.get("catchup_window_s"),
        "retry": doc.get("retry"),
        "on_failure": doc.get("on_failure"),
        "metadata": doc.get("metadata"),
    }
    view.update({k: v for k, v in optional.items() if v is not None})
    return view


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    result = run.get("result")
    view = {
        "execution": run["id"],
        "attempt": run["attempt"],
        "status": run["status"],
        "scheduled": format_iso_utc(run["due_ms"]),
        "started": iso(run.get("started_ms")),
        "finished": iso(run.get("finished_ms")),
        "late_ms": run.get("late_ms", 0),
        "result": result if isinstance(result, dict) else None,
    }
    # A skipped (missed) fire was never attempted: what its record says is why, not an error.
    view["reason" if run["status"] == RunStatus.SKIPPED else "error"] = run.get("error")
    return {k: v for k, v in view.items() if v is not None}


def dead_letter_view(letter: dict[str, Any]) -> dict[str, Any]:
    execution = letter["execution"]
    return {
        "execution": execution["id"],
        "schedule": execution["schedule"],
        "attempts": execution.get("attempt"),
        "scheduled": format_iso_utc(execution["due_ms"]),
        "died": format_iso_utc(letter["died_ms"]),
        "error": letter.get("error"),
    }


def page(items: list[dict[str, Any]], next_cursor: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": next_cursor}


def encode_cursor(position: int) -> str:
    """An opaque cursor for a position (an instant or an offset) in a listing."""
    return base64.urlsafe_b64encode(f"p{position}".encode()).decode().rstrip("=")


def key_page(
    rows: list[tuple[int, str, T]], limit: int, cursor: str | None
) -> tuple[list[T], str | None]:
    """One page of ``rows`` (instant, key, item), newest instant first, then by key; a cursor
    names the last row shown, not a count, so records arriving meanwhile never shift a walk
    (no row shown twice, none skipped)."""
    ordered = sorted(rows, key=lambda row: (-row[0], row[1]))
    after = decode_key_cursor(cursor)
    if after is not None:
        ordered = [row for row in ordered if (-row[0], row[1]) > (-after[0], after[1])]
    shown = ordered[:limit]
    more = len(ordered) > limit
    last = shown[-1] if shown else None
    next_cursor = _encode(f"k{last[0]}|{last[1]}") if more and last else None
    return [row[2] for row in shown], next_cursor


def decode_key_cursor(cursor: str | None) -> tuple[int, str] | None:
    if cursor is None:
        return None
    raw = _decode(cursor)
    instant, _, key = raw[1:].partition("|")
    if not raw.startswith("k") or not instant.lstrip("-").isdigit() or len(instant) >= 20:
        raise invalid("cursor", "not a cursor this API gave (use next_cursor as it came)", 400)
    return int(instant), key


def _encode(raw: str) -> str:
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _decode(cursor: str) -> str:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return ""


def decode_cursor(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raw = ""
    if not (raw.startswith("p") and raw[1:].isascii() and raw[1:].isdigit() and len(raw) < 20):
        raise invalid("cursor", "not a cursor this API gave (use next_cursor as it came)", 400)
    return int(raw[1:])
