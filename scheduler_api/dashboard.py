"""``/dashboard``: an account's schedules, upcoming fires, recent runs and dead letters.

Server-rendered (Jinja, autoescaped), no front-end build. Login is the account's ``appkey`` and
``master_secret``. Sessions live on the server: signing in stores a record in Redis (its account,
a digest prefix of its master secret, its CSRF token; it expires after
``SCHEDULER_DASHBOARD_SESSION_TTL_S``) and the cookie carries only a random token naming it, so
signing out deletes the record and a copied cookie is worth nothing after that. A changed master
secret ends every session of the account. The cookie itself is Flask's, signed with a key derived
from ``SCHEDULER_SECRET_KEY``: HttpOnly, SameSite=Lax, and Secure when the request came over
HTTPS. Every form posts a CSRF token, the sign-in form included (that one is kept in the cookie).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from flask import (
    Blueprint,
    Flask,
    abort,
    current_app,
    g,
    has_request_context,
    make_response,
    redirect,
    render_template,
    request,
    session,
    url_for,
)
from flask import Response as FlaskResponse
from flask.sessions import SecureCookieSessionInterface
from werkzeug.exceptions import HTTPException, TooManyRequests
from werkzeug.wrappers import Response  # what flask.redirect returns (flask's is a subclass)

from scheduler_api.adapter import claim_prefixes
from scheduler_api.auth import password_account
from scheduler_api.body import read_form
from scheduler_api.openapi import HTML_PAGE, RATE_LIMITED, Reply, documented, errors
from shared import schedules
from shared.accounts import digest, load_secret_key
from shared.config import Config
from shared.contract import DIALECTS
from shared.errors import NotFound
from shared.model import (
    CalendarTrigger,
    CronTrigger,
    InstantsTrigger,
    IntervalTrigger,
    OnceTrigger,
    Schedule,
    Trigger,
)
from shared.store import Store
from shared.timing import format_iso_utc, next_schedule_fire, now_ms

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")
errors(blueprint, HTML_PAGE, RATE_LIMITED)  # the dashboard counts per client address
UPCOMING_PER_SCHEDULE = 5
PAGE = HTML_PAGE
SIGN_IN = "not signed in: to the sign-in form"
BAD_CSRF = "the form's CSRF token is missing or wrong"
UPCOMING_SHOWN = 50
TIMELINE_WINDOW_MS = 24 * 3600 * 1000
RUNS_SHOWN = 50
DEAD_LETTERS_SHOWN = 50
SCHEDULES_SHOWN = 1000
MAX_FORM_BYTES = 16 * 1024  # the sign-in and redrive forms are a few hundred bytes


@dataclass(frozen=True)
class ScheduleRow:
    id: str
    dialect: str
    trigger: str
    target: str
    next_fire: str
    enabled: bool


def session_key(secret_key: bytes) -> bytes:
    """The Flask session signing key: derived, so the server key itself never signs cookies."""
    return hmac.new(secret_key, b"scheduler dashboard session", hashlib.sha256).digest()


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie, marked Secure whenever the request came over HTTPS (directly, or
    through a proxy the operator declared with ``SCHEDULER_PROXY_COUNT``)."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return super().get_cookie_secure(app) or (has_request_context() and request.is_secure)

    def open_session(self, app: Flask, request: Any) -> Any:
        # No cookie at all (API calls): the empty session Flask would make, without building its
        # signing serializer and parsing cookies first (~60 µs a request).
        if not request.environ.get("HTTP_COOKIE"):
            return self.session_class()
        return super().open_session(app, request)


def configure_sessions(app: Flask, config: Config) -> None:
    app.secret_key = session_key(load_secret_key(config))
    app.session_interface = CookieSessions()
    app.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=config.dashboard_session_ttl_s,
    )


@blueprint.get("/")
@documented(
    summary="Dashboard: the signed-in account's schedules, fires, runs, dead letters",
    security="session",
    responses={200: PAGE, 302: SIGN_IN},
)
def overview() -> str | Response:
    account = signed_in()
    if account is None:
        return redirect(url_for("dashboard.login"))
    appkey = account["appkey"]
    owned = account_schedules(appkey)
    now = now_ms()
    return render_template(
        "dashboard/overview.html",
        account=account,
        schedules=[schedule_row(s) for s in owned],
        upcoming=upcoming_fires(owned, now),
        runs=recent_runs(appkey),
        dead_letters=dead_letters(appkey),
        csrf=csrf_token(),
        now=format_iso_utc(now),
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


@blueprint.post("/dead-letters/<execution_id>/redrive")
@documented(
    summary="Dashboard: redrive a dead letter",
    security="session",
    responses={302: "to the dashboard", 403: BAD_CSRF, 401: "not signed in", 404: "no such letter"},
)
def redrive(execution_id: str) -> Response:
    account = signed_in()
    if account is None:
        abort(401)
    check_csrf()
    try:
        schedules.redrive(store(), execution_id, account["appkey"], now_ms=now_ms())
    except NotFound:
        abort(404)
    return redirect(url_for("dashboard.overview"))


@blueprint.errorhandler(TooManyRequests)
def error_page(error: HTTPException) -> FlaskResponse:
    """An error as the dashboard's page: its own 429, and (claimed below) what the adapter
    answers under /dashboard (503 while Redis is unreachable, with Retry-After; 404, 405)."""
    page = render_template("dashboard/error.html", message=error.description)
    return make_response(page, error.code or 500)


claim_prefixes(blueprint, ("/dashboard",), error_page)


# --- session -------------------------------------------------------------------------------


def login_page(error: str | None, status: int) -> tuple[str, int]:
    if "login_csrf" not in session:
        session["login_csrf"] = secrets.token_urlsafe(24)
    page = render_template("dashboard/login.html", error=error, csrf=session["login_csrf"])
    return page, status


def start_session(account: dict[str, Any]) -> None:
    """A new server-side session (a new token: one from before the sign-in is never reused)."""
    end_session()
    token = secrets.token_urlsafe(32)
    record = {
        "appkey": account["appkey"],
        "secret_tag": secret_tag(account),
        "csrf": secrets.token_urlsafe(24),
    }
    store().put_dashboard_session(digest(token), record, config().dashboard_session_ttl_s)
    session.permanent = True  # the cookie expires with the record
    session["token"] = token


def end_session() -> None:
    token = session.get("token")
    if isinstance(token, str):
        store().delete_dashboard_session(digest(token))
    session.clear()
    g.dashboard_session = None


def current_session() -> dict[str, Any] | None:
    """The server's record of this browser's session (None: signed out, expired or revoked)."""
    if "dashboard_session" not in g:
        token = session.get("token")
        g.dashboard_session = (
            store().get_dashboard_session(digest(token)) if isinstance(token, str) else None
        )
    return g.dashboard_session


def signed_in() -> dict[str, Any] | None:
    record = current_session()
    if record is None:
        return None
    account = store().get_account(record["appkey"])
    if account is None or not hmac.compare_digest(record["secret_tag"], secret_tag(account)):
        end_session()  # the account is gone or its master secret changed
        return None
    return account


def secret_tag(account: dict[str, Any]) -> str:
    return account["master_secret_sha256"][:16]


def csrf_token() -> str:
    record = current_session()
    return record["csrf"] if record else ""


def check_csrf() -> None:
    sent = read_form(request, MAX_FORM_BYTES).get("csrf", "")
    if not sent or not hmac.compare_digest(sent, csrf_token()):
        abort(403)


# --- what the page shows -------------------------------------------------------------------


def account_schedules(appkey: str) -> list[Schedule]:
    ids = [
        sid
        for dialect in DIALECTS
        for sid in store().list_schedule_ids(appkey, dialect, 0, SCHEDULES_SHOWN)
    ]
    return store().get_schedules(ids[:SCHEDULES_SHOWN])


def schedule_row(schedule: Schedule) -> ScheduleRow:
    next_ms = store().next_fire_ms(schedule.id)
    return ScheduleRow(
        id=schedule.id,
        dialect=schedule.dialect,
        trigger=describe_trigger(schedule.trigger),
        target=describe_target(schedule),
        next_fire=format_iso_utc(next_ms) if next_ms is not None else "none",
        enabled=schedule.enabled,
    )


def upcoming_fires(owned: list[Schedule], now_ms: int) -> list[dict[str, str]]:
    """The next fires of every schedule within a day, soonest first (the timeline)."""
    horizon = now_ms + TIMELINE_WINDOW_MS
    fires: list[tuple[int, Schedule]] = []
    for schedule in owned:
        fire = store().next_fire_ms(schedule.id)
        runs = store().run_count(schedule.id)
        for _ in range(UPCOMING_PER_SCHEDULE):
            if fire is None or fire > horizon:
                break
            fires.append((fire, schedule))
            runs += 1
            fire = next_schedule_fire(schedule, fire, runs)
    fires.sort(key=lambda pair: pair[0])
    return [
        {
            "at": format_iso_utc(at),
            "in": describe_delay(at - now_ms),
            "offset_pct": f"{max(0.0, (at - now_ms) / TIMELINE_WINDOW_MS * 100):.1f}",
            "schedule": schedule.id,
            "dialect": schedule.dialect,
        }
        for at, schedule in fires[:UPCOMING_SHOWN]
    ]


def recent_runs(appkey: str) -> list[dict[str, Any]]:
    """The account's latest attempts, of every schedule, also those already fired and purged."""
    return [
        {
            "execution": run.id,
            "schedule": run.schedule,
            "status": run.status,
            "attempt": run.attempt,
            "due": format_iso_utc(run.due_ms),
            "lag_ms": (run.started_ms - run.due_ms) if run.started_ms else None,
            "error": run.error or "",
        }
        for run in store().account_runs(appkey, RUNS_SHOWN)
    ]


def dead_letters(appkey: str) -> list[dict[str, Any]]:
    letters = [
        letter
        for dialect in DIALECTS
        for letter in store().dead_letters(0, DEAD_LETTERS_SHOWN, owner=(appkey, dialect))
    ]
    letters.sort(key=lambda letter: letter["died_ms"], reverse=True)
    return [
        {
            "execution": letter["execution"]["id"],
            "schedule": letter["execution"]["schedule"],
            "attempts": letter["execution"].get("attempt"),
            "died": format_iso_utc(letter["died_ms"]),
            "error": letter.get("error") or "",
        }
        for letter in letters[:DEAD_LETTERS_SHOWN]
    ]


def describe_trigger(trigger: Trigger) -> str:
    match trigger:
        case OnceTrigger(at_ms=at_ms):
            return f"once at {format_iso_utc(at_ms)}"
        case CronTrigger(expr=expr, timezone=tz):
            return f"cron {expr} ({tz})"
        case CalendarTrigger(items=items, timezone=tz):
            return f"calendar, {len(items)} rule(s) ({tz})"
        case IntervalTrigger(every_ms=every_ms):
            return f"every {every_ms / 1000:g} s"
        case InstantsTrigger(at_ms=instants):
            return (
                "at "
                + ", ".join(format_iso_utc(at) for at in instants[:3])
                + (", ..." if len(instants) > 3 else "")
            )
    return trigger.kind


def describe_target(schedule: Schedule) -> str:
    spec = schedule.target.spec
    return str(spec.get("url") or spec.get("class_name") or spec.get("name") or "")[:120] or (
        schedule.target.kind
    )


def describe_delay(ms: int) -> str:
    seconds = max(0, ms // 1000)
    if seconds < 120:
        return f"in {seconds} s"
    if seconds < 7200:
        return f"in {seconds // 60} min"
    return f"in {seconds // 3600} h"


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
