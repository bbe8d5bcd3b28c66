"""Tables for ``shared/timing/calendar.py``: the task scheduler's repeat items.

Every expected instant is a literal date-time with its offset, read by the standard
library (see tests/timing_support.py), never by the code under test.
"""

from __future__ import annotations

from datetime import datetime

import pytest

from shared.model import (
    CalendarTrigger,
    RepeatItem,
)
from shared.timing import (
    iter_fires,
    next_fire,
    zone,
)
from tests.timing_support import BERLIN, DOC_EXAMPLE, check, fires, ms

# --- calendar (task scheduler repeat_items) ------------------------------------------------------


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
