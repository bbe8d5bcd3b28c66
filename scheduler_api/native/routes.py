"""The routes of ``/v1/schedules`` and ``/v1/preview``."""

from __future__ import annotations

import uuid

from flask import Blueprint, Response

from scheduler_api.adapter import config, store
from scheduler_api.native import openapi_part, replies
from scheduler_api.native.access import caller, guarded
from scheduler_api.native.mapping import (
    build,
    instant,
    merge_patch,
    not_found,
    stored_document,
    timed,
)
from scheduler_api.native.problems import DIALECT, PROBLEM, dialect, load
from scheduler_api.native.reading import document, json_object, query
from scheduler_api.native.render import (
    DEFAULT_LIMIT,
    decode_cursor,
    encode_cursor,
    key_page,
    next_fires,
    page,
    respond,
    run_view,
    schedule_view,
)
from scheduler_api.native.schemas import (
    BackfillDoc,
    PageQuery,
    PreviewDoc,
    PreviewQuery,
    ScheduleDoc,
)
from scheduler_api.openapi import Reply, about, documented, errors, part
from shared import schedules
from shared.contract import TargetKind
from shared.errors import NotFound
from shared.model import Schedule, Target
from shared.timing import format_iso_utc, now_ms, validate_trigger

SCHEDULE = Reply("the schedule", replies.Schedule)
blueprint = Blueprint("native", __name__, url_prefix="/v1")
SCHEDULE_DOC = ScheduleDoc()
PREVIEW_DOC = PreviewDoc()


def find(schedule_id: str) -> Schedule:
    try:
        return schedules.get(store(), caller().appkey, schedule_id, DIALECT)
    except NotFound:
        raise not_found(schedule_id) from None


def answer(schedule: Schedule, status: int = 200) -> Response:
    fresh = store().get_schedule(schedule.id) or schedule
    location = f"/v1/schedules/{schedule.id}" if status == 201 else None
    return respond(schedule_view(fresh, next_fires(store(), fresh)), status, location)


@blueprint.post("/schedules")
@documented(
    summary="Create a schedule",
    body=ScheduleDoc,
    responses={201: SCHEDULE, 422: "a field breaks a rule (each named in errors)"},
)
@guarded("schedules:write")
def create_schedule() -> Response:
    doc = document(SCHEDULE_DOC)
    now = now_ms()
    schedule = build(doc, caller().account, uuid.uuid4().hex, now, now)
    schedules.create(store(), config(), schedule, now_ms=now)
    return answer(schedule, 201)


@blueprint.get("/schedules")
@documented(
    summary="List the schedules made through /v1, oldest first, a page at a time",
    query=PageQuery,
    responses={200: Reply("a page of schedules", replies.SchedulePage)},
)
@guarded("schedules:read")
def list_schedules() -> Response:
    params = query(PageQuery())
    limit = params.get("limit", DEFAULT_LIMIT)
    after = decode_cursor(params.get("cursor"))
    rows = store().page_schedule_ids(caller().appkey, DIALECT, after, limit + 1)
    found = {s.id: s for s in store().get_schedules([sid for sid, _ in rows[:limit]])}
    items = [
        schedule_view(found[sid], next_fires(store(), found[sid]))
        for sid, _ in rows[:limit]
        if sid in found
    ]
    more = len(rows) > limit
    return respond(page(items, encode_cursor(rows[limit - 1][1]) if more else None))


@blueprint.get("/schedules/<schedule_id>")
@documented(summary="Read a schedule", responses={200: SCHEDULE, 404: "no such schedule"})
@guarded("schedules:read")
def get_schedule(schedule_id: str) -> Response:
    return answer(find(schedule_id))


@blueprint.put("/schedules/<schedule_id>")
@documented(
    summary="Replace a schedule (id, creation time and run count kept)",
    body=ScheduleDoc,
    responses={200: SCHEDULE, 404: "no such schedule"},
)
@guarded("schedules:write")
def replace_schedule(schedule_id: str) -> Response:
    current = find(schedule_id)
    return replaced(current, document(SCHEDULE_DOC))


@blueprint.patch("/schedules/<schedule_id>")
@documented(
    summary="Change some fields (RFC 7396 JSON Merge Patch of the schedule's document)",
    body=ScheduleDoc,
    body_types=("application/merge-patch+json", "application/json"),
    responses={200: SCHEDULE, 404: "no such schedule"},
)
@guarded("schedules:write")
def patch_schedule(schedule_id: str) -> Response:
    current = find(schedule_id)
    merged = merge_patch(stored_document(current), json_object())
    return replaced(current, load(SCHEDULE_DOC, merged))


def replaced(current: Schedule, doc: dict[str, object]) -> Response:
    now = now_ms()
    schedule = build(doc, caller().account, current.id, current.created_ms, now)
    schedules.replace_schedule(store(), config(), schedule, now_ms=now)
    return answer(schedule)


@blueprint.delete("/schedules/<schedule_id>")
@documented(summary="Delete a schedule", responses={204: "deleted", 404: "no such schedule"})
@guarded("schedules:write")
def delete_schedule(schedule_id: str) -> Response:
    find(schedule_id)
    schedules.delete(store(), caller().appkey, schedule_id)
    return Response(status=204)


@blueprint.post("/schedules/<schedule_id>/pause")
@documented(summary="Pause: no fire until resumed", responses={200: SCHEDULE, 404: "unknown"})
@guarded("schedules:write")
def pause_schedule(schedule_id: str) -> Response:
    find(schedule_id)
    return answer(schedules.pause(store(), caller().appkey, schedule_id))


@blueprint.post("/schedules/<schedule_id>/resume")
@documented(
    summary="Resume from now on (fires missed while paused are not run)",
    responses={200: SCHEDULE, 404: "unknown", 422: "it has no future fire"},
)
@guarded("schedules:write")
def resume_schedule(schedule_id: str) -> Response:
    find(schedule_id)
    schedules.resume(store(), caller().appkey, schedule_id, now_ms=now_ms())
    return answer(find(schedule_id))


@blueprint.post("/schedules/<schedule_id>/trigger")
@documented(
    summary="Run now, outside the trigger (paused or not, whatever its overlap policy)",
    responses={202: Reply("the execution started", replies.Triggered), 404: "unknown"},
)
@guarded("schedules:write")
def trigger_schedule(schedule_id: str) -> Response:
    schedule = find(schedule_id)
    context = {"by": "api", "api_key": caller().api_key}
    execution = schedules.run_now(store(), config(), schedule, now_ms(), context)
    return respond({"execution": execution}, 202)


@blueprint.post("/schedules/<schedule_id>/backfill")
@documented(
    summary="Run every fire of a past range now, paced, each with its own instant",
    body=BackfillDoc,
    responses={202: Reply("the executions, oldest first", replies.Backfilled), 404: "unknown"},
)
@guarded("schedules:write")
def backfill_schedule(schedule_id: str) -> Response:
    schedule = find(schedule_id)
    doc = document(BackfillDoc())
    start_ms, end_ms = instant(doc["start"], "start"), instant(doc["end"], "end")
    executions = schedules.backfill(store(), config(), schedule, start_ms, end_ms, now_ms=now_ms())
    return respond({"executions": executions}, 202)


@blueprint.get("/schedules/<schedule_id>/runs")
@documented(
    summary="Run records (every attempt, skipped fires too), newest first",
    query=PageQuery,
    responses={200: Reply("a page of runs", replies.RunPage), 404: "unknown"},
)
@guarded("runs:read")
def schedule_runs(schedule_id: str) -> Response:
    params = query(PageQuery())
    try:
        schedules.get(store(), caller().appkey, schedule_id, DIALECT, include_retired=True)
    except NotFound:
        raise not_found(schedule_id) from None
    history = store().history(schedule_id, config().history_max_runs)  # capped: all of it
    rows = [(run.finished_ms or 0, f"{run.id}/{run.attempt:09d}", run) for run in history]
    runs, next_cursor = key_page(rows, params.get("limit", DEFAULT_LIMIT), params.get("cursor"))
    return respond(page([run_view(run.to_dict()) for run in runs], next_cursor))


@blueprint.get("/schedules/<schedule_id>/preview")
@documented(
    summary="The next fires of a saved schedule (count, default 5)",
    query=PreviewQuery,
    responses={200: Reply("the next fires", replies.Preview), 404: "unknown"},
)
@guarded("schedules:read")
def preview_saved(schedule_id: str) -> Response:
    count = query(PreviewQuery()).get("count", 5)
    schedule = find(schedule_id)
    fires = schedules.preview(schedule, now_ms(), count, store().run_count(schedule_id))
    return respond(preview_view(schedule.doc.get("timezone", "UTC"), fires))


@blueprint.post("/preview")
@documented(
    summary="The next fires of an unsaved trigger (nothing is stored)",
    body=PreviewDoc,
    responses={200: Reply("the next fires", replies.Preview)},
)
@guarded("schedules:read")
def preview_unsaved() -> Response:
    doc = document(PREVIEW_DOC)
    now = now_ms()
    timing = timed(doc, caller().account, now)
    probe = Schedule(
        id="preview",
        account=caller().appkey,
        dialect=DIALECT,
        trigger=timing["trigger"],
        target=Target(TargetKind.WEBHOOK),  # never stored nor delivered: only timed
        created_ms=now,
        start_ms=timing["start_ms"],
        end_ms=timing["end_ms"],
        max_runs=doc.get("max_runs"),
    )
    validate_trigger(probe.trigger)
    fires = schedules.preview(probe, now, doc.get("count", 5))
    return respond(preview_view(timing["timezone"], fires))


def preview_view(timezone: str, fires: list[int]) -> dict[str, object]:
    return {"timezone": timezone, "fires": [format_iso_utc(ms) for ms in fires]}


dialect.install(blueprint)
errors(
    blueprint,
    Reply("a problem document (RFC 9457)", replies.Problem, types=(PROBLEM,)),
    {
        400: "the body or a query parameter can't be read (named in errors)",
        401: "no or wrong credentials (HTTP Basic appkey:master_secret, or Bearer API key)",
        403: "the API key lacks the scope this call needs, or the schedule quota is reached",
        404: "no such resource in this account, or an unknown path",
        405: "the path does not take this method",
        409: "the first request with this Idempotency-Key is still running",
        413: "the body is too large",
        415: "the body is not application/json",
        422: "a field breaks a rule (each named in errors)",
        429: "too many requests: wait Retry-After seconds",
        503: "the schedule store is unreachable; try again later",
    },
)
part(blueprint, openapi_part.complete)  # Bearer beside Basic, scopes, Idempotency-Key, examples
about(blueprint, "the native API: every trigger, target and policy of the engine, in JSON")
