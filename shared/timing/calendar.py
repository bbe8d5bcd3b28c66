"""Calendar items (the task scheduler's ``repeat_items``) as wall-clock plans or elapsed-minute
repeats."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time
from functools import lru_cache
from zoneinfo import ZoneInfo

from shared.errors import InvalidTrigger
from shared.model import (
    CalendarTrigger,
    RepeatItem,
)
from shared.timing.dst import COLLAPSE, _DstRule, rule_for
from shared.timing.plan import (
    _Days,
    _DomRule,
    _DowRule,
    _make_plan,
    _Plan,
)
from shared.timing.zones import (
    _EPOCH,
    _ONE_DAY,
    _VALIDATE_FROM,
    _arithmetic_next,
    local_to_utc_ms,
    zone,
)


@dataclass(frozen=True)
class _EveryItem:
    """An ``interval_min`` item: UTC arithmetic from its anchor, up to (not incl.) ``until_ms``."""

    anchor_ms: int
    every_ms: int
    until_ms: int | None

    def next_fire(self, after_ms: int) -> int | None:
        fire_ms = _arithmetic_next(self.anchor_ms, self.every_ms, after_ms)
        return fire_ms if self.until_ms is None or fire_ms < self.until_ms else None


_ITEM_RANGES = {
    "year": (1970, 2199),
    "month": (1, 12),
    "day": (1, 31),
    "week": (1, 5),
    "weekday": (0, 6),
    "hour": (0, 23),
    "minute": (0, 59),
}
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def _item_error(index: int, reason: str, field: str | None = None) -> InvalidTrigger:
    """Calendar item ``index`` (from 0), or its ``field``, is wrong: "calendar item 2: hour 24
    out of range 0-23" (the parts kept apart too, for the adapters)."""
    named = f"{field} {reason}" if field else reason
    return InvalidTrigger(
        f"calendar item {index + 1}: {named}", field=field, item=index, reason=reason
    )


def _item_fields(item: RepeatItem, index: int) -> None:
    for name, (lo, hi) in _ITEM_RANGES.items():
        value = getattr(item, name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise _item_error(index, f"must be an integer or null, got {value!r}", name)
        if not lo <= value <= hi:
            raise _item_error(index, f"{value} out of range {lo}-{hi}", name)


def _item_date(text: str | None, name: str, index: int) -> date | None:
    if text is None:
        return None
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise _item_error(index, f"{text!r} is not a YYYY-MM-DD date", name)
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise _item_error(index, f"{text!r} is not a real date", name) from exc


def _item_bounds(item: RepeatItem, index: int) -> tuple[date | None, date | None]:
    start = _item_date(item.start, "start", index)
    end = _item_date(item.end, "end", index)
    if start is not None and end is not None and start > end:
        raise _item_error(index, f"{item.start} is after end {item.end}", "start")
    return start, end


def _every_item(item: RepeatItem, tz: ZoneInfo, index: int) -> _EveryItem:
    every = item.interval_min
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise _item_error(index, f"must be an integer >= 1, got {every!r}", "interval_min")
    start, end = _item_bounds(item, index)
    anchor = datetime.combine(start or _EPOCH.date(), time())
    until = None if end is None else local_to_utc_ms(datetime.combine(end + _ONE_DAY, time()), tz)
    return _EveryItem(local_to_utc_ms(anchor, tz), every * 60_000, until)


def _calendar_item(item: RepeatItem, index: int) -> _Plan:
    _item_fields(item, index)
    start, end = _item_bounds(item, index)
    dom_days = set(range(1, 32)) if item.day is None else {item.day}
    if item.week is not None:  # week w = days 7w-6 .. 7w; AND with the day, like every field
        dom_days &= set(range(7 * item.week - 6, 7 * item.week + 1))
    restricted_dom = item.day is not None or item.week is not None
    days = _Days(
        months=frozenset(range(1, 13) if item.month is None else (item.month,)),
        years=None if item.year is None else (item.year,),
        dom=_DomRule(days=frozenset(dom_days)) if restricted_dom else None,
        dow=None if item.weekday is None else _DowRule(days=frozenset((item.weekday,))),
        either=False,
        first=start,
        last=end,
    )
    hours = set(range(24)) if item.hour is None else {item.hour}
    minutes = set(range(60)) if item.minute is None else {item.minute}
    plan = _make_plan(days, hours, minutes, {0})
    if days.next_day(start or _VALIDATE_FROM) is None:
        raise _item_error(index, "no date matches its fields between its start and end")
    return plan


@lru_cache(maxsize=4096)
def _calendar_plans(
    items: tuple[RepeatItem, ...], tz_name: str
) -> tuple[ZoneInfo, tuple[_Plan | _EveryItem, ...]]:
    tz = zone(tz_name)
    if not isinstance(items, tuple) or not items:
        raise InvalidTrigger(
            "calendar: at least one repeat item is required",
            field="calendar",
            reason="at least one repeat item is required",
        )
    plans: list[_Plan | _EveryItem] = []
    for index, item in enumerate(items):
        if not isinstance(item, RepeatItem):
            raise _item_error(index, f"expected a repeat item, got {item!r}")
        if item.interval_min is not None:
            plans.append(_every_item(item, tz, index))
        else:
            plans.append(_calendar_item(item, index))
    return tz, tuple(plans)


def _calendar(trigger: CalendarTrigger) -> tuple[ZoneInfo, tuple[_Plan | _EveryItem, ...]]:
    try:
        return _calendar_plans(trigger.items, trigger.timezone)
    except TypeError as exc:  # unhashable junk inside items (a list instead of a tuple, ...)
        raise InvalidTrigger(f"calendar: malformed items: {exc}") from exc


def _calendar_rules(trigger: CalendarTrigger) -> tuple[_DstRule, ...]:
    """Each item's DST rule: the trigger's ``dst``, an item without hour or minute being a
    wildcard one (as ``*`` in a cron); without ``dst``, the task scheduler's own rule."""
    if trigger.dst is None:
        return (COLLAPSE,) * len(trigger.items)
    return tuple(
        rule_for(trigger.dst, item.hour is None or item.minute is None) for item in trigger.items
    )
