"""The routes of ``/api/jobs`` and their actions (see the package's docstring)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, request

from scheduler_api.adapter import config, store
from scheduler_api.beacon_jobs import examples, replies
from scheduler_api.beacon_jobs.mapping import new_job
from scheduler_api.beacon_jobs.reading import action_of, authenticated, load, parse_id, results
from scheduler_api.beacon_jobs.render import PATH, answer, dialect
from scheduler_api.beacon_jobs.schemas import (
    ActionQuery,
    CreateParams,
    JobQuery,
    ListParams,
    NoParams,
    PickupParams,
    UpdateParams,
)
from scheduler_api.openapi import Reply, about, documented, errors
from shared import beacon_jobs
from shared.timing import now_ms

SCHEDULE_ONLY = ("start_date", "end_date", *beacon_jobs.CRON_FIELDS)

blueprint = Blueprint("beacon_jobs", __name__, url_prefix=PATH)
FORM = ("application/x-www-form-urlencoded", "multipart/form-data")
JOB = Reply("the job", replies.BeaconJob, examples={"a queued job": examples.JOB})
JOBS = Reply(
    "a JSON array of jobs", replies.BeaconJob(many=True), examples={"one job": [examples.JOB]}
)
A_JOB = {"job_id": 1}


@blueprint.get("", strict_slashes=False)
@documented(
    summary="List jobs (action=list), filtered by any job property",
    query=ListParams,
    params={"status": "queued"},
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
    body_examples=examples.NEW_JOB,
    query=ActionQuery,
    params={"action": "create"},
    responses={
        200: Reply(
            "the job",
            replies.BeaconJob,
            examples={"a queued job": examples.JOB, "a scheduled job": examples.SCHEDULED_JOB},
        )
    },
    security="userkey",
)
def create_job() -> Response:
    account = authenticated()
    action_of({"POST": ("create",), "GET": ("list",)})
    # The document: schedule parameters are ignored when the job is not scheduled.
    scheduling = request.values.get("schedule", "").strip().lower() in ("true", "1")
    ignored = () if scheduling else SCHEDULE_ONLY
    new = new_job(load(CreateParams(), ignored), account)
    return answer(beacon_jobs.create_job(store(), config(), account, new, now_ms=now_ms()))


@blueprint.get("/scheduled", strict_slashes=False)
@documented(
    summary="List scheduled jobs: name, scheduled job id, active",
    query=ActionQuery,
    params={"action": "list"},
    responses={
        200: Reply(
            "id, name, active, next_time",
            replies.ScheduledJob(many=True),
            examples={"one scheduled job": examples.SCHEDULED_LIST},
        )
    },
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
    params={**A_JOB, "action": examples.READ_ACTIONS, "beacon_name": "builder-1"},
    responses={
        200: Reply(
            "the job (history: its events)",
            {"oneOf": [replies.BeaconJob, {"type": "array", "items": replies.Event}]},
            examples={"show": examples.FINISHED, "history": examples.HISTORY},
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
    body_examples=examples.CHANGES,
    body_required=False,
    query=JobQuery,
    params={**A_JOB, "action": examples.CHANGE_ACTIONS, "beacon_name": "builder-1"},
    responses={200: Reply("the job", replies.BeaconJob, examples={"end": examples.FINISHED})},
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
    return answer(ACTIONS[action](account, number))


@blueprint.get("/<job_id>/tasks", strict_slashes=False)
@documented(
    summary="A job's tasks (action=list or show)",
    query=ActionQuery,
    params={**A_JOB, "action": "list"},
    responses={
        200: Reply(
            "the job's tasks",
            {"type": "array", "items": {"type": "object"}},
            examples={"two tasks": examples.TASKS},
        )
    },
    security="userkey",
)
def tasks(job_id: str) -> Response:
    account = authenticated()
    number = parse_id(job_id)
    action_of({"GET": ("list", "show")})
    load(NoParams())
    return answer(beacon_jobs.get_job(store(), account, number)["tasks"])


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


dialect.install(blueprint)
about(
    blueprint,
    "`/api/jobs`: jobs made of tasks, queued or scheduled (min, hour, dom, month, dow), run by "
    "named beacon agents that pick them up, start them and end them with results. Parameters "
    "in the query string or the form body; `userkey` on every call.",
)
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
    examples.ERRORS,
)
