"""The DST policies against a brute-force reference: around every offset change of a few zones,
the fires of ``shared.timing`` equal those of cronie's main loop re-enacted minute by minute
(``dst="cron"``) and of "each real minute whose wall time matches, the first time" (``dst="skip"``).
See tests/cronie_reference.py.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.model import CronTrigger
from shared.timing import format_iso_utc, iter_fires, next_fire
from tests.cronie_reference import (
    MINUTE_MS,
    cronie_fires,
    parse,
    seconds_fires,
    skip_fires,
    transitions,
)

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


def _check(trigger: CronTrigger, start_ms: int, end_ms: int, expected: list[int]) -> None:
    """Our fires in (start_ms, end_ms] are the reference's, and so is the next fire after any
    instant in between (a few drawn at random, to the millisecond: passes, gaps, fractions)."""
    assert _iso(_ours(trigger, start_ms, end_ms)) == _iso(expected), trigger
    rng = random.Random(repr(trigger))
    for after_ms in (rng.randrange(start_ms, expected[-1]) for _ in range(20) if expected):
        following = next(f for f in expected if f > after_ms)
        assert next_fire(trigger, after_ms) == following, (trigger, format_iso_utc(after_ms))


def _iso(instants: list[int]) -> list[str]:
    return [format_iso_utc(i) for i in instants]


@pytest.mark.parametrize(("zone", "year"), ZONES)
def test_policies_match_the_reference_around_each_transition(zone: str, year: int) -> None:
    tz = ZoneInfo(zone)
    found = transitions(tz, _ms(year), _ms(year + 1))
    assert len(found) >= 2, found
    for switch_ms in found:
        window = start_ms, end_ms = switch_ms - _AROUND_MS, switch_ms + _AROUND_MS
        for expr in CRONS:
            entry = parse(expr)
            _check(CronTrigger(expr, zone), start_ms, end_ms, cronie_fires(entry, tz, *window))
            skip = CronTrigger(expr, zone, dst="skip")
            _check(skip, start_ms, end_ms, skip_fires(entry, tz, *window))


def test_the_reference_sees_the_gap_and_the_repeat() -> None:
    """The reference is worth its name: in New York, cronie's loop fires a fixed 02:30 at 03:00
    on the spring-forward day and a wildcard every-30-minutes in both passes in November."""
    tz = ZoneInfo("America/New_York")
    spring = int(datetime(2026, 3, 8, 7, tzinfo=UTC).timestamp()) * 1000  # 03:00 EDT
    assert cronie_fires(parse("30 2 * * *"), tz, spring - 3_600_000, spring + 60_000) == [spring]
    autumn = int(datetime(2026, 11, 1, 5, tzinfo=UTC).timestamp()) * 1000  # 01:00 EDT
    got = cronie_fires(parse("*/30 * * * *"), tz, autumn - MINUTE_MS, autumn + 7_200_000)
    assert [(f - autumn) // MINUTE_MS for f in got] == [0, 30, 60, 90, 120]


def _random_field(rng: random.Random, low: int, high: int, hot: tuple[int, int]) -> str:
    """One field as a person writes it; ``hot`` is where the transitions are (hours 0-4)."""
    a, b = sorted(rng.randint(*hot) for _ in range(2))
    k = rng.randint(2, 7)
    return rng.choice(
        ["*", f"*/{k}", f"{a}", f"{a},{b}", f"{a}-{b}", f"{a}-{b}/{k}", f"{a}/{k}", f"{low}-{high}"]
    )


def _random_cron(rng: random.Random) -> str:
    minute = _random_field(rng, 0, 59, (0, 59))
    hour = _random_field(rng, 0, 23, (0, 4))
    dom = rng.choice(["*", "*", "*", "*/2", "1-15", "4,5,6"])
    dow = rng.choice(["*", "*", "*", "SUN", "0-3", "*/2", "MON-FRI", "SAT,SUN"])
    return f"{minute} {hour} {dom} * {dow}"


@pytest.mark.parametrize(("zone", "year"), [ZONES[0], ZONES[2], ZONES[3]])
def test_random_crons_match_the_reference(zone: str, year: int) -> None:
    """Property: crons drawn at random (seeded, so a failure repeats) agree with the reference."""
    rng = random.Random(f"{zone}{year}")
    tz = ZoneInfo(zone)
    for switch_ms in transitions(tz, _ms(year), _ms(year + 1)):
        window = start_ms, end_ms = switch_ms - _AROUND_MS, switch_ms + _AROUND_MS
        for expr in (_random_cron(rng) for _ in range(16)):
            entry = parse(expr)
            _check(CronTrigger(expr, zone), start_ms, end_ms, cronie_fires(entry, tz, *window))
            skip = CronTrigger(expr, zone, dst="skip")
            _check(skip, start_ms, end_ms, skip_fires(entry, tz, *window))


QUARTZ = [
    "*/20 * * * * ?",
    "30 */15 * * * ?",
    "15 30 2 * * ?",
    "0,30 0 1-3 * * ?",
    "*/45 5 * * * ?",
]


@pytest.mark.parametrize("zone", ["America/New_York", "Australia/Lord_Howe"])
def test_quartz_crons_with_seconds_match_the_policies_second_by_second(zone: str) -> None:
    tz = ZoneInfo(zone)
    for switch_ms in transitions(tz, _ms(2026), _ms(2027)):
        window = start_ms, end_ms = switch_ms - 5_400_000, switch_ms + 5_400_000
        for expr in QUARTZ:
            for dst in ("cron", "skip"):
                expected = seconds_fires(expr, tz, dst, *window)
                trigger = CronTrigger(expr, zone, dst=dst)  # type: ignore[arg-type]
                _check(trigger, start_ms, end_ms, expected)


def test_random_day_fields_follow_vixie_cron_for_a_year() -> None:
    """Property: day-of-month and day-of-week drawn at random (seeded) pick, over 2026 and 2027,
    exactly the days the reference's Vixie rule picks (OR unless a field starts with '*')."""
    rng = random.Random("vixie")
    doms = ["*", "*/2", "*/10", "1-15", "13", "1,15,31", "10-20/3", "31"]
    dows = ["*", "*/2", "*/3", "FRI", "0", "7", "MON-FRI", "SAT,SUN", "1-5/2", "0-6"]
    start_ms, end_ms = _ms(2026), _ms(2028)
    for _ in range(40):
        expr = f"0 12 {rng.choice(doms)} {rng.choice(['*', '*', '2-11', 'FEB'])} {rng.choice(dows)}"
        entry = parse(expr)
        days = (datetime(2026, 1, 1, 12) + timedelta(days=d) for d in range(730))
        expected = [int(d.replace(tzinfo=UTC).timestamp()) * 1000 for d in days if entry.matches(d)]
        assert _iso(_ours(CronTrigger(expr), start_ms, end_ms)) == _iso(expected), expr
