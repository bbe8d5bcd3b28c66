"""The job document as clients send it (JSON or XML ``<job>``), and its limits."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validates_schema

MAX_DATA_BYTES = 2048
MAX_BODY_BYTES = 16 * 1024


class JobDocument(Schema):
    """A job as clients send it. ``id``, ``account`` and ``next`` may come back in a document a
    client read earlier; they are generated fields, so they are read and ignored."""

    class Meta:
        unknown = RAISE

    url = fields.String(required=True)
    signature = fields.String()
    contentType = fields.String()  # noqa: N815 (the document's field name)
    data = fields.String()
    when = fields.String()
    cron = fields.String()
    id = fields.String(load_only=True)
    account = fields.String(load_only=True)
    next = fields.String(load_only=True)

    @validates_schema
    def one_of_when_and_cron(self, doc: dict[str, Any], **_: Any) -> None:
        if ("when" in doc) == ("cron" in doc):
            raise ValidationError("exactly one of when and cron is required", "when")
