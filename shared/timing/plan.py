"""The wall-clock plan shared by cron and calendar rules: which local dates, which local times
of day, and the next planned instant after a given one."""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from calendar import monthrange
from dataclasses import dataclass, field
from datetime import date, datetime, time

from shared.timing.zones import (
    _LAST_YEAR,
    _ONE_DAY,
    _SCAN_YEARS,
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
    _next_cache: dict[date, date | None] = field(default_factory=dict)

    def next_day(self, day: date) -> date | None:
        """The first firing date on or after ``day``, or None if there is none.

        Remembered per day (bounded): successive fires ask about the same day again and again.
        """
        try:
            return self._next_cache[day]
        except KeyError:
            pass
        if len(self._next_cache) > 64:  # small: thousands of plans are cached, each with one
            self._next_cache.clear()
        found = self._next_cache[day] = self._search_from(day)
        return found

    def _search_from(self, day: date) -> date | None:
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
    hour_set: frozenset[int]
    minute_set: frozenset[int]
    first_time: time  # the earliest time of day

    def next_wall(self, after: datetime) -> datetime | None:
        """The first naive wall-clock candidate strictly after ``after``."""
        day = after.date()
        found = self.days.next_day(day)
        if found == day:
            # Candidates are whole seconds, so "after a fraction of a second" = "after its second".
            moment = self._time_after(after.hour, after.minute, after.second)
            if moment is not None:
                return datetime.combine(day, moment)
            found = self.days.next_day(day + _ONE_DAY) if day.year < _LAST_YEAR else None
        return None if found is None else datetime.combine(found, self.first_time)

    def _time_after(self, hour: int, minute: int, second: int) -> time | None:
        """The first planned time of day strictly after hour:minute:second, if any that day."""
        if hour in self.hour_set:
            if minute in self.minute_set:
                i = bisect_right(self.seconds, second)
                if i < len(self.seconds):
                    return time(hour, minute, self.seconds[i])
            i = bisect_right(self.minutes, minute)
            if i < len(self.minutes):
                return time(hour, self.minutes[i], self.seconds[0])
        i = bisect_right(self.hours, hour)
        if i < len(self.hours):
            return time(self.hours[i], self.minutes[0], self.seconds[0])
        return None


def _make_plan(days: _Days, hours: set[int], minutes: set[int], seconds: set[int]) -> _Plan:
    hours_t, minutes_t, seconds_t = (
        tuple(sorted(hours)),
        tuple(sorted(minutes)),
        tuple(sorted(seconds)),
    )
    first = time(hours_t[0], minutes_t[0], seconds_t[0])
    return _Plan(
        days, hours_t, minutes_t, seconds_t, frozenset(hours_t), frozenset(minutes_t), first
    )
