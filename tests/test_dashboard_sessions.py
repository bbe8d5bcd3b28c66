"""Dashboard sessions and page headers, tried as an attacker would: a cookie copied before sign-out,
a sign-in form posted from another site, a framed page, an inline script.

Flask's test client on a real Redis; tests/test_dashboard_browser.py checks in Chromium that the
pages still render under their Content-Security-Policy."""

from __future__ import annotations

import dataclasses
import re

from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from scheduler_api.app import create_app
from shared.accounts import create_account, digest, load_secret_key
from shared.config import Config
from shared.store import Store
from tests.support import now_ms
from tests.test_dashboard import csrf_of, login_form, sign_in

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
SESSION_COOKIE = "session"


def app_with(config: Config, **settings: object) -> Flask:
    return create_app(dataclasses.replace(config, **settings))


def cookie_of(client: FlaskClient) -> str:
    cookie = client.get_cookie(SESSION_COOKIE)
    assert cookie is not None, "no session cookie"
    return cookie.value


def signed_in(client: FlaskClient) -> bool:
    return client.get("/dashboard/").status_code == 200


def test_a_cookie_copied_before_sign_out_is_refused_after_it(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    page = sign_in(api, creds)
    copied = cookie_of(api)
    thief = api.application.test_client()
    thief.set_cookie(SESSION_COOKIE, copied)
    assert signed_in(thief)  # the copy works while the session lives...

    assert api.post("/dashboard/logout", data={"csrf": csrf_of(page)}).status_code == 302
    assert not signed_in(api)
    assert not signed_in(thief)  # ...and not after sign-out: the server forgot the session
    assert (
        thief.post("/dashboard/dead-letters/x:1/redrive", data={"csrf": csrf_of(page)}).status_code
        == 401
    )
    assert list(store.redis.scan_iter(match=store.keys.dashboard_session("*"))) == []


def test_sessions_expire_and_end_when_the_master_secret_changes(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store, config: Config
) -> None:
    api, creds = local_api
    sign_in(api, creds)
    [key] = store.redis.scan_iter(match=store.keys.dashboard_session("*"))
    assert 0 < store.redis.ttl(key) <= config.dashboard_session_ttl_s
    assert creds["master_secret"] not in store.redis.get(key)  # no secret, and no token either
    assert key == store.keys.dashboard_session(digest(store_token(api)))

    account = store.get_account(creds["appkey"])
    assert account is not None
    store.put_account({**account, "master_secret_sha256": digest("a new master secret")})
    assert not signed_in(api)
    assert store.redis.exists(key) == 0  # revoked, not just refused


def store_token(client: FlaskClient) -> str:
    """The token inside the signed cookie (the cookie is signed, not encrypted)."""
    app = client.application
    serializer = SecureCookieSessionInterface().get_signing_serializer(app)
    assert serializer is not None
    return serializer.loads(cookie_of(client))["token"]


def test_sign_in_needs_the_forms_csrf_token(
    local_api: tuple[FlaskClient, dict[str, str]], store: Store
) -> None:
    api, creds = local_api
    form = login_form(api, creds)
    without = {k: v for k, v in form.items() if k != "csrf"}
    for forged in (without, {**form, "csrf": "forged"}, {**form, "csrf": ""}):
        answer = api.post("/dashboard/login", data=forged)
        assert answer.status_code == 403 and "expired" in answer.get_data(as_text=True)
        assert not signed_in(api)

    # A cross-site post: the attacker's own form token is not the victim browser's.
    attacker = api.application.test_client()
    victim = api.application.test_client()
    forged = login_form(attacker, creds)
    victim.get("/dashboard/login")
    assert victim.post("/dashboard/login", data=forged).status_code == 403
    assert not signed_in(victim)

    assert api.post("/dashboard/login", data=form).status_code == 302
    assert signed_in(api)


def test_head_of_the_sign_in_page_answers_as_its_get(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, _ = local_api
    head, get = api.head("/dashboard/login"), api.get("/dashboard/login")
    assert head.status_code == get.status_code == 200
    assert head.headers["Content-Type"] == get.headers["Content-Type"]


def set_cookie_header(answer: TestResponse) -> str:
    [header] = [v for k, v in answer.headers.items() if k == "Set-Cookie" and "session=" in v]
    return header


def sign_in_answer(client: FlaskClient, creds: dict[str, str], **request: object) -> TestResponse:
    form = login_form(client, creds)
    return client.post("/dashboard/login", data=form, **request)  # type: ignore[arg-type]


def test_cookie_flags_and_secure_behind_https(config: Config, store: Store) -> None:
    app = app_with(config)
    creds = create_account(
        store,
        "acme",
        secret_key=load_secret_key(app.extensions["scheduler.config"]),
        now_ms=now_ms(),
    )
    plain = set_cookie_header(sign_in_answer(app.test_client(), creds))
    assert "HttpOnly" in plain and "SameSite=Lax" in plain and "Secure" not in plain
    assert "Expires=" in plain  # the cookie ends with the server's record

    https = app.test_client()
    https_header = set_cookie_header(sign_in_answer(https, creds, base_url="https://localhost"))
    assert "Secure" in https_header

    # X-Forwarded-Proto counts only when the operator declared a proxy in front.
    forwarded = {"X-Forwarded-Proto": "https"}
    spoofed = set_cookie_header(sign_in_answer(app.test_client(), creds, headers=forwarded))
    assert "Secure" not in spoofed
    proxied = app_with(config, proxy_count=1)
    behind = set_cookie_header(sign_in_answer(proxied.test_client(), creds, headers=forwarded))
    assert "Secure" in behind


def every_answer(app: Flask, client: FlaskClient) -> list[tuple[str, str, TestResponse]]:
    """Every route of the app with every method it serves (path arguments filled with "x"),
    plus an unknown path: (endpoint, method, answer)."""
    answers = []
    for rule in app.url_map.iter_rules():
        path = re.sub(r"<(?:[a-z]+:)?[A-Za-z_]+>", "x", rule.rule)
        for method in sorted((rule.methods or set()) - {"OPTIONS"}):
            answers.append((rule.endpoint, method, client.open(path, method=method)))
    answers.append(("unknown", "GET", client.get("/no/such/page")))
    return answers


def test_every_html_page_has_the_security_headers(
    local_api: tuple[FlaskClient, dict[str, str]],
) -> None:
    api, creds = local_api
    signed_out = every_answer(api.application, api.application.test_client())
    sign_in(api, creds)
    pages = [
        (endpoint, method, answer)
        for endpoint, method, answer in signed_out + every_answer(api.application, api)
        if answer.mimetype == "text/html"
    ]
    served = {endpoint for endpoint, _, answer in pages if answer.status_code == 200}
    assert {"dashboard.overview", "dashboard.login", "openapi.docs_page"} <= served
    for endpoint, method, answer in pages:
        where = f"{method} {endpoint} ({answer.status_code})"
        headers = answer.headers
        assert headers.get("X-Frame-Options") == "DENY", where
        assert headers.get("X-Content-Type-Options") == "nosniff", where
        assert headers.get("Referrer-Policy") == "no-referrer", where
        policy = dict(
            (part.split(" ", 1) + [""])[:2]
            for part in headers["Content-Security-Policy"].split("; ")
        )
        assert policy["default-src"] == "'none'", where
        assert policy["frame-ancestors"] == "'none'" and "unsafe" not in str(policy), where
        # Only the API reference runs scripts (Swagger UI's files, from this origin).
        reference = endpoint == "openapi.docs_page"
        own = "'self' " if reference else ""
        assert ("script-src" in policy) == reference, where
        nonces = re.findall(r'<(?:style|script) nonce="([^"]+)"', answer.get_data(as_text=True))
        assert all(policy["style-src"] == f"{own}'nonce-{nonce}'" for nonce in nonces), where
        if reference and nonces:
            assert policy["script-src"] == f"'self' 'nonce-{nonces[0]}'", where
        if endpoint.startswith("dashboard."):
            assert headers.get("Cache-Control") == "no-store", where
