"""The request shapes of ``/api/jobs``: each call's parameters, read with marshmallow."""

from __future__ import annotations

import json
from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate

from scheduler_api import formats, params
from shared import beacon_jobs

MAX_TASKS = 100
MAX_RESULTS = 1000
MAX_TEXT = 200
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31T23:59:59Z


class Flag(fields.Field):
    """The document's booleans: "true" or "1" set them; "false", "0" or empty leave them off."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        text = str(value).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0", ""):
            return False
        raise ValidationError("must be true, 1, false or 0")


class Text(fields.String):
    """A text parameter: a name, an id, a cron field; 1 to ``MAX_TEXT`` characters."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Length(1, MAX_TEXT), **kwargs)


class Timestamp(params.Integer):
    """A unix timestamp in seconds."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(validate=validate.Range(0, MAX_TIMESTAMP), **kwargs)
        self.error_messages["invalid"] = "must be a unix timestamp (whole seconds)"


class Tasks(fields.Field):
    """A JSON-encoded array of task objects."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> list:
        text = str(value)
        try:
            tasks = formats.parse_json(text.encode(), name="tasks")
        except formats.BadDocument as exc:
            raise ValidationError(f"must be a JSON array of task objects ({exc})") from None
        if not isinstance(tasks, list) or not all(isinstance(t, dict) for t in tasks):
            raise ValidationError("must be a JSON array of task objects")
        if len(tasks) > MAX_TASKS:
            raise ValidationError(f"{len(tasks)} tasks; at most {MAX_TASKS}")
        return tasks


class Matches(fields.Field):
    """A list filter on a property: "null" (or empty) matches a property that has no value."""

    def __init__(self, kind: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kind = kind

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        text = str(value)
        if text in ("", "null"):
            return None
        if self.kind == "int":
            number = params.integer(text)
            if number is None:
                raise ValidationError("must be a whole number (or null)")
            return number
        if self.kind == "json":
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                raise ValidationError("must be JSON, as the job's result shows it") from None
        return text


class CreateParams(Schema):
    class Meta:
        unknown = RAISE

    name = Text(required=True)
    user_id = Text()
    user_guid = Text()
    beacon_name = Text()
    tasks = Tasks()
    q_time = Timestamp()
    q = Flag()
    schedule = Flag()
    start_date = Timestamp()
    end_date = Timestamp()
    min = Text()
    hour = Text()
    dom = Text()
    dow = Text()
    month = Text()


FILTERS: dict[str, fields.Field] = {
    **{name: Matches("str") for name in beacon_jobs.STRING_PROPERTIES},
    **{name: Matches("int") for name in beacon_jobs.INT_PROPERTIES},
    **{name: Matches("json") for name in beacon_jobs.JSON_PROPERTIES},
}
ListParams = Schema.from_dict(FILTERS, name="ListParams")


class UpdateParams(Schema):
    class Meta:
        unknown = RAISE

    curtask = params.Integer(error_messages={"invalid": "must be a whole number"})
    schedule_active = fields.String()


class PickupParams(Schema):
    class Meta:
        unknown = RAISE

    beacon_name = Text()


class NoParams(Schema):
    class Meta:
        unknown = RAISE


class ActionQuery(Schema):
    action = fields.String(metadata={"description": "the call; each path has its default"})


class JobQuery(ActionQuery):
    beacon_name = fields.String(metadata={"description": "pickup: the beacon picking it up"})
