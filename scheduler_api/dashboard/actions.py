"""What the dashboard's buttons do: pause, resume, run now, delete (after its confirmation
page) and redrive, each through the core verb every API uses (``shared.schedules``), for the
signed-in account only and with the session's CSRF token. Each answers with the overview and a
line saying what was done (or why not)."""

from __future__ import annotations

from collections.abc import Callable

from flask import flash, redirect, url_for
from werkzeug.exceptions import NotFound as NotFoundPage
from werkzeug.wrappers import Response

from scheduler_api.dashboard.common import BAD_CSRF, blueprint, config, store
from scheduler_api.dashboard.sessions import acting_account
from scheduler_api.openapi import documented
from shared import schedules
from shared.errors import NoFutureFire, NotFound
from shared.timing import now_ms

DONE = "done: to the dashboard, which says what happened"
ANSWERS = {302: DONE, 401: "not signed in", 403: BAD_CSRF, 404: "no such schedule"}


def act(verb: Callable[[str], str], what: str) -> Response:
    """Run ``verb`` on ``what`` (a schedule or execution id) for the signed-in account; what it
    says becomes the overview's notice. Another account's ``what`` is not found, like none."""
    try:
        flash(verb(acting_account()["appkey"]))
    except NotFound as error:
        raise NotFoundPage(f"{error}: not in this account (deleted meanwhile?)") from error
    except NoFutureFire:
        flash(f"{what} has no fire left: it stays paused")
    return redirect(url_for("dashboard.overview"))


@blueprint.post("/schedules/<schedule_id>/pause")
@documented(summary="Dashboard: pause a schedule", security="session", responses=ANSWERS)
def pause(schedule_id: str) -> Response:
    def verb(appkey: str) -> str:
        schedules.pause(store(), appkey, schedule_id)
        return f"Paused {schedule_id}."

    return act(verb, schedule_id)


@blueprint.post("/schedules/<schedule_id>/resume")
@documented(summary="Dashboard: resume a schedule", security="session", responses=ANSWERS)
def resume(schedule_id: str) -> Response:
    def verb(appkey: str) -> str:
        schedules.resume(store(), appkey, schedule_id, now_ms=now_ms())
        return f"Resumed {schedule_id}."

    return act(verb, schedule_id)


@blueprint.post("/schedules/<schedule_id>/run")
@documented(
    summary="Dashboard: run a schedule once now (paused or not)",
    security="session",
    responses=ANSWERS,
)
def run_now(schedule_id: str) -> Response:
    def verb(appkey: str) -> str:
        schedule = schedules.get(store(), appkey, schedule_id)
        context = {"by": "dashboard"}
        execution = schedules.run_now(store(), config(), schedule, now_ms(), context)
        return f"Started {execution}."

    return act(verb, schedule_id)


@blueprint.post("/schedules/<schedule_id>/delete")
@documented(
    summary="Dashboard: delete a schedule (the form of its confirmation page)",
    security="session",
    responses=ANSWERS,
)
def delete(schedule_id: str) -> Response:
    def verb(appkey: str) -> str:
        schedules.delete(store(), appkey, schedule_id)
        return f"Deleted {schedule_id}."

    return act(verb, schedule_id)


@blueprint.post("/dead-letters/<execution_id>/redrive")
@documented(
    summary="Dashboard: redrive a dead letter",
    security="session",
    responses={**ANSWERS, 404: "no such letter"},
)
def redrive(execution_id: str) -> Response:
    def verb(appkey: str) -> str:
        schedules.redrive(store(), execution_id, appkey, now_ms=now_ms())
        return f"Redriven {execution_id}: a fresh series of attempts."

    return act(verb, execution_id)
