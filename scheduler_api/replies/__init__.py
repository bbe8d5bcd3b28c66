"""The shapes of the answers each dialect gives, as marshmallow schemas, for ``/openapi.json``.

One module per dialect, its package's ``replies`` (``scheduler_api.<dialect>.replies``), beside
its routes: the adapters build their answers as plain dicts; these schemas only describe them,
and the fuzz test checks every answer against them. ``Meta.unknown = RAISE`` makes apispec
write ``additionalProperties: false``, so a field an answer grows without being documented
fails that check.

A field of an answer is always there unless its schema says otherwise, so the builders below
(``string()``, ``integer()``, ``boolean()``, ``json_object()``, ``list_of(item)``,
``nested(schema)``) make it required: a schema names each field's kind and only what is unusual
about it: ``optional`` (may be absent), ``nullable`` (may be null), ``enum`` (its values).
"""

from __future__ import annotations

from functools import partial
from typing import Any, TypeVar

from marshmallow import RAISE, Schema, fields

F = TypeVar("F", bound=fields.Field)


class Strict(Schema):
    """An answer object with exactly the fields its schema names."""

    class Meta:
        unknown = RAISE


def answer_field(
    kind: type[F],
    *args: Any,
    optional: bool = False,
    nullable: bool = False,
    enum: list[Any] | None = None,
) -> F:
    """A field of ``kind`` (``args`` are its own: a list's item, a nested schema), required
    unless ``optional``."""
    metadata = {} if enum is None else {"enum": enum}
    return kind(*args, required=not optional, allow_none=nullable, metadata=metadata)


string = partial(answer_field, fields.String)
integer = partial(answer_field, fields.Integer)
boolean = partial(answer_field, fields.Boolean)
json_object = partial(answer_field, fields.Dict)
list_of = partial(answer_field, fields.List)
nested = partial(answer_field, fields.Nested)
