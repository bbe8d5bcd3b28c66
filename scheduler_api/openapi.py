"""OpenAPI 3 for every dialect, generated from the app's routes and their marshmallow schemas.

Each view may carry ``@documented(...)``: its request body schema (with the content types the
dialect reads), its query-string schema and its answers, each a ``Reply`` (what it means and the
shape of its body per media type). A dialect declares its error answers once for all its routes
with ``errors(...)``: the statuses it may answer and its error shape. The spec is built from
``app.url_map``, so a route can't be served without appearing in ``/openapi.json``; a view
without ``@documented`` still appears, described by its docstring.

The fuzz test (tests/test_fuzz_all.py) checks every answer against these shapes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
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
JSON = "application/json"
_ERRORS = "scheduler.openapi_errors"

# A body shape: a marshmallow schema (class or instance, e.g. ``Job(many=True)``) or JSON Schema.
Shape = type[Schema] | Schema | dict[str, Any] | None

blueprint = Blueprint("openapi", __name__)


@dataclass(frozen=True)
class Reply:
    """One documented answer. ``schema`` describes the body in each of ``types``; ``untyped``
    lists media types also served whose body is not JSON (XML, plain text): named, not checked."""

    description: str
    schema: Shape = None
    types: tuple[str, ...] = (JSON,)
    untyped: tuple[str, ...] = ()


Answer = Reply | str


def documented(
    *,
    summary: str | None = None,
    body: type[Schema] | None = None,
    body_types: tuple[str, ...] = (JSON,),
    query: type[Schema] | None = None,
    responses: Mapping[int, Answer] | None = None,
    security: str = "basic",
) -> Callable[[F], F]:
    """Describe a view for the OpenAPI document (read by ``build_spec``)."""

    def mark(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "body_types": body_types,
            "query": query,
            "responses": dict(responses or {}),
            "security": security,
        }
        return view

    return mark


def errors(bp: Blueprint, shape: Reply, statuses: Mapping[int, str]) -> None:
    """Every route of ``bp`` may answer each of ``statuses`` (status -> when) with the dialect's
    error ``shape``; a route's own ``responses`` may describe a status more precisely."""

    def register(state: Any) -> None:
        state.app.extensions.setdefault(_ERRORS, {})[bp.name] = (shape, dict(statuses))

    bp.record_once(register)


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Scheduled jobs",
        version="1",
        openapi_version="3.0.3",
        info={"description": "Four API dialects over one scheduling engine; see README.md."},
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    dialect_errors = app.extensions.get(_ERRORS, {})
    operations: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        path = PATH_PARAM.sub(r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        errors_of = dialect_errors.get(rule.endpoint.split(".")[0], (None, {}))
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            operation = _operation(view, rule.endpoint, list(rule.arguments), errors_of)
            operation["operationId"] = f"{method.lower()}_{rule.endpoint.replace('.', '_')}"
            operations.setdefault(path, {})[method.lower()] = operation
    for path, methods in sorted(operations.items()):
        spec.path(path=path, operations=methods)
    return spec.to_dict()


def schema_name(schema: Any) -> str:
    """A component's name: the class name, without "Schema"; an answer's is prefixed with its
    dialect (``scheduler_api.task_scheduler.replies.Error`` is ``TaskSchedulerError``)."""
    cls = resolve_schema_cls(schema)
    cls = cls[0] if isinstance(cls, list) else cls
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    dialect = _answers_dialect(cls.__module__)
    if dialect:
        name = dialect.title().replace("_", "") + name
    return name


def _answers_dialect(module: str) -> str | None:
    """The dialect whose answers ``module`` describes, if it does."""
    parts = module.split(".")
    if len(parts) == 3 and parts[0] == "scheduler_api" and parts[2] == "replies":
        return parts[1]
    return None


def _operation(
    view: Callable[..., Any],
    endpoint: str,
    path_args: list[str],
    errors_of: tuple[Reply | None, dict[int, str]],
) -> dict[str, Any]:
    info: dict[str, Any] = getattr(view, "openapi", {})
    doc = (view.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "summary": info.get("summary") or doc.split("\n")[0] or endpoint,
        "tags": [endpoint.split(".")[0]],
        "responses": _responses(info.get("responses", {}), *errors_of),
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


def _responses(
    own: dict[int, Answer], error_shape: Reply | None, error_statuses: dict[int, str]
) -> dict[str, Any]:
    """The view's answers plus its dialect's errors; a bare description of an error status takes
    the dialect's error shape."""
    answers: dict[int, Reply] = {
        status: replace(error_shape, description=text)
        for status, text in error_statuses.items()
        if error_shape is not None
    }
    for status, answer in own.items():
        if isinstance(answer, Reply):
            answers[status] = answer
        elif status >= 400 and error_shape is not None:
            answers[status] = replace(error_shape, description=answer)
        else:
            answers[status] = Reply(answer)
    if not answers:
        answers[200] = Reply("OK")
    return {str(status): _response(answers[status]) for status in sorted(answers)}


def _response(reply: Reply) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if reply.schema is not None:
        content = {ctype: {"schema": reply.schema} for ctype in reply.types}
    content.update({ctype: {} for ctype in reply.untyped})
    response: dict[str, Any] = {"description": reply.description}
    if content:
        response["content"] = content
    return response


# Pages without an account count against their client address (scheduler_api.ratelimit).
HTML_PAGE = Reply("an HTML page", untyped=("text/html",))
RATE_LIMITED = {429: "too many requests from this client address (see Retry-After)"}
errors(blueprint, HTML_PAGE, RATE_LIMITED)


@blueprint.get("/openapi.json")
@documented(
    summary="This OpenAPI document",
    security="",
    responses={200: Reply("the OpenAPI 3 document", {"type": "object"})},
)
def openapi_json() -> Response:
    return jsonify(build_spec(current_app))


@blueprint.get("/docs")
@documented(
    summary="A readable page of the OpenAPI document",
    security="",
    responses={200: HTML_PAGE},
)
def docs_page() -> str:
    return render_template("docs.html", spec=build_spec(current_app))
