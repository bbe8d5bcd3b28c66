"""The dashboard's sessions. Login is the account's ``appkey`` and
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
from typing import Any

from flask import Flask, abort, g, has_request_context, request, session
from flask.sessions import SecureCookieSessionInterface

from scheduler_api.body import read_form
from scheduler_api.dashboard.common import MAX_FORM_BYTES, config, store
from shared.accounts import digest, load_secret_key
from shared.config import Config


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


def acting_account() -> dict[str, Any]:
    """The signed-in account behind a form that changes something: 401 when signed out, 403
    when the form's CSRF token is missing or wrong (a cross-site post)."""
    account = signed_in()
    if account is None:
        abort(401)
    check_csrf()
    return account
