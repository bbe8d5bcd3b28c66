"""What views and dialects say about themselves for the OpenAPI document (read by ``builder``).

A view carries ``@documented(...)``: its summary, its request body (schema, media types,
examples), its query string, the examples of its path and query parameters, its answers (each a
``Reply``) and the credentials it takes (``security``). A dialect says once, for every route of
its blueprint, which errors it may answer and in what shape (``errors``), what it is about
(``about``), and may add anything else to the document with a function of its own (``part``):
a security scheme, shared components.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from flask import Blueprint, Flask
from marshmallow import Schema

F = TypeVar("F", bound=Callable[..., Any])
JSON = "application/json"
EXTENSION = "scheduler.openapi"

# A body shape: a marshmallow schema (class or instance, e.g. ``Job(many=True)``) or JSON Schema.
Shape = type[Schema] | Schema | dict[str, Any] | None
# Named examples ({"a cron job": {...}}): Swagger UI offers them by name. A value may be a
# function, called for each document: a request example holding a time stays in the future.
Examples = Mapping[str, Any]
# A dialect's own addition to the finished document: ``part(app, document)``.
Part = Callable[[Flask, dict[str, Any]], None]


@dataclass(frozen=True)
class Text:
    """A body that is not JSON (XML, plain text): its schema and one example, as sent."""

    schema: dict[str, Any]
    example: str


@dataclass(frozen=True)
class Reply:
    """One documented answer. ``schema`` describes the JSON body in each of ``types``, with
    ``examples``; ``texts`` describes other media types (XML, plain text) one by one;
    ``untyped`` names media types served whose body is not described (HTML pages, metrics)."""

    description: str
    schema: Shape = None
    types: tuple[str, ...] = (JSON,)
    untyped: tuple[str, ...] = ()
    examples: Examples = field(default_factory=dict)
    texts: Mapping[str, Text] = field(default_factory=dict)


Answer = Reply | str


def documented(
    *,
    summary: str | None = None,
    body: Shape = None,
    body_types: tuple[str, ...] = (JSON,),
    body_examples: Examples | None = None,
    body_texts: Mapping[str, Text] | None = None,
    body_required: bool = True,
    query: type[Schema] | None = None,
    params: Mapping[str, Any] | None = None,
    responses: Mapping[int, Answer] | None = None,
    security: str | tuple[str, ...] = "basic",
) -> Callable[[F], F]:
    """Describe a view. ``body_examples`` illustrate ``body`` in each of ``body_types``;
    ``body_texts`` describe other media types it reads (XML). ``params`` are examples of its
    path and query parameters by name (a mapping: named examples, e.g. one per action).
    ``security`` names the scheme it takes, or alternatives (a tuple), or none ("")."""

    def mark(view: F) -> F:
        view.openapi = {  # type: ignore[attr-defined]
            "summary": summary,
            "body": body,
            "body_types": body_types,
            "body_examples": dict(body_examples or {}),
            "body_texts": dict(body_texts or {}),
            "body_required": body_required,
            "query": query,
            "params": dict(params or {}),
            "responses": dict(responses or {}),
            "security": (security,) if isinstance(security, str) else security,
        }
        return view

    return mark


@dataclass
class DialectNotes:
    """What one blueprint says about all its routes."""

    error: Reply | None = None
    error_statuses: dict[int, str] = field(default_factory=dict)
    error_examples: dict[int, Any] = field(default_factory=dict)
    about: str = ""
    parts: list[Part] = field(default_factory=list)


def _note(bp: Blueprint, change: Callable[[DialectNotes], None]) -> None:
    """Apply ``change`` to ``bp``'s notes in the app it is registered on."""

    def register(state: Any) -> None:
        notes = state.app.extensions.setdefault(EXTENSION, {})
        change(notes.setdefault(bp.name, DialectNotes()))

    bp.record_once(register)


def errors(
    bp: Blueprint,
    shape: Reply,
    statuses: Mapping[int, str],
    examples: Mapping[int, Any] | None = None,
) -> None:
    """Every route of ``bp`` may answer each of ``statuses`` (status -> when) with the dialect's
    error ``shape``; ``examples`` are real error bodies by status (``shape.texts`` gives the
    other media types' example). A route's own ``responses`` may describe a status more
    precisely."""

    def change(notes: DialectNotes) -> None:
        notes.error, notes.error_statuses = shape, dict(statuses)
        notes.error_examples = dict(examples or {})

    _note(bp, change)


def about(bp: Blueprint, text: str) -> None:
    """What the dialect is: the description of its group (its tag) in the document."""

    def change(notes: DialectNotes) -> None:
        notes.about = text

    _note(bp, change)


def part(bp: Blueprint, add: Part) -> None:
    """``add(app, document)`` is called on each document built while ``bp`` is registered, once
    the routes are in it: a dialect's own security scheme, header parameters, anything the marks
    above don't say (e.g. ``document["components"]["securitySchemes"]["bearer"] = {...}``)."""
    _note(bp, lambda notes: notes.parts.append(add))
