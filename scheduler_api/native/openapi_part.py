"""The native API's part of ``/openapi.json``, added to the document the builder made from the
routes: the Bearer scheme beside Basic on every ``/v1`` operation, the scope each one needs, the
``Idempotency-Key`` header of every POST, and examples of the main documents."""

from __future__ import annotations

import re
from typing import Any

from flask import Flask

from scheduler_api.native.access import IDEMPOTENCY_HEADER

BEARER = {
    "type": "http",
    "scheme": "bearer",
    "description": "a named API key (sk_...) made by POST /v1/api-keys; it holds its scopes",
}
IDEMPOTENCY = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 255},
    "description": "the same key and body within 24 h answer the first answer again; the "
    "same key with another body is a 422",
}
EXAMPLES: dict[tuple[str, str], dict[str, Any]] = {
    ("/v1/schedules", "post"): {
        "name": "nightly report",
        "trigger": {"cron": "30 2 * * *"},
        "timezone": "Europe/Paris",
        "target": {
            "webhook": {
                "url": "https://example.com/hooks/report",
                "method": "PUT",
                "headers": {"Authorization": "Bearer abc123"},
                "body": {"report": "daily"},
            }
        },
        "overlap": "skip",
        "retry": {"max_attempts": 3, "initial_s": 10, "timeout_s": 5},
        "on_failure": "https://example.com/hooks/failed",
        "metadata": {"team": "billing"},
    },
    ("/v1/preview", "post"): {
        "trigger": {"rrule": "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"},
        "timezone": "America/New_York",
        "start": "2027-01-01T09:00:00-05:00",
        "count": 3,
    },
    ("/v1/schedules/{schedule_id}/backfill", "post"): {
        "start": "2026-12-01T00:00:00Z",
        "end": "2026-12-02T00:00:00Z",
    },
    ("/v1/api-keys", "post"): {"name": "ci", "scopes": ["schedules:read", "runs:read"]},
    ("/v1/webhook-secret/rotate", "post"): {"overlap_s": 86400},
}


def complete(app: Flask, document: dict[str, Any]) -> None:
    """Add the native API's auth, scopes, idempotency and examples to ``document``."""
    document.setdefault("components", {}).setdefault("securitySchemes", {})["bearer"] = BEARER
    paths = document.get("paths", {})
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("native."):
            continue
        path = re.sub(r"<(?:[a-z]+:)?(\w+)>", r"{\1}", rule.rule)
        scope = getattr(app.view_functions[rule.endpoint], "native_scope", None)
        for method, operation in paths.get(path, {}).items():
            if method.upper() in (rule.methods or ()):
                describe(path, method, operation, scope)


def describe(path: str, method: str, operation: dict[str, Any], scope: str | None) -> None:
    operation["security"] = [{"basic": []}, {"bearer": []}]
    if scope:
        operation["description"] = f"Needs the scope `{scope}` (HTTP Basic holds every scope)."
    if method == "post":
        operation.setdefault("parameters", []).append(dict(IDEMPOTENCY))
    example = EXAMPLES.get((path, method))
    if example is not None:
        for content in operation.get("requestBody", {}).get("content", {}).values():
            content["example"] = example
