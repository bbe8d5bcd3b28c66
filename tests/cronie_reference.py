"""A brute-force reference for the DST policies: cronie's main loop, minute by real minute.

Written apart from ``shared.timing``, from cronie's ``cron.c`` (``main``'s loop and ``find_jobs``)
and ``entry.c`` (``MIN_STAR``, ``HR_STAR``, ``DOM_STAR``, ``DOW_STAR``): a crontab line in the
machine's own zone, the daemon waking at every real minute and comparing the wall clock (in
minutes) with the "virtual" minute it last ran. The matcher reads plain 5-field Unix crons
(numbers, names, lists, ranges, steps, ``*``), the fields cronie reads, with Vixie's day rule.
Slow on purpose: one step per real minute, nothing skipped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo

MINUTE_MS = 60_000
_EPOCH = datetime(1970, 1, 1)
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
_DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
# (low, high, names) of minute, hour, day of month, month, day of week
_FIELDS = (
    (0, 59, {}),
    (0, 23, {}),
    (1, 31, {}),
    (1, 12, {name: i + 1 for i, name in enumerate(_MONTHS)}),
    (0, 7, {name: i for i, name in enumerate(_DAYS)}),
)
# cronie's thresholds, in minutes of wall-clock difference between two wake-ups
_SMALL, _LARGE = 5, 3 * 60


@dataclass(frozen=True)
class Entry:
    values: tuple[frozenset[int], ...]  # minute, hour, dom, month, dow
    star: tuple[bool, ...]  # the field's text starts with '*'

    @property
    def wildcard(self) -> bool:
        return self.star[0] or self.star[1]

    def matches(self, wall: datetime) -> bool:
        minute, hour, dom, month, dow = self.values
        weekday = (wall.weekday() + 1) % 7
        on_dow = weekday in dow or (weekday == 0 and 7 in dow)
        on_dom = wall.day in dom
        on_day = (on_dom and on_dow) if self.star[2] or self.star[4] else (on_dom or on_dow)
        return wall.minute in minute and wall.hour in hour and wall.month in month and on_day


def parse(expr: str) -> Entry:
    texts = expr.upper().split()
    assert len(texts) == 5, expr
    values = tuple(
        frozenset(_field(text, low, high, names))
        for text, (low, high, names) in zip(texts, _FIELDS, strict=True)
    )
    return Entry(values, tuple(text.startswith("*") for text in texts))


def _field(text: str, low: int, high: int, names: dict[str, int]) -> set[int]:
    def number(word: str) -> int:
        return names[word] if word in names else int(word)

    out: set[int] = set()
    for part in text.split(","):
        span, _, step = part.partition("/")
        if span == "*":
            first, last = low, high
        elif "-" in span:
            first, last = (number(word) for word in span.split("-"))
        else:
            first = number(span)
            last = high if step else first
        out.update(range(first, last + 1, int(step or 1)))
    return out


@lru_cache(maxsize=1 << 16)  # every cron of a test walks the same minutes
def _offset_ms(at_ms: int, tz: ZoneInfo) -> int:
    aware = (_UTC_EPOCH + timedelta(milliseconds=at_ms)).astimezone(tz)
    offset = aware.utcoffset()
    assert offset is not None
    return offset // timedelta(milliseconds=1)


def _wall(wall_minute: int) -> datetime:
    return _EPOCH + timedelta(minutes=wall_minute)


def cronie_fires(entry: Entry, tz: ZoneInfo, start_ms: int, end_ms: int) -> list[int]:
    """The instants in (start_ms, end_ms] at which cronie starts the job (minute boundaries)."""
    assert start_ms % MINUTE_MS == 0

    def clock(at_ms: int) -> int:  # cronie's clockTime: wall-clock minutes since the epoch
        return (at_ms + _offset_ms(at_ms, tz)) // MINUTE_MS

    def due(wall_minute: int, wild: bool, fixed: bool) -> bool:  # find_jobs for one entry
        kind_runs = wild if entry.wildcard else fixed
        return kind_runs and entry.matches(_wall(wall_minute))

    virtual = clock(start_ms)
    fires = []
    for now_ms in range(start_ms + MINUTE_MS, end_ms + 1, MINUTE_MS):
        running = clock(now_ms)
        diff = running - virtual
        runs = False
        if diff == 1 or diff > _LARGE or diff < -_LARGE:  # on time, or the clock jumped a lot
            virtual = running
            runs = due(running, True, True)
        elif diff > _SMALL:  # forward, as into DST: wildcards now, fixed times for each minute
            runs = due(running, True, False)
            while virtual < running:
                virtual += 1
                runs = due(virtual, False, True) or runs
        elif diff > 0:  # woke a little late: everything for each minute missed
            while virtual < running:
                virtual += 1
                runs = due(virtual, True, True) or runs
        else:  # backwards, as out of DST: wildcards only, until the clock catches up
            runs = due(running, True, False)
        if runs:
            fires.append(now_ms)
    return fires


def skip_fires(entry: Entry, tz: ZoneInfo, start_ms: int, end_ms: int) -> list[int]:
    """``dst="skip"``: each real minute whose wall time matches, once per wall time (the first)."""
    fires = []
    for now_ms in range(start_ms + MINUTE_MS, end_ms + 1, MINUTE_MS):
        offset = _offset_ms(now_ms, tz)
        wall = _EPOCH + timedelta(milliseconds=now_ms + offset)
        first_time = tz.utcoffset(wall) == timedelta(milliseconds=offset)  # fold=0: the first
        if first_time and entry.matches(wall):
            fires.append(now_ms)
    return fires


def transitions(tz: ZoneInfo, start_ms: int, end_ms: int) -> list[int]:
    """Every instant in [start_ms, end_ms) where the zone's offset changes, to the minute
    (probed hourly: no zone changes twice within hours)."""
    found = []
    hour_ms = 60 * MINUTE_MS
    for probe in range(start_ms, end_ms, hour_ms):
        if _offset_ms(probe, tz) != _offset_ms(probe + hour_ms, tz):
            at = probe
            while _offset_ms(at, tz) == _offset_ms(probe, tz):
                at += MINUTE_MS
            found.append(at)
    return found


def parse_quartz(expr: str) -> tuple[Entry, frozenset[int]]:
    """``sec min hour * * ?`` (every day): the minute-and-hour entry and the seconds."""
    second, minute, hour, dom, month, dow = expr.upper().split()
    assert (dom, month, dow) == ("*", "*", "?"), expr
    return parse(f"{minute} {hour} * * *"), frozenset(_field(second, 0, 59, {}))


def seconds_fires(expr: str, tz: ZoneInfo, dst: str, start_ms: int, end_ms: int) -> list[int]:
    """The policies stated second by second, for Quartz crons (cronie has no seconds): each real
    second whose wall time matches fires the first time it occurs, and the second time too for a
    wildcard cron under ``cron``; under ``cron`` a fixed-time cron matching a time in a gap (of
    under 3 hours) fires at the first instant after it."""
    entry, seconds = parse_quartz(expr)
    fires = []
    gap_matched = False
    for now_ms in range(start_ms + 1000, end_ms + 1, 1000):
        offset = _offset_ms(now_ms, tz)
        before = _offset_ms(now_ms - 1000, tz)
        wall = _EPOCH + timedelta(milliseconds=now_ms + offset)
        if offset > before and dst == "cron" and not entry.wildcard:  # the clock jumped forward
            gap_start = _EPOCH + timedelta(milliseconds=now_ms + before)
            gap = (gap_start + timedelta(seconds=s) for s in range((offset - before) // 1000))
            gap_matched = any(entry.matches(w) and w.second in seconds for w in gap)
        first_time = tz.utcoffset(wall) == timedelta(milliseconds=offset)
        runs = (first_time or (dst == "cron" and entry.wildcard)) and entry.matches(wall)
        if (runs and wall.second in seconds) or gap_matched:
            fires.append(now_ms)
        gap_matched = False
    return fires
