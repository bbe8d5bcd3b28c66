"""The push "Scheduled Tasks API" (``/v4/schedules``), as a thin adapter over the core.

A schedule is a ``Schedule`` with a push target. ``trigger.single.time`` is a wall-clock time:
with ``zone_type`` 1 it is read in the account's time zone (a one-shot trigger); with ``zone_type``
2 it is read in the time zone of each device of the audience (an instants trigger: one fire per
distinct instant, each sent by the push pool to the devices of its zones only). Devices' zones come
from the device registry, ``PUT /v4/devices/<registration_id>`` (our extension). A schedule is
purged after its last fire (the document's 28104: "the task has been sent"); its msg ids stay
readable for the history retention. Errors are ``{"error": {"code": 28xxx, "message": ...}}``.
"""

from __future__ import annotations

import math
import re
import uuid
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, current_app, request
from marshmallow import INCLUDE, RAISE, Schema, ValidationError, fields, validates_schema
from marshmallow.validate import Length, OneOf
from werkzeug.exceptions import HTTPException

from scheduler_api import adapter, formats, params, ratelimit
from scheduler_api.auth import basic_account
from scheduler_api.body import read_capped
from scheduler_api.openapi import Reply, documented, errors
from scheduler_api.replies import push_schedules as replies
from shared import payload_limits, push, schedules
from shared.config import Config
from shared.errors import InvalidSchedule, NotFound, QuotaExceeded
from shared.model import InstantsTrigger, OnceTrigger, Schedule, Target
from shared.store import Store
from shared.timing import (
    next_fire,
    parse_wall_clock,
    wall_clock_to_utc_ms,
    years_later_ms,
    zone,
)

DIALECT = "push_schedules"
PAGE_SIZE = 50
MAX_BODY_BYTES = 256 * 1024
MAX_NAME_BYTES = 255
PLATFORMS = ("android", "ios", "hmos")
AUDIENCES = ("registration_id", "tag", "tag_and", "alias")
NAME = re.compile(r"[\w ]+")  # letters (CJK included), digits, underscore; and spaces (see README)

INVALID, AUTH, NOT_FOUND, NO_TARGET, TOO_MANY, INTERNAL, UNAVAILABLE = (
    (28100, 400),
    (28101, 401),
    (28104, 404),
    (28105, 404),
    (28129, 429),  # ours: the table's pattern (28000 + 100 * class + rest) for HTTP 429
    (28200, 500),
    (28203, 503),
)

SCHEDULE = Reply("the schedule as sent", replies.PushSchedule)
MSG_IDS = Reply("count and msgids", replies.MsgIds)
DEVICE = Reply("the device", replies.Device)

blueprint = Blueprint("push_schedules", __name__, url_prefix="/v4")


class PushError(Exception):
    def __init__(self, kind: tuple[int, int], message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = kind[0]
        self.status = status or kind[1]


# --- request shapes ----------------------------------------------------------------------------


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


# --- routes ------------------------------------------------------------------------------------


@blueprint.post("/schedules")
@documented(
    summary="Create a push schedule (enabled must be true)",
    body=ScheduleSchema,
    responses={200: Reply("schedule_id and name", replies.Created), 404: "28104, 28105"},
)
def create_schedule() -> Response:
    account = authenticated()
    doc = read_document(ScheduleSchema)
    if not doc["enabled"]:
        raise PushError(INVALID, "enabled: must be true when a schedule is created")
    schedule = build(doc, account, str(uuid.uuid4()))
    save(lambda: schedules.create(store(), config(), schedule))
    return answer({"schedule_id": schedule.id, "name": doc["name"]})


@blueprint.get("/schedules")
@documented(
    summary="List the account's unexpired schedules, 50 per page (?page=N)",
    query=PageQuery,
    responses={200: Reply("total_count, total_pages, page, schedules", replies.Page)},
)
def list_schedules() -> Response:
    account = authenticated()
    page = page_number(request.args.get("page", ""))
    total = store().count_schedules(account["appkey"], DIALECT)
    ids = store().list_schedule_ids(account["appkey"], DIALECT, (page - 1) * PAGE_SIZE, PAGE_SIZE)
    return answer(
        {
            "total_count": total,
            "total_pages": math.ceil(total / PAGE_SIZE),
            "page": page,
            "schedules": [view(s) for s in store().get_schedules(ids)],
        }
    )


@blueprint.get("/schedules/<schedule_id>")
@documented(summary="Read one schedule", responses={200: SCHEDULE, 404: "28104"})
def get_schedule(schedule_id: str) -> Response:
    return answer(view(find(authenticated(), schedule_id)))


@blueprint.get("/schedules/<schedule_id>/msg-ids")
@documented(
    summary="The msg ids of the pushes a schedule sent",
    responses={200: MSG_IDS, 404: "28104"},
)
def msg_ids(schedule_id: str) -> Response:
    account = authenticated()
    find(account, schedule_id, include_retired=True)  # readable after the last fire too
    sent = store().push_msg_ids(schedule_id)
    ordered = [sent[part] for part in sorted(sent, key=lambda p: tuple(map(int, p.split(":"))))]
    return answer({"count": len(ordered), "msgids": ordered})


@blueprint.get("/schedules/<schedule_id>/msg_ids")
@documented(
    summary="The msg ids of the pushes a schedule sent (the document's other spelling)",
    responses={200: MSG_IDS, 404: "28104"},
)
def msg_ids_underscore(schedule_id: str) -> Response:
    return msg_ids(schedule_id)


@blueprint.put("/schedules/<schedule_id>")
@documented(
    summary="Replace a schedule with a whole new document",
    body=ScheduleSchema,
    body_types=("application/json", "application/x-www-form-urlencoded"),
    responses={200: SCHEDULE, 400: "28100 (also: expired, zone_type change)", 404: "28104"},
)
def update_schedule(schedule_id: str) -> Response:
    account = authenticated()
    current = find_updatable(account, schedule_id)
    doc = read_document(ScheduleSchema)
    was = current.target.spec.get("zone_type")
    if doc["trigger"]["single"]["zone_type"] != was:
        raise PushError(
            INVALID,
            f"trigger.single.zone_type: this schedule has zone_type {was}; a schedule by the "
            "devices' time zones and one by the account's time zone can't be changed into "
            "each other (delete it and create a new one)",
        )
    schedule = build(doc, account, schedule_id)
    save(lambda: schedules.replace_schedule(store(), config(), schedule))
    return answer(view(schedule))


@blueprint.delete("/schedules/<schedule_id>")
@documented(summary="Delete a schedule", responses={200: "deleted (empty body)", 404: "28104"})
def delete_schedule(schedule_id: str) -> Response:
    account = authenticated()
    find(account, schedule_id)
    try:
        schedules.delete(store(), account["appkey"], schedule_id)
    except NotFound:
        raise not_found(schedule_id) from None
    store().forget_push_msg_ids(schedule_id)
    return formats.respond(b"", formats.JSON)


@blueprint.put("/devices/<registration_id>")
@documented(
    summary="Extension: register a device's time zone, tags and alias (for zone_type 2)",
    body=DeviceSchema,
    responses={200: DEVICE},
)
def put_device(registration_id: str) -> Response:
    """Extension: register a device's time zone (and tags, alias) for ``zone_type`` 2."""
    account = authenticated()
    check_registration_id(registration_id)
    device = read_document(DeviceSchema)
    if device.get("timezone") is not None:
        try:
            zone(device["timezone"])
        except InvalidSchedule as exc:
            raise PushError(INVALID, str(exc)) from None
    device = {k: v for k, v in device.items() if v is not None}
    store().put_device(account["appkey"], registration_id, device)
    return answer({"registration_id": registration_id, **device})


@blueprint.get("/devices/<registration_id>")
@documented(
    summary="Extension: read a registered device", responses={200: DEVICE, 404: "28104"}
)
def get_device(registration_id: str) -> Response:
    account = authenticated()
    (device,) = store().get_devices(account["appkey"], [registration_id])
    if device is None:
        raise PushError(NOT_FOUND, f"no device {registration_id!r} is registered")
    return answer({"registration_id": registration_id, **device})


@blueprint.delete("/devices/<registration_id>")
@documented(
    summary="Extension: forget a registered device",
    responses={200: "forgotten (empty body)", 404: "28104"},
)
def delete_device(registration_id: str) -> Response:
    account = authenticated()
    if not store().delete_device(account["appkey"], registration_id):
        raise PushError(NOT_FOUND, f"no device {registration_id!r} is registered")
    return formats.respond(b"", formats.JSON)


# --- errors ------------------------------------------------------------------------------------


@blueprint.errorhandler(PushError)
def push_error(error: PushError) -> Response:
    response = error_response(error.code, error.status, str(error))
    if error.code == AUTH[0]:
        response.headers["WWW-Authenticate"] = 'Basic realm="scheduler"'
    return response


@blueprint.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status == 404:
        return error_response(NOT_FOUND[0], 404, "no such resource: " + request.path)
    if status == 429:
        return error_response(*TOO_MANY, error.description or error.name)
    if status == 503:  # Redis unreachable (scheduler_api.adapter)
        return error_response(UNAVAILABLE[0], status, error.description or error.name)
    if status >= 500:
        return error_response(INTERNAL[0], status, "server internal error")
    return error_response(INVALID[0], status, error.description or error.name)


adapter.claim_prefixes(blueprint, ("/v4/schedules", "/v4/devices"), http_error)
ratelimit.counts_per_account(blueprint)
errors(
    blueprint,
    Reply("", replies.Error),
    {
        400: "28100: an invalid parameter (named by its path), a body that is not a JSON object",
        401: "28101: Basic authentication failed",
        404: "28104: no such schedule (wrong id, another account's, or already sent)",
        405: "28100: the path does not take this method",
        413: "28100: the body is larger than 256 KiB",
        429: "28129: too many requests: wait Retry-After seconds",
        503: "28203: the schedule store is unreachable; try again later",
    },
)


def error_response(code: int, status: int, message: str) -> Response:
    return answer({"error": {"code": code, "message": formats.clip_message(message)}}, status)


def not_found(schedule_id: str) -> PushError:
    return PushError(
        NOT_FOUND, f"schedule {schedule_id!r} does not exist (wrong id, or already sent)"
    )


# --- reading requests --------------------------------------------------------------------------


def authenticated() -> dict[str, Any]:
    account = basic_account(request, store())
    if account is None:
        raise PushError(AUTH, "Basic authentication failed: appkey and master_secret do not match")
    return account


def read_document(schema: type[Schema]) -> dict[str, Any]:
    """The JSON body, whatever Content-Type says (the document's PUT example sends JSON as
    ``application/x-www-form-urlencoded``), validated by ``schema``."""
    raw = read_capped(request, MAX_BODY_BYTES)
    try:
        doc = formats.parse_json(raw)
    except formats.BadDocument as exc:
        raise PushError(INVALID, f"request data is not JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise PushError(INVALID, "request data must be a JSON object")
    try:  # before the schema walks it; the core checks the push field again when storing
        payload_limits.check_json("body", doc, MAX_BODY_BYTES)
    except InvalidSchedule as exc:
        raise PushError(INVALID, str(exc)) from None
    try:
        schema().load(doc)
    except ValidationError as exc:
        raise PushError(INVALID, describe(exc.messages)) from None
    return doc  # as the client wrote it: stored and rendered back verbatim


def describe(messages: Any, path: str = "") -> str:
    """marshmallow's nested ``{"field": ["msg"]}`` as one line naming each bad field by its path
    (``push.body.platform: ...``)."""
    if isinstance(messages, dict):
        parts = []
        for name, value in messages.items():
            label = path if name == "_schema" else f"{path}.{name}" if path else str(name)
            parts.append(describe(value, label))
        return "; ".join(parts)
    if isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        text = " ".join(messages).replace("Unknown field.", "unknown field")
        return f"{path or 'body'}: {text}"
    if isinstance(messages, list):
        return "; ".join(describe(m, path) for m in messages)
    return f"{path or 'body'}: {messages}"


def page_number(raw: str) -> int:
    if raw.strip() == "":
        return 1
    number = params.whole_number(raw)
    if number is None or number < 1 or len(raw) > 9:
        raise PushError(INVALID, f"page: {raw!r} must be a whole number from 1")
    return number


def check_registration_id(registration_id: str) -> None:
    if not 0 < len(registration_id) <= 256 or not registration_id.isprintable():
        raise PushError(INVALID, "registration_id: must be 1-256 printable characters")


# --- the schedule as a core Schedule -----------------------------------------------------------


def build(doc: dict[str, Any], account: dict[str, Any], schedule_id: str) -> Schedule:
    single = doc["trigger"]["single"]
    try:
        wall = parse_wall_clock(single["time"], "trigger.single.time")
    except InvalidSchedule as exc:
        raise PushError(INVALID, str(exc)) from None
    account_zone = account.get("timezone") or "UTC"
    now = schedules.now_ms()
    spec: dict[str, Any] = {
        "push": doc["push"],
        "zone_type": single["zone_type"],
        "account_zone": account_zone,
    }
    if single["zone_type"] == 1:
        at_ms = wall_clock_to_utc_ms(wall, account_zone)
        if at_ms <= now:
            raise PushError(INVALID, f"trigger.single.time: {single['time']} is not in the future")
        check_window({at_ms: [account_zone]}, now, single["time"])
        trigger: OnceTrigger | InstantsTrigger = OnceTrigger(at_ms=at_ms)
    else:
        plan = zone_plan(doc["push"]["to"], account, wall)
        check_window(plan, now, single["time"])
        future = {at: zones for at, zones in plan.items() if at > now}
        if not future:
            raise PushError(
                NO_TARGET,
                f"trigger.single.time: {single['time']} has passed in every time zone of the "
                "audience, so there is no push target at that time",
            )
        spec["zones"] = {str(at): zones for at, zones in future.items()}
        trigger = InstantsTrigger(at_ms=tuple(future))
    return Schedule(
        id=schedule_id,
        account=account["appkey"],
        dialect=DIALECT,
        trigger=trigger,
        target=Target("push", spec),
        created_ms=now,
        enabled=doc["enabled"],
        purge_when_done=True,
        doc={"name": doc["name"], "trigger": doc["trigger"]},
    )


def zone_plan(to: Any, account: dict[str, Any], wall: Any) -> dict[int, list[str]]:
    """zone_type 2: each distinct zone of the audience's devices -> the instant of ``wall``."""
    devices = push.audience_zones(store(), account["appkey"], to)
    if not devices:
        raise PushError(
            NO_TARGET,
            "push.to: no registered device matches this audience (with zone_type 2, tags, "
            "aliases and 'all' are resolved against PUT /v4/devices), so there is no push "
            "target at that time",
        )
    groups = push.by_zone(devices, account.get("timezone") or "UTC")
    return push.plan_instants(wall, groups)


def check_window(plan: dict[int, list[str]], now: int, text: str) -> None:
    """Each instant at most one year ahead, counted in its own zone."""
    for at_ms, zones in plan.items():
        if any(at_ms > years_later_ms(now, 1, zone_name) for zone_name in zones):
            raise PushError(INVALID, f"trigger.single.time: {text} is more than one year ahead")


def save(write: Callable[[], object]) -> None:
    try:
        write()
    except QuotaExceeded:
        limit = config().max_schedules_per_account
        raise PushError(
            INVALID, f"the account already has {limit} unexpired schedules, the most it may have"
        ) from None
    except InvalidSchedule as exc:
        raise PushError(INVALID, str(exc)) from None
    except NotFound as exc:  # sent or deleted meanwhile
        raise PushError(NOT_FOUND, str(exc)) from None


def find(account: dict[str, Any], schedule_id: str, include_retired: bool = False) -> Schedule:
    try:
        return schedules.get(
            store(), account["appkey"], schedule_id, DIALECT, include_retired=include_retired
        )
    except NotFound:
        raise not_found(schedule_id) from None


def find_updatable(account: dict[str, Any], schedule_id: str) -> Schedule:
    """The live schedule to update; an expired one (sent, or its time passed) is a 28100."""
    schedule = find(account, schedule_id, include_retired=True)
    live = store().get_schedule(schedule_id) is not None
    if not live or next_fire(schedule.trigger, schedules.now_ms()) is None:
        raise PushError(INVALID, f"schedule {schedule_id!r} has expired and can't be updated")
    return schedule


# --- rendering ---------------------------------------------------------------------------------


def view(schedule: Schedule) -> dict[str, Any]:
    return {
        "schedule_id": schedule.id,
        "name": schedule.doc.get("name", ""),
        "enabled": schedule.enabled,
        "trigger": schedule.doc.get("trigger", {}),
        "push": schedule.target.spec.get("push", {}),
    }


def answer(data: Any, status: int = 200) -> Response:
    return formats.respond(formats.json_bytes(data), formats.JSON, status)


def store() -> Store:
    return current_app.extensions["scheduler.store"]


def config() -> Config:
    return current_app.extensions["scheduler.config"]
