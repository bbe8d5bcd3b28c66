"""Tables for the DST policies of a cron (``dst="cron"``, cronie's rule, and ``dst="skip"``),
Vixie cron's day-of-month / day-of-week rule and wrapping weekday ranges.

Every expected instant is a literal date-time with its offset, read by the standard library (see
tests/timing_support.py), never by the code under test. tests/test_timing_cronie.py checks the
same rules against a minute-by-minute re-enactment of cronie's main loop.
"""

from __future__ import annotations

from itertools import takewhile
from zoneinfo import _zoneinfo, available_timezones  # type: ignore[attr-defined]

import pytest

from shared.errors import InvalidTrigger
from shared.model import (
    CalendarTrigger,
    CronTrigger,
    RepeatItem,
    trigger_from_dict,
    trigger_to_dict,
)
from shared.timing import iter_fires, validate_trigger
from tests.timing_support import BERLIN, NY, check, ms

LORD_HOWE = "Australia/Lord_Howe"
SANTIAGO = "America/Santiago"

# (cron, zone, after, fires under dst="cron", fires under dst="skip")
POLICIES = [
    (  # fixed time in the gap: cron fires at the gap's end, skip leaves the day out
        "30 2 * * *",
        NY,
        "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
        ["2026-03-09T02:30:00-04:00"],
    ),
    (  # the hour field starts with '*': a wildcard cron, nothing at 02:05 that does not exist
        "5 * * * *",
        NY,
        "2026-03-08T00:30:00-05:00",
        ["2026-03-08T01:05:00-05:00", "2026-03-08T03:05:00-04:00"],
        ["2026-03-08T01:05:00-05:00", "2026-03-08T03:05:00-04:00"],
    ),
    (  # wildcard through the fall-back: both passes of the repeated hour under cron
        "*/30 * * * *",
        NY,
        "2026-11-01T00:45:00-04:00",
        [
            "2026-11-01T01:00:00-04:00",
            "2026-11-01T01:30:00-04:00",
            "2026-11-01T01:00:00-05:00",
            "2026-11-01T01:30:00-05:00",
            "2026-11-01T02:00:00-05:00",
        ],
        ["2026-11-01T01:00:00-04:00", "2026-11-01T01:30:00-04:00", "2026-11-01T02:00:00-05:00"],
    ),
    (  # fixed time in the repeated hour: once, the first time, under both
        "0 1-3 * * *",
        NY,
        "2026-11-01T00:00:00-04:00",
        ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"],
        ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00", "2026-11-01T03:00:00-05:00"],
    ),
    (  # @hourly is 0 * * * *: a wildcard cron, as in cronie
        "@hourly",
        BERLIN,
        "2026-10-25T01:30:00+02:00",
        ["2026-10-25T02:00:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T03:00:00+01:00"],
        ["2026-10-25T02:00:00+02:00", "2026-10-25T03:00:00+01:00"],
    ),
    (  # a 30-minute gap (02:00 -> 02:30)
        "15 2 * * *",
        LORD_HOWE,
        "2026-10-03T12:00:00+10:30",
        ["2026-10-04T02:30:00+11:00", "2026-10-05T02:15:00+11:00"],
        ["2026-10-05T02:15:00+11:00"],
    ),
    (  # a 30-minute repeat (02:00 -> 01:30)
        "*/10 * * * *",
        LORD_HOWE,
        "2026-04-05T01:35:00+11:00",
        [
            "2026-04-05T01:40:00+11:00",
            "2026-04-05T01:50:00+11:00",
            "2026-04-05T01:30:00+10:30",
            "2026-04-05T01:40:00+10:30",
            "2026-04-05T01:50:00+10:30",
            "2026-04-05T02:00:00+10:30",
        ],
        ["2026-04-05T01:40:00+11:00", "2026-04-05T01:50:00+11:00", "2026-04-05T02:00:00+10:30"],
    ),
    (  # midnight does not exist on 6 September 2026 in Santiago (00:00 -> 01:00)
        "@daily",
        SANTIAGO,
        "2026-09-05T12:00:00-04:00",
        ["2026-09-06T01:00:00-03:00", "2026-09-07T00:00:00-03:00"],
        ["2026-09-07T00:00:00-03:00"],
    ),
    (  # Samoa skipped 30 December 2011: cronie runs nothing missed by a jump of over 3 hours
        "30 12 * * *",
        "Pacific/Apia",
        "2011-12-29T00:00:00-10:00",
        ["2011-12-29T12:30:00-10:00", "2011-12-31T12:30:00+14:00"],
        ["2011-12-29T12:30:00-10:00", "2011-12-31T12:30:00+14:00"],
    ),
    (  # Troll's 2-hour gap (01:00 -> 03:00): fixed times in it fire at its end
        "0 1,2 * * *",
        "Antarctica/Troll",
        "2026-03-28T12:00:00+00:00",
        ["2026-03-29T03:00:00+02:00", "2026-03-30T01:00:00+02:00"],
        ["2026-03-30T01:00:00+02:00"],
    ),
    (  # Quartz with seconds: minute and hour fixed, so a fixed-time cron
        "30 15 2 * * ?",
        NY,
        "2026-03-07T12:00:00-05:00",
        ["2026-03-08T03:00:00-04:00", "2026-03-09T02:15:30-04:00"],
        ["2026-03-09T02:15:30-04:00"],
    ),
    (  # Quartz, hour '*': a wildcard cron, second pass included
        "0 0/30 * * * ?",
        NY,
        "2026-11-01T01:30:00-04:00",
        ["2026-11-01T01:00:00-05:00", "2026-11-01T01:30:00-05:00", "2026-11-01T02:00:00-05:00"],
        ["2026-11-01T02:00:00-05:00"],
    ),
    (  # after an instant in the second pass: the second pass goes on, or is skipped
        "*/20 * * * *",
        NY,
        "2026-11-01T01:10:00-05:00",
        ["2026-11-01T01:20:00-05:00", "2026-11-01T01:40:00-05:00", "2026-11-01T02:00:00-05:00"],
        ["2026-11-01T02:00:00-05:00"],
    ),
]


@pytest.mark.parametrize(("expr", "tz", "after", "under_cron", "under_skip"), POLICIES)
def test_dst_policies(
    expr: str, tz: str, after: str, under_cron: list[str], under_skip: list[str]
) -> None:
    check(CronTrigger(expr, tz), after, under_cron)
    check(CronTrigger(expr, tz, dst="skip"), after, under_skip)


def _fires_between(trigger: CronTrigger | CalendarTrigger, start: str, end: str) -> list[int]:
    end_ms = ms(end)
    return list(takewhile(lambda f: f <= end_ms, iter_fires(trigger, ms(start))))


@pytest.mark.parametrize(("dst", "count"), [("cron", 210), ("skip", 150)])
def test_every_minute_through_fall_back(dst: str, count: int) -> None:
    got = _fires_between(
        CronTrigger("* * * * *", NY, dst=dst),  # type: ignore[arg-type]
        "2026-11-01T00:30:00-04:00",
        "2026-11-01T03:00:00-05:00",
    )
    assert all(a < b for a, b in zip(got, got[1:], strict=False))  # never backwards, no repeats
    second_pass = [
        f for f in got if ms("2026-11-01T01:00:00-05:00") <= f < ms("2026-11-01T02:00-05:00")
    ]
    assert len(second_pass) == (60 if dst == "cron" else 0)
    assert len(got) == count  # 89 + 61 minutes, and the repeated hour's 60 again under cron


def test_thirty_minutes_in_new_york_keep_firing_in_november() -> None:
    got = _fires_between(
        CronTrigger("*/30 * * * *", NY), "2026-10-31T23:00:00-04:00", "2026-11-01T04:00:00-05:00"
    )
    assert max(b - a for a, b in zip(got, got[1:], strict=False)) == 30 * 60_000
    assert len(got) == 12


@pytest.mark.parametrize(("dst", "count"), [("cron", 525_600), ("skip", 525_600 - 60)])
def test_every_minute_in_paris_fires_once_a_real_minute_in_2027(dst: str, count: int) -> None:
    got = _fires_between(
        CronTrigger("* * * * *", "Europe/Paris", dst=dst),  # type: ignore[arg-type]
        "2026-12-31T23:59:59+01:00",
        "2027-12-31T23:59:00+01:00",
    )
    assert len(got) == count and got[0] == ms("2027-01-01T00:00:00+01:00")


def test_dst_is_validated() -> None:
    with pytest.raises(
        InvalidTrigger, match="dst: must be one of cron, skip, got 'sometimes'"
    ) as e:
        validate_trigger(CronTrigger("* * * * *", NY, dst="sometimes"))  # type: ignore[arg-type]
    assert (e.value.field, e.value.reason) == ("dst", "must be one of cron, skip, got 'sometimes'")


def test_dst_is_stored_only_when_not_the_default() -> None:
    assert "dst" not in trigger_to_dict(CronTrigger("0 9 * * *", NY))
    skip = CronTrigger("0 9 * * *", NY, dst="skip")
    assert trigger_to_dict(skip)["dst"] == "skip"
    assert trigger_from_dict(trigger_to_dict(skip)) == skip
    assert trigger_from_dict({"kind": "cron", "expr": "0 9 * * *"}).dst == "cron"  # type: ignore[union-attr]


def test_no_zone_changes_its_offset_twice_within_three_days() -> None:
    """The next-fire search reads a day's offset at its two midnights (zones._steady_offset):
    that is exact only if no zone jumps and jumps back within a day. Checked on every zone's
    transition table (the pure-Python zoneinfo reads it) since 1970."""
    for name in sorted(available_timezones()):
        table = _zoneinfo.ZoneInfo.no_cache(name)._trans_utc
        close = [
            (a, b) for a, b in zip(table, table[1:], strict=False) if b > 0 and b - a < 3 * 86400
        ]
        assert not close, name


# --- Vixie cron's day rule, and weekday ranges that wrap ------------------------------------------

DAYS = [
    (  # day-of-month starts with '*': AND, odd days that are Mondays (5 Jan 2026 is a Monday)
        "0 0 */2 * MON",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-05T00:00:00+00:00", "2026-01-19T00:00:00+00:00", "2026-02-09T00:00:00+00:00"],
    ),
    (  # neither starts with '*': OR, odd days or Mondays
        "0 0 1-31/2 * MON",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-03T00:00:00+00:00", "2026-01-05T00:00:00+00:00", "2026-01-07T00:00:00+00:00"],
    ),
    (  # day-of-week starts with '*': AND, the 13th when a Sunday, Tuesday, Thursday or Saturday
        "0 0 13 * */2",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-13T00:00:00+00:00", "2026-06-13T00:00:00+00:00", "2026-08-13T00:00:00+00:00"],
    ),
    (  # FRI-MON/2: Friday and Sunday (2 Jan 2026 is a Friday)
        "0 8 * * FRI-MON/2",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-02T08:00:00+00:00", "2026-01-04T08:00:00+00:00", "2026-01-09T08:00:00+00:00"],
    ),
    (  # 6-0/2: Saturday only; Sunday is not counted twice
        "0 8 * * 6-0/2",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-03T08:00:00+00:00", "2026-01-10T08:00:00+00:00"],
    ),
    (
        "0 8 * * 6-0",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-03T08:00:00+00:00", "2026-01-04T08:00:00+00:00", "2026-01-10T08:00:00+00:00"],
    ),
    (  # 7-2: Sunday (written 7) to Tuesday
        "0 8 * * 7-2",
        "2026-01-01T00:00:00+00:00",
        [
            "2026-01-04T08:00:00+00:00",
            "2026-01-05T08:00:00+00:00",
            "2026-01-06T08:00:00+00:00",
            "2026-01-11T08:00:00+00:00",
        ],
    ),
    (  # Quartz FRI-MON/2 (6-2 in Quartz numbers): Friday and Sunday
        "0 0 8 ? * FRI-MON/2",
        "2026-01-01T00:00:00+00:00",
        ["2026-01-02T08:00:00+00:00", "2026-01-04T08:00:00+00:00", "2026-01-09T08:00:00+00:00"],
    ),
]


@pytest.mark.parametrize(("expr", "after", "expected"), DAYS)
def test_days(expr: str, after: str, expected: list[str]) -> None:
    check(CronTrigger(expr), after, expected)


# --- calendar items: the task scheduler's rule by default, a cron's policy when dst is set -------

CALENDAR = [
    (  # 02:30 every day: in New York's gap
        RepeatItem(hour=2, minute=30),
        "2026-03-07T12:00:00-05:00",
        {
            None: ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
            "cron": ["2026-03-08T03:00:00-04:00", "2026-03-09T02:30:00-04:00"],
            "skip": ["2026-03-09T02:30:00-04:00"],
        },
    ),
    (  # minute 0 of every hour (no hour: a wildcard item) through the fall-back
        RepeatItem(minute=0),
        "2026-11-01T00:30:00-04:00",
        {
            None: ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00"],
            "cron": [
                "2026-11-01T01:00:00-04:00",
                "2026-11-01T01:00:00-05:00",
                "2026-11-01T02:00:00-05:00",
            ],
            "skip": ["2026-11-01T01:00:00-04:00", "2026-11-01T02:00:00-05:00"],
        },
    ),
]


@pytest.mark.parametrize(("item", "after", "by_dst"), CALENDAR)
def test_calendar_dst(item: RepeatItem, after: str, by_dst: dict[str | None, list[str]]) -> None:
    for dst, expected in by_dst.items():
        check(CalendarTrigger(items=(item,), timezone=NY, dst=dst), after, expected)  # type: ignore[arg-type]


def test_calendar_dst_is_validated_and_stored_only_when_set() -> None:
    items = (RepeatItem(hour=9, minute=0),)
    with pytest.raises(InvalidTrigger, match="dst: must be one of cron, skip, got 'never'"):
        validate_trigger(CalendarTrigger(items=items, dst="never"))  # type: ignore[arg-type]
    assert "dst" not in trigger_to_dict(CalendarTrigger(items=items))
    cron = CalendarTrigger(items=items, timezone=NY, dst="cron")
    assert trigger_to_dict(cron)["dst"] == "cron"
    assert trigger_from_dict(trigger_to_dict(cron)) == cron


@pytest.mark.parametrize("dst", ["cron", "skip"])
@pytest.mark.parametrize(("hour", "minute"), [(2, 30), (1, 0), (None, 15), (1, None), (None, None)])
def test_calendar_item_with_dst_fires_as_the_same_cron(
    dst: str, hour: int | None, minute: int | None
) -> None:
    """An item of hour and minute is the cron ``minute hour * * *`` (``*`` where None), and under
    a dst it fires as that cron does, through New York's two changes of 2026."""
    item = CalendarTrigger(
        items=(RepeatItem(hour=hour, minute=minute),),
        timezone=NY,
        dst=dst,  # type: ignore[arg-type]
    )
    expr = f"{'*' if minute is None else minute} {'*' if hour is None else hour} * * *"
    cron = CronTrigger(expr, NY, dst=dst)  # type: ignore[arg-type]
    for start, end in (
        ("2026-03-07T22:00:00-05:00", "2026-03-08T06:00:00-04:00"),
        ("2026-10-31T22:00:00-04:00", "2026-11-01T06:00:00-05:00"),
    ):
        assert _fires_between(item, start, end) == _fires_between(cron, start, end)
