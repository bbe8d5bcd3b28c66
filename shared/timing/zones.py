"""Zones and instants: IANA zones, ISO 8601 and wall clocks, and THE DST RULE
(``local_to_utc_ms``) that maps a wall-clock time to an instant."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from shared.errors import InvalidTrigger

_ONE_MS = timedelta(milliseconds=1)
_ONE_DAY = timedelta(days=1)
_MIDNIGHT = time()
_EPOCH = datetime(1970, 1, 1)  # naive: wall-clock arithmetic
_UTC_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
YEAR_MS = 365 * 24 * 3600 * 1000
# datetime stops at year 9999; nothing fires in that year, so arithmetic near it never overflows.
_LAST_YEAR = 9998
_MAX_MS = (datetime(_LAST_YEAR, 12, 31) - _EPOCH) // _ONE_MS
_MIN_MS = (datetime(1, 1, 2) - _EPOCH) // _ONE_MS  # the first day a zone's offset cannot underflow
# The Gregorian calendar repeats every 400 years: no date match in that span means never.
_SCAN_YEARS = 400
# Validation asks "does it ever fire?" from here (a day early, for zones west of UTC).
_VALIDATE_FROM = date(1969, 12, 31)


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
    off_first = _offset_of(tz, local)
    off_second = _offset_of(tz, local.replace(fold=1))
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
    offset = (_UTC_EPOCH + timedelta(milliseconds=ms)).astimezone(tz).utcoffset()
    assert offset is not None  # an aware datetime in a ZoneInfo always has one
    return offset // _ONE_MS


def _offset_of(tz: ZoneInfo, wall: datetime) -> int:
    """The UTC offset of naive ``wall`` in ``tz``, in ms (a ZoneInfo always knows one)."""
    offset = tz.utcoffset(wall)
    assert offset is not None
    return offset // _ONE_MS


@lru_cache(maxsize=8192)
def _steady_offset(tz: ZoneInfo, day: date) -> int | None:
    """The UTC offset (ms) of every wall time of local ``day``, or None if the day has a jump.

    Same offset, occurring once, at both midnights means no jump between them: no zone changes
    its offset twice within three days since 1970 (tests/test_timing_dst.py checks every zone).
    Cached per day, it saves the next-fire search most of its offset lookups.
    """
    start = datetime.combine(day, _MIDNIGHT)
    end = start + _ONE_DAY
    offset = _offset_of(tz, start)
    for wall in (start.replace(fold=1), end, end.replace(fold=1)):
        if _offset_of(tz, wall) != offset:
            return None
    return offset


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


def _arithmetic_next(anchor_ms: int, every_ms: int, after_ms: int) -> int:
    """The first ``anchor + k * every`` (k >= 0) strictly after ``after_ms``."""
    if after_ms < anchor_ms:
        return anchor_ms
    return anchor_ms + ((after_ms - anchor_ms) // every_ms + 1) * every_ms
