"""The dashboard's pages: sign-in, sign-out, the overview, and the confirmation a delete asks
for (a page of its own: the dashboard runs no JavaScript, so no confirm() dialog)."""

from __future__ import annotations

import hmac
import secrets

from flask import abort, redirect, render_template, request, session, url_for
from werkzeug.wrappers import Response  # what flask.redirect returns (flask's is a subclass)

from scheduler_api.auth import password_account
from scheduler_api.body import read_form
from scheduler_api.dashboard import views
from scheduler_api.dashboard.common import BAD_CSRF, MAX_FORM_BYTES, PAGE, SIGN_IN, blueprint, store
from scheduler_api.dashboard.sessions import (
    check_csrf,
    csrf_token,
    end_session,
    signed_in,
    start_session,
)
from scheduler_api.openapi import Reply, documented
from shared import schedules
from shared.describe import describe_target, schedule_name
from shared.errors import NotFound
from shared.timing import format_iso_utc, now_ms


@blueprint.get("/")
@documented(
    summary="Dashboard: the signed-in account's schedules, executions, timeline, dead letters",
    security="session",
    responses={200: PAGE, 302: SIGN_IN},
)
def overview() -> str | Response:
    account = signed_in()
    if account is None:
        return redirect(url_for("dashboard.login"))
    appkey = account["appkey"]
    owned = views.account_schedules(store(), appkey)
    now = now_ms()
    fires = views.upcoming_fires(owned, now)
    executions = views.executions(store(), appkey, owned)
    return render_template(
        "dashboard/overview.html",
        account=account,
        schedules=views.schedule_rows(owned),
        upcoming=fires,
        executions=executions,
        timeline=views.timeline(fires, executions, now),
        dead_letters=views.dead_letters(store(), appkey, owned),
        csrf=csrf_token(),
        now=format_iso_utc(now),
        utc=format_iso_utc,
    )


@blueprint.get("/schedules/<schedule_id>/delete")
@documented(
    summary="Dashboard: confirm the delete of a schedule",
    security="session",
    responses={200: PAGE, 302: SIGN_IN, 404: "no such schedule"},
)
def confirm_delete(schedule_id: str) -> str | Response:
    account = signed_in()
    if account is None:
        return redirect(url_for("dashboard.login"))
    try:
        schedule = schedules.get(store(), account["appkey"], schedule_id)
    except NotFound:
        abort(404, f"No schedule {schedule_id!r} in this account.")
    return render_template(
        "dashboard/delete.html",
        schedule=schedule,
        name=schedule_name(schedule),
        target=describe_target(schedule, width=120),
        csrf=csrf_token(),
    )


@blueprint.route("/login", methods=["GET", "POST"])
@documented(
    summary="Dashboard sign-in form (appkey and master secret)",
    security="",
    responses={
        200: PAGE,
        302: "signed in: to the dashboard",
        403: Reply("the form's CSRF token is missing or wrong", untyped=("text/html",)),
    },
)
def login() -> tuple[str, int] | Response:
    if request.method != "POST":  # GET, and HEAD (which Flask routes here as a GET)
        return login_page(None, 200)
    form = read_form(request, MAX_FORM_BYTES)
    sent = form.get("csrf", "")
    if not sent or not hmac.compare_digest(sent, session.get("login_csrf", "")):
        # Not our form (a cross-site post signing the browser into another account), or one
        # older than the cookie: refused either way.
        return login_page("This sign-in form expired: please sign in again.", 403)
    account = password_account(store(), form.get("appkey", ""), form.get("master_secret", ""))
    if account is None:
        return login_page("Wrong appkey or master secret.", 200)
    start_session(account)
    return redirect(url_for("dashboard.overview"))


@blueprint.post("/logout")
@documented(
    summary="Dashboard sign-out", security="session", responses={302: SIGN_IN, 403: BAD_CSRF}
)
def logout() -> Response:
    check_csrf()
    end_session()
    return redirect(url_for("dashboard.login"))


def login_page(error: str | None, status: int) -> tuple[str, int]:
    if "login_csrf" not in session:
        session["login_csrf"] = secrets.token_urlsafe(24)
    page = render_template("dashboard/login.html", error=error, csrf=session["login_csrf"])
    return page, status
