"""OpenAPI 3 for every dialect, generated from the app's routes and their marshmallow schemas.

Each view may carry ``@documented(...)``: its request body schema (with the content types the
dialect reads), its query-string schema and its answers. The spec is built from ``app.url_map``,
so a route can't be served without appearing in ``/openapi.json``; a view without
``@documented`` still appears, described by its docstring.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, Flask, Response, current_app, jsonify, render_template
from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])
SKIPPED_METHODS = {"HEAD", "OPTIONS"}
PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic", "description": "appkey:master_secret"},
    "userkey": {"type": "apiKey", "in": "query", "name": "userkey"},
    "session": {"type": "apiKey", "in": "cookie", "name": "session"},
}

blueprint = Blueprint("openapi", __name__)


def documented(
    *,
    summary: str | None = None,
    body: type[Schema] | None = None,
    body_types: tuple[str, ...] = ("application/json",),
    query: type[Schema] | None = None,
    responses: dict[int, str] | None = None,
    security: str = "basic",
) -> Callable[[F], F]:
    """Describe a view for the OpenAPI document (read by ``build_spec``)."""

    def mark(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "body_types": body_types,
            "query": query,
            "responses": responses or {},
            "security": security,
        }
        return view

    return mark


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Scheduled jobs",
        version="1",
        openapi_version="3.0.3",
        info={"description": "Four API dialects over one scheduling engine; see README.md."},
        plugins=[MarshmallowPlugin()],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    operations: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = PATH_PARAM.sub(r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            operation = _operation(view, rule.endpoint, list(rule.arguments))
            operation["operationId"] = f"{method.lower()}_{rule.endpoint.replace('.', '_')}"
            operations.setdefault(path, {})[method.lower()] = operation
    for path, methods in sorted(operations.items()):
        spec.path(path=path, operations=methods)
    return spec.to_dict()


def _operation(view: Callable[..., Any], endpoint: str, path_args: list[str]) -> dict[str, Any]:
    info: dict[str, Any] = getattr(view, "openapi", {})
    doc = (view.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "summary": info.get("summary") or doc.split("\n")[0] or endpoint,
        "tags": [endpoint.split(".")[0]],
        "responses": {
            str(code): {"description": text} for code, text in info.get("responses", {}).items()
        }
        or {"200": {"description": "OK"}},
    }
    if info.get("security"):
        operation["security"] = [{info["security"]: []}]
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": arg, "required": True, "schema": {"type": "string"}}
        for arg in sorted(path_args)
    ]
    if info.get("query"):
        parameters.append({"in": "query", "schema": info["query"]})
    if parameters:
        operation["parameters"] = parameters
    if info.get("body"):
        operation["requestBody"] = {
            "required": True,
            "content": {ctype: {"schema": info["body"]} for ctype in info["body_types"]},
        }
    return operation


@blueprint.get("/openapi.json")
@documented(summary="This OpenAPI document", security="")
def openapi_json() -> Response:
    return jsonify(build_spec(current_app))


@blueprint.get("/docs")
@documented(summary="A readable page of the OpenAPI document", security="")
def docs_page() -> str:
    return render_template("docs.html", spec=build_spec(current_app))
