"""Errors raised before any route matched (an unknown path or method under a dialect's prefix).

Flask runs a blueprint's error handlers only for requests routed to that blueprint; a 404 or 405
found while routing belongs to no blueprint and would come back as Flask's HTML page. A dialect
claims its path prefixes here, so such errors still come in the dialect's own error shape.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint, Flask, Response, request
from werkzeug.exceptions import HTTPException

ErrorRenderer = Callable[[HTTPException], Response]
_EXTENSION = "scheduler.routing_errors"


def claim_prefixes(blueprint: Blueprint, prefixes: tuple[str, ...], render: ErrorRenderer) -> None:
    """Render routing errors under ``prefixes`` with ``render`` once ``blueprint`` is registered."""

    def register(state: object) -> None:
        app: Flask = state.app  # type: ignore[attr-defined]
        app.extensions.setdefault(_EXTENSION, []).append((prefixes, render))

    blueprint.record_once(register)


def install(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def routing_error(error: HTTPException) -> Response | HTTPException:
        for prefixes, render in app.extensions.get(_EXTENSION, []):
            if request.path.startswith(prefixes):
                return render(error)
        return error
