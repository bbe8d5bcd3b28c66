"""The one module that owns time: zones, ISO 8601, and when a trigger fires next.

Every instant that goes in or comes out is an ``int`` of UTC milliseconds since the epoch. Every
function is pure: nothing here reads a clock, so the beat passes "now" in and the tests pass literal
datetimes in.

How a trigger is evaluated
--------------------------
- ``OnceTrigger`` fires at ``at_ms``; ``IntervalTrigger`` at ``anchor_ms + k * every_ms`` (k >= 0);
  ``InstantsTrigger`` at each of its ``at_ms``. All plain UTC arithmetic: DST never moves them.
- ``CronTrigger`` and ``CalendarTrigger`` are wall-clock rules in an IANA zone. They are turned
  into a ``_Plan``: a set of *local dates* (months, years, day-of-month / day-of-week rules, start
  and end dates) times a set of *local times of day* (hours x minutes x seconds). The date side is
  our own month table, because croniter lacks ``LW``, ``L-n``, ``dL``, the task scheduler's
  week-of-month AND-semantics and bounded date ranges, and because finding "the next matching day"
  from a month table is cheaper than croniter's own day search. The time-of-day side is croniter
  (run with ``*`` day fields on naive datetimes). Each naive wall-clock candidate is then mapped to
  an instant with THE DST RULE below; candidates that land on or before ``after_ms`` are skipped,
  so results are strictly increasing and never repeat.

THE DST RULE (``local_to_utc_ms``)
----------------------------------
- A local time that does not exist (spring-forward gap) maps to the first instant after the gap:
  02:30 on 2026-03-08 in America/New_York is 03:00 EDT (07:00Z). Several nonexistent candidates
  in one gap therefore collapse onto that one instant and fire once.
- A local time that occurs twice (fall-back) maps to its FIRST occurrence (``fold=0``). So a daily
  01:30 fires once on the fall-back day, and an every-minute cron does not fire again during the
  repeated hour's second pass: the clock resumes at the end of the repeated range.

Cron dialects (the field count tells which)
-------------------------------------------
- 5 fields, Unix: ``min hour dom month dow``; dow 0-7 (0 and 7 = Sunday), names ``JAN``/``SUN``;
  ``@hourly``-style aliases. When both dom and dow are restricted (not ``*``/``?``), a day matches
  if EITHER matches (Vixie/POSIX OR, as croniter does by default).
- 6 or 7 fields, Quartz: ``sec min hour dom month dow [year]``; dow 1-7 (1 = Sunday); exactly one of
  dom/dow must be ``?``; year 1970-2099.
- Both dialects accept lists, ranges (wrap-around ``FRI-MON`` allowed), steps (``*/5``, ``10/15``,
  ``1-30/2``), and the Quartz day tokens: dom ``L``, ``L-n``, ``nW``, ``LW``; dow ``d#n``, ``dL``,
  and ``L`` alone (= Saturday). ``nW`` never leaves the month; if day n does not exist in a month
  (``31W`` in April) that month has no ``nW`` fire. ``L-n`` before the 1st likewise does not fire.

Calendar items (the task scheduler's ``repeat_items``)
------------------------------------------------------
A ``CalendarTrigger`` fires at the union of its items. A calendar item fires at every local minute
(second 0) matching ALL its non-None fields (day AND weekday AND week; week w = days 7w-6..7w),
between its ``start`` and ``end`` dates inclusive. An item with ``interval_min`` instead fires
every ``interval_min`` elapsed minutes from local midnight of ``start`` (or 1970-01-01), i.e. UTC
arithmetic from that anchor like ``IntervalTrigger``, until the end of its ``end`` date.
"""

from __future__ import annotations

import copy
import re
from bisect import bisect_left, bisect_right
from calendar import monthrange
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from shared.errors import InvalidTrigger
from shared.model import (
    CalendarTrigger,
    CronTrigger,
    InstantsTrigger,
    IntervalTrigger,
    OnceTrigger,
    RepeatItem,
    Schedule,
    Trigger,
)

__all__ = [
    "YEAR_MS",
    "format_iso_utc",
    "iter_fires",
    "local_to_utc_ms",
    "min_gap_ms",
    "next_fire",
    "next_schedule_fire",
    "parse_iso8601",
    "parse_wall_clock",
    "validate_trigger",
    "wall_clock_to_utc_ms",
    "years_later_ms",
    "zone",
]

_ONE_MS = timedelta(milliseconds=1)
_ONE_DAY = timedelta(days=1)
_EPOCH = datetime(1970, 1, 1)  # naive: wall-clock arithmetic
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_MS = 365 * 24 * 3600 * 1000
# datetime stops at year 9999; nothing fires in that year, so arithmetic near it never overflows.
_LAST_YEAR = 9998
_MAX_MS = (datetime(_LAST_YEAR, 12, 31) - _EPOCH) // _ONE_MS
# The Gregorian calendar repeats every 400 years: no date match in that span means never.
_SCAN_YEARS = 400
# Validation asks "does it ever fire?" from here (a day early, for zones west of UTC).
_VALIDATE_FROM = date(1969, 12, 31)


# --- zones and instants ------------------------------------------------------------------------


def zone(name: str) -> ZoneInfo:
    """The IANA zone ``name``; ``InvalidTrigger`` naming it when there is no such zone."""
    if not isinstance(name, str) or not name:
        raise InvalidTrigger(f"timezone: unknown time zone {name!r}")
    return _zone(name)


@lru_cache(maxsize=1024)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError) as exc:
        raise InvalidTrigger(f"timezone: unknown time zone {name!r}") from exc


def parse_iso8601(text: str, field: str = "time") -> int:
    """ISO 8601 date-time with any offset or ``Z`` (naive means UTC) -> UTC ms.

    ``field`` only names the input in the error message, so adapters can say which one was bad.
    """
    if not isinstance(text, str):
        raise InvalidTrigger(f"{field}: expected an ISO 8601 date-time string, got {text!r}")
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidTrigger(f"{field}: {text!r} is not an ISO 8601 date-time") from exc
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return (parsed - _UTC_EPOCH) // _ONE_MS


def format_iso_utc(ms: int) -> str:
    """UTC ms -> ``2026-11-23T10:00:00Z`` (``.123`` milliseconds only when there are some)."""
    stamp = (_UTC_EPOCH + timedelta(milliseconds=ms)).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{ms % 1000:03d}Z" if ms % 1000 else f"{stamp}Z"


def local_to_utc_ms(local: datetime, tz: ZoneInfo) -> int:
    """A naive wall-clock time in ``tz`` -> UTC ms, applying THE DST RULE (module docstring).

    A time in a spring-forward gap -> the first instant after the gap; a time that occurs twice
    -> its first occurrence. ``local.fold`` is ignored on purpose: the rule decides, not the caller.
    """
    if local.tzinfo is not None:
        raise ValueError("local_to_utc_ms wants a naive wall-clock datetime")
    naive_ms = (local - _EPOCH) // _ONE_MS
    if local.fold:
        local = local.replace(fold=0)
    off_first = tz.utcoffset(local) // _ONE_MS
    off_second = tz.utcoffset(local.replace(fold=1)) // _ONE_MS
    if off_first >= off_second:  # normal time (equal), or a repeated one: first occurrence
        return naive_ms - off_first
    # In a gap, fold=0 reads the time with the offset before the transition, fold=1 with the one
    # after; the transition instant lies between the two readings.
    return _first_with_offset(naive_ms - off_second, naive_ms - off_first, tz)


_WALL_CLOCK = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}")


def parse_wall_clock(text: object, field: str = "time") -> datetime:
    """Exactly ``YYYY-MM-DD hh:mm:ss`` (no zone) -> a naive wall-clock datetime.

    ``2014-2-15 13:16:59`` and ``2014-12-15 13:16`` are refused: every part must be complete.
    """
    if not isinstance(text, str) or not _WALL_CLOCK.fullmatch(text):
        raise InvalidTrigger(f"{field}: {text!r} must be exactly 'yyyy-mm-dd hh:mm:ss'")
    try:
        return datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise InvalidTrigger(f"{field}: {text!r} is not a real date and time") from exc


def wall_clock_to_utc_ms(local: datetime, zone_name: str) -> int:
    """A naive wall-clock time in the zone named ``zone_name`` -> UTC ms (THE DST RULE)."""
    return local_to_utc_ms(local.replace(tzinfo=None), zone(zone_name))


def years_later_ms(ms: int, years: int, zone_name: str) -> int:
    """The instant at the same wall-clock time ``years`` later in ``zone_name`` (29 February
    becomes 28 February in a year without one)."""
    tz = zone(zone_name)
    wall = _wall(ms, tz)
    try:
        later = wall.replace(year=wall.year + years)
    except ValueError:
        later = wall.replace(year=wall.year + years, day=28)
    return local_to_utc_ms(later, tz)


def _wall(ms: int, tz: ZoneInfo) -> datetime:
    """UTC ms -> naive wall-clock time in ``tz`` (fold dropped: the DST rule never reads it)."""
    aware = (_UTC_EPOCH + timedelta(milliseconds=ms)).astimezone(tz)
    return aware.replace(tzinfo=None, fold=0)


def _offset_ms(ms: int, tz: ZoneInfo) -> int:
    return (_UTC_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).utcoffset() // _ONE_MS


def _first_with_offset(lo_ms: int, hi_ms: int, tz: ZoneInfo) -> int:
    """The first instant in (lo, hi] already on hi's UTC offset: a transition, by bisection.

    zoneinfo exposes no transition table; ~22 probes find one to the millisecond, and this only
    runs for times in a gap or in a repeated hour's second pass.
    """
    target = _offset_ms(hi_ms, tz)
    while hi_ms - lo_ms > 1:
        mid = (lo_ms + hi_ms) // 2
        if _offset_ms(mid, tz) == target:
            hi_ms = mid
        else:
            lo_ms = mid
    return hi_ms


def _repeat_end(after_ms: int, tz: ZoneInfo) -> datetime | None:
    """If ``after_ms`` lies in a repeated hour's SECOND pass, the wall time where that ends.

    By the DST rule every wall time of the repeated range maps to its first pass, i.e. before
    ``after_ms``; searching from the end of the range skips them without stepping through them.
    """
    wall = _wall(after_ms, tz)
    off_first = tz.utcoffset(wall.replace(fold=0)) // _ONE_MS
    off_second = tz.utcoffset(wall.replace(fold=1)) // _ONE_MS
    first_pass_ms = (wall - _EPOCH) // _ONE_MS - off_first
    if off_first <= off_second or first_pass_ms >= after_ms:
        return None
    delta = off_first - off_second
    transition_ms = _first_with_offset(after_ms - delta, after_ms, tz)
    return _wall(transition_ms, tz) + timedelta(milliseconds=delta)


# --- the wall-clock plan: which local dates, which local times -----------------------------------


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
            return tuple(sorted(by_dom if by_dow is None else by_dow))
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
        return clock.get_next(datetime, start_time=after.replace(microsecond=0))


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


# --- cron parsing ------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Field:
    label: str
    lo: int
    hi: int
    names: dict[str, int] | None = None


_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
_DAY_NAMES = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
_MONTH_NAMES = {name: i + 1 for i, name in enumerate(_MONTHS)}

_SECOND = _Field("second", 0, 59)
_MINUTE = _Field("minute", 0, 59)
_HOUR = _Field("hour", 0, 23)
_DOM = _Field("day-of-month", 1, 31)
_MONTH = _Field("month", 1, 12, _MONTH_NAMES)
_UNIX_DOW = _Field("day-of-week", 0, 7, {name: i for i, name in enumerate(_DAY_NAMES)})
_QUARTZ_DOW = _Field("day-of-week", 1, 7, {name: i + 1 for i, name in enumerate(_DAY_NAMES)})
_YEAR = _Field("year", 1970, 2099)

_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}

# Numbers have at most 9 digits: int() of a long run is slow, and refused past 4300 digits.
_TOKEN = re.compile(r"(\*|[A-Z0-9]+)(?:-([A-Z0-9]+))?(?:/([0-9]{1,9}))?")
_FROM_LAST = re.compile(r"L-([0-9]{1,9})")
_NEAREST = re.compile(r"([0-9]{1,9})W")
_NTH = re.compile(r"([A-Z0-9]+)#([0-9]{1,9})")
_LAST_DOW = re.compile(r"([A-Z0-9]+)L")
_UNRESTRICTED = ("*", "?")


def _bad(message: str) -> InvalidTrigger:
    return InvalidTrigger(f"cron: {message}")


def _value(text: str, spec: _Field) -> int:
    """One number or name of a field, range-checked."""
    if text.isdigit() and len(text) <= 9:
        value = int(text)
    elif spec.names and text in spec.names:
        value = spec.names[text]
    else:
        raise _bad(f"invalid {spec.label} value {text!r}")
    if not spec.lo <= value <= spec.hi:
        raise _bad(f"{spec.label} value {value} out of range {spec.lo}-{spec.hi}")
    return value


def _token(token: str, spec: _Field) -> list[int]:
    """``*``, ``n``, ``a-b`` (wrapping if a > b), each with an optional ``/step``.

    ``a/s`` means ``a-max/s``, as in Quartz and croniter.
    """
    match = _TOKEN.fullmatch(token)
    if match is None:
        raise _bad(f"invalid {spec.label} value {token!r}")
    start, end, step_text = match.groups()
    if start == "*":
        if end is not None:
            raise _bad(f"invalid {spec.label} value {token!r}")
        lo, hi = spec.lo, spec.hi
    else:
        lo = _value(start, spec)
        hi = _value(end, spec) if end else (spec.hi if step_text else lo)
    step = int(step_text) if step_text else 1
    span = spec.hi - spec.lo + 1
    if not 1 <= step <= span:
        raise _bad(f"{spec.label} step {step} out of range 1-{span}")
    if lo <= hi:
        return list(range(lo, hi + 1, step))
    wrapped = [*range(lo, spec.hi + 1), *range(spec.lo, hi + 1)]  # FRI-MON, 22-2
    return wrapped[::step]


def _values(text: str, spec: _Field) -> set[int]:
    """A comma-separated list of tokens -> the set of values."""
    if "?" in text:
        raise _bad(f"'?' is only allowed alone in day-of-month or day-of-week, not in {spec.label}")
    out: set[int] = set()
    for token in text.split(","):
        out.update(_token(token, spec))
    return out


def _dom_rule(text: str) -> _DomRule | None:
    if text in _UNRESTRICTED:
        return None
    days: set[int] = set()
    from_last: set[int] = set()
    nearest: set[int] = set()
    last_weekday = False
    for token in text.split(","):
        if token == "L":
            from_last.add(0)
        elif token == "LW":
            last_weekday = True
        elif m := _FROM_LAST.fullmatch(token):
            offset = int(m.group(1))
            if offset > 30:
                raise _bad(f"day-of-month offset L-{offset} out of range L-0 to L-30")
            from_last.add(offset)
        elif m := _NEAREST.fullmatch(token):
            nearest.add(_value(m.group(1), _DOM))
        else:
            days.update(_values(token, _DOM))
    return _DomRule(frozenset(days), frozenset(from_last), frozenset(nearest), last_weekday)


def _dow_rule(text: str, quartz: bool) -> _DowRule | None:
    if text in _UNRESTRICTED:
        return None
    spec = _QUARTZ_DOW if quartz else _UNIX_DOW

    def weekday(value: int) -> int:  # dialect number -> 0 = Sunday .. 6 = Saturday
        return value - 1 if quartz else value % 7

    days: set[int] = set()
    nth: set[tuple[int, int]] = set()
    last: set[int] = set()
    for token in text.split(","):
        if token == "L":
            days.add(6)  # Quartz: ``L`` alone in day-of-week is Saturday
        elif m := _NTH.fullmatch(token):
            n = int(m.group(2))
            if not 1 <= n <= 5:
                raise _bad(f"day-of-week occurrence #{n} out of range 1-5")
            nth.add((weekday(_value(m.group(1), spec)), n))
        elif m := _LAST_DOW.fullmatch(token):
            last.add(weekday(_value(m.group(1), spec)))
        else:
            days.update(weekday(v) for v in _values(token, spec))
    return _DowRule(frozenset(days), frozenset(nth), frozenset(last))


@lru_cache(maxsize=4096)
def _cron_plan(expr: str) -> _Plan:
    """Parse and validate a cron expression once. The plan is zone-free: it yields wall times."""
    fields = _ALIASES.get(expr.strip().lower(), expr).upper().split()
    if len(fields) == 5:
        quartz = False
        second, (minute, hour, dom, month, dow), year = "0", fields, "*"
    elif len(fields) in (6, 7):
        quartz = True
        second, minute, hour, dom, month, dow = fields[:6]
        year = fields[6] if len(fields) == 7 else "*"
    else:
        raise _bad(
            f"expected 5 fields (Unix) or 6-7 fields (Quartz), got {len(fields)} in {expr!r}"
        )
    for text, label in ((dom, "day-of-month"), (dow, "day-of-week")):
        if "?" in text and text != "?":
            raise _bad(f"'?' must stand alone in {label}, got {text!r}")
    if quartz:
        _check_quartz_days(dom, dow)
    days = _Days(
        months=frozenset(_values(month, _MONTH)),
        years=None if year == "*" else tuple(sorted(_values(year, _YEAR))),
        dom=_dom_rule(dom),
        dow=_dow_rule(dow, quartz),
        either=not quartz,
    )
    return _make_plan(
        days, _values(hour, _HOUR), _values(minute, _MINUTE), _values(second, _SECOND)
    )


def _check_quartz_days(dom: str, dow: str) -> None:
    if dom == "?" and dow == "?":
        raise _bad("'?' may stand in only one of day-of-month and day-of-week")
    if dom != "?" and dow != "?":
        raise _bad(
            f"Quartz expressions need '?' in day-of-month or day-of-week, got {dom!r} and {dow!r}"
        )


def _cron(trigger: CronTrigger) -> tuple[_Plan, ZoneInfo]:
    if not isinstance(trigger.expr, str):
        raise _bad(f"expression must be a string, got {trigger.expr!r}")
    return _cron_plan(trigger.expr), zone(trigger.timezone)


# --- calendar items ----------------------------------------------------------------------------


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


def _item_fields(item: RepeatItem, where: str) -> None:
    for name, (lo, hi) in _ITEM_RANGES.items():
        value = getattr(item, name)
        if value is None:
            continue
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidTrigger(f"{where}: {name} must be an integer or null, got {value!r}")
        if not lo <= value <= hi:
            raise InvalidTrigger(f"{where}: {name} {value} out of range {lo}-{hi}")


def _item_date(text: str | None, name: str, where: str) -> date | None:
    if text is None:
        return None
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise InvalidTrigger(f"{where}: {name} {text!r} is not a YYYY-MM-DD date")
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise InvalidTrigger(f"{where}: {name} {text!r} is not a real date") from exc


def _item_bounds(item: RepeatItem, where: str) -> tuple[date | None, date | None]:
    start = _item_date(item.start, "start", where)
    end = _item_date(item.end, "end", where)
    if start is not None and end is not None and start > end:
        raise InvalidTrigger(f"{where}: start {item.start} is after end {item.end}")
    return start, end


def _every_item(item: RepeatItem, tz: ZoneInfo, where: str) -> _EveryItem:
    every = item.interval_min
    if not isinstance(every, int) or isinstance(every, bool) or every < 1:
        raise InvalidTrigger(f"{where}: interval_min must be an integer >= 1, got {every!r}")
    start, end = _item_bounds(item, where)
    anchor = datetime.combine(start or _EPOCH.date(), time())
    until = None if end is None else local_to_utc_ms(datetime.combine(end + _ONE_DAY, time()), tz)
    return _EveryItem(local_to_utc_ms(anchor, tz), every * 60_000, until)


def _calendar_item(item: RepeatItem, where: str) -> _Plan:
    _item_fields(item, where)
    start, end = _item_bounds(item, where)
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
        raise InvalidTrigger(f"{where}: no date matches its fields between its start and end")
    return plan


@lru_cache(maxsize=4096)
def _calendar_plans(
    items: tuple[RepeatItem, ...], tz_name: str
) -> tuple[ZoneInfo, tuple[_Plan | _EveryItem, ...]]:
    tz = zone(tz_name)
    if not isinstance(items, tuple) or not items:
        raise InvalidTrigger("calendar: at least one repeat item is required")
    plans: list[_Plan | _EveryItem] = []
    for index, item in enumerate(items, start=1):
        where = f"calendar item {index}"
        if not isinstance(item, RepeatItem):
            raise InvalidTrigger(f"{where}: expected a repeat item, got {item!r}")
        if item.interval_min is not None:
            plans.append(_every_item(item, tz, where))
        else:
            plans.append(_calendar_item(item, where))
    return tz, tuple(plans)


def _calendar(trigger: CalendarTrigger) -> tuple[ZoneInfo, tuple[_Plan | _EveryItem, ...]]:
    try:
        return _calendar_plans(trigger.items, trigger.timezone)
    except TypeError as exc:  # unhashable junk inside items (a list instead of a tuple, ...)
        raise InvalidTrigger(f"calendar: malformed items: {exc}") from exc


# --- the public API ----------------------------------------------------------------------------


def validate_trigger(trigger: Trigger) -> None:
    """Parse and check everything about ``trigger``; ``InvalidTrigger`` names what is wrong.

    Also refuses cron and calendar rules that match no date at all (``0 0 31 2 *``), since such a
    schedule could never fire. Whether it still fires *from now on* is the caller's question.
    """
    if isinstance(trigger, OnceTrigger):
        _check_int(trigger.at_ms, "once: at_ms")
    elif isinstance(trigger, IntervalTrigger):
        _check_int(trigger.anchor_ms, "interval: anchor_ms")
        _check_int(trigger.every_ms, "interval: every_ms")
        if trigger.every_ms < 1:
            raise InvalidTrigger(f"interval: every_ms must be >= 1, got {trigger.every_ms}")
    elif isinstance(trigger, CronTrigger):
        plan, _ = _cron(trigger)
        if plan.days.next_day(_VALIDATE_FROM) is None:
            raise _bad(f"{trigger.expr!r} matches no date, so it never fires")
    elif isinstance(trigger, CalendarTrigger):
        _calendar(trigger)
    elif isinstance(trigger, InstantsTrigger):
        _check_instants(trigger.at_ms)
    else:
        raise InvalidTrigger(f"trigger: unknown trigger {trigger!r}")


def _check_instants(at_ms: object) -> None:
    if not isinstance(at_ms, tuple) or not at_ms:
        raise InvalidTrigger(f"instants: at_ms must be a non-empty tuple, got {at_ms!r}")
    for value in at_ms:
        _check_int(value, "instants: at_ms")
    if any(a >= b for a, b in zip(at_ms, at_ms[1:], strict=False)):
        raise InvalidTrigger("instants: at_ms must be strictly increasing")


def _check_int(value: object, name: str) -> None:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidTrigger(f"{name} must be an integer of UTC milliseconds, got {value!r}")


def _arithmetic_next(anchor_ms: int, every_ms: int, after_ms: int) -> int:
    """The first ``anchor + k * every`` (k >= 0) strictly after ``after_ms``."""
    if after_ms < anchor_ms:
        return anchor_ms
    return anchor_ms + ((after_ms - anchor_ms) // every_ms + 1) * every_ms


# Memoised because it is pure and the beat asks the same question many times: every schedule
# with the same cron fires at the same instant, so a tick of a thousand of them computes once.
@lru_cache(maxsize=8192)
def next_fire(trigger: Trigger, after_ms: int) -> int | None:
    """The first fire instant STRICTLY after ``after_ms``, or None if it never fires again."""
    if isinstance(trigger, CronTrigger):
        plan, tz = _cron(trigger)
        return None if after_ms >= _MAX_MS else _next_local(plan, tz, after_ms, _wall(after_ms, tz))
    if isinstance(trigger, IntervalTrigger):
        if trigger.every_ms < 1:
            raise InvalidTrigger(f"interval: every_ms must be >= 1, got {trigger.every_ms}")
        return _arithmetic_next(trigger.anchor_ms, trigger.every_ms, after_ms)
    if isinstance(trigger, OnceTrigger):
        return trigger.at_ms if trigger.at_ms > after_ms else None
    if isinstance(trigger, CalendarTrigger):
        return _calendar_next(trigger, after_ms)
    if isinstance(trigger, InstantsTrigger):
        index = bisect_right(trigger.at_ms, after_ms)
        return trigger.at_ms[index] if index < len(trigger.at_ms) else None
    raise InvalidTrigger(f"trigger: unknown trigger {trigger!r}")


def _calendar_next(trigger: CalendarTrigger, after_ms: int) -> int | None:
    """The union of the items: the earliest of each item's own next fire."""
    tz, plans = _calendar(trigger)
    wall = None if after_ms >= _MAX_MS else _wall(after_ms, tz)
    best: int | None = None
    for plan in plans:
        if isinstance(plan, _EveryItem):
            fire_ms = plan.next_fire(after_ms)
        elif wall is None:
            continue
        else:
            fire_ms = _next_local(plan, tz, after_ms, wall)
        if fire_ms is not None and (best is None or fire_ms < best):
            best = fire_ms
    return best


def iter_fires(trigger: Trigger, after_ms: int) -> Iterator[int]:
    """Successive fires strictly after ``after_ms``, strictly increasing, ending if it ends."""
    fire_ms = next_fire(trigger, after_ms)
    while fire_ms is not None:
        yield fire_ms
        fire_ms = next_fire(trigger, fire_ms)


def next_schedule_fire(schedule: Schedule, after_ms: int, runs_done: int) -> int | None:
    """The schedule's next fire after ``after_ms``: its trigger, bounded by start, end, max_runs.

    ``start_ms`` and ``end_ms`` are inclusive: a fire exactly at ``start_ms`` counts, hence the
    search from ``start_ms - 1``.
    """
    if schedule.max_runs is not None and runs_done >= schedule.max_runs:
        return None
    if schedule.start_ms is not None:
        after_ms = max(after_ms, schedule.start_ms - 1)
    fire_ms = next_fire(schedule.trigger, after_ms)
    if fire_ms is None or (schedule.end_ms is not None and fire_ms > schedule.end_ms):
        return None
    return fire_ms


def min_gap_ms(
    trigger: Trigger, after_ms: int, horizon_ms: int = YEAR_MS, max_fires: int = 5000
) -> int | None:
    """The smallest gap between consecutive fires in (after_ms, after_ms + horizon_ms].

    Measured on the real firing pattern (``0,5 * * * *`` has a 5-minute gap although it fires
    twice an hour), over at most ``max_fires`` fires. None if fewer than two fires.
    """
    end_ms = after_ms + horizon_ms
    smallest: int | None = None
    previous: int | None = None
    for count, fire_ms in enumerate(iter_fires(trigger, after_ms)):
        if fire_ms > end_ms or count >= max_fires:
            break
        if previous is not None and (smallest is None or fire_ms - previous < smallest):
            smallest = fire_ms - previous
        previous = fire_ms
    return smallest
