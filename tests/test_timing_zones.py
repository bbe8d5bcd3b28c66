"""Tables for ``shared/timing/zones.py``: the 2026 DST transitions, THE DST RULE itself,
zones, ISO 8601 reading and writing.

Every expected instant is a literal date-time with its offset, read by the standard
library (see tests/timing_support.py), never by the code under test.
"""

from __future__ import annotations

import re
from datetime import datetime

import pytest

from shared.errors import InvalidTrigger
from shared.model import (
    CronTrigger,
)
from shared.timing import (
    format_iso_utc,
    local_to_utc_ms,
    parse_iso8601,
    zone,
)
from tests.timing_support import BERLIN, NY, check, fires, ms

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
    # every minute through the fall-back: a wildcard cron runs in real time, both passes
    (
        "* * * * *",
        NY,
        "2026-11-01T01:58:00-04:00",
        ["2026-11-01T01:59:00-04:00", "2026-11-01T01:00:00-05:00", "2026-11-01T01:01:00-05:00"],
    ),
    (
        "* * * * *",
        BERLIN,
        "2026-10-25T02:58:00+02:00",
        ["2026-10-25T02:59:00+02:00", "2026-10-25T02:00:00+01:00", "2026-10-25T02:01:00+01:00"],
    ),
    # after_ms inside the second pass: a strictly later instant, never the first pass again
    ("* * * * *", NY, "2026-11-01T01:30:00-05:00", ["2026-11-01T01:31:00-05:00"]),
    ("* * * * *", NY, "2026-11-01T01:59:00-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("*/20 * * * * ?", NY, "2026-11-01T01:59:50-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("30 1 * * *", NY, "2026-11-01T01:15:00-05:00", ["2026-11-02T01:30:00-05:00"]),
    ("30 1 * * *", NY, "2026-11-01T01:15:00-04:00", ["2026-11-01T01:30:00-04:00"]),  # first pass
    ("0 * * * *", NY, "2026-11-01T01:00:00-05:00", ["2026-11-01T02:00:00-05:00"]),
    ("* * * * *", BERLIN, "2026-10-25T02:15:00+01:00", ["2026-10-25T02:16:00+01:00"]),
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
