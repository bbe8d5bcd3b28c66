"""The "Job Scheduler API" (``/1/jobs``): webhook jobs, as a thin adapter over the core.

A job is a ``Schedule`` with a webhook target: ``when`` becomes a one-shot trigger, ``cron`` a cron
trigger in UTC (Unix 5-field or Quartz 6/7-field, as the document's ``0 15 10 ? * *``). Jobs are
purged once they have no future fire, as the document says. Requests are JSON or XML (``<job>``);
answers are JSON, XML or plain text by ``Accept``. Errors are ``{"error": "..."}``,
``<error>...</error>`` or the bare message, in the format the client accepts.
"""

from __future__ import annotations

import uuid
from typing import Any
from urllib.parse import unquote, urlsplit

from flask import Blueprint, Response, request
from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema

from scheduler_api import formats
from scheduler_api.adapter import Dialect, DialectError, config, status, store
from scheduler_api.body import read_capped
from scheduler_api.openapi import Reply, documented, errors
from scheduler_api.replies import webhook_jobs as replies
from shared import schedules
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.header_values import check_header_value
from shared.model import CronTrigger, OnceTrigger, Schedule, Target
from shared.timing import format_iso_utc, min_gap_ms, parse_iso8601

DIALECT = "webhook_jobs"
MAX_DATA_BYTES = 2048
MAX_BODY_BYTES = 16 * 1024
MIN_CRON_GAP_MS = 10 * 60 * 1000
DEAD_LETTERS_SHOWN = 100
LIST_TYPES = (formats.TEXT, formats.JSON, *formats.XML_TYPES)
JOB_TYPES = (formats.JSON, *formats.XML_TYPES)
CREATE_TYPES = (formats.TEXT, formats.JSON, *formats.XML_TYPES)
ERROR_TYPES = (formats.JSON, *formats.XML_TYPES, formats.TEXT)

XML_TEXT = (*formats.XML_TYPES, formats.TEXT)
JOB = Reply("the job", replies.Job, untyped=formats.XML_TYPES)
IDS = Reply("the ids", {"type": "array", "items": {"type": "string"}}, untyped=XML_TEXT)
CREATED = Reply("the job (JSON, XML) or its id (text)", replies.Job, untyped=XML_TEXT)

blueprint = Blueprint("webhook_jobs", __name__, url_prefix="/1/jobs")


class JobDocument(Schema):
    """A job as clients send it. ``id``, ``account`` and ``next`` may come back in a document a
    client read earlier; they are generated fields, so they are read and ignored."""

    class Meta:
        unknown = RAISE

    url = fields.String(required=True)
    signature = fields.String()
    contentType = fields.String()  # noqa: N815 (the document's field name)
    data = fields.String()
    when = fields.String()
    cron = fields.String()
    id = fields.String(load_only=True)
    account = fields.String(load_only=True)
    next = fields.String(load_only=True)

    @validates_schema
    def one_of_when_and_cron(self, doc: dict[str, Any], **_: Any) -> None:
        if ("when" in doc) == ("cron" in doc):
            raise ValidationError("exactly one of when and cron is required", "when")


# --- routes ----------------------------------------------------------------------------------


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
@documented(summary="Read one job", responses={200: JOB, 404: "unknown id"})
def get_job(job_id: str) -> Response:
    account = dialect.basic_account()
    return render_job(find(account, job_id), account, negotiate(JOB_TYPES))


@blueprint.post("")
@documented(
    summary="Create a job (when or cron)",
    body=JobDocument,
    body_types=(formats.JSON, *formats.XML_TYPES),
    responses={200: CREATED},
)
def create_job() -> Response:
    account = dialect.basic_account()
    chosen = negotiate(CREATE_TYPES)
    return create_and_render(read_document(), account, chosen)


@blueprint.put("/<job_id>")
@documented(
    summary="Replace a job's document (id and account kept)",
    body=JobDocument,
    body_types=(formats.JSON, *formats.XML_TYPES),
    responses={200: CREATED, 404: "unknown id"},
)
def update_job(job_id: str) -> Response:
    account = dialect.basic_account()
    chosen = negotiate(CREATE_TYPES)
    current = find(account, job_id)
    job = build_job(read_document(), account, job_id=current.id)
    schedules.replace_schedule(store(), config(), job)
    return render_created(job, account, chosen)


@blueprint.delete("/<job_id>")
@documented(summary="Delete a job", responses={204: "deleted (no body)", 404: "unknown id"})
def delete_job(job_id: str) -> Response:
    account = dialect.basic_account()
    find(account, job_id)
    schedules.delete(store(), account["appkey"], job_id)
    return formats.respond(b"", formats.TEXT, 204)


@blueprint.post("/<path:shortcut>")
@documented(
    summary="Create from the path: /1/jobs/{when or cron}/{callback}; the body is data",
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
    responses={200: Reply("run records", replies.Run(many=True)), 404: "unknown id"},
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
    responses={200: Reply("dead letters", replies.DeadLetter(many=True))},
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
    responses={202: "queued again", 404: "no such dead letter"},
)
def redrive_dead_letter(execution_id: str) -> Response:
    """Extension: run a dead execution again from attempt 1 (same webhook-id); 202 if queued."""
    account = dialect.basic_account()
    if not schedules.redrive(store(), execution_id, account["appkey"]):
        raise DialectError(404, f"no dead letter {execution_id!r}")
    return formats.respond(b"", formats.TEXT, 202)


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
    blueprint=blueprint,
    prefixes=("/1/jobs",),
    render=render_error,
    unauthorized="authentication required: HTTP Basic with appkey:master_secret",
    core_errors={InvalidSchedule: status(400), QuotaExceeded: status(403), NotFound: status(404)},
)
dialect.install()
errors(
    blueprint,
    Reply("", replies.Error, untyped=XML_TEXT),
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
)


# --- reading requests ------------------------------------------------------------------------


def negotiate(offered: tuple[str, ...]) -> str:
    chosen = formats.choose(request, offered)
    if chosen is None:
        raise DialectError(406, f"Accept: this call answers in {', '.join(offered)}")
    return chosen


def read_document() -> dict[str, Any]:
    raw = read_capped(request, MAX_BODY_BYTES)
    kind = formats.media_type(request)
    try:
        if kind == formats.JSON:
            doc = formats.parse_json(raw)
        elif kind in formats.XML_TYPES:
            doc = formats.parse_xml_fields(raw, "job")
        else:
            accepted = ", ".join(JOB_TYPES)
            raise DialectError(415, f"Content-Type {kind or '(none)'!r}: send one of {accepted}")
    except formats.BadDocument as exc:
        raise DialectError(400, str(exc)) from None
    if not isinstance(doc, dict):
        raise DialectError(400, "body must be a job object")
    return validate_document(doc)


def validate_document(doc: dict[str, Any]) -> dict[str, Any]:
    loaded: dict[str, Any] = dialect.load(JobDocument(), doc)
    return loaded


def decode_data(payload: bytes) -> str:
    try:
        return payload.decode("utf-8")
    except UnicodeDecodeError:
        raise DialectError(
            400, "data: must be UTF-8 text (encode binary payloads, e.g. base64)"
        ) from None


def split_shortcut() -> tuple[dict[str, str], str]:
    """The path's ``<when or cron>`` and ``<callback>``, each URL-decoded on its own.

    The raw (still encoded) path is used when the server provides it, so an encoded ``/`` inside
    a cron (``0%2F15 ...``) or the callback does not split the path in the wrong place.
    """
    raw = request.environ.get("RAW_URI") or request.environ.get("REQUEST_URI") or ""
    path = urlsplit(raw).path if raw else request.path
    rest = path.split("/1/jobs/", 1)[-1]
    head, _, callback = rest.partition("/")
    if not callback:
        raise DialectError(404, "use POST /1/jobs/<when or cron>/<callback URL>")
    text = unquote(head)
    try:
        parse_iso8601(text, "when")
        return {"when": text}, unquote(callback)
    except InvalidSchedule:
        return {"cron": unquote(head.replace("+", " "))}, unquote(callback)


# --- the job as a schedule -------------------------------------------------------------------


def build_job(doc: dict[str, Any], account: dict[str, Any], job_id: str) -> Schedule:
    data = doc.get("data")
    size = len(data.encode(errors="surrogatepass")) if data is not None else 0  # core: Unicode
    if size > MAX_DATA_BYTES:
        raise DialectError(400, f"data: {size} bytes; at most {MAX_DATA_BYTES}")
    for name in ("contentType", "signature"):  # the core checks them too, by its own names
        if doc.get(name) is not None:
            check_header_value(name, doc[name])
    spec = {  # the url is checked by the core (shared.netguard), on create and on replace
        "url": doc["url"],
        "data": data,
        "content_type": doc.get("contentType"),
        "signature": doc.get("signature"),
    }
    return Schedule(
        id=job_id,
        account=account["appkey"],
        dialect=DIALECT,
        trigger=trigger_of(doc),
        target=Target("webhook", {k: v for k, v in spec.items() if v is not None}),
        created_ms=schedules.now_ms(),
        purge_when_done=True,
        doc={k: doc[k] for k in ("when", "cron") if k in doc},
    )


def trigger_of(doc: dict[str, Any]) -> OnceTrigger | CronTrigger:
    if "when" in doc:
        at_ms = parse_iso8601(doc["when"], "when")
        if at_ms <= schedules.now_ms():
            raise DialectError(400, f"when: {doc['when']} is not in the future")
        return OnceTrigger(at_ms=at_ms)
    trigger = CronTrigger(expr=doc["cron"].strip(), timezone="UTC")
    gap = min_gap_ms(trigger, schedules.now_ms())
    if gap is not None and gap < MIN_CRON_GAP_MS:
        raise DialectError(
            400,
            f"cron: {trigger.expr!r} fires {gap // 1000} s apart at times; "
            "a job may fire at most once every ten minutes",
        )
    return trigger


def create_and_render(doc: dict[str, Any], account: dict[str, Any], chosen: str) -> Response:
    job = build_job(doc, account, job_id=str(uuid.uuid4()))
    schedules.create(store(), config(), job)
    return render_created(job, account, chosen)


def find(account: dict[str, Any], job_id: str, include_retired: bool = False) -> Schedule:
    try:
        return schedules.get(
            store(), account["appkey"], job_id, DIALECT, include_retired=include_retired
        )
    except NotFound:
        raise DialectError(404, f"no job {job_id!r}") from None


# --- rendering -------------------------------------------------------------------------------


def job_view(job: Schedule, account: dict[str, Any]) -> dict[str, Any]:
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
        next_ms = store().next_fire_ms(job.id)
        view["next"] = format_iso_utc(next_ms) if next_ms is not None else None
    return {k: v for k, v in view.items() if v is not None}


def render_job(job: Schedule, account: dict[str, Any], chosen: str) -> Response:
    view = job_view(job, account)
    if chosen == formats.JSON:
        return formats.respond(formats.json_bytes(view), chosen)
    return formats.respond(formats.xml_document("job", view), chosen)


def render_created(job: Schedule, account: dict[str, Any], chosen: str) -> Response:
    if chosen == formats.TEXT:
        return formats.respond(job.id, chosen)
    return render_job(job, account, chosen)


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
