"""The routes of ``/1/jobs``: the document's calls and our extensions (runs, dead letters)."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Blueprint, Response, request

from scheduler_api import formats
from scheduler_api.adapter import config, store
from scheduler_api.body import read_capped
from scheduler_api.openapi import Reply, about, documented, errors
from scheduler_api.webhook_jobs import examples, replies
from scheduler_api.webhook_jobs.mapping import build_job, find
from scheduler_api.webhook_jobs.reading import (
    decode_data,
    read_document,
    split_shortcut,
    validate_document,
)
from scheduler_api.webhook_jobs.render import (
    CREATE_TYPES,
    DIALECT,
    JOB_TYPES,
    LIST_TYPES,
    dead_letter_view,
    dialect,
    negotiate,
    render_created,
    render_job,
    run_view,
    stored_next_ms,
)
from scheduler_api.webhook_jobs.schemas import MAX_DATA_BYTES, JobDocument
from shared import schedules
from shared.timing import now_ms

DEAD_LETTERS_SHOWN = 100
XML_JOB = dict.fromkeys(formats.XML_TYPES, examples.JOB_XML)
JOB = Reply("the job", replies.Job, examples={"a cron job": examples.JOB}, texts=XML_JOB)
IDS = Reply(
    "the ids", examples.IDS_SCHEMA, examples={"two jobs": examples.IDS}, texts=examples.IDS_TEXTS
)
CREATED = Reply(
    "the job (JSON, XML) or its id (text)",
    replies.Job,
    examples={"a cron job": examples.JOB},
    texts={formats.TEXT: examples.JOB_ID_TEXT, **XML_JOB},
)
# The job document, as JSON or XML (``<job>``).
NEW_JOB: dict[str, Any] = {
    "body": JobDocument,
    "body_examples": examples.NEW_JOB,
    "body_texts": dict.fromkeys(formats.XML_TYPES, examples.NEW_JOB_XML),
}
A_JOB = {"job_id": examples.JOB_ID}

blueprint = Blueprint("webhook_jobs", __name__, url_prefix="/1/jobs")


@blueprint.get("")
@documented(
    summary="List the account's job ids (text, JSON or XML)",
    responses={200: IDS},
)
def list_jobs() -> Response:
    account = dialect.basic_account()
    ids = store().list_schedule_ids(account["appkey"], DIALECT, 0, -1)
    chosen = negotiate(LIST_TYPES)
    if chosen == formats.TEXT:
        return formats.respond(",".join(ids), chosen)
    if chosen == formats.JSON:
        return formats.respond(formats.json_bytes(ids), chosen)
    return formats.respond(formats.xml_document("jobs", {"id": ids}), chosen)


@blueprint.get("/<job_id>")
@documented(summary="Read one job", params=A_JOB, responses={200: JOB, 404: "unknown id"})
def get_job(job_id: str) -> Response:
    account = dialect.basic_account()
    job = find(account, job_id)
    return render_job(job, account, negotiate(JOB_TYPES), stored_next_ms(job))


@blueprint.post("")
@documented(
    summary="Create a job (when or cron)",
    **NEW_JOB,
    responses={200: CREATED},
)
def create_job() -> Response:
    account = dialect.basic_account()
    chosen = negotiate(CREATE_TYPES)
    return create_and_render(read_document(), account, chosen)


@blueprint.put("/<job_id>")
@documented(
    summary="Replace a job's document (id and account kept)",
    **NEW_JOB,
    params=A_JOB,
    responses={200: CREATED, 404: "unknown id"},
)
def update_job(job_id: str) -> Response:
    account = dialect.basic_account()
    chosen = negotiate(CREATE_TYPES)
    current = find(account, job_id)
    now = now_ms()
    job = build_job(read_document(), account, current.id, now)
    next_ms = schedules.replace_schedule(store(), config(), job, now_ms=now)
    return render_created(job, account, chosen, next_ms)


@blueprint.delete("/<job_id>")
@documented(
    summary="Delete a job", params=A_JOB, responses={204: "deleted (no body)", 404: "unknown id"}
)
def delete_job(job_id: str) -> Response:
    account = dialect.basic_account()
    find(account, job_id)
    schedules.delete(store(), account["appkey"], job_id)
    return formats.respond(b"", formats.TEXT, 204)


@blueprint.post("/<path:shortcut>")
@documented(
    summary="Create from the path: /1/jobs/{when or cron}/{callback}; the body is data",
    body={"type": "string", "maxLength": MAX_DATA_BYTES, "description": "the job's data"},
    body_types=(formats.TEXT,),
    body_examples={"the job's data": "testing"},
    body_required=False,
    params={"shortcut": examples.SHORTCUT},
    responses={200: CREATED},
)
def create_job_from_path(shortcut: str) -> Response:
    """``POST /1/jobs/<when>/<callback>`` and ``POST /1/jobs/<cron>/<callback>``."""
    account = dialect.basic_account()
    chosen = negotiate(CREATE_TYPES)
    when_or_cron, callback = split_shortcut()
    payload = read_capped(request, MAX_DATA_BYTES, "body (the job's data)")
    doc: dict[str, Any] = {"url": callback}
    doc.update(when_or_cron)
    if payload:
        doc["data"] = decode_data(payload)
        if request.headers.get("Content-Type"):
            doc["contentType"] = request.headers["Content-Type"]
        if request.headers.get("X-Content-Signature"):
            doc["signature"] = request.headers["X-Content-Signature"]
    return create_and_render(validate_document(doc), account, chosen)


@blueprint.get("/<job_id>/runs")
@documented(
    summary="Extension: the job's run records, newest first",
    params=A_JOB,
    responses={
        200: Reply("run records", replies.Run(many=True), examples={"a retry": examples.RUNS}),
        404: "unknown id",
    },
)
def job_runs(job_id: str) -> Response:
    """Extension: the job's run records, newest first (attempts, status codes, latency, errors)."""
    account = dialect.basic_account()
    find(account, job_id, include_retired=True)  # a fired `when` job's runs stay readable
    runs = [run_view(run.to_dict()) for run in store().history(job_id)]
    chosen = negotiate((formats.JSON,))
    return formats.respond(formats.json_bytes(runs), chosen)


@blueprint.get("/dead-letters")
@documented(
    summary="Extension: the account's dead letters, newest first",
    responses={
        200: Reply(
            "dead letters",
            replies.DeadLetter(many=True),
            examples={"one dead letter": examples.DEAD_LETTERS},
        )
    },
)
def list_dead_letters() -> Response:
    """Extension: the account's callbacks that gave up (newest first), for a redrive."""
    account = dialect.basic_account()
    chosen = negotiate((formats.JSON,))
    letters = store().dead_letters(0, DEAD_LETTERS_SHOWN, owner=(account["appkey"], DIALECT))
    return formats.respond(formats.json_bytes([dead_letter_view(d) for d in letters]), chosen)


@blueprint.post("/dead-letters/<execution_id>/redrive")
@documented(
    summary="Extension: redrive a dead letter from attempt 1",
    params={"execution_id": examples.EXECUTION},
    responses={202: "queued again", 404: "no such dead letter"},
)
def redrive_dead_letter(execution_id: str) -> Response:
    """Extension: run a dead execution again from attempt 1 (same webhook-id); 202 if queued,
    404 (the core's NotFound) if the account has no such dead letter."""
    account = dialect.basic_account()
    schedules.redrive(store(), execution_id, account["appkey"], now_ms=now_ms())
    return formats.respond(b"", formats.TEXT, 202)


def create_and_render(doc: dict[str, Any], account: dict[str, Any], chosen: str) -> Response:
    now = now_ms()
    job = build_job(doc, account, str(uuid.uuid4()), now)
    next_ms = schedules.create(store(), config(), job, now_ms=now)
    return render_created(job, account, chosen, next_ms)


dialect.install(blueprint)
about(
    blueprint,
    "`/1/jobs`: one-time (`when`) or cron jobs that POST their data to a callback URL, signed; "
    "JSON, XML or plain text as `Accept` asks. HTTP Basic `appkey:master_secret`.",
)
errors(
    blueprint,
    Reply("", replies.Error, texts=examples.ERROR_TEXTS),
    {
        400: "a parameter or the body breaks a rule (named in the message)",
        401: "no or wrong HTTP Basic credentials",
        403: "the account's schedule quota is reached",
        404: "no such job, or an unknown path",
        405: "the path does not take this method",
        406: "Accept names no type this call answers in",
        413: "the body is too large",
        415: "the body's Content-Type is not one this call reads",
        429: "too many requests: wait Retry-After seconds",
        503: "the schedule store is unreachable; try again later",
    },
    examples.ERRORS,
)
