"""Who may call what: credentials, scopes, and ``Idempotency-Key`` on every POST.

Each view is wrapped in ``guarded(scope)``: the caller is authenticated (HTTP Basic
``appkey:master_secret`` holds every scope; ``Authorization: Bearer <API key>`` holds its key's
scopes), refused with a 403 naming the missing scope, and, for a POST with an ``Idempotency-Key``,
answered from the first request's answer when the same key comes again (``shared.idempotency``).
The view then reads the caller from ``caller()``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import wraps
from typing import Any, TypeVar, cast

from flask import Response, g, request

from scheduler_api import auth
from scheduler_api.adapter import DialectError, store
from scheduler_api.body import read_capped
from scheduler_api.native.problems import dialect, invalid
from shared import idempotency
from shared.api_keys import ALL_SCOPES

F = TypeVar("F", bound=Callable[..., Response])
MAX_BODY_BYTES = 256 * 1024
IDEMPOTENCY_HEADER = "Idempotency-Key"


@dataclass(frozen=True)
class Caller:
    account: dict[str, Any]
    scopes: frozenset[str]
    api_key: bool  # a Bearer API key (not the master secret)

    @property
    def appkey(self) -> str:
        appkey: str = self.account["appkey"]
        return appkey


def caller() -> Caller:
    found: Caller = g.native_caller
    return found


def authenticate() -> Caller:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer":
        found = auth.bearer_key(store(), token.strip())
        if found is None:
            raise DialectError(401, "Authorization: Bearer: unknown or deleted API key")
        return Caller(found[0], frozenset(found[1]), api_key=True)
    return Caller(dialect.basic_account(), ALL_SCOPES, api_key=False)


def guarded(scope: str) -> Callable[[F], F]:
    """Authenticate, require ``scope``, and make a POST idempotent by its Idempotency-Key."""

    def wrap(view: F) -> F:
        @wraps(view)
        def guarded_view(*args: Any, **kwargs: Any) -> Response:
            who = authenticate()
            if scope not in who.scopes:
                raise DialectError(403, f"this API key lacks the scope {scope!r}")
            g.native_caller = who
            key = request.headers.get(IDEMPOTENCY_HEADER)
            if request.method != "POST" or key is None:
                return view(*args, **kwargs)
            return idempotent(who.appkey, checked_key(key), lambda: view(*args, **kwargs))

        guarded_view.native_scope = scope  # type: ignore[attr-defined] # for the OpenAPI part
        return cast(F, guarded_view)

    return wrap


def checked_key(key: str) -> str:
    if not 1 <= len(key) <= idempotency.MAX_KEY_CHARS or not key.isprintable():
        raise invalid(
            IDEMPOTENCY_HEADER,
            f"1-{idempotency.MAX_KEY_CHARS} printable characters (a UUID, say)",
            400,
        )
    return key


def idempotent(appkey: str, key: str, run: Callable[[], Response]) -> Response:
    body = read_capped(request, MAX_BODY_BYTES, cache=True)  # the view reads it again
    print_ = idempotency.fingerprint(request.method, request.path, body)
    outcome = idempotency.begin(store(), appkey, key, print_)
    if outcome.kind == "mismatch":
        raise invalid(IDEMPOTENCY_HEADER, "already used with another request; use a new key")
    if outcome.kind == "pending":
        raise DialectError(409, f"{IDEMPOTENCY_HEADER}: its first request is still running")
    if outcome.answer is not None:
        return replayed(outcome.answer)
    try:
        response = run()
    except BaseException:
        idempotency.finish(store(), appkey, key, print_, idempotency.Answer(500, "", ""))
        raise
    idempotency.finish(store(), appkey, key, print_, kept(response))
    return response


def kept(response: Response) -> idempotency.Answer:
    return idempotency.Answer(
        status=response.status_code,
        body=response.get_data(as_text=True),
        content_type=response.content_type or "",
        location=response.headers.get("Location"),
    )


def replayed(answer: idempotency.Answer) -> Response:
    response = Response(answer.body, status=answer.status, content_type=answer.content_type)
    response.headers["Content-Length"] = str(len(response.get_data()))
    response.headers["Idempotent-Replayed"] = "true"
    if answer.location:
        response.headers["Location"] = answer.location
    return response
