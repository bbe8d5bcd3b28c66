"""The wall-clock plan shared by cron and calendar rules: which local dates, which local times
of day, and the next planned instant after a given one."""

from __future__ import annotations

import copy
from bisect import bisect_left, bisect_right
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterError, croniter

from shared.errors import InvalidTrigger
from shared.timing.zones import (
    _EPOCH,
    _LAST_YEAR,
    _ONE_DAY,
    _SCAN_YEARS,
    _repeat_end,
    local_to_utc_ms,
)


@dataclass(frozen=True)
class _DomRule:
    """Day-of-month tokens: plain days, ``L``/``L-n`` (offsets from the last), ``nW``, ``LW``."""

    days: frozenset[int] = frozenset()
    from_last: frozenset[int] = frozenset()
    nearest: frozenset[int] = frozenset()
    last_weekday: bool = False

    def in_month(self, length: int, first_wd: int) -> set[int]:
        out = {d for d in self.days if d <= length}
        out.update(length - k for k in self.from_last if length - k >= 1)
        out.update(_nearest_weekday(n, length, first_wd) for n in self.nearest if n <= length)
        if self.last_weekday:
            out.add(_nearest_weekday(length, length, first_wd))
        return out


@dataclass(frozen=True)
class _DowRule:
    """Day-of-week tokens, weekdays 0 = Sunday .. 6 = Saturday: plain, ``d#n``, ``dL``."""

    days: frozenset[int] = frozenset()
    nth: frozenset[tuple[int, int]] = frozenset()
    last: frozenset[int] = frozenset()

    def in_month(self, length: int, first_wd: int) -> set[int]:
        out: set[int] = set()
        for wd in self.days:
            out.update(range(_first_of_weekday(wd, first_wd), length + 1, 7))
        for wd, n in self.nth:
            day = _first_of_weekday(wd, first_wd) + 7 * (n - 1)
            if day <= length:
                out.add(day)
        for wd in self.last:
            first = _first_of_weekday(wd, first_wd)
            out.add(first + 7 * ((length - first) // 7))
        return out


def _weekday(year: int, month: int, day: int) -> int:
    """Cron numbering: 0 = Sunday .. 6 = Saturday."""
    return (date(year, month, day).weekday() + 1) % 7


def _first_of_weekday(wd: int, first_wd: int) -> int:
    """The day of month of the first ``wd`` in a month whose 1st is weekday ``first_wd``."""
    return 1 + (wd - first_wd) % 7


def _nearest_weekday(day: int, length: int, first_wd: int) -> int:
    """Quartz ``W``: the Mon-Fri day nearest to ``day``, never leaving the month."""
    wd = (first_wd + day - 1) % 7
    if wd == 6:  # Saturday -> Friday, or Monday if the Friday is in the previous month
        return day - 1 if day > 1 else day + 2
    if wd == 0:  # Sunday -> Monday, or Friday if the Monday is in the next month
        return day + 1 if day < length else day - 2
    return day


@dataclass(frozen=True, eq=False)
class _Days:
    """Which local dates fire. Compared by identity; plans are cached, so each is built once."""

    months: frozenset[int]
    years: tuple[int, ...] | None  # sorted; None = any year
    dom: _DomRule | None  # None = unrestricted
    dow: _DowRule | None
    either: bool  # both restricted: OR (Unix cron) rather than AND
    first: date | None = None  # inclusive bounds (calendar start/end)
    last: date | None = None
    _months_cache: dict[tuple[int, int], tuple[int, ...]] = field(default_factory=dict)

    def next_day(self, day: date) -> date | None:
        """The first firing date on or after ``day``, or None if there is none."""
        if self.first is not None and day < self.first:
            day = self.first
        year, month, dom = day.year, day.month, day.day
        stop = self.years[-1] if self.years else min(_LAST_YEAR, year + _SCAN_YEARS)
        while year <= min(stop, _LAST_YEAR):
            if self.years is not None and year not in self.years:
                i = bisect_right(self.years, year)
                if i == len(self.years):
                    return None
                year, month, dom = self.years[i], 1, 1
                continue
            found = self._in_month(year, month, dom)
            if found is not None:
                return found if self.last is None or found <= self.last else None
            if self.last is not None and (year, month) >= (self.last.year, self.last.month):
                return None
            year, month, dom = (year + 1, 1, 1) if month == 12 else (year, month + 1, 1)
        return None

    def _in_month(self, year: int, month: int, dom: int) -> date | None:
        if month not in self.months:
            return None
        days = self._month_days(year, month)
        i = bisect_left(days, dom)
        return date(year, month, days[i]) if i < len(days) else None

    def _month_days(self, year: int, month: int) -> tuple[int, ...]:
        key = (year, month)
        days = self._months_cache.get(key)
        if days is None:
            if len(self._months_cache) > 512:  # bounded: a long scan must not grow it forever
                self._months_cache.clear()
            days = self._months_cache[key] = self._compute_month(year, month)
        return days

    def _compute_month(self, year: int, month: int) -> tuple[int, ...]:
        length = monthrange(year, month)[1]
        first_wd = _weekday(year, month, 1)
        by_dom = self.dom.in_month(length, first_wd) if self.dom else None
        by_dow = self.dow.in_month(length, first_wd) if self.dow else None
        if by_dom is None and by_dow is None:
            return tuple(range(1, length + 1))
        if by_dom is None or by_dow is None:
            return tuple(sorted(by_dom or by_dow or ()))
        return tuple(sorted(by_dom | by_dow if self.either else by_dom & by_dow))


@dataclass(frozen=True, eq=False)
class _Plan:
    """Local dates x local times of day. Times are a product of sorted hours, minutes, seconds."""

    days: _Days
    hours: tuple[int, ...]
    minutes: tuple[int, ...]
    seconds: tuple[int, ...]
    clock: croniter  # time of day only (day fields ``*``); copied per call, never mutated
    first_time: time  # the earliest and latest time of day, to skip croniter when it cannot help
    last_time: time

    def next_wall(self, after: datetime) -> datetime | None:
        """The first naive wall-clock candidate strictly after ``after``."""
        day = after.date()
        found = self.days.next_day(day)
        if found == day:
            moment = after.time()
            if moment < self.first_time:
                return datetime.combine(day, self.first_time)
            if moment < self.last_time:
                return self._clock_after(after)
            found = self.days.next_day(day + _ONE_DAY) if day.year < _LAST_YEAR else None
        return None if found is None else datetime.combine(found, self.first_time)

    def _clock_after(self, after: datetime) -> datetime:
        # Candidates are whole seconds, so "after a fraction of a second" = "after its second".
        # croniter mutates its instance per call: work on a shallow copy so threads can share.
        clock = copy.copy(self.clock)
        following: datetime = clock.get_next(datetime, start_time=after.replace(microsecond=0))
        return following


def _make_plan(days: _Days, hours: set[int], minutes: set[int], seconds: set[int]) -> _Plan:
    hours_t, minutes_t, seconds_t = sorted(hours), sorted(minutes), sorted(seconds)
    expr = " ".join(
        _croniter_field(values, size)
        for values, size in ((seconds_t, 60), (minutes_t, 60), (hours_t, 24))
    )
    try:
        clock = croniter(f"{expr} * * *", _EPOCH, second_at_beginning=True)
    except CroniterError as exc:  # our own lists are always valid; say so loudly if not
        raise InvalidTrigger(f"cron: {exc}") from exc
    first = time(hours_t[0], minutes_t[0], seconds_t[0])
    last = time(hours_t[-1], minutes_t[-1], seconds_t[-1])
    return _Plan(days, tuple(hours_t), tuple(minutes_t), tuple(seconds_t), clock, first, last)


def _croniter_field(values: list[int], size: int) -> str:
    # Explicit lists, not the user's text: croniter reads e.g. ``5-5`` as the whole cycle.
    return "*" if len(values) == size else ",".join(map(str, values))


def _next_local(plan: _Plan, tz: ZoneInfo, after_ms: int, wall: datetime) -> int | None:
    """The plan's first instant strictly after ``after_ms``.

    Wall time -> instant is monotonic under the DST rule (gap times collapse, repeated times take
    the first pass), so the first candidate after the wall time of ``after_ms`` that maps past
    ``after_ms`` is the answer. Candidates mapping at or before it come from a gap that collapsed
    onto ``after_ms`` or from a repeated hour we are in the second pass of. ``wall`` is the wall
    time of ``after_ms`` in ``tz``, passed in so a calendar computes it once for all its items.
    """
    skipped_repeat = False
    while (candidate := plan.next_wall(wall)) is not None:
        fire_ms = local_to_utc_ms(candidate, tz)
        if fire_ms > after_ms:
            return fire_ms
        wall = candidate
        if not skipped_repeat:
            skipped_repeat = True
            end = _repeat_end(after_ms, tz)
            if end is not None and end - timedelta(microseconds=1) > wall:
                wall = end - timedelta(microseconds=1)
    return None
