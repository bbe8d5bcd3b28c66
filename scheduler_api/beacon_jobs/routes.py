"""The routes of ``/api/jobs`` and their actions (see the package's docstring)."""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, current_app, request
from marshmallow import RAISE, Schema, ValidationError, fields, validate
from werkzeug.exceptions import HTTPException

from scheduler_api import formats, params, ratelimit, routing
from scheduler_api.auth import userkey_account
from scheduler_api.beacon_jobs import replies
from scheduler_api.body import read_form
from scheduler_api.openapi import Reply, documented, errors
from shared import beacon_jobs
from shared.beacon_jobs import JobConflict, NewJob
from shared.config import Config
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.schedules import now_ms
from shared.store import Store

MAX_BODY_BYTES = 1024 * 1024
MAX_TASKS = 100
MAX_RESULTS = 1000
MAX_FORM_PARTS = MAX_RESULTS + 100  # every result[] and the other parameters, as multipart
MAX_TEXT = 200
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z
COMMON = ("userkey", "action")
SCHEDULE_ONLY = ("start_date", "end_date", *beacon_jobs.CRON_FIELDS)

blueprint = Blueprint("beacon_jobs", __name__, url_prefix="/api/jobs")


class BeaconError(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


# --- request shapes --------------------------------------------------------------------------


class Flag(fields.Field):
    """The document's booleans: "true" or "1" set them; "false", "0" or empty leave them off."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise ValidationError("must be true, 1, false or 0")


class Timestamp(params.Integer):
    """A unix timestamp in seconds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(0, MAX_TIMESTAMP), **kwargs)
        self.error_messages["invalid"] = "must be a unix timestamp (whole seconds)"


class Tasks(fields.Field):
    """A JSON-encoded array of task objects."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        text = str(value)
        try:
            tasks = formats.parse_json(text.encode(), name="tasks")
        except formats.BadDocument as exc:
            raise ValidationError(f"must be a JSON array of task objects ({exc})") from None
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise ValidationError("must be a JSON array of task objects")
        if len(tasks) > MAX_TASKS:
            raise ValidationError(f"{len(tasks)} tasks; at most {MAX_TASKS}")
        return tasks


class Matches(fields.Field):
    """A list filter on a property: "null" (or empty) matches a property that has no value."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = str(value)
        if text in ("", "null"):
            return None
        if self.kind == "int":
            number = params.integer(text)
            if number is None:
                raise ValidationError("must be a whole number (or null)")
            return number
        if self.kind == "json":
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                raise ValidationError("must be JSON, as the job's result shows it") from None
        return text


class CreateParams(Schema):
    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=validate.Length(1, MAX_TEXT))
    user_id = fields.String(validate=validate.Length(1, MAX_TEXT))
    user_guid = fields.String(validate=validate.Length(1, MAX_TEXT))
    beacon_name = fields.String(validate=validate.Length(1, MAX_TEXT))
    tasks = Tasks()
    q_time = Timestamp()
    q = Flag()
    schedule = Flag()
    start_date = Timestamp()
    end_date = Timestamp()
    min = fields.String(validate=validate.Length(1, MAX_TEXT))
    hour = fields.String(validate=validate.Length(1, MAX_TEXT))
    dom = fields.String(validate=validate.Length(1, MAX_TEXT))
    dow = fields.String(validate=validate.Length(1, MAX_TEXT))
    month = fields.String(validate=validate.Length(1, MAX_TEXT))


ListParams = Schema.from_dict(
    {name: Matches("str") for name in beacon_jobs.STRING_PROPERTIES}
    | {name: Matches("int") for name in beacon_jobs.INT_PROPERTIES}
    | {name: Matches("json") for name in beacon_jobs.JSON_PROPERTIES},
    name="ListParams",
)


class UpdateParams(Schema):
    class Meta:
        unknown = RAISE

    curtask = params.Integer(error_messages={"invalid": "must be a whole number"})
    schedule_active = fields.String()


class PickupParams(Schema):
    class Meta:
        unknown = RAISE

    beacon_name = fields.String(validate=validate.Length(1, MAX_TEXT))


class NoParams(Schema):
    class Meta:
        unknown = RAISE


FORM = ("application/x-www-form-urlencoded", "multipart/form-data")
JOB = Reply("the job", replies.BeaconJob)
JOBS = Reply("a JSON array of jobs", replies.BeaconJob(many=True))


class ActionQuery(Schema):
    action = fields.String(metadata={"description": "the call; each path has its default"})


class JobQuery(ActionQuery):
    beacon_name = fields.String(metadata={"description": "pickup: the beacon picking it up"})


# --- routes ----------------------------------------------------------------------------------


@blueprint.get("", strict_slashes=False)
@documented(
    summary="List jobs (action=list), filtered by any job property",
    query=ListParams,
    responses={200: JOBS},
    security="userkey",
)
def list_jobs() -> Response:
    account = authenticated()
    action_of({"GET": ("list",), "POST": ("create",)})
    return answer(beacon_jobs.list_jobs(store(), account, load(ListParams())))


@blueprint.post("", strict_slashes=False)
@documented(
    summary="Create a job (action=create): queue it (q, q_time) or schedule it (min..month)",
    body=CreateParams,
    body_types=FORM,
    query=ActionQuery,
    responses={200: JOB},
    security="userkey",
)
def create_job() -> Response:
    account = authenticated()
    action_of({"POST": ("create",), "GET": ("list",)})
    # The document: schedule parameters are ignored when the job is not scheduled.
    scheduling = request.values.get("schedule", "").strip().lower() in ("true", "1")
    ignored = () if scheduling else SCHEDULE_ONLY
    new = new_job(load(CreateParams(), ignored), account)
    return answer(
        guarded(lambda: beacon_jobs.create_job(store(), config(), account, new, now_ms=now_ms()))
    )


@blueprint.get("/scheduled", strict_slashes=False)
@documented(
    summary="List scheduled jobs: name, scheduled job id, active",
    query=ActionQuery,
    responses={200: Reply("id, name, active, next_time", replies.ScheduledJob(many=True))},
    security="userkey",
)
def scheduled() -> Response:
    account = authenticated()
    action_of({"GET": ("list",)})
    load(NoParams())
    return answer(beacon_jobs.scheduled_jobs(store(), account))


@blueprint.get("/<job_id>", strict_slashes=False)
@documented(
    summary="Show a job (action=show), pick it up (action=pickup) or read its history "
    "(action=history, extension)",
    query=JobQuery,
    responses={
        200: Reply(
            "the job (history: its events)",
            {"oneOf": [replies.BeaconJob, {"type": "array", "items": replies.Event}]},
        )
    },
    security="userkey",
)
def read_job(job_id: str) -> Response:
    return job_action(job_id)


@blueprint.post("/<job_id>", strict_slashes=False)
@documented(
    summary="Update (curtask, schedule_active), pickup, start, or end (result[]) a job",
    body=UpdateParams,
    body_types=FORM,
    query=JobQuery,
    responses={200: JOB},
    security="userkey",
)
def change_job(job_id: str) -> Response:
    return job_action(job_id)


def job_action(job_id: str) -> Response:
    account = authenticated()
    number = parse_id(job_id)
    action = action_of(
        {
            "GET": ("show", "pickup", "history"),
            "POST": ("update", "pickup", "start", "end", "finish"),
        }
    )
    return answer(guarded(lambda: ACTIONS[action](account, number)))


@blueprint.get("/<job_id>/tasks", strict_slashes=False)
@documented(
    summary="A job's tasks (action=list or show)",
    query=ActionQuery,
    responses={200: Reply("the job's tasks", {"type": "array", "items": {"type": "object"}})},
    security="userkey",
)
def tasks(job_id: str) -> Response:
    account = authenticated()
    number = parse_id(job_id)
    action_of({"GET": ("list", "show")})
    load(NoParams())
    return answer(guarded(lambda: beacon_jobs.get_job(store(), account, number)["tasks"]))


def show(account: dict[str, Any], job_id: int) -> Any:
    load(NoParams())
    return beacon_jobs.get_job(store(), account, job_id)


def job_history(account: dict[str, Any], job_id: int) -> Any:
    """Extension: the job's lifecycle events and task results, oldest first."""
    load(NoParams())
    return beacon_jobs.history(store(), account, job_id)


def update(account: dict[str, Any], job_id: int) -> Any:
    params = load(UpdateParams())
    job = beacon_jobs.get_job(store(), account, job_id)
    if "curtask" in params:
        job = beacon_jobs.set_cur_task(store(), account, job_id, params["curtask"], now_ms=now_ms())
    if "schedule_active" in params:
        active = params["schedule_active"].strip().lower() not in ("false", "0")
        job = beacon_jobs.set_schedule_active(
            store(), config(), account, job_id, active, now_ms=now_ms()
        )
    return job


def pickup(account: dict[str, Any], job_id: int) -> Any:
    beacon = load(PickupParams()).get("beacon_name")
    return beacon_jobs.pickup(store(), config(), account, job_id, beacon, now_ms=now_ms())


def start(account: dict[str, Any], job_id: int) -> Any:
    load(NoParams())
    return beacon_jobs.start(store(), config(), account, job_id, now_ms=now_ms())


def finish(account: dict[str, Any], job_id: int) -> Any:
    return beacon_jobs.finish(store(), config(), account, job_id, results(), now_ms=now_ms())


ACTIONS = {
    "show": show,
    "history": job_history,
    "update": update,
    "pickup": pickup,
    "start": start,
    "end": finish,
    "finish": finish,
}


@blueprint.errorhandler(BeaconError)
def beacon_error(error: BeaconError) -> Response:
    return error_response(error.status, str(error))


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    return error_response(error.code or 500, error.description or error.name)


routing.claim_prefixes(blueprint, ("/api/jobs",), http_error)
ratelimit.counts_per_account(blueprint)
errors(
    blueprint,
    Reply("", replies.Error),
    {
        400: '{"error": "<parameter>: <what is wrong>"}',
        401: "no or unknown userkey",
        403: "the account's schedule quota is reached",
        404: "no such job (or another account's)",
        405: "the action needs another method",
        409: "the job is not in the state the action needs",
        413: "the request body is too large",
        429: "too many requests: wait Retry-After seconds",
        503: "the schedule store is unreachable; try again later",
    },
)


# --- reading requests ------------------------------------------------------------------------


def authenticated() -> dict[str, Any]:
    read_form(request, MAX_BODY_BYTES, MAX_FORM_PARTS)  # capped, before request.values parses it
    userkey = request.values.get("userkey", "")
    account = userkey_account(store(), userkey)
    if not userkey:
        raise BeaconError(401, "userkey is required (query string or form field)")
    if account is None:
        raise BeaconError(401, "userkey is not valid")
    return account


def action_of(allowed: dict[str, tuple[str, ...]]) -> str:
    """The call's action: its ``action`` parameter, else the method's default (the first)."""
    offered = allowed.get(request.method, ())
    action = request.values.get("action", "").strip().lower() or offered[0]
    if action in offered:
        return action
    for method, actions in allowed.items():
        if action in actions:
            raise BeaconError(405, f"action={action} needs {method}")
    every = sorted({a for actions in allowed.values() for a in actions})
    raise BeaconError(400, f"action: {action!r} is not one of {', '.join(every)} here")


def load(schema: Schema, ignored: tuple[str, ...] = ()) -> dict[str, Any]:
    """The request's parameters (query and form; the first of repeated ones) through ``schema``,
    without ``userkey``, ``action`` and ``ignored``."""
    skip = (*COMMON, *ignored)
    values = {k: v for k, v in request.values.items() if k not in skip}
    try:
        return schema.load(values, unknown=RAISE)
    except ValidationError as exc:
        raise BeaconError(400, describe(exc.messages)) from None


def describe(messages: Any) -> str:
    """marshmallow's ``{"field": ["msg"]}`` as one sentence that names each bad parameter."""
    if not isinstance(messages, dict):
        return str(messages)
    parts = []
    for name, value in messages.items():
        text = " ".join(value) if isinstance(value, list) else str(value)
        parts.append(f"{name}: {text.replace('Unknown field.', 'unknown parameter')}")
    return "; ".join(parts)


def parse_id(raw: str) -> int:
    number = params.whole_number(raw)
    if number is None or raw != raw.strip():
        raise BeaconError(404, f"no job {raw!r}")
    return number


def results() -> list[Any]:
    """``result[]`` (also read as ``result``), each a JSON value, in the order given."""
    extra = set(request.values) - {*COMMON, "result[]", "result"}
    if extra:
        raise BeaconError(400, f"{sorted(extra)[0]}: unknown parameter")
    raws = request.values.getlist("result[]") + request.values.getlist("result")
    if len(raws) > MAX_RESULTS:
        raise BeaconError(400, f"result[]: {len(raws)} results; at most {MAX_RESULTS}")
    parsed = []
    for n, raw in enumerate(raws):
        try:
            parsed.append(formats.parse_json(raw.encode(), name=f"result[{n}]"))
        except formats.BadDocument as exc:
            raise BeaconError(400, str(exc)) from None
    return parsed


def new_job(params: dict[str, Any], account: dict[str, Any]) -> NewJob:
    user = params.get("user_id") or params.get("user_guid") or account["appkey"]
    return NewJob(
        name=params["name"],
        user=user,
        beacon_name=params.get("beacon_name", beacon_jobs.DEFAULT_BEACON),
        tasks=params.get("tasks", []),
        q=params.get("q", False),
        q_time=params.get("q_time"),
        schedule=params.get("schedule", False),
        cron={k: params[k] for k in beacon_jobs.CRON_FIELDS if k in params},
        start_date=params.get("start_date"),
        end_date=params.get("end_date"),
    )


def guarded(call: Any) -> Any:
    """Run a core call, mapping its errors onto this dialect's statuses."""
    try:
        return call()
    except NotFound as exc:
        raise BeaconError(404, str(exc)) from None
    except JobConflict as exc:
        raise BeaconError(409, str(exc)) from None
    except QuotaExceeded as exc:
        raise BeaconError(403, str(exc)) from None
    except InvalidSchedule as exc:
        raise BeaconError(400, str(exc)) from None


# --- answers ---------------------------------------------------------------------------------


def answer(data: Any, status: int = 200) -> Response:
    return formats.respond(formats.json_bytes(data), formats.JSON, status)


def error_response(status: int, message: str) -> Response:
    body = formats.json_bytes({"error": formats.clip_message(message)})
    return formats.respond(body, formats.JSON, status)


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
