"""Tables for ``shared.timing``: every expected instant is a literal date-time with its offset.

The literals are read by the standard library (``datetime.fromisoformat``), never by the code under
test, so a wrong offset or a wrong day in ``shared.timing`` cannot hide behind its own arithmetic.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from itertools import takewhile

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
)
from shared.timing import (
    format_iso_utc,
    iter_fires,
    local_to_utc_ms,
    min_gap_ms,
    next_fire,
    next_schedule_fire,
    parse_iso8601,
    validate_trigger,
    zone,
)

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
NY = "America/New_York"
BERLIN = "Europe/Berlin"


def ms(text: str) -> int:
    """A literal ISO date-time WITH its offset -> UTC ms, by the standard library alone."""
    moment = datetime.fromisoformat(text)
    assert moment.tzinfo is not None, f"test literal {text!r} needs an explicit offset"
    return (moment - EPOCH) // timedelta(milliseconds=1)


def fires(trigger, after: str, count: int) -> list[int]:
    out: list[int] = []
    for fire_ms in iter_fires(trigger, ms(after)):
        out.append(fire_ms)
        if len(out) == count:
            break
    return out


def check(trigger, after: str, expected: list[str]) -> None:
    got = fires(trigger, after, len(expected))
    assert [format_iso_utc(g) for g in got] == [format_iso_utc(ms(e)) for e in expected]


# --- Unix 5-field ------------------------------------------------------------------------------

UNIX = [
    (
        "*/5 * * * *",
        "UTC",
        "2026-01-01T00:02:00+00:00",
        ["2026-01-01T00:05:00+00:00", "2026-01-01T00:10:00+00:00", "2026-01-01T00:15:00+00:00"],
    ),
    (  # strictly after: a fire exactly at after_ms is not returned
        "*/5 * * * *",
        "UTC",
        "2026-01-01T00:05:00+00:00",
        ["2026-01-01T00:10:00+00:00"],
    ),
    (  # Friday after 09:00 -> Monday
        "0 9 * * MON-FRI",
        "UTC",
        "2026-01-02T10:00:00+00:00",
        ["2026-01-05T09:00:00+00:00", "2026-01-06T09:00:00+00:00"],
    ),
    (  # names in month and day-of-week
        "30 6 * JAN,JUL SUN",
        "UTC",
        "2026-01-20T00:00:00+00:00",
        ["2026-01-25T06:30:00+00:00", "2026-07-05T06:30:00+00:00", "2026-07-12T06:30:00+00:00"],
    ),
    (  # dom and dow both restricted: the 13th OR any Friday (13 April 2026 is a Monday)
        "0 0 13 * FRI",
        "UTC",
        "2026-04-01T00:00:00+00:00",
        [
            "2026-04-03T00:00:00+00:00",
            "2026-04-10T00:00:00+00:00",
            "2026-04-13T00:00:00+00:00",
            "2026-04-17T00:00:00+00:00",
        ],
    ),
    ("0 12 * * 7", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-04T12:00:00+00:00"]),  # 7 = Sun
    ("0 12 * * 0", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-04T12:00:00+00:00"]),  # 0 = Sun
    (  # wrap-around range Fri..Mon
        "0 8 * * FRI-MON",
        "UTC",
        "2026-01-01T09:00:00+00:00",
        [
            "2026-01-02T08:00:00+00:00",
            "2026-01-03T08:00:00+00:00",
            "2026-01-04T08:00:00+00:00",
            "2026-01-05T08:00:00+00:00",
            "2026-01-09T08:00:00+00:00",
        ],
    ),
    (
        "0 0 1 * *",
        "UTC",
        "2026-01-15T00:00:00+00:00",
        ["2026-02-01T00:00:00+00:00", "2026-03-01T00:00:00+00:00"],
    ),
    ("@hourly", "UTC", "2026-01-01T00:30:00+00:00", ["2026-01-01T01:00:00+00:00"]),
    (  # evaluated in the trigger's zone, half-hour offset included
        "15 10 * * *",
        "Asia/Kolkata",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-01T10:15:00+05:30", "2026-01-02T10:15:00+05:30"],
    ),
]


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), UNIX)
def test_unix_cron(expr: str, tz: str, after: str, expected: list[str]) -> None:
    check(CronTrigger(expr, tz), after, expected)


# --- Quartz 6/7-field ----------------------------------------------------------------------------

QUARTZ = [
    (
        "*/20 * * * * ?",
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-01T00:00:20+00:00", "2026-01-01T00:00:40+00:00", "2026-01-01T00:01:00+00:00"],
    ),
    (  # seconds field; a fire at after_ms itself is not returned
        "15 30 10 * * ?",
        "UTC",
        "2026-01-01T10:30:15+00:00",
        ["2026-01-02T10:30:15+00:00"],
    ),
    (  # first Monday (2 = Monday) at noon, Paris: CET then CEST
        "0 0 12 ? * 2#1",
        "Europe/Paris",
        "2026-01-01T00:00:00+00:00",
        [
            "2026-01-05T12:00:00+01:00",
            "2026-02-02T12:00:00+01:00",
            "2026-03-02T12:00:00+01:00",
            "2026-04-06T12:00:00+02:00",
        ],
    ),
    (
        "0 0 10 L * ?",
        "UTC",
        "2026-02-01T00:00:00+00:00",
        ["2026-02-28T10:00:00+00:00", "2026-03-31T10:00:00+00:00", "2026-04-30T10:00:00+00:00"],
    ),
    (
        "0 0 10 L-2 * ?",
        "UTC",
        "2026-02-01T00:00:00+00:00",
        ["2026-02-26T10:00:00+00:00", "2026-03-29T10:00:00+00:00", "2026-04-28T10:00:00+00:00"],
    ),
    (  # 15 Feb/Mar 2026 are Sundays -> Monday 16; 15 Apr is a Wednesday
        "0 0 9 15W * ?",
        "UTC",
        "2026-02-01T00:00:00+00:00",
        ["2026-02-16T09:00:00+00:00", "2026-03-16T09:00:00+00:00", "2026-04-15T09:00:00+00:00"],
    ),
    (  # 15 Aug 2026 is a Saturday -> Friday 14
        "0 0 9 15W * ?",
        "UTC",
        "2026-08-01T00:00:00+00:00",
        ["2026-08-14T09:00:00+00:00"],
    ),
    (  # 1 Aug 2026 is a Saturday: 1W cannot go back into July -> Monday 3
        "0 0 9 1W * ?",
        "UTC",
        "2026-07-15T00:00:00+00:00",
        ["2026-08-03T09:00:00+00:00", "2026-09-01T09:00:00+00:00"],
    ),
    (  # last weekday: Feb 28 2026 is a Saturday, May 31 a Sunday
        "0 0 9 LW * ?",
        "UTC",
        "2026-02-01T00:00:00+00:00",
        ["2026-02-27T09:00:00+00:00", "2026-03-31T09:00:00+00:00", "2026-04-30T09:00:00+00:00"],
    ),
    (
        "0 0 9 LW * ?",
        "UTC",
        "2026-05-15T00:00:00+00:00",
        ["2026-05-29T09:00:00+00:00", "2026-06-30T09:00:00+00:00"],
    ),
    (  # third Friday (6 = Friday)
        "0 0 18 ? * 6#3",
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-16T18:00:00+00:00", "2026-02-20T18:00:00+00:00", "2026-03-20T18:00:00+00:00"],
    ),
    (  # last Friday
        "0 0 18 ? * 6L",
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-30T18:00:00+00:00", "2026-02-27T18:00:00+00:00", "2026-03-27T18:00:00+00:00"],
    ),
    (  # L alone in day-of-week = Saturday
        "0 0 8 ? * L",
        "UTC",
        "2026-05-15T00:00:00+00:00",
        ["2026-05-16T08:00:00+00:00", "2026-05-23T08:00:00+00:00"],
    ),
    (  # 1 = Sunday in Quartz
        "0 0 8 ? * 1",
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-04T08:00:00+00:00", "2026-01-11T08:00:00+00:00"],
    ),
    ("0 0 8 ? * SUN", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-04T08:00:00+00:00"]),
    ("0 0 8 ? * 7", "UTC", "2026-01-01T00:00:00+00:00", ["2026-01-03T08:00:00+00:00"]),  # Sat
    (  # 2-6 = Monday..Friday
        "0 0 8 ? * 2-6",
        "UTC",
        "2026-01-02T09:00:00+00:00",
        ["2026-01-05T08:00:00+00:00", "2026-01-06T08:00:00+00:00"],
    ),
    (  # 2/2 = Monday, Wednesday, Friday
        "0 30 9 ? * 2/2",
        "UTC",
        "2026-01-04T00:00:00+00:00",
        [
            "2026-01-05T09:30:00+00:00",
            "2026-01-07T09:30:00+00:00",
            "2026-01-09T09:30:00+00:00",
            "2026-01-12T09:30:00+00:00",
        ],
    ),
    (  # year field
        "0 0 0 1 1 ? 2027-2028",
        "UTC",
        "2026-05-15T00:00:00+00:00",
        ["2027-01-01T00:00:00+00:00", "2028-01-01T00:00:00+00:00"],
    ),
    (
        "0 0 12 1 JAN,JUL ? 2026,2030",
        "UTC",
        "2026-03-01T00:00:00+00:00",
        ["2026-07-01T12:00:00+00:00", "2030-01-01T12:00:00+00:00", "2030-07-01T12:00:00+00:00"],
    ),
]


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), QUARTZ)
def test_quartz_cron(expr: str, tz: str, after: str, expected: list[str]) -> None:
    check(CronTrigger(expr, tz), after, expected)


def test_year_range_ends() -> None:
    trigger = CronTrigger("0 0 0 1 1 ? 2027-2028")
    assert fires(trigger, "2026-05-15T00:00:00+00:00", 10) == [
        ms("2027-01-01T00:00:00+00:00"),
        ms("2028-01-01T00:00:00+00:00"),
    ]
    assert next_fire(trigger, ms("2028-01-01T00:00:00+00:00")) is None
    assert next_fire(trigger, ms("2031-06-01T00:00:00+00:00")) is None


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


# --- calendar (task scheduler repeat_items) ------------------------------------------------------

DOC_EXAMPLE = CalendarTrigger(
    items=tuple(
        RepeatItem(weekday=wd, hour=20, minute=0, start="2015-05-06") for wd in (4, 5, 6, 0)
    ),
    timezone="America/Chicago",
)


def test_calendar_document_example() -> None:
    # 2015-05-06 (the start) is a Wednesday: the first fire is Thursday the 7th, 20:00 CDT.
    check(
        DOC_EXAMPLE,
        "2015-01-01T00:00:00+00:00",
        [
            "2015-05-07T20:00:00-05:00",
            "2015-05-08T20:00:00-05:00",
            "2015-05-09T20:00:00-05:00",
            "2015-05-10T20:00:00-05:00",
            "2015-05-14T20:00:00-05:00",
        ],
    )


def test_calendar_document_example_only_thu_to_sun_at_20() -> None:
    chicago = zone("America/Chicago")
    got = fires(DOC_EXAMPLE, "2015-11-01T00:00:00+00:00", 40)  # across the November fall-back
    local = [datetime.fromtimestamp(g / 1000, chicago) for g in got]
    assert {moment.strftime("%a %H:%M:%S") for moment in local} == {
        "Thu 20:00:00",
        "Fri 20:00:00",
        "Sat 20:00:00",
        "Sun 20:00:00",
    }
    assert len({moment.date() for moment in local}) == 40  # one fire per day, none repeated


CALENDAR = [
    (  # week 2 + weekday 2 = the second Tuesday (days 8-14)
        [RepeatItem(week=2, weekday=2, hour=9, minute=0)],
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-13T09:00:00+00:00", "2026-02-10T09:00:00+00:00", "2026-03-10T09:00:00+00:00"],
    ),
    (  # week 5 = days 29-31; February 2026 has none
        [RepeatItem(week=5, hour=12, minute=0)],
        "UTC",
        "2026-01-28T00:00:00+00:00",
        [
            "2026-01-29T12:00:00+00:00",
            "2026-01-30T12:00:00+00:00",
            "2026-01-31T12:00:00+00:00",
            "2026-03-29T12:00:00+00:00",
        ],
    ),
    (  # day AND weekday: Friday the 13th only
        [RepeatItem(day=13, weekday=5, hour=0, minute=0)],
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2026-02-13T00:00:00+00:00", "2026-03-13T00:00:00+00:00", "2026-11-13T00:00:00+00:00"],
    ),
    (  # start and end dates are inclusive, in the trigger's zone
        [RepeatItem(hour=8, minute=0, start="2026-03-10", end="2026-03-12")],
        "Asia/Tokyo",
        "2026-03-01T00:00:00+00:00",
        ["2026-03-10T08:00:00+09:00", "2026-03-11T08:00:00+09:00", "2026-03-12T08:00:00+09:00"],
    ),
    (  # minute None = every minute of hour 8
        [RepeatItem(hour=8)],
        "UTC",
        "2026-01-01T08:58:00+00:00",
        ["2026-01-01T08:59:00+00:00", "2026-01-02T08:00:00+00:00", "2026-01-02T08:01:00+00:00"],
    ),
    (  # year + month + day
        [RepeatItem(year=2028, month=2, day=29, hour=0, minute=0)],
        "UTC",
        "2026-01-01T00:00:00+00:00",
        ["2028-02-29T00:00:00+00:00"],
    ),
    (  # a union: two items at the same instant fire once
        [RepeatItem(hour=7, minute=0), RepeatItem(weekday=1, hour=7, minute=0)],
        "UTC",
        "2026-01-04T12:00:00+00:00",
        ["2026-01-05T07:00:00+00:00", "2026-01-06T07:00:00+00:00"],
    ),
    (  # the DST rule applies to calendar items too
        [RepeatItem(hour=2, minute=30)],
        BERLIN,
        "2026-03-28T00:00:00+00:00",
        ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
    ),
]


@pytest.mark.parametrize(("items", "tz", "after", "expected"), CALENDAR)
def test_calendar(items: list[RepeatItem], tz: str, after: str, expected: list[str]) -> None:
    check(CalendarTrigger(tuple(items), tz), after, expected)


def test_calendar_end_date_stops_it() -> None:
    trigger = CalendarTrigger((RepeatItem(hour=8, minute=0, start="2026-03-10", end="2026-03-12"),))
    assert next_fire(trigger, ms("2026-03-12T08:00:00+00:00")) is None
    assert next_fire(trigger, ms("2026-03-12T07:59:59+00:00")) == ms("2026-03-12T08:00:00+00:00")


def test_calendar_interval_minutes() -> None:
    item = RepeatItem(interval_min=90, start="2026-03-10", end="2026-03-10")
    trigger = CalendarTrigger((item,), BERLIN)
    got = list(iter_fires(trigger, ms("2026-01-01T00:00:00+00:00")))
    assert len(got) == 16  # 00:00, 01:30, ... 22:30 local on 2026-03-10
    assert got[:2] == [ms("2026-03-10T00:00:00+01:00"), ms("2026-03-10T01:30:00+01:00")]
    assert got[-1] == ms("2026-03-10T22:30:00+01:00")


def test_calendar_interval_without_dates_starts_at_1970_local_midnight() -> None:
    trigger = CalendarTrigger((RepeatItem(interval_min=60),), "Asia/Kolkata")
    # anchored at 1970-01-01T00:00+05:30, so every hour falls on :30 UTC
    check(trigger, "2026-01-01T00:00:00+00:00", ["2026-01-01T00:30:00+00:00"])


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


# --- DST: the 2026 transitions -------------------------------------------------------------------

DST = [
    # daily 02:30: 03:00 local on the spring-forward day, 02:30 on the days around it
    (
        "30 2 * * *",
        NY,
        "2026-03-07T00:00:00-05:00",
        ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    ),
    (
        "0 30 2 * * ?",
        NY,
        "2026-03-07T00:00:00-05:00",
        ["2026-03-07T02:30:00-05:00", "2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
    ),
    (
        "30 2 * * *",
        BERLIN,
        "2026-03-28T00:00:00+01:00",
        ["2026-03-28T02:30:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-30T02:30:00+02:00"],
    ),
    # every 15 minutes across the gap: 02:00, 02:15, 02:30, 02:45 all collapse onto 03:00
    (
        "*/15 * * * *",
        NY,
        "2026-03-08T01:20:00-05:00",
        [
            "2026-03-08T01:30:00-05:00",
            "2026-03-08T01:45:00-05:00",
            "2026-03-08T03:00:00-04:00",
            "2026-03-08T03:15:00-04:00",
            "2026-03-08T03:30:00-04:00",
        ],
    ),
    (
        "*/15 * * * *",
        BERLIN,
        "2026-03-29T01:40:00+01:00",
        ["2026-03-29T01:45:00+01:00", "2026-03-29T03:00:00+02:00", "2026-03-29T03:15:00+02:00"],
    ),
    # daily in the repeated hour: once, at the first occurrence
    (
        "30 1 * * *",
        NY,
        "2026-10-31T12:00:00-04:00",
        ["2026-11-01T01:30:00-04:00", "2026-11-02T01:30:00-05:00"],
    ),
    (
        "30 2 * * *",
        BERLIN,
        "2026-10-24T12:00:00+02:00",
        ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"],
    ),
    # every minute through the fall-back: no second pass, straight on to the end of the range
    (
        "* * * * *",
        NY,
        "2026-11-01T01:58:00-04:00",
        ["2026-11-01T01:59:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T02:01:00-05:00"],
    ),
    (
        "* * * * *",
        BERLIN,
        "2026-10-25T02:58:00+02:00",
        ["2026-10-25T02:59:00+02:00", "2026-10-25T03:00:00+01:00", "2026-10-25T03:01:00+01:00"],
    ),
    # after_ms inside the second pass: a strictly later instant, never the first pass again
    ("* * * * *", NY, "2026-11-01T01:30:00-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("* * * * *", NY, "2026-11-01T01:00:00-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("*/20 * * * * ?", NY, "2026-11-01T01:59:50-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("30 1 * * *", NY, "2026-11-01T01:15:00-05:00", ["2026-11-02T01:30:00-05:00"]),
    ("30 1 * * *", NY, "2026-11-01T01:15:00-04:00", ["2026-11-01T01:30:00-04:00"]),  # first pass
    ("0 * * * *", NY, "2026-11-01T01:00:00-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("* * * * *", BERLIN, "2026-10-25T02:15:00+01:00", ["2026-10-25T03:00:00+01:00"]),
    # a 30-minute DST shift (Lord Howe, 2026-10-04 02:00 -> 02:30)
    (
        "*/10 * * * *",
        "Australia/Lord_Howe",
        "2026-10-04T01:45:00+10:30",
        ["2026-10-04T01:50:00+10:30", "2026-10-04T02:30:00+11:00", "2026-10-04T02:40:00+11:00"],
    ),
]


@pytest.mark.parametrize(("expr", "tz", "after", "expected"), DST)
def test_dst(expr: str, tz: str, after: str, expected: list[str]) -> None:
    check(CronTrigger(expr, tz), after, expected)


@pytest.mark.parametrize(
    ("tz", "start", "end", "second_pass"),
    [
        (
            NY,
            "2026-11-01T00:30:00-04:00",
            "2026-11-01T03:00:00-05:00",
            ("2026-11-01T01:00:00-05:00", "2026-11-01T02:00:00-05:00"),
        ),
        (
            BERLIN,
            "2026-10-25T01:30:00+02:00",
            "2026-10-25T04:00:00+01:00",
            ("2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"),
        ),
    ],
)
def test_every_minute_through_fall_back(
    tz: str, start: str, end: str, second_pass: tuple[str, str]
) -> None:
    got = list(
        takewhile(lambda f: f <= ms(end), iter_fires(CronTrigger("* * * * *", tz), ms(start)))
    )
    assert all(a < b for a, b in zip(got, got[1:], strict=False))  # never backwards, no repeats
    lo, hi = ms(second_pass[0]), ms(second_pass[1])
    assert not [f for f in got if lo <= f < hi]  # nothing during the second pass
    assert hi in got and lo - 60_000 in got  # last minute of the first pass, then the range end
    assert len(got) == 150  # 89 + 61 minutes: the repeated hour is counted once


def test_no_duplicate_fires_across_the_gap() -> None:
    got = fires(CronTrigger("*/15 * * * *", NY), "2026-03-08T00:00:00-05:00", 12)
    assert len(set(got)) == len(got)
    assert got.count(ms("2026-03-08T03:00:00-04:00")) == 1


# --- zones, instants and the DST rule itself -----------------------------------------------------


@pytest.mark.parametrize(
    ("local", "tz", "expected"),
    [
        (datetime(2026, 6, 1, 12, 0), "UTC", "2026-06-01T12:00:00+00:00"),
        (datetime(2026, 3, 8, 1, 59, 59), NY, "2026-03-08T06:59:59+00:00"),
        (datetime(2026, 3, 8, 2, 0), NY, "2026-03-08T07:00:00+00:00"),  # gap -> its end
        (datetime(2026, 3, 8, 2, 30), NY, "2026-03-08T07:00:00+00:00"),
        (datetime(2026, 3, 8, 3, 0), NY, "2026-03-08T07:00:00+00:00"),
        (datetime(2026, 11, 1, 1, 30), NY, "2026-11-01T05:30:00+00:00"),  # first occurrence
        (datetime(2026, 11, 1, 1, 30, fold=1), NY, "2026-11-01T05:30:00+00:00"),  # fold ignored
        (datetime(2026, 11, 1, 2, 0), NY, "2026-11-01T07:00:00+00:00"),
        (datetime(2026, 3, 29, 2, 30), BERLIN, "2026-03-29T01:00:00+00:00"),
        (datetime(2026, 10, 25, 2, 30), BERLIN, "2026-10-25T00:30:00+00:00"),
        (datetime(2026, 10, 4, 2, 15), "Australia/Lord_Howe", "2026-10-03T15:30:00+00:00"),
    ],
)
def test_local_to_utc_ms(local: datetime, tz: str, expected: str) -> None:
    assert local_to_utc_ms(local, zone(tz)) == ms(expected)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-23T10:00:00Z", "2026-11-23T10:00:00+00:00"),
        ("2026-11-23T11:00:00+01:00", "2026-11-23T10:00:00+00:00"),
        ("2026-11-23T05:00:00-05:00", "2026-11-23T10:00:00+00:00"),
        ("2026-11-23T10:00:00", "2026-11-23T10:00:00+00:00"),  # naive = UTC
        ("2026-11-23T10:00:00.250Z", "2026-11-23T10:00:00.250+00:00"),
    ],
)
def test_parse_iso8601(text: str, expected: str) -> None:
    assert parse_iso8601(text) == ms(expected)


@pytest.mark.parametrize("text", ["", "tomorrow", "2026-13-01T00:00:00Z", "2026-02-30T00:00Z", 5])
def test_parse_iso8601_rejects(text) -> None:
    with pytest.raises(InvalidTrigger, match="when"):
        parse_iso8601(text, field="when")


@pytest.mark.parametrize(
    ("instant", "expected"),
    [
        ("2026-11-23T10:00:00+00:00", "2026-11-23T10:00:00Z"),
        ("2026-11-23T11:00:00+01:00", "2026-11-23T10:00:00Z"),
        ("2026-11-23T10:00:00.007+00:00", "2026-11-23T10:00:00.007Z"),
        ("1970-01-01T00:00:00+00:00", "1970-01-01T00:00:00Z"),
        ("1969-12-31T23:59:59.999+00:00", "1969-12-31T23:59:59.999Z"),
    ],
)
def test_format_iso_utc(instant: str, expected: str) -> None:
    assert format_iso_utc(ms(instant)) == expected


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../etc/passwd", "America"])
def test_zone_rejects_unknown(name: str) -> None:
    with pytest.raises(InvalidTrigger, match=re.escape(repr(name))):
        zone(name)


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
