"""The DST policies against a brute-force reference: around every offset change of a few zones,
the fires of ``shared.timing`` equal those of cronie's main loop re-enacted minute by minute
(``dst="cron"``) and of "each real minute whose wall time matches, the first time" (``dst="skip"``).
See tests/cronie_reference.py.
"""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from shared.model import CronTrigger
from shared.timing import format_iso_utc, iter_fires, next_fire
from tests.cronie_reference import MINUTE_MS, cronie_fires, parse, skip_fires, transitions

CRONS = [
    "* * * * *",
    "*/30 * * * *",
    "5 * * * *",
    "15 */2 * * *",
    "*/7 2 * * *",
    "30 2 * * *",
    "0,30 1-3 * * *",
    "30 0-4 * * *",
    "0 0 * * *",
    "45 23 * * *",
    "10 1 * * SUN",
    "0 0,12 */2 * SUN",
]
# (zone, year): New York and Paris (1 hour), Lord Howe (30 minutes), Santiago (at midnight),
# Troll (2 hours), Apia in 2011 (1 hour, and 24 hours forward: 30 December skipped)
ZONES = [
    ("America/New_York", 2026),
    ("Europe/Paris", 2026),
    ("Australia/Lord_Howe", 2026),
    ("America/Santiago", 2026),
    ("Antarctica/Troll", 2026),
    ("Pacific/Apia", 2011),
]
_AROUND_MS = 10 * 60 * MINUTE_MS  # each side of a transition


def _ms(year: int) -> int:
    return int(datetime(year, 1, 1, tzinfo=UTC).timestamp()) * 1000


def _ours(trigger: CronTrigger, start_ms: int, end_ms: int) -> list[int]:
    """Fires in (start_ms, end_ms], by ``iter_fires`` and by repeated ``next_fire`` alike."""
    by_iter = []
    for fire_ms in iter_fires(trigger, start_ms):
        if fire_ms > end_ms:
            break
        by_iter.append(fire_ms)
    by_next = []
    fire: int | None = start_ms
    while (fire := next_fire(trigger, fire)) is not None and fire <= end_ms:  # type: ignore[arg-type]
        by_next.append(fire)
    assert by_iter == by_next
    return by_iter


def _iso(instants: list[int]) -> list[str]:
    return [format_iso_utc(i) for i in instants]


@pytest.mark.parametrize(("zone", "year"), ZONES)
def test_policies_match_the_reference_around_each_transition(zone: str, year: int) -> None:
    tz = ZoneInfo(zone)
    found = transitions(tz, _ms(year), _ms(year + 1))
    assert len(found) >= 2, found
    for switch_ms in found:
        start_ms, end_ms = switch_ms - _AROUND_MS, switch_ms + _AROUND_MS
        for expr in CRONS:
            entry = parse(expr)
            expected = cronie_fires(entry, tz, start_ms, end_ms)
            assert _iso(_ours(CronTrigger(expr, zone), start_ms, end_ms)) == _iso(expected), (
                expr,
                format_iso_utc(switch_ms),
            )
            expected = skip_fires(entry, tz, start_ms, end_ms)
            got = _ours(CronTrigger(expr, zone, dst="skip"), start_ms, end_ms)
            assert _iso(got) == _iso(expected), (expr, "skip", format_iso_utc(switch_ms))


def test_the_reference_sees_the_gap_and_the_repeat() -> None:
    """The reference is worth its name: in New York, cronie's loop fires a fixed 02:30 at 03:00
    on the spring-forward day and a wildcard every-30-minutes in both passes in November."""
    tz = ZoneInfo("America/New_York")
    spring = int(datetime(2026, 3, 8, 7, tzinfo=UTC).timestamp()) * 1000  # 03:00 EDT
    assert cronie_fires(parse("30 2 * * *"), tz, spring - 3_600_000, spring + 60_000) == [spring]
    autumn = int(datetime(2026, 11, 1, 5, tzinfo=UTC).timestamp()) * 1000  # 01:00 EDT
    got = cronie_fires(parse("*/30 * * * *"), tz, autumn - MINUTE_MS, autumn + 7_200_000)
    assert [(f - autumn) // MINUTE_MS for f in got] == [0, 30, 60, 90, 120]
