"""The task scheduler's request shapes: the document's fields, read with marshmallow."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from shared.model import RepeatItem

TARGET = "scheduler"
MAX_REPEAT_ITEMS = 100
MAX_NAME_CHARS = 255

# The document's item fields and the core's ``RepeatItem`` fields, in the document's order.
ITEM_FIELDS = {
    "repeat_start": "start",
    "repeat_end": "end",
    "repeat_interval": "interval_min",
    "repeat_year": "year",
    "repeat_month": "month",
    "repeat_day": "day",
    "repeat_week": "week",
    "repeat_weekday": "weekday",
    "repeat_hour": "hour",
    "repeat_minute": "minute",
}
CORE_TO_DOC = {core: doc for doc, core in ITEM_FIELDS.items()}
CALENDAR_FIELDS = ("year", "month", "day", "week", "weekday", "hour", "minute")


class Calendar(fields.Field):
    """A calendar value: a whole number (or its digits as a string), or ``*`` / null = any."""

    def __init__(self) -> None:
        super().__init__(allow_none=True)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int | None:
        if value is None or value == "*":
            return None
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and re.fullmatch(r"\s*-?[0-9]{1,9}\s*", value):
            return int(value)
        raise ValidationError(f'must be a whole number or "*", got {value!r}')


class WholeNumber(fields.Field):
    """An id: a whole number >= 0 or its digits as a string (the document shows both)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> int:
        if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
            return value
        if isinstance(value, str) and re.fullmatch(r"[0-9]{1,18}", value.strip()):
            return int(value)
        raise ValidationError(f"must be a whole number, got {value!r}")


class Date(fields.String):
    """``YYYY-MM-DD`` or null; the core checks that it is a real date."""

    def __init__(self) -> None:
        super().__init__(allow_none=True)


class RepeatItemDocument(Schema):
    """One of ``repeat_items``. ``id`` and ``task_id`` may come back from ``getTasks``; they are
    issued by the server, so they are read and ignored."""

    class Meta:
        unknown = RAISE

    repeat_start = Date()
    repeat_end = Date()
    repeat_interval = Calendar()
    repeat_year = Calendar()
    repeat_month = Calendar()
    repeat_day = Calendar()
    repeat_week = Calendar()
    repeat_weekday = Calendar()
    repeat_hour = Calendar()
    repeat_minute = Calendar()
    id: fields.Field = fields.Raw(load_only=True, allow_none=True)
    task_id = fields.Raw(load_only=True, allow_none=True)


class TaskDocument(RepeatItemDocument):
    """``addTask`` / ``updateTask``: one JSON object. The optional top-level ``repeat_*`` fields
    fill what an item leaves out, or form the one item when ``repeat_items`` is absent."""

    id = WholeNumber()  # updateTask only
    user_id = WholeNumber(required=True)
    name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_CHARS))
    class_name = fields.String(required=True, validate=validate.Length(min=1, max=MAX_NAME_CHARS))
    data = fields.Raw(allow_none=True, load_default=None)
    active = fields.Boolean(required=True)
    repeat_items = fields.List(
        fields.Nested(RepeatItemDocument),
        allow_none=True,
        validate=validate.Length(max=MAX_REPEAT_ITEMS),
    )
    last_run = fields.Raw(load_only=True, allow_none=True)  # from a getTasks entry: ignored


@dataclass(frozen=True)
class Task:
    """A loaded ``addTask`` / ``updateTask`` request."""

    user_id: int
    name: str
    class_name: str
    data: Any
    active: bool
    items: tuple[RepeatItem, ...]


class ActionQuery(Schema):
    target = fields.String(required=True, metadata={"enum": [TARGET]})
    action = fields.String(
        required=True,
        metadata={
            "enum": [
                "addTask",
                "updateTask",
                "deleteTask",
                "executeTask",
                "getTaskHistory",
                "getTasks",
            ]
        },
    )
    taskId = fields.Integer(  # noqa: N815 (the document's name)
        metadata={"description": "deleteTask, executeTask, getTaskHistory"}
    )
