"""Tables for ``shared.timing``'s public verbs (``shared/timing/fires.py``): once and
interval triggers, schedules and gaps, validation.

The other tables are split like the package: test_timing_cron.py (Unix and Quartz),
test_timing_calendar.py (repeat items), test_timing_zones.py (DST, zones, ISO 8601).
Every expected instant is a literal date-time with its offset, read by the standard
library (see tests/timing_support.py), never by the code under test.
"""

from __future__ import annotations

import re

import pytest

from shared.errors import InvalidTrigger
from shared.model import (
    CalendarTrigger,
    CronTrigger,
    IntervalTrigger,
    OnceTrigger,
    RepeatItem,
    Schedule,
    Target,
    Trigger,
)
from shared.timing import (
    iter_fires,
    min_gap_ms,
    next_fire,
    next_schedule_fire,
    validate_trigger,
)
from tests.timing_support import DOC_EXAMPLE, check, ms

# --- once and interval ---------------------------------------------------------------------------


def test_once() -> None:
    trigger = OnceTrigger(at_ms=ms("2026-11-23T10:00:00+00:00"))
    assert next_fire(trigger, ms("2026-11-23T09:59:59.999+00:00")) == ms("2026-11-23T10:00:00Z")
    assert next_fire(trigger, ms("2026-11-23T10:00:00+00:00")) is None
    assert next_fire(trigger, ms("2027-01-01T00:00:00+00:00")) is None
    assert list(iter_fires(trigger, 0)) == [ms("2026-11-23T10:00:00+00:00")]


INTERVAL = IntervalTrigger(every_ms=90_000, anchor_ms=ms("2026-01-01T00:00:00+00:00"))


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        ("2025-06-01T00:00:00+00:00", "2026-01-01T00:00:00+00:00"),  # before anchor: the anchor
        ("2025-12-31T23:59:59.999+00:00", "2026-01-01T00:00:00+00:00"),
        ("2026-01-01T00:00:00+00:00", "2026-01-01T00:01:30+00:00"),
        ("2026-01-01T00:00:00.001+00:00", "2026-01-01T00:01:30+00:00"),
        ("2026-01-01T00:01:30+00:00", "2026-01-01T00:03:00+00:00"),
        ("2026-01-02T00:00:00+00:00", "2026-01-02T00:01:30+00:00"),
    ],
)
def test_interval(after: str, expected: str) -> None:
    assert next_fire(INTERVAL, ms(after)) == ms(expected)


def test_interval_ignores_dst() -> None:
    hourly = IntervalTrigger(every_ms=3_600_000, anchor_ms=ms("2026-03-08T00:00:00-05:00"))
    check(
        hourly,
        "2026-03-08T01:00:00-05:00",
        ["2026-03-08T02:00:00-05:00", "2026-03-08T04:00:00-04:00", "2026-03-08T05:00:00-04:00"],
    )


# --- schedules and gaps --------------------------------------------------------------------------


def schedule(**bounds) -> Schedule:
    return Schedule(
        id="s1",
        account="a1",
        dialect="test",
        trigger=CronTrigger("0 * * * *"),
        target=Target("webhook", {}),
        created_ms=0,
        **bounds,
    )


@pytest.mark.parametrize(
    ("bounds", "after", "runs_done", "expected"),
    [
        ({}, "2026-01-01T00:30:00+00:00", 0, "2026-01-01T01:00:00+00:00"),
        (  # start_ms exactly on a fire: that fire counts
            {"start_ms": ms("2026-01-01T05:00:00+00:00")},
            "2026-01-01T00:30:00+00:00",
            0,
            "2026-01-01T05:00:00+00:00",
        ),
        (
            {"start_ms": ms("2026-01-01T05:00:00.001+00:00")},
            "2026-01-01T00:30:00+00:00",
            0,
            "2026-01-01T06:00:00+00:00",
        ),
        (  # start in the past changes nothing
            {"start_ms": ms("2025-01-01T00:00:00+00:00")},
            "2026-01-01T00:30:00+00:00",
            0,
            "2026-01-01T01:00:00+00:00",
        ),
        (  # end_ms is inclusive
            {"end_ms": ms("2026-01-01T01:00:00+00:00")},
            "2026-01-01T00:30:00+00:00",
            0,
            "2026-01-01T01:00:00+00:00",
        ),
        ({"end_ms": ms("2026-01-01T00:59:59.999+00:00")}, "2026-01-01T00:30:00+00:00", 0, None),
        ({"max_runs": 3}, "2026-01-01T00:30:00+00:00", 2, "2026-01-01T01:00:00+00:00"),
        ({"max_runs": 3}, "2026-01-01T00:30:00+00:00", 3, None),
        ({"max_runs": 0}, "2026-01-01T00:30:00+00:00", 0, None),
    ],
)
def test_next_schedule_fire(bounds: dict, after: str, runs_done: int, expected: str | None) -> None:
    got = next_schedule_fire(schedule(**bounds), ms(after), runs_done)
    assert got == (None if expected is None else ms(expected))


@pytest.mark.parametrize(
    ("trigger", "expected"),
    [
        (CronTrigger("*/10 * * * *"), 600_000),
        (CronTrigger("0,5 * * * *"), 300_000),  # fires twice an hour, yet 5 minutes apart
        (CronTrigger("0 */10 * * * ?"), 600_000),
        (CronTrigger("0 0 12 ? * 2#1", "Europe/Paris"), 28 * 86_400_000),
        (IntervalTrigger(every_ms=45_000, anchor_ms=0), 45_000),
        (OnceTrigger(at_ms=ms("2026-06-01T00:00:00+00:00")), None),
    ],
)
def test_min_gap_ms(trigger, expected: int | None) -> None:
    assert min_gap_ms(trigger, ms("2026-01-01T00:00:00+00:00")) == expected


def test_min_gap_ms_respects_horizon() -> None:
    weekly = CronTrigger("0 0 * * MON")
    start = ms("2026-01-01T00:00:00+00:00")
    assert min_gap_ms(weekly, start, horizon_ms=6 * 86_400_000) is None
    assert min_gap_ms(weekly, start, horizon_ms=14 * 86_400_000) == 7 * 86_400_000


# --- validation ----------------------------------------------------------------------------------


def calendar(**fields) -> CalendarTrigger:
    return CalendarTrigger((RepeatItem(**fields),))


INVALID = [
    (CronTrigger("0 0 * * *", "Mars/Olympus_Mons"), "unknown time zone 'Mars/Olympus_Mons'"),
    (CronTrigger("0 0 12 * * 2"), "need '?' in day-of-month or day-of-week"),
    (CronTrigger("0 0 12 ? * ?"), "'?' may stand in only one"),
    (CronTrigger("0 ? * * *"), "'?' is only allowed"),
    (CronTrigger("0 0 12 ?5 * *"), "'?' must stand alone in day-of-month"),
    (CronTrigger("0 0 12 ? * 9"), "cron: day-of-week value 9 out of range 1-7"),
    (CronTrigger("0 0 12 ? * 0"), "cron: day-of-week value 0 out of range 1-7"),
    (CronTrigger("0 0 * * 9"), "cron: day-of-week value 9 out of range 0-7"),
    (CronTrigger("60 * * * *"), "cron: minute value 60 out of range 0-59"),
    (CronTrigger("0 24 * * *"), "cron: hour value 24 out of range 0-23"),
    (CronTrigger("0 0 32 * *"), "cron: day-of-month value 32 out of range 1-31"),
    (CronTrigger("0 0 0 * *"), "cron: day-of-month value 0 out of range 1-31"),
    (CronTrigger("0 0 1 13 *"), "cron: month value 13 out of range 1-12"),
    (CronTrigger("61 0 0 ? * *"), "cron: second value 61 out of range 0-59"),
    (CronTrigger("0 0 0 ? * * 2100"), "cron: year value 2100 out of range 1970-2099"),
    (CronTrigger("0 0 12 ? * 2#6"), "cron: day-of-week occurrence #6 out of range 1-5"),
    (CronTrigger("0 0 12 L-31 * ?"), "L-31 out of range"),
    (CronTrigger("0 0 12 32W * ?"), "cron: day-of-month value 32 out of range 1-31"),
    (CronTrigger("*/0 * * * *"), "cron: minute step 0 out of range"),
    (CronTrigger("0 0 * * FOO"), "cron: invalid day-of-week value 'FOO'"),
    (CronTrigger("0 0 * * 1-"), "cron: invalid day-of-week value '1-'"),
    (CronTrigger("0 0 * *"), "expected 5 fields (Unix) or 6-7 fields (Quartz), got 4"),
    (CronTrigger("0 0 0 0 0 0 0 0"), "got 8"),
    (CronTrigger("0 0 31 2 *"), "never fires"),
    (CronTrigger(""), "got 0"),
    (CalendarTrigger((RepeatItem(hour=1),), "Nowhere/Land"), "unknown time zone 'Nowhere/Land'"),
    (CalendarTrigger(()), "at least one repeat item"),
    (calendar(hour=24), "calendar item 1: hour 24 out of range 0-23"),
    (calendar(minute=60), "calendar item 1: minute 60 out of range 0-59"),
    (calendar(day=0), "calendar item 1: day 0 out of range 1-31"),
    (calendar(day=32), "calendar item 1: day 32 out of range 1-31"),
    (calendar(week=6), "calendar item 1: week 6 out of range 1-5"),
    (calendar(weekday=7), "calendar item 1: weekday 7 out of range 0-6"),
    (calendar(month=13), "calendar item 1: month 13 out of range 1-12"),
    (calendar(year=1969), "calendar item 1: year 1969 out of range 1970-2199"),
    (calendar(year=2200), "calendar item 1: year 2200 out of range 1970-2199"),
    (calendar(hour="20"), "calendar item 1: hour must be an integer or null, got '20'"),
    (calendar(start="2026-02-30"), "calendar item 1: start '2026-02-30' is not a real date"),
    (calendar(end="2026/01/01"), "calendar item 1: end '2026/01/01' is not a YYYY-MM-DD date"),
    (
        calendar(start="2026-03-12", end="2026-03-10"),
        "calendar item 1: start 2026-03-12 is after end 2026-03-10",
    ),
    (calendar(interval_min=0), "calendar item 1: interval_min must be an integer >= 1"),
    (calendar(day=31, month=2), "calendar item 1: no date matches"),
    (calendar(day=10, week=1), "calendar item 1: no date matches"),
    (
        CalendarTrigger((RepeatItem(hour=1), RepeatItem(weekday=9))),
        "calendar item 2: weekday 9 out of range 0-6",
    ),
    (IntervalTrigger(every_ms=0, anchor_ms=0), "interval: every_ms must be >= 1"),
    (OnceTrigger(at_ms="soon"), "once: at_ms must be an integer"),
]


@pytest.mark.parametrize(("trigger", "message"), INVALID)
def test_validate_trigger_rejects(trigger, message: str) -> None:
    with pytest.raises(InvalidTrigger, match=re.escape(message)):
        validate_trigger(trigger)


VALID = [
    CronTrigger("*/5 * * * *"),
    CronTrigger("0 9 * * mon-fri", "Europe/Paris"),
    CronTrigger("0 0 12 ? * 2#1", "Europe/Paris"),
    CronTrigger("0 0 12 L-3,15W * ?"),
    CronTrigger("0 0 12 ? JAN-MAR,DEC FRIL 2026/2"),
    CronTrigger("0 0 0 29 2 ?"),
    CronTrigger("@daily"),
    DOC_EXAMPLE,
    calendar(interval_min=15, start="2026-01-01", end="2026-01-01"),
    calendar(week=5, weekday=0, hour=3, minute=0),
    IntervalTrigger(every_ms=1, anchor_ms=0),
    OnceTrigger(at_ms=0),
]


@pytest.mark.parametrize("trigger", VALID)
def test_validate_trigger_accepts(trigger) -> None:
    validate_trigger(trigger)


@pytest.mark.parametrize(
    "trigger",
    [
        OnceTrigger(at_ms=10**33),
        OnceTrigger(at_ms=-(10**20)),
        IntervalTrigger(every_ms=10**30, anchor_ms=0),
        IntervalTrigger(every_ms=1000, anchor_ms=10**25),
    ],
)
def test_an_instant_that_cannot_be_written_out_is_refused(trigger: Trigger) -> None:
    # Past year 9998 the replies (ISO 8601) could not be written: refused at validation.
    with pytest.raises(InvalidTrigger, match="years 1 to 9998"):
        validate_trigger(trigger)
