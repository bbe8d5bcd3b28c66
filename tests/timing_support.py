"""Helpers for the ``shared.timing`` tables (tests/test_timing*.py).

Every expected instant is a literal date-time with its offset. The literals are read by the
standard library (``datetime.fromisoformat``), never by the code under test, so a wrong offset or a
wrong day in ``shared.timing`` cannot hide behind its own arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shared.model import CalendarTrigger, RepeatItem
from shared.timing import format_iso_utc, iter_fires

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


# The task scheduler document's own example of repeat items (calendar and validation tables).
DOC_EXAMPLE = CalendarTrigger(
    items=tuple(
        RepeatItem(weekday=wd, hour=20, minute=0, start="2015-05-06") for wd in (4, 5, 6, 0)
    ),
    timezone="America/Chicago",
)
