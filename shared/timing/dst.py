"""DST policies: how a planned wall-clock time becomes instants where the zone's clock jumps.

A wall-clock candidate (a local date and time a plan names) is *normal* (it occurs once), in a
*gap* (spring forward: it never occurs) or *repeated* (fall back: it occurs in a first and a second
pass). A ``_DstRule`` says what a gap candidate and a repeated one do, by the size of the jump:

- a gap candidate fires once, at the first instant after the gap, when the jump is shorter than
  ``gap_below_ms``, and not at all otherwise (several in one gap fire once: they coincide);
- a repeated candidate fires in both passes when the jump back is longer than ``both_above_ms``,
  and only in the first pass otherwise.

The rules, and why those numbers (cronie's ``cron.c`` main loop, which compares the wall clock in
minutes with the minute it last ran: a jump of 1 to 5 minutes forward runs every job for each
skipped minute; 6 to 180 forward runs the wildcard jobs once for the current minute and the
fixed-time jobs for each skipped minute; any jump back runs only the wildcard jobs until the clock
catches up; more than 3 hours either way runs everything for the current minute only):

=============  ==========================  =============================
rule           gap candidate fires at end   repeated candidate fires twice
=============  ==========================  =============================
``FIXED``      jump < 180 min               jump > 181 min
``WILDCARD``   jump < 5 min                 always
``SKIP``       never                        never
``COLLAPSE``   always                       never
=============  ==========================  =============================

``FIXED`` and ``WILDCARD`` are a cron's ``dst="cron"`` (wildcard when its minute or hour field
starts with ``*``, as cronie's ``MIN_STAR``/``HR_STAR``), ``SKIP`` its ``dst="skip"``, and
``COLLAPSE`` the calendar items' and one-off wall times' rule (``local_to_utc_ms``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from shared.errors import InvalidTrigger
from shared.model import DST_POLICIES
from shared.timing.plan import _Plan
from shared.timing.zones import (
    _EPOCH,
    _ONE_MS,
    _UTC_EPOCH,
    _first_with_offset,
    _offset_of,
    _steady_offset,
)

_MINUTE_MS = 60_000
_NEVER = 1 << 62  # longer than any jump a zone makes
_JUST_BEFORE = timedelta(microseconds=1)  # candidates are whole seconds: "from w" = "after this"


@dataclass(frozen=True)
class _DstRule:
    name: str
    gap_below_ms: int
    both_above_ms: int


FIXED = _DstRule("cron, fixed time", 180 * _MINUTE_MS, 181 * _MINUTE_MS)
WILDCARD = _DstRule("cron, wildcard", 5 * _MINUTE_MS, 0)
SKIP = _DstRule("skip", 0, _NEVER)
COLLAPSE = _DstRule("collapse", _NEVER, _NEVER)


@dataclass(frozen=True)
class _Moment:
    """An instant read in a zone: its wall time, its offset, and both offsets of that wall time
    (different only inside a repeated range: first pass, second pass)."""

    ms: int
    wall: datetime
    offset_ms: int
    first_ms: int
    second_ms: int


def rule_for(dst: object, wildcard: bool) -> _DstRule:
    """A trigger's ``dst`` ("cron" or "skip") as a rule; ``InvalidTrigger`` naming a bad one."""
    if dst == "skip":
        return SKIP
    if dst == "cron":
        return WILDCARD if wildcard else FIXED
    reason = f"must be one of {', '.join(DST_POLICIES)}, got {dst!r}"
    raise InvalidTrigger(f"dst: {reason}", field="dst", reason=reason)


def moment(after_ms: int, tz: ZoneInfo) -> _Moment:
    aware = (_UTC_EPOCH + timedelta(milliseconds=after_ms)).astimezone(tz)
    offset = aware.utcoffset()
    assert offset is not None  # an aware datetime in a ZoneInfo always has one
    wall = aware.replace(tzinfo=None, fold=0)
    offset_ms = offset // _ONE_MS
    if _steady_offset(tz, wall.date()) is not None:
        return _Moment(after_ms, wall, offset_ms, offset_ms, offset_ms)
    first_ms, second_ms = _offset_of(tz, wall), _offset_of(tz, wall.replace(fold=1))
    return _Moment(after_ms, wall, offset_ms, first_ms, second_ms)


def next_local(plan: _Plan, tz: ZoneInfo, rule: _DstRule, after: _Moment) -> int | None:
    """The plan's first fire strictly after ``after``, under ``rule``.

    Mapping a wall time to its first pass (or to the gap's end) never goes backwards, so the plan's
    next candidate after ``after``'s wall time gives the next fire, but for two cases at a repeated
    range, handled first: ``after`` in its second pass, and second-pass fires still due.
    """
    wall = after.wall
    if after.first_ms > after.second_ms:
        fire_ms, wall = _in_repeated_range(plan, tz, rule, after)
        if fire_ms is not None:
            return fire_ms
    while (candidate := plan.next_wall(wall)) is not None:
        naive_ms = (candidate - _EPOCH) // _ONE_MS
        steady = _steady_offset(tz, candidate.date())
        if steady is not None and naive_ms - steady > after.ms:
            return naive_ms - steady
        before, later = _offset_of(tz, candidate), _offset_of(tz, candidate.replace(fold=1))
        if before >= later:  # occurs once, or twice (its first pass here)
            if naive_ms - before > after.ms:
                return naive_ms - before
            wall = candidate
            continue
        gap_end_ms = _first_with_offset(naive_ms - later, naive_ms - before, tz)
        if later - before < rule.gap_below_ms and gap_end_ms > after.ms:
            return gap_end_ms
        wall = max(candidate, _naive(gap_end_ms + later) - _JUST_BEFORE)
    return None


def iter_local(plan: _Plan, tz: ZoneInfo, rule: _DstRule, after_ms: int) -> Iterator[int]:
    """``next_local`` after ``after_ms``, then after each fire, with a shortcut: from a fire on a
    day of one offset to a candidate on such a day, nothing can come between (no gap, no repeated
    range lies between them), so that candidate's instant is the next fire."""
    fire_ms: int | None = after_ms
    wall = None  # the wall time of the last fire when its day has one offset
    while fire_ms is not None:
        if wall is not None:
            candidate = plan.next_wall(wall)
            if candidate is None:
                return
            steady = _steady_offset(tz, candidate.date())
            if steady is not None:
                wall = candidate
                fire_ms = (candidate - _EPOCH) // _ONE_MS - steady
                yield fire_ms
                continue
        fire_ms = next_local(plan, tz, rule, moment(fire_ms, tz))
        if fire_ms is not None:
            yield fire_ms
            fired = moment(fire_ms, tz)
            steady = _steady_offset(tz, fired.wall.date())
            wall = None if steady is None else fired.wall


def _in_repeated_range(
    plan: _Plan, tz: ZoneInfo, rule: _DstRule, after: _Moment
) -> tuple[int | None, datetime]:
    """``after`` lies in a repeated wall range: a fire from its passes, or where to search on.

    Second-pass fires come after every first-pass fire of the range and before the range's end,
    so they are found here, not by the search in wall-clock order.
    """
    shift = after.first_ms - after.second_ms
    in_first_pass = after.offset_ms == after.first_ms
    if in_first_pass:
        switch_ms = _first_with_offset(after.ms, after.ms + shift, tz)
    else:
        switch_ms = _first_with_offset(after.ms - shift, after.ms, tz)
    range_start, range_end = _naive(switch_ms + after.second_ms), _naive(switch_ms + after.first_ms)
    if shift <= rule.both_above_ms:  # one pass fires: the first goes on, the second is skipped
        return None, after.wall if in_first_pass else range_end - _JUST_BEFORE
    candidate = plan.next_wall(after.wall)
    if candidate is not None and candidate < range_end:
        offset = after.first_ms if in_first_pass else after.second_ms
        return (candidate - _EPOCH) // _ONE_MS - offset, after.wall
    if in_first_pass:  # the first pass is done: the second begins with the range's first candidate
        candidate = plan.next_wall(range_start - _JUST_BEFORE)
        if candidate is not None and candidate < range_end:
            return (candidate - _EPOCH) // _ONE_MS - after.second_ms, after.wall
    return None, range_end - _JUST_BEFORE


def _naive(naive_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=naive_ms)
