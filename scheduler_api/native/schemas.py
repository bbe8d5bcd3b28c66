"""The native documents as clients send them: a schedule (its trigger, target and policies), a
preview request, an API key, a secret rotation. JSON only; every schema refuses unknown fields,
and a JSON type other than the field's own (``"5"`` for a number) is refused, not converted."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, ValidationError, fields, validate, validates_schema

from shared.api_keys import SCOPES
from shared.header_values import MAX_HEADERS
from shared.model import OVERLAP_POLICIES
from shared.policy import MAX_ATTEMPTS, MAX_BACKOFF_S, MAX_TIMEOUT_S
from shared.schedules import WEBHOOK_METHODS

MAX_NAME_CHARS = 200
MAX_TEXT_CHARS = 2048
TRIGGER_KINDS = ("at", "cron", "every", "rrule", "calendar")
TARGET_KINDS = ("webhook", "push", "task", "beacon")
DST = ("cron", "skip")
MAX_PREVIEW = 100
OVERLAP_DESCRIPTION = (
    "what a fire does while the previous execution of this schedule is still running or "
    "retrying: allow_all (default) runs it anyway; skip records it as a skipped run (with its "
    "reason); buffer_one lets one fire wait and run when the previous ends, the others are "
    "skipped; buffer_all lets every fire wait, run in order one at a time. Runs now (trigger), "
    "backfills and redriven dead letters are not fires: they neither wait nor hold fires back"
)
DAY_S = 24 * 3600


def text(max_chars: int = MAX_TEXT_CHARS, **kwargs: Any) -> fields.String:
    return fields.String(validate=validate.Length(min=1, max=max_chars), **kwargs)


def whole(low: int = 0, high: int | None = None, **kwargs: Any) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kwargs)


def exactly_one(doc: dict[str, Any], names: tuple[str, ...], where: str) -> None:
    given = [name for name in names if name in doc]
    if len(given) != 1:
        found = f"got {', '.join(given)}" if given else "got none"
        raise ValidationError(f"exactly one of {', '.join(names)} is required ({found})", where)


class Strict(Schema):
    class Meta:
        unknown = RAISE


class Every(fields.Field):
    """An ISO 8601 duration (``PT15M``) or a whole number of seconds, kept as given."""

    def _deserialize(self, value: Any, attr: Any, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValidationError("an ISO 8601 duration such as PT15M, or seconds (a number)")
        return value


class CalendarItem(Strict):
    """One calendar rule (the task scheduler's repeat item); absent or null means any."""

    year = whole(1970, 2099, allow_none=True)
    month = whole(1, 12, allow_none=True)
    day = whole(1, 31, allow_none=True)
    week = whole(1, 5, allow_none=True)
    weekday = whole(0, 6, allow_none=True)
    hour = whole(0, 23, allow_none=True)
    minute = whole(0, 59, allow_none=True)
    start = text(10, allow_none=True)
    end = text(10, allow_none=True)
    interval_min = whole(1, 527_040, allow_none=True)


class TriggerDoc(Strict):
    at = text(64, metadata={"example": "2026-12-24T18:00:00+01:00"})
    cron = text(200, metadata={"example": "0 9 * * MON-FRI"})
    every = Every(metadata={"example": "PT15M"})
    anchor = text(64)
    rrule = text(1000, metadata={"example": "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1"})
    calendar = fields.List(fields.Nested(CalendarItem), validate=validate.Length(min=1, max=50))

    @validates_schema
    def one_kind(self, doc: dict[str, Any], **_: Any) -> None:
        exactly_one(doc, TRIGGER_KINDS, "_schema")
        if "anchor" in doc and "every" not in doc:
            raise ValidationError("only with every", "anchor")


class WebhookDoc(Strict):
    url = text(required=True, metadata={"example": "https://example.com/hook"})
    method = fields.String(validate=validate.OneOf(WEBHOOK_METHODS))
    headers = fields.Dict(
        keys=fields.String(),
        values=fields.String(),
        metadata={
            "description": "sent with each callback; never the signature's, Host, Content-Type, "
            "Content-Length, Transfer-Encoding, Accept-Encoding or hop-by-hop headers; "
            f"at most {MAX_HEADERS}",
            "example": {"Authorization": "Bearer abc123"},
        },
    )
    body = fields.Raw(allow_none=True)
    content_type = text(200)


class TaskDoc(Strict):
    class_name = text(MAX_NAME_CHARS, required=True)
    data = fields.Raw(allow_none=True)


class BeaconDoc(Strict):
    beacon_name = text(MAX_NAME_CHARS)
    tasks = fields.List(fields.Raw(), required=True)


class TargetDoc(Strict):
    webhook = fields.Nested(WebhookDoc)
    push = fields.Dict(metadata={"description": "the push document (as /v4/push takes it)"})
    task = fields.Nested(TaskDoc)
    beacon = fields.Nested(BeaconDoc)

    @validates_schema
    def one_kind(self, doc: dict[str, Any], **_: Any) -> None:
        exactly_one(doc, TARGET_KINDS, "_schema")
        if "push" in doc and "to" not in doc["push"]:
            raise ValidationError({"to": ["required: the audience"]}, "push")


class RetryDoc(Strict):
    """Each field optional: absent, the server's setting (``shared.policy``)."""

    max_attempts = whole(1, MAX_ATTEMPTS, metadata={"description": "attempts in all"})
    initial_s = whole(1, MAX_BACKOFF_S, metadata={"description": "the first retry's backoff"})
    max_s = whole(1, MAX_BACKOFF_S, metadata={"description": "the longest backoff"})
    timeout_s = whole(
        1, MAX_TIMEOUT_S, metadata={"description": "one attempt's limit (HTTP call or task)"}
    )

    @validates_schema
    def ordered(self, doc: dict[str, Any], **_: Any) -> None:
        if "initial_s" in doc and "max_s" in doc and doc["max_s"] < doc["initial_s"]:
            raise ValidationError("must be at least initial_s", "max_s")


class TimedDoc(Strict):
    """What a trigger needs to fire: itself, its zone and DST policy, its bounds."""

    trigger = fields.Nested(TriggerDoc, required=True)
    timezone = text(64, metadata={"example": "Europe/Paris"})
    dst = fields.String(validate=validate.OneOf(DST))
    start = text(64)
    end = text(64)
    max_runs = whole(1)


class ScheduleDoc(TimedDoc):
    """A schedule as clients send it (POST, PUT; PATCH merges into the stored one). The fields
    an answer adds (``id``, ``state``, ...) may come back in a document read earlier: they are
    read and ignored."""

    name = text(MAX_NAME_CHARS, required=True)
    target = fields.Nested(TargetDoc, required=True)
    jitter_s = whole(0, DAY_S)
    overlap = fields.String(
        validate=validate.OneOf(OVERLAP_POLICIES),
        metadata={"description": OVERLAP_DESCRIPTION},
    )
    catchup_window_s = whole(0, 30 * DAY_S)
    retry = fields.Nested(RetryDoc)
    on_failure = text(
        metadata={
            "description": "a URL POSTed (signed) when an execution is dead-lettered: "
            '{"type": "execution.dead_lettered", "timestamp", "data": {"execution", ...}}',
            "example": "https://example.com/hooks/failed",
        }
    )
    paused = fields.Boolean(truthy={True}, falsy={False})
    metadata = fields.Dict(keys=fields.String(validate=validate.Length(max=MAX_NAME_CHARS)))
    id = fields.Raw(load_only=True)
    state = fields.Raw(load_only=True)
    next_fires = fields.Raw(load_only=True)
    created = fields.Raw(load_only=True)
    updated = fields.Raw(load_only=True)


class BackfillDoc(Strict):
    start = text(64, required=True, metadata={"example": "2026-12-01T00:00:00Z"})
    end = text(64, required=True, metadata={"example": "2026-12-02T00:00:00Z"})


class PreviewDoc(TimedDoc):
    count = whole(1, MAX_PREVIEW)


class PreviewQuery(Strict):
    count = fields.Integer(validate=validate.Range(min=1, max=MAX_PREVIEW))


class PageQuery(Strict):
    limit = fields.Integer(validate=validate.Range(min=1, max=MAX_PREVIEW))
    cursor = text(200)


class ApiKeyDoc(Strict):
    name = text(MAX_NAME_CHARS, required=True)
    scopes = fields.List(
        fields.String(validate=validate.OneOf(SCOPES)),
        required=True,
        validate=validate.Length(min=1, max=len(SCOPES)),
    )


class RotateDoc(Strict):
    overlap_s = whole(0, 7 * DAY_S)
