"""What every part of the dashboard shares: its blueprint, its limits, its error page and the
app's store and settings."""

from __future__ import annotations

from flask import Blueprint, current_app, make_response, render_template
from flask import Response as FlaskResponse
from werkzeug.exceptions import HTTPException, TooManyRequests

from scheduler_api.adapter import claim_prefixes
from scheduler_api.openapi import HTML_PAGE, RATE_LIMITED, errors
from shared.config import Config
from shared.store import Store

blueprint = Blueprint("dashboard", __name__, url_prefix="/dashboard")
errors(blueprint, HTML_PAGE, RATE_LIMITED)  # the dashboard counts per client address
PAGE = HTML_PAGE
SIGN_IN = "not signed in: to the sign-in form"
BAD_CSRF = "the form's CSRF token is missing or wrong"
MAX_FORM_BYTES = 16 * 1024  # the dashboard's forms are a few hundred bytes


@blueprint.errorhandler(TooManyRequests)
def error_page(error: HTTPException) -> FlaskResponse:
    """An error as the dashboard's page: its own 429, and (claimed below) what the adapter
    answers under /dashboard (503 while Redis is unreachable, with Retry-After; 404, 405)."""
    page = render_template("dashboard/error.html", message=error.description)
    return make_response(page, error.code or 500)


claim_prefixes(blueprint, ("/dashboard",), error_page)


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
