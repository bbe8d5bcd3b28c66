"""The OpenAPI 3 document, built from the app's routes and what they say (``marks``).

The document is built from ``app.url_map``, so a route can't be served without appearing in
``/openapi.json``; a view without ``@documented`` still appears, described by its docstring.
Each operation gets its security (or an explicit none), its request body only where its method
takes one, its answers and its dialect's errors with their examples; then each dialect's own
``part`` functions run on the document.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from apispec.ext.marshmallow.common import resolve_schema_cls
from flask import Flask

from scheduler_api.openapi.marks import EXTENSION, Answer, DialectNotes, Examples, Reply, Text

SKIPPED_METHODS = {"HEAD", "OPTIONS"}
BODY_METHODS = {"POST", "PUT", "PATCH"}  # a body sent with another method is not read
PATH_PARAM = re.compile(r"<(?:[a-z]+:)?([A-Za-z_][A-Za-z0-9_]*)>")
SECURITY_SCHEMES = {
    "basic": {"type": "http", "scheme": "basic", "description": "appkey:master_secret"},
    "userkey": {
        "type": "apiKey",
        "in": "query",
        "name": "userkey",
        "description": "the account's userkey (in the query string or the form body)",
    },
    "session": {
        "type": "apiKey",
        "in": "cookie",
        "name": "session",
        "description": "the dashboard's session, from its sign-in form",
    },
}
DESCRIPTION = (
    "Four API dialects over one scheduling engine, each with its own credentials and error "
    "shape (see README.md). Every operation lists the errors it may answer, in its dialect's "
    "shape, with examples."
)


def is_static(endpoint: str) -> bool:
    """Static files (the app's or a blueprint's) are no API operations."""
    return endpoint == "static" or endpoint.endswith(".static")


def build_spec(app: Flask) -> dict[str, Any]:
    spec = APISpec(
        title="Scheduled jobs",
        version="1",
        openapi_version="3.0.3",
        info={"description": DESCRIPTION},
        plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
    )
    for name, scheme in SECURITY_SCHEMES.items():
        spec.components.security_scheme(name, scheme)
    notes: dict[str, DialectNotes] = app.extensions.get(EXTENSION, {})
    operations: dict[str, dict[str, Any]] = {}
    param_examples: dict[str, dict[str, Any]] = {}
    for rule in app.url_map.iter_rules():
        if is_static(rule.endpoint):
            continue
        path = PATH_PARAM.sub(r"{\1}", rule.rule)
        view = app.view_functions[rule.endpoint]
        dialect = rule.endpoint.split(".")[0]
        for method in sorted((rule.methods or set()) - SKIPPED_METHODS):
            operation = _operation(view, method, list(rule.arguments), notes.get(dialect))
            operation["tags"] = [dialect]
            operation["operationId"] = f"{method.lower()}_{rule.endpoint.replace('.', '_')}"
            operations.setdefault(path, {})[method.lower()] = operation
            param_examples[operation["operationId"]] = getattr(view, "openapi", {}).get(
                "params", {}
            )
    for path, methods in sorted(operations.items()):
        spec.path(path=path, operations=methods)
    for dialect, note in sorted(notes.items()):
        if note.about:
            spec.tag({"name": dialect, "description": note.about})
    document = spec.to_dict()
    _add_parameter_examples(document, param_examples)
    for _, note in sorted(notes.items()):
        for add in note.parts:
            add(app, document)
    return document


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
    view: Callable[..., Any], method: str, path_args: list[str], notes: DialectNotes | None
) -> dict[str, Any]:
    info: dict[str, Any] = getattr(view, "openapi", {})
    doc = (view.__doc__ or "").strip()
    operation: dict[str, Any] = {
        "summary": info.get("summary") or doc.split("\n")[0] or view.__name__,
        "responses": _responses(info.get("responses", {}), notes or DialectNotes()),
        # no scheme is said explicitly: an empty list overrides any default
        "security": [{name: []} for name in info.get("security", ()) if name],
    }
    if doc and info.get("summary") and doc.split("\n")[0] != info["summary"]:
        operation["description"] = doc
    parameters: list[dict[str, Any]] = [
        {"in": "path", "name": arg, "required": True, "schema": {"type": "string"}}
        for arg in sorted(path_args)
    ]
    if info.get("query"):
        parameters.append({"in": "query", "schema": info["query"]})
    if parameters:
        operation["parameters"] = parameters
    if info.get("body") is not None and method in BODY_METHODS:
        operation["requestBody"] = _request_body(info)
    return operation


def _request_body(info: dict[str, Any]) -> dict[str, Any]:
    content = {ctype: _media(info["body"], info["body_examples"]) for ctype in info["body_types"]}
    content.update(_texts(info["body_texts"]))
    return {"required": info["body_required"], "content": content}


def _responses(own: Mapping[int, Answer], notes: DialectNotes) -> dict[str, Any]:
    """The view's answers plus its dialect's errors (with the dialect's example of each); a
    bare description of an error status takes the dialect's error shape."""
    shape = notes.error
    answers: dict[int, Reply] = {}
    if shape is not None:
        answers = {
            status: _error_reply(shape, text, notes.error_examples.get(status))
            for status, text in notes.error_statuses.items()
        }
    for status, answer in own.items():
        if isinstance(answer, Reply):
            answers[status] = answer
        elif status >= 400 and shape is not None:
            answers[status] = _error_reply(shape, answer, notes.error_examples.get(status))
        else:
            answers[status] = Reply(answer)
    if not answers:
        answers[200] = Reply("OK")
    return {str(status): _response(answers[status]) for status in sorted(answers)}


def _error_reply(shape: Reply, description: str, example: Any) -> Reply:
    examples = {"example": example} if example is not None else shape.examples
    return replace(shape, description=description, examples=examples)


def _response(reply: Reply) -> dict[str, Any]:
    content: dict[str, Any] = {}
    if reply.schema is not None:
        content = {ctype: _media(reply.schema, reply.examples) for ctype in reply.types}
    content.update(_texts(reply.texts))
    content.update({ctype: {} for ctype in reply.untyped})
    response: dict[str, Any] = {"description": reply.description}
    if content:
        response["content"] = content
    return response


def _media(schema: Any, examples: Examples) -> dict[str, Any]:
    media: dict[str, Any] = {"schema": schema}
    if examples:
        media["examples"] = {name: {"value": _value(value)} for name, value in examples.items()}
    return media


def _value(example: Any) -> Any:
    """An example's value; a function gives it anew for each document (a time from now)."""
    return example() if callable(example) else example


def _texts(texts: Mapping[str, Text]) -> dict[str, Any]:
    return {
        ctype: {"schema": text.schema, "example": text.example} for ctype, text in texts.items()
    }


def _add_parameter_examples(document: dict[str, Any], examples: dict[str, dict[str, Any]]) -> None:
    """Each path and query parameter's example, from its view's ``params`` (the query's
    parameters only exist once apispec has unfolded the query schema)."""
    for operations in document["paths"].values():
        for operation in operations.values():
            known = examples.get(operation["operationId"], {})
            for parameter in operation.get("parameters", []):
                example = known.get(parameter["name"])
                if isinstance(example, Mapping):  # named examples: {"getTasks": "getTasks"}
                    parameter["examples"] = {k: {"value": v} for k, v in example.items()}
                elif example is not None:
                    parameter["example"] = example
