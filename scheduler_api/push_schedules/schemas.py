"""The push schedule document as clients send it, and the device registry's."""

from __future__ import annotations

import re
from typing import Any

from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf

from shared import push

MAX_NAME_BYTES = 255
PLATFORMS = ("android", "ios", "hmos")
AUDIENCES = ("registration_id", "tag", "tag_and", "alias")
NAME = re.compile(r"[\w ]+")  # letters (CJK included), digits, underscore; and spaces (see README)


def _strings(most: int, longest: int = 256) -> fields.List:
    return fields.List(fields.String(validate=Length(1, longest)), validate=Length(1, most))


class AudienceSchema(Schema):
    class Meta:
        unknown = RAISE

    registration_id = _strings(push.BATCH)
    tag = _strings(20, 40)
    tag_and = _strings(20, 40)
    tag_not = _strings(20, 40)
    alias = _strings(push.BATCH, 40)

    @validates_schema
    def has_audience(self, data: dict[str, Any], **_: Any) -> None:
        if not any(key in data for key in AUDIENCES):
            raise ValidationError(f"needs one of {', '.join(AUDIENCES)} (or the string 'all')")


class Audience(fields.Field):
    """``"all"`` or an audience object."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if value == "all":
            return value
        if not isinstance(value, dict):
            raise ValidationError("must be 'all' or an audience object")
        return AudienceSchema().load(value)


class Platform(fields.Field):
    """``"all"``, one platform, or a list of them."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        names = value if isinstance(value, list) else [value]
        if value == "all" or (names and all(name in PLATFORMS for name in names)):
            return value
        raise ValidationError(f"must be 'all' or one or a list of {', '.join(PLATFORMS)}")


class BodySchema(Schema):
    class Meta:
        unknown = INCLUDE  # more message kinds than we interpret are passed through

    platform = Platform(required=True)
    notification = fields.Dict()
    message = fields.Dict()
    options = fields.Dict()

    @validates_schema
    def has_content(self, data: dict[str, Any], **_: Any) -> None:
        message = data.get("message") or {}
        if message and not isinstance(message.get("msg_content"), str):
            raise ValidationError("message: needs msg_content (a string)", "message")
        if not data.get("notification") and not message:
            raise ValidationError("needs a notification or a message", "notification")


class PushSchema(Schema):
    class Meta:
        unknown = RAISE

    from_ = fields.String(data_key="from", required=True, validate=Length(1, 64))
    to = Audience(required=True)
    body = fields.Nested(BodySchema, required=True)
    options = fields.Dict()
    request_id = fields.String(validate=Length(max=128))
    custom_args = fields.Raw()


class SingleSchema(Schema):
    class Meta:
        unknown = RAISE

    time = fields.String(required=True)
    zone_type = fields.Integer(required=True, strict=True, validate=OneOf([1, 2]))


class TriggerSchema(Schema):
    class Meta:
        unknown = RAISE

    single = fields.Nested(SingleSchema, required=True)


def _valid_name(name: str) -> None:
    if len(name.encode()) > MAX_NAME_BYTES:
        raise ValidationError(f"is {len(name.encode())} bytes; at most {MAX_NAME_BYTES} bytes")
    if not NAME.fullmatch(name) or not name.strip():
        raise ValidationError("may hold only letters, digits, underscores and spaces")


class ScheduleSchema(Schema):
    """The whole schedule; ``schedule_id`` may come back in a document read with GET."""

    class Meta:
        unknown = RAISE

    name = fields.String(required=True, validate=_valid_name)
    enabled = fields.Boolean(required=True, truthy={True}, falsy={False})
    trigger = fields.Nested(TriggerSchema, required=True)
    push = fields.Nested(PushSchema, required=True)
    schedule_id = fields.String(load_only=True)


class PageQuery(Schema):
    page = fields.Integer(metadata={"description": "page number from 1 (default 1)"})


class DeviceSchema(Schema):
    class Meta:
        unknown = RAISE

    timezone = fields.String(allow_none=True)
    tags = fields.List(fields.String(validate=Length(1, 40)), validate=Length(max=100))
    alias = fields.String(allow_none=True, validate=Length(1, 40))
