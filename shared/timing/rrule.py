"""RFC 5545 recurrence rules (``RRuleTrigger``) and ISO 8601 durations (``every``).

A rule is evaluated by python-dateutil's ``rrule`` in wall-clock time: DTSTART is the trigger's
``dtstart_ms`` read in its zone, each occurrence a local date and time, which THE DST RULE (see
the package docstring) turns into an instant, like a cron's. ``UNTIL``, as RFC 5545 asks of a
zoned DTSTART, must be in UTC (``...Z``). One ``RRULE`` only: no DTSTART, RDATE or EXDATE lines
(``start`` and ``end`` of the schedule bound it). Rules finer than hourly are refused: each next
occurrence is found by walking from DTSTART, so a minutely rule would grow slow as it ages (cron
and ``every`` do those cheaply).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from dateutil.rrule import DAILY, HOURLY, WEEKLY, rrule, rrulestr

from shared.errors import InvalidTrigger
from shared.model import RRuleTrigger
from shared.timing.zones import _MAX_MS, _wall, local_to_utc_ms, zone

# A candidate in a spring-forward gap moves forward by the gap (at most a few hours), so the
# search for the first fire after an instant starts this much earlier in wall-clock time.
_SLACK = timedelta(hours=4)
_MAX_STEPS = 10_000  # candidates tried per search: bounds a pathological rule
# A rule with COUNT is walked from DTSTART (moving DTSTART would change what COUNT counts): its
# length bounds that walk.
MAX_COUNT = 10_000
_DURATION = re.compile(
    r"P(?:(?P<w>[0-9]{1,6})W)?(?:(?P<d>[0-9]{1,6})D)?"  # ASCII digits only: \d takes any
    r"(?:T(?:(?P<h>[0-9]{1,7})H)?(?:(?P<m>[0-9]{1,9})M)?(?:(?P<s>[0-9]{1,11})S)?)?"
)
_PERIOD = {WEEKLY: timedelta(weeks=1), DAILY: timedelta(days=1), HOURLY: timedelta(hours=1)}
_UNIT_S = {"w": 7 * 86400, "d": 86400, "h": 3600, "m": 60, "s": 1}


def parse_duration_ms(value: int | str, field: str = "every") -> int:
    """Seconds (a whole number) or an ISO 8601 duration of weeks, days, hours, minutes and
    seconds (``PT15M``, ``P1DT12H``; a day is 24 h) -> ms. Months and years have no fixed length:
    a monthly rule is an ``rrule`` or a ``cron``."""
    if isinstance(value, int) and not isinstance(value, bool):
        seconds = value
    elif isinstance(value, str) and (match := _DURATION.fullmatch(value.strip())):
        parts = match.groupdict()
        if not any(parts.values()) or value.strip().endswith("T"):
            raise InvalidTrigger(f"{field}: {value!r} names no length")
        seconds = sum(int(n) * _UNIT_S[unit] for unit, n in parts.items() if n)
    else:
        raise InvalidTrigger(
            f"{field}: {value!r} is not a duration: use seconds or ISO 8601 such as PT15M, "
            "P1D (months and years vary in length: use rrule or cron)"
        )
    if not 1 <= seconds <= 366 * 86400:
        raise InvalidTrigger(f"{field}: must be 1 second to 366 days, got {seconds} s")
    return seconds * 1000


@lru_cache(maxsize=1024)
def _rule(trigger: RRuleTrigger) -> tuple[rrule, ZoneInfo]:
    """The rule over naive wall-clock datetimes (several times faster than zoned ones): DTSTART
    the trigger's start in its zone, UNTIL (given in UTC) moved to wall-clock time too."""
    tz = zone(trigger.timezone)
    text = trigger.rule.strip()
    text = text[len("RRULE:") :] if text.upper().startswith("RRULE:") else text
    if not text or any(c in text for c in "\r\n:"):
        raise InvalidTrigger("rrule: one RRULE's parts (FREQ=...;...), without other lines")
    start = _wall(trigger.dtstart_ms, tz).replace(microsecond=0)
    try:
        parsed = rrulestr(text, dtstart=start.replace(tzinfo=tz))
    except (ValueError, TypeError, OverflowError, KeyError, IndexError) as exc:
        raise InvalidTrigger(f"rrule: {text!r} is not an RFC 5545 rule ({exc})") from None
    if not isinstance(parsed, rrule):
        raise InvalidTrigger("rrule: one RRULE only")
    if _part(parsed, "freq") > HOURLY:  # MINUTELY, SECONDLY
        raise InvalidTrigger("rrule: FREQ finer than HOURLY; use cron or every for those")
    if _part(parsed, "interval") < 1:  # dateutil would loop for ever
        raise InvalidTrigger("rrule: INTERVAL must be 1 or more")
    if (_part(parsed, "count") or 0) > MAX_COUNT:
        raise InvalidTrigger(f"rrule: COUNT is at most {MAX_COUNT}; leave it out for no end")
    until = _part(parsed, "until")
    naive_until = None if until is None else until.astimezone(tz).replace(tzinfo=None)
    return parsed.replace(dtstart=start, until=naive_until), tz


def validate_rrule(trigger: RRuleTrigger) -> None:
    """Parse ``trigger``; refuse a rule that never occurs."""
    rule, _ = _rule(trigger)
    if _first_from(rule, _part(rule, "dtstart")) is None:
        raise InvalidTrigger(f"rrule: {trigger.rule!r} never occurs")


def rrule_next(trigger: RRuleTrigger, after_ms: int) -> int | None:
    """The first fire STRICTLY after ``after_ms``, or None."""
    if after_ms >= _MAX_MS:
        return None
    rule, tz = _rule(trigger)
    start = _wall(after_ms, tz) - _SLACK
    rule = _moved_near(rule, start)
    candidate = _first_from(rule, start)
    for _ in range(_MAX_STEPS):
        if candidate is None:
            return None
        fire_ms = local_to_utc_ms(candidate, tz)
        if fire_ms > after_ms:
            return fire_ms
        candidate = rule.after(candidate)
    return None


def _moved_near(rule: rrule, start: datetime) -> rrule:
    """The same rule with DTSTART moved forward by whole periods to just before ``start``, so
    the search does not walk every occurrence since DTSTART. Exact for weekly, daily and hourly
    rules without COUNT (see ``MAX_COUNT``): their defaults (weekday, hour, minute, second) and
    the phase of their INTERVAL are kept by a move of whole periods of wall-clock time, which is
    how dateutil counts too. Monthly and yearly rules have few occurrences a year: walked as
    they are."""
    period = _PERIOD.get(_part(rule, "freq"))
    if period is None or _part(rule, "count") is not None or start <= _part(rule, "dtstart"):
        return rule
    step = period * _part(rule, "interval")
    periods = (start - _part(rule, "dtstart")) // step
    return rule.replace(dtstart=_part(rule, "dtstart") + periods * step) if periods else rule


def _part(rule: rrule, name: str) -> Any:
    """A part of a parsed rule (``freq``, ``dtstart``, ...): dateutil keeps them private with no
    accessors, so they are read here, in one place."""
    return vars(rule)["_" + name]


def _first_from(rule: rrule, start: datetime) -> datetime | None:
    try:
        found: datetime | None = rule.after(start, inc=True)
    except (ValueError, OverflowError):  # past year 9999
        return None
    return found
