"""What ``/1/jobs`` answers: the job, its runs and dead letters, and its error shape, in the
format the client accepts (JSON, XML or plain text)."""

from __future__ import annotations

from typing import Any

from flask import Response, request

from scheduler_api import formats
from scheduler_api.adapter import Dialect, DialectError, status, store
from shared.contract import DialectName
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.model import Schedule
from shared.timing import format_iso_utc

DIALECT = DialectName.WEBHOOK_JOBS
LIST_TYPES = (formats.TEXT, formats.JSON, *formats.XML_TYPES)
JOB_TYPES = (formats.JSON, *formats.XML_TYPES)
CREATE_TYPES = (formats.TEXT, formats.JSON, *formats.XML_TYPES)
ERROR_TYPES = (formats.JSON, *formats.XML_TYPES, formats.TEXT)


def render_error(error: DialectError) -> Response:
    """``{"error": "..."}``, ``<error>...</error>`` or the bare message, as Accept asks."""
    chosen = formats.choose(request, ERROR_TYPES) or formats.JSON
    if chosen == formats.JSON:
        return formats.respond(formats.json_bytes({"error": error.message}), chosen, error.status)
    if chosen == formats.TEXT:
        return formats.respond(error.message, chosen, error.status)
    return formats.respond(formats.xml_text("error", error.message), chosen, error.status)


dialect = Dialect(
    name=DIALECT,
    prefixes=("/1/jobs",),
    render=render_error,
    unauthorized="authentication required: HTTP Basic with appkey:master_secret",
    core_errors={InvalidSchedule: status(400), QuotaExceeded: status(403), NotFound: status(404)},
)


def negotiate(offered: tuple[str, ...]) -> str:
    chosen = formats.choose(request, offered)
    if chosen is None:
        raise DialectError(406, f"Accept: this call answers in {', '.join(offered)}")
    return chosen


def job_view(job: Schedule, account: dict[str, Any], next_ms: int | None) -> dict[str, Any]:
    spec = job.target.spec
    view: dict[str, Any] = {
        "id": job.id,
        "account": account["name"],
        "url": spec["url"],
        "signature": spec.get("signature"),
        "contentType": spec.get("content_type"),
        "data": spec.get("data"),
    }
    if "when" in job.doc:
        view["when"] = job.doc["when"]
    else:
        view["cron"] = job.doc["cron"]
        view["next"] = format_iso_utc(next_ms) if next_ms is not None else None
    return {k: v for k, v in view.items() if v is not None}


def stored_next_ms(job: Schedule) -> int | None:
    """A cron job's next fire, as the due index holds it (a ``when`` job shows no ``next``)."""
    return store().next_fire_ms(job.id) if "cron" in job.doc else None


def render_job(
    job: Schedule, account: dict[str, Any], chosen: str, next_ms: int | None
) -> Response:
    view = job_view(job, account, next_ms)
    if chosen == formats.JSON:
        return formats.respond(formats.json_bytes(view), chosen)
    return formats.respond(formats.xml_document("job", view), chosen)


def render_created(
    job: Schedule, account: dict[str, Any], chosen: str, next_ms: int | None
) -> Response:
    """A created or replaced job, with the next fire the core computed when it stored it."""
    if chosen == formats.TEXT:
        return formats.respond(job.id, chosen)
    return render_job(job, account, chosen, next_ms)


def run_view(run: dict[str, Any]) -> dict[str, Any]:
    result = run.pop("result", None) or {}
    view = {
        "execution": run["id"],
        "attempt": run["attempt"],
        "status": run["status"],
        "due": format_iso_utc(run["due_ms"]),
        "finished": run.get("finished_ms") and format_iso_utc(run["finished_ms"]),
        "httpStatus": result.get("status"),
        "latencyMs": result.get("latency_ms"),
        "lateMs": run.get("late_ms", 0),
        "error": run.get("error"),
    }
    return {k: v for k, v in view.items() if v is not None}


def dead_letter_view(letter: dict[str, Any]) -> dict[str, Any]:
    execution = letter["execution"]
    return {
        "execution": execution["id"],
        "job": execution["schedule"],
        "attempts": execution.get("attempt"),
        "due": format_iso_utc(execution["due_ms"]),
        "died": format_iso_utc(letter["died_ms"]),
        "error": letter.get("error"),
    }
