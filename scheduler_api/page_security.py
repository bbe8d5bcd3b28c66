"""Security headers on every HTML page the app serves (dashboard, sign-in, /docs, error pages).

The pages need no script at all, so the Content-Security-Policy allows none; their one inline
``<style>`` carries a per-response nonce (``{{ csp_nonce() }}`` in a template), and nothing is
loaded from anywhere else. A page that needs more says so for its own response (``allow``): the
API reference runs Swagger UI from this origin. Pages can't be framed (clickjacking), content
types are not sniffed, no referrer leaves, and dashboard answers are never cached (they show an
account's data and carry CSRF tokens).
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, g, request

HTML_HEADERS = {
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
NO_STORE_PREFIXES = ("/dashboard",)
NONCE_DIRECTIVES = {"style-src", "script-src"}


def install(app: Flask) -> None:
    app.jinja_env.globals["csp_nonce"] = csp_nonce
    app.after_request(add_headers)


def csp_nonce() -> str:
    """This response's nonce for inline styles (one per response, unguessable)."""
    if "csp_nonce" not in g:
        g.csp_nonce = secrets.token_urlsafe(16)
    return g.csp_nonce


def allow(**sources: str) -> None:
    """Widen this response's policy, directive by directive: the API reference runs Swagger
    UI's scripts with ``allow(script_src="'self'", ...)``. A directive that is allowed, or is
    ``style-src``, also takes the response's nonce when the page used one."""
    g.csp_allowed = {name.replace("_", "-"): value for name, value in sources.items()}


def content_security_policy() -> str:
    directives = {
        "default-src": "'none'",
        "style-src": "",
        "img-src": "'self'",
        "form-action": "'self'",
        "frame-ancestors": "'none'",
        "base-uri": "'none'",
    }
    allowed: dict[str, str] = g.get("csp_allowed", {})
    directives.update(allowed)
    if "csp_nonce" in g:
        for name in {"style-src", *allowed} & NONCE_DIRECTIVES:
            directives[name] = f"{directives[name]} 'nonce-{g.csp_nonce}'".strip()
    directives["style-src"] = directives["style-src"] or "'none'"
    return "; ".join(f"{name} {value}" for name, value in directives.items())


def add_headers(response: Response) -> Response:
    if response.mimetype != "text/html":
        return response
    response.headers["Content-Security-Policy"] = content_security_policy()
    response.headers.update(HTML_HEADERS)
    if request.path.startswith(NO_STORE_PREFIXES):
        response.headers["Cache-Control"] = "no-store"
    return response
