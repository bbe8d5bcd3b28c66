"""Errors no dialect's own handlers see, answered in the dialect's error shape anyway.

Flask runs a blueprint's error handlers only for requests routed to that blueprint; a 404 or 405
found while routing belongs to no blueprint and would come back as Flask's HTML page. A dialect
claims its path prefixes here, so such errors still come in the dialect's own error shape (a 405
keeps its ``Allow`` header). The same goes for what a dialect does not handle itself: Redis
unreachable is a 503, and any other unexpected error a 500 (logged with its traceback; the answer
says nothing of it).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import redis
from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

log = logging.getLogger(__name__)

ErrorRenderer = Callable[[HTTPException], Response]
_EXTENSION = "scheduler.routing_errors"
STORE_DOWN = "the schedule store is unreachable; try again later"


def claim_prefixes(blueprint: Blueprint, prefixes: tuple[str, ...], render: ErrorRenderer) -> None:
    """Render routing errors under ``prefixes`` with ``render`` once ``blueprint`` is registered."""

    def register(state: object) -> None:
        app: Flask = state.app  # type: ignore[attr-defined]
        app.extensions.setdefault(_EXTENSION, []).append((prefixes, render))

    blueprint.record_once(register)


def _shaped(app: Flask, error: HTTPException) -> Response | HTTPException:
    """``error`` rendered by the dialect that claims the request's path (Allow kept), else as is."""
    for prefixes, render in app.extensions.get(_EXTENSION, []):
        if request.path.startswith(prefixes):
            response = render(error)
            if "Allow" not in response.headers:
                allow = [value for name, value in error.get_headers() if name == "Allow"]
                if allow:
                    response.headers["Allow"] = allow[-1]
            return response
    return error


def install(app: Flask) -> None:
    def in_dialect_shape(error: HTTPException) -> Response | HTTPException:
        return _shaped(app, error)

    @app.errorhandler(HTTPException)
    def routing_error(error: HTTPException) -> Response | HTTPException:
        return in_dialect_shape(error)

    @app.errorhandler(redis.RedisError)
    def store_down(error: redis.RedisError) -> Response | HTTPException:
        log.error("Redis error while serving %s %s: %s", request.method, request.path, error)
        return in_dialect_shape(ServiceUnavailable(STORE_DOWN))

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response | HTTPException:
        if isinstance(error, HTTPException):
            return in_dialect_shape(error)
        log.exception("unexpected error while serving %s %s", request.method, request.path)
        return in_dialect_shape(InternalServerError())
