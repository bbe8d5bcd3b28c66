"""A push schedule as a core ``Schedule`` with a push target: zone_type 1 a one-shot trigger in
the account's zone, zone_type 2 one fire per distinct instant of the audience's devices."""

from __future__ import annotations

from typing import Any

from scheduler_api.adapter import DialectError, store
from scheduler_api.push_schedules.render import DIALECT, NO_TARGET, not_found
from shared import push, schedules
from shared.contract import TargetKind
from shared.errors import NotFound
from shared.model import InstantsTrigger, OnceTrigger, Schedule, Target
from shared.timing import next_fire, parse_wall_clock, wall_clock_to_utc_ms, years_later_ms


def build(doc: dict[str, Any], account: dict[str, Any], schedule_id: str, now: int) -> Schedule:
    single = doc["trigger"]["single"]
    wall = parse_wall_clock(single["time"], "trigger.single.time")
    account_zone = account.get("timezone") or "UTC"
    spec: dict[str, Any] = {
        "push": doc["push"],
        "zone_type": single["zone_type"],
        "account_zone": account_zone,
    }
    if single["zone_type"] == 1:
        at_ms = wall_clock_to_utc_ms(wall, account_zone)
        if at_ms <= now:
            raise DialectError(400, f"trigger.single.time: {single['time']} is not in the future")
        check_window({at_ms: [account_zone]}, now, single["time"])
        trigger: OnceTrigger | InstantsTrigger = OnceTrigger(at_ms=at_ms)
    else:
        plan = zone_plan(doc["push"]["to"], account, wall)
        check_window(plan, now, single["time"])
        future = {at: zones for at, zones in plan.items() if at > now}
        if not future:
            raise DialectError(
                404,
                f"trigger.single.time: {single['time']} has passed in every time zone of the "
                "audience, so there is no push target at that time",
                NO_TARGET,
            )
        spec["zones"] = {str(at): zones for at, zones in future.items()}
        trigger = InstantsTrigger(at_ms=tuple(future))
    return Schedule(
        id=schedule_id,
        account=account["appkey"],
        dialect=DIALECT,
        trigger=trigger,
        target=Target(TargetKind.PUSH, spec),
        created_ms=now,
        enabled=doc["enabled"],
        purge_when_done=True,
        doc={"name": doc["name"], "trigger": doc["trigger"]},
    )


def zone_plan(to: Any, account: dict[str, Any], wall: Any) -> dict[int, list[str]]:
    """zone_type 2: each distinct zone of the audience's devices -> the instant of ``wall``."""
    devices = push.audience_zones(store(), account["appkey"], to)
    if not devices:
        raise DialectError(
            404,
            "push.to: no registered device matches this audience (with zone_type 2, tags, "
            "aliases and 'all' are resolved against PUT /v4/devices), so there is no push "
            "target at that time",
            NO_TARGET,
        )
    groups = push.by_zone(devices, account.get("timezone") or "UTC")
    return push.plan_instants(wall, groups)


def check_window(plan: dict[int, list[str]], now: int, text: str) -> None:
    """Each instant at most one year ahead, counted in its own zone."""
    for at_ms, zones in plan.items():
        if any(at_ms > years_later_ms(now, 1, zone_name) for zone_name in zones):
            raise DialectError(400, f"trigger.single.time: {text} is more than one year ahead")


def find(account: dict[str, Any], schedule_id: str, include_retired: bool = False) -> Schedule:
    try:
        return schedules.get(
            store(), account["appkey"], schedule_id, DIALECT, include_retired=include_retired
        )
    except NotFound:
        raise not_found(schedule_id) from None


def find_updatable(account: dict[str, Any], schedule_id: str, now: int) -> Schedule:
    """The live schedule to update; an expired one (sent, or its time passed at ``now``) is a
    28100."""
    schedule = find(account, schedule_id, include_retired=True)
    live = store().get_schedule(schedule_id) is not None
    if not live or next_fire(schedule.trigger, now) is None:
        raise DialectError(400, f"schedule {schedule_id!r} has expired and can't be updated")
    return schedule
