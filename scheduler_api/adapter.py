"""The plumbing every dialect shares, written once.

A dialect describes itself with a ``Dialect``: its path prefixes, how it renders an error (its
error shape), which core errors (``shared.errors``) become which of its errors, and what its 401
says. ``Dialect.install(blueprint)`` then registers, on the dialect's blueprint:

- ``DialectError`` (status, message, the dialect's own code if it has codes), rendered in its
  shape; a 401 carries the dialect's challenge (``WWW-Authenticate``);
- werkzeug's ``HTTPException`` (413 from ``scheduler_api.body``, 429 from the rate limits, ...);
- the core's errors, by the dialect's table: no view catches them one by one.

Flask runs a blueprint's error handlers only for requests routed to that blueprint; a 404 or 405
found while routing belongs to no blueprint and would come back as Flask's HTML page. So the
dialect also claims its path prefixes: ``install(app)`` answers such errors in the shape of the
dialect whose prefix the path has (a 405 keeps its ``Allow`` header), and the same goes for what
no dialect handles itself: Redis unreachable is a 503 with ``Retry-After`` (nothing to configure:
the store's client connects again by itself on the next request once Redis is back), and any
other unexpected error a 500 (logged with its traceback; the answer says nothing of it). The
dashboard claims its prefix the same way, with its own page.

The views' handles live here too: ``store()``, ``config()``, the authenticated account per
kind of credentials (``Dialect.basic_account``, ``Dialect.userkey_account``), and marshmallow's
messages as one line naming each bad field (``describe``, ``Dialect.load``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import redis
from flask import Blueprint, Flask, Response, current_app, request
from marshmallow import Schema, ValidationError
from werkzeug.exceptions import HTTPException, InternalServerError, ServiceUnavailable

from scheduler_api import auth, formats, ratelimit
from shared.config import Config
from shared.errors import SchedulerError
from shared.store import Store

log = logging.getLogger(__name__)

Account = auth.Account
ErrorRenderer = Callable[[HTTPException], Response]
_EXTENSION = "scheduler.routing_errors"
STORE_DOWN = "the schedule store is unreachable; try again later"
STORE_DOWN_RETRY_AFTER_S = 5  # a Redis restart or failover takes seconds
KEPT_HEADERS = ("Allow", "Retry-After")  # an error's headers that its rendering keeps
BASIC_CHALLENGE = 'Basic realm="scheduler"'


class DialectError(Exception):
    """An answer in the dialect's error shape: an HTTP status, a message naming what is wrong,
    and the dialect's own error code for dialects that have codes (None: its renderer picks)."""

    def __init__(
        self,
        status: int,
        message: str,
        code: int | None = None,
        *,
        fields: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.fields = fields  # (field path, what is wrong) each, for shapes that list them

    @property
    def message(self) -> str:
        return str(self)


CoreErrorMapping = Callable[[Any], DialectError]


def status(code: int) -> CoreErrorMapping:
    """A core error table entry: the error's own message, with HTTP status ``code``."""
    return lambda error: DialectError(code, str(error))


def plain_http(error: HTTPException) -> DialectError:
    """An HTTPException as it is: its status and its description."""
    return DialectError(error.code or 500, error.description or error.name)


@dataclass(frozen=True)
class Dialect:
    """One API dialect's error shape and credentials, as the shared plumbing needs them.

    ``render`` draws an error in the dialect's shape (its message already clipped by
    ``formats.clip_message``); ``core_errors`` maps core error classes (the most specific
    class wins) onto the dialect's errors; ``from_http`` reads a werkzeug error as one;
    ``unauthorized`` is the 401 message for missing or wrong credentials; ``unknown_field``
    and ``dotted_index`` are how ``describe`` writes an unknown field and a list item.
    """

    name: str
    prefixes: tuple[str, ...]
    render: Callable[[DialectError], Response]
    unauthorized: str
    core_errors: Mapping[type[SchedulerError], CoreErrorMapping] = field(default_factory=dict)
    from_http: Callable[[HTTPException], DialectError] = plain_http
    challenge: str | None = BASIC_CHALLENGE
    unknown_field: str = "unknown field"
    dotted_index: bool = False

    def install(self, blueprint: Blueprint) -> None:
        """Register on ``blueprint`` (the dialect's routes) its error handlers, its routing
        errors and its rate limit counting."""
        blueprint.register_error_handler(DialectError, self.respond)
        blueprint.register_error_handler(HTTPException, self.respond_http)
        for core_class, mapping in self.core_errors.items():
            blueprint.register_error_handler(core_class, self._core_handler(mapping))
        claim_prefixes(blueprint, self.prefixes, self.respond_http)
        ratelimit.counts_per_account(blueprint)

    def respond(self, error: DialectError) -> Response:
        message = formats.clip_message(str(error))
        clipped = DialectError(error.status, message, error.code, fields=error.fields)
        response = self.render(clipped)
        if error.status == 401 and self.challenge:
            response.headers["WWW-Authenticate"] = self.challenge
        return response

    def respond_http(self, error: HTTPException) -> Response:
        return self.respond(self.from_http(error))

    def _core_handler(self, mapping: CoreErrorMapping) -> Callable[[Exception], Response]:
        return lambda error: self.respond(mapping(error))

    # --- what views call ------------------------------------------------------------------

    def basic_account(self) -> Account:
        """The account of the request's HTTP Basic ``appkey:master_secret``, else a 401."""
        account = auth.basic_account(request, store())
        if account is None:
            raise DialectError(401, self.unauthorized)
        return account

    def userkey_account(self, userkey: str, missing: str) -> Account:
        """The account holding ``userkey``, else a 401 (``missing`` when none was given)."""
        account = auth.userkey_account(store(), userkey)
        if account is None:
            raise DialectError(401, self.unauthorized if userkey else missing)
        return account

    def load(self, schema: Schema, data: Any, **kwargs: Any) -> Any:
        """``schema.load(data)``; its messages as the dialect's 400 naming each bad field."""
        try:
            return schema.load(data, **kwargs)
        except ValidationError as exc:
            raise DialectError(400, self.describe(exc.messages)) from None

    def describe(self, messages: Any) -> str:
        return describe(messages, unknown=self.unknown_field, dotted_index=self.dotted_index)


def describe(
    messages: Any, path: str = "", *, unknown: str = "unknown field", dotted_index: bool = False
) -> str:
    """marshmallow's nested ``{"field": ["msg"]}`` as one line naming each bad field by its path
    (``push.body.platform: ...``, ``repeat_items[0].repeat_hour: ...``); a whole-object error
    names its object (``body`` at the top)."""
    pairs = field_messages(messages, path, unknown=unknown, dotted_index=dotted_index)
    return "; ".join(f"{name}: {text}" for name, text in pairs)


def field_messages(
    messages: Any, path: str = "", *, unknown: str = "unknown field", dotted_index: bool = False
) -> list[tuple[str, str]]:
    """marshmallow's nested messages as (field path, message) pairs; see ``describe``."""
    if isinstance(messages, dict):
        pairs = []
        for key, value in messages.items():
            if key == "_schema":
                name = path
            elif isinstance(key, int) and not dotted_index:
                name = f"{path}[{key}]"
            else:
                name = f"{path}.{key}" if path else str(key)
            pairs += field_messages(value, name, unknown=unknown, dotted_index=dotted_index)
        return pairs
    if isinstance(messages, list) and not all(isinstance(m, str) for m in messages):
        return [
            pair
            for m in messages
            for pair in field_messages(m, path, unknown=unknown, dotted_index=dotted_index)
        ]
    text = " ".join(messages) if isinstance(messages, list) else str(messages)
    return [(path or "body", text.replace("Unknown field.", unknown))]


def store() -> Store:
    handle: Store = current_app.extensions["scheduler.store"]
    return handle


def config() -> Config:
    handle: Config = current_app.extensions["scheduler.config"]
    return handle


# --- errors that reach no dialect's blueprint ---------------------------------------------------


def claim_prefixes(blueprint: Blueprint, prefixes: tuple[str, ...], render: ErrorRenderer) -> None:
    """Render routing errors under ``prefixes`` with ``render`` once ``blueprint`` is registered."""

    def register(state: object) -> None:
        app: Flask = state.app  # type: ignore[attr-defined]
        app.extensions.setdefault(_EXTENSION, []).append((prefixes, render))

    blueprint.record_once(register)


def _shaped(app: Flask, error: HTTPException) -> Response | HTTPException:
    """``error`` rendered by the dialect that claims the request's path (its ``Allow`` and
    ``Retry-After`` kept), else as is."""
    for prefixes, render in app.extensions.get(_EXTENSION, []):
        if request.path.startswith(prefixes):
            response = render(error)
            for name, value in error.get_headers():
                if name in KEPT_HEADERS and name not in response.headers:
                    response.headers[name] = value
            return response
    return error


def install(app: Flask) -> None:
    def in_dialect_shape(error: HTTPException) -> Response | HTTPException:
        return _shaped(app, error)

    @app.errorhandler(HTTPException)
    def routing_error(error: HTTPException) -> Response | HTTPException:
        return in_dialect_shape(error)

    # A cluster's own failures (no master serves a slot, no node answers a refresh of the
    # map) are not RedisError subclasses in redis-py: the store is unreachable all the same.
    @app.errorhandler(redis.RedisError)
    @app.errorhandler(redis.exceptions.RedisClusterException)
    def store_down(error: Exception) -> Response | HTTPException:
        log.error("Redis error while serving %s %s: %s", request.method, request.path, error)
        down = ServiceUnavailable(STORE_DOWN, retry_after=STORE_DOWN_RETRY_AFTER_S)
        return in_dialect_shape(down)

    @app.errorhandler(Exception)
    def unexpected(error: Exception) -> Response | HTTPException:
        if isinstance(error, HTTPException):
            return in_dialect_shape(error)
        log.exception("unexpected error while serving %s %s", request.method, request.path)
        return in_dialect_shape(InternalServerError())
