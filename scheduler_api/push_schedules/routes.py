"""The routes of ``/v4/schedules`` and of the device registry ``/v4/devices`` (our extension)."""

from __future__ import annotations

import math
import uuid

from flask import Blueprint, Response, request

from scheduler_api import formats
from scheduler_api.adapter import DialectError, config, store
from scheduler_api.openapi import Reply, about, documented, errors
from scheduler_api.push_schedules import examples, replies
from scheduler_api.push_schedules.mapping import build, find, find_updatable
from scheduler_api.push_schedules.reading import (
    check_registration_id,
    page_number,
    read_document,
)
from scheduler_api.push_schedules.render import DIALECT, answer, dialect, not_found, view
from scheduler_api.push_schedules.schemas import DeviceSchema, PageQuery, ScheduleSchema
from shared import schedules
from shared.errors import NotFound
from shared.timing import now_ms, zone

PAGE_SIZE = 50
SCHEDULE = Reply(
    "the schedule as sent", replies.PushSchedule, examples={"a schedule": examples.SCHEDULE}
)
MSG_IDS = Reply("count and msgids", replies.MsgIds, examples={"two pushes": examples.MSG_IDS})
DEVICE = Reply("the device", replies.Device, examples={"a device": examples.DEVICE})
A_SCHEDULE = {"schedule_id": examples.SCHEDULE_ID}
A_DEVICE = {"registration_id": examples.DEVICE_ID}

blueprint = Blueprint("push_schedules", __name__, url_prefix="/v4")


@blueprint.post("/schedules")
@documented(
    summary="Create a push schedule (enabled must be true)",
    body=ScheduleSchema,
    body_examples=examples.NEW_SCHEDULE,
    responses={
        200: Reply("schedule_id and name", replies.Created, examples={"created": examples.CREATED}),
        404: "28104, 28105",
    },
)
def create_schedule() -> Response:
    account = dialect.basic_account()
    doc = read_document(ScheduleSchema)
    if not doc["enabled"]:
        raise DialectError(400, "enabled: must be true when a schedule is created")
    now = now_ms()
    schedule = build(doc, account, str(uuid.uuid4()), now)
    schedules.create(store(), config(), schedule, now_ms=now)
    return answer({"schedule_id": schedule.id, "name": doc["name"]})


@blueprint.get("/schedules")
@documented(
    summary="List the account's unexpired schedules, 50 per page (?page=N)",
    query=PageQuery,
    params={"page": 1},
    responses={
        200: Reply(
            "total_count, total_pages, page, schedules",
            replies.Page,
            examples={"one page": examples.PAGE},
        )
    },
)
def list_schedules() -> Response:
    account = dialect.basic_account()
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
@documented(summary="Read one schedule", params=A_SCHEDULE, responses={200: SCHEDULE, 404: "28104"})
def get_schedule(schedule_id: str) -> Response:
    return answer(view(find(dialect.basic_account(), schedule_id)))


@blueprint.get("/schedules/<schedule_id>/msg-ids")
@documented(
    summary="The msg ids of the pushes a schedule sent",
    params=A_SCHEDULE,
    responses={200: MSG_IDS, 404: "28104"},
)
def msg_ids(schedule_id: str) -> Response:
    account = dialect.basic_account()
    find(account, schedule_id, include_retired=True)  # readable after the last fire too
    sent = store().push_msg_ids(schedule_id)
    ordered = [sent[part] for part in sorted(sent, key=lambda p: tuple(map(int, p.split(":"))))]
    return answer({"count": len(ordered), "msgids": ordered})


@blueprint.get("/schedules/<schedule_id>/msg_ids")
@documented(
    summary="The msg ids of the pushes a schedule sent (the document's other spelling)",
    params=A_SCHEDULE,
    responses={200: MSG_IDS, 404: "28104"},
)
def msg_ids_underscore(schedule_id: str) -> Response:
    return msg_ids(schedule_id)


@blueprint.put("/schedules/<schedule_id>")
@documented(
    summary="Replace a schedule with a whole new document",
    body=ScheduleSchema,
    body_types=("application/json", "application/x-www-form-urlencoded"),
    body_examples=examples.NEW_SCHEDULE,
    params=A_SCHEDULE,
    responses={200: SCHEDULE, 400: "28100 (also: expired, zone_type change)", 404: "28104"},
)
def update_schedule(schedule_id: str) -> Response:
    account = dialect.basic_account()
    now = now_ms()
    current = find_updatable(account, schedule_id, now)
    doc = read_document(ScheduleSchema)
    was = current.target.spec.get("zone_type")
    if doc["trigger"]["single"]["zone_type"] != was:
        raise DialectError(
            400,
            f"trigger.single.zone_type: this schedule has zone_type {was}; a schedule by the "
            "devices' time zones and one by the account's time zone can't be changed into "
            "each other (delete it and create a new one)",
        )
    schedule = build(doc, account, schedule_id, now)
    schedules.replace_schedule(store(), config(), schedule, now_ms=now)
    return answer(view(schedule))


@blueprint.delete("/schedules/<schedule_id>")
@documented(
    summary="Delete a schedule",
    params=A_SCHEDULE,
    responses={200: "deleted (empty body)", 404: "28104"},
)
def delete_schedule(schedule_id: str) -> Response:
    account = dialect.basic_account()
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
    body_examples={"a device in Tokyo": examples.NEW_DEVICE},
    params=A_DEVICE,
    responses={200: DEVICE},
)
def put_device(registration_id: str) -> Response:
    """Extension: register a device's time zone (and tags, alias) for ``zone_type`` 2."""
    account = dialect.basic_account()
    check_registration_id(registration_id)
    device = read_document(DeviceSchema)
    if device.get("timezone") is not None:
        zone(device["timezone"])  # an unknown zone is the core's InvalidSchedule: a 28100
    device = {k: v for k, v in device.items() if v is not None}
    store().put_device(account["appkey"], registration_id, device)
    return answer({"registration_id": registration_id, **device})


@blueprint.get("/devices/<registration_id>")
@documented(
    summary="Extension: read a registered device",
    params=A_DEVICE,
    responses={200: DEVICE, 404: "28104"},
)
def get_device(registration_id: str) -> Response:
    """Extension: a registered device's time zone, tags and alias."""
    account = dialect.basic_account()
    (device,) = store().get_devices(account["appkey"], [registration_id])
    if device is None:
        raise DialectError(404, f"no device {registration_id!r} is registered")
    return answer({"registration_id": registration_id, **device})


@blueprint.delete("/devices/<registration_id>")
@documented(
    summary="Extension: forget a registered device",
    params=A_DEVICE,
    responses={200: "forgotten (empty body)", 404: "28104"},
)
def delete_device(registration_id: str) -> Response:
    """Extension: forget a registered device (its time zone, tags and alias)."""
    account = dialect.basic_account()
    if not store().delete_device(account["appkey"], registration_id):
        raise DialectError(404, f"no device {registration_id!r} is registered")
    return formats.respond(b"", formats.JSON)


dialect.install(blueprint)
about(
    blueprint,
    "`/v4/schedules`: push notifications sent at one instant or at each device's local time, "
    "through the push gateway; `/v4/devices` registers devices' time zones. HTTP Basic "
    "`appkey:master_secret`; errors carry the document's `28xxx` codes.",
)
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
    examples.ERRORS,
)
