"""RFC 5545 rules (``RRuleTrigger``) and ISO 8601 durations: pure, with literal datetimes."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest
from dateutil.rrule import rrulestr

from shared.errors import InvalidTrigger
from shared.model import RRuleTrigger, trigger_from_dict, trigger_to_dict
from shared.timing import iter_fires, local_to_utc_ms, next_fire, parse_iso8601, validate_trigger
from shared.timing import zone as zone_of
from shared.timing.rrule import parse_duration_ms


def fires(rule: str, dtstart: str, timezone: str, after: str, count: int) -> list[str]:
    trigger = RRuleTrigger(rule, parse_iso8601(dtstart), timezone)
    validate_trigger(trigger)
    found = itertools.islice(iter_fires(trigger, parse_iso8601(after)), count)
    return [datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%dT%H:%MZ") for ms in found]


def test_first_monday_of_each_month_in_new_york_follows_its_offset() -> None:
    assert fires(
        "FREQ=MONTHLY;BYDAY=MO;BYSETPOS=1",
        "2027-01-01T09:00:00-05:00",
        "America/New_York",
        "2027-01-01T00:00:00Z",
        4,
    ) == ["2027-01-04T14:00Z", "2027-02-01T14:00Z", "2027-03-01T14:00Z", "2027-04-05T13:00Z"]


def test_a_daily_time_in_the_spring_gap_fires_once_at_the_end_of_the_gap() -> None:
    # 02:30 does not exist in Paris on 2027-03-28: it fires at 03:00 CEST (01:00Z)
    assert fires(
        "FREQ=DAILY", "2027-03-01T02:30:00+01:00", "Europe/Paris", "2027-03-26T12:00:00Z", 3
    ) == ["2027-03-27T01:30Z", "2027-03-28T01:00Z", "2027-03-29T00:30Z"]


def test_until_is_utc_and_count_ends_the_rule() -> None:
    assert fires(
        "FREQ=DAILY;UNTIL=20270103T090000Z", "2027-01-01T09:00:00Z", "UTC", "2026-01-01T00:00Z", 9
    ) == ["2027-01-01T09:00Z", "2027-01-02T09:00Z", "2027-01-03T09:00Z"]
    assert len(fires("FREQ=WEEKLY;COUNT=2", "2027-01-01T09:00:00Z", "UTC", "2026-01-01", 9)) == 2


@pytest.mark.parametrize(
    ("rule", "timezone"),
    [
        ("FREQ=HOURLY;INTERVAL=5", "Europe/Paris"),
        ("FREQ=DAILY;INTERVAL=3;BYHOUR=1,2,3;BYMINUTE=30", "America/New_York"),
        ("FREQ=WEEKLY;INTERVAL=2;BYDAY=TU,SU;WKST=MO", "Australia/Lord_Howe"),
        ("FREQ=HOURLY;BYHOUR=0,2,23", "Europe/London"),
    ],
)
def test_the_moved_dtstart_gives_what_walking_from_the_start_gives(
    rule: str, timezone: str
) -> None:
    """Brute force: dateutil's own occurrences since DTSTART, through THE DST RULE."""
    tz = zone_of(timezone)
    start = datetime(2019, 5, 17, 7, 45)
    trigger = RRuleTrigger(rule, local_to_utc_ms(start, tz), timezone)
    reference = sorted({local_to_utc_ms(d, tz) for d in rrulestr(rule, dtstart=start)[:4000]})
    rng = random.Random(rule)
    for _ in range(40):
        after = rng.randrange(reference[0], reference[-50])
        expected = next(ms for ms in reference if ms > after)
        assert next_fire(trigger, after) == expected


@pytest.mark.parametrize(
    "rule",
    [
        "FREQ=MINUTELY",
        "FREQ=DAILY;INTERVAL=0",
        "FREQ=DAILY;COUNT=10001",
        "FREQ=DAILY;UNTIL=20270101",
        "DTSTART:20270101T000000\nRRULE:FREQ=DAILY",
        "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30",
        "FREQ=SOMETIMES",
        "",
    ],
)
def test_refused_rules_say_why(rule: str) -> None:
    with pytest.raises(InvalidTrigger, match="^rrule: "):
        validate_trigger(RRuleTrigger(rule, 0, "UTC"))


def test_an_rrule_trigger_round_trips_as_stored() -> None:
    trigger = RRuleTrigger("FREQ=DAILY", 5, "Europe/Paris")
    assert trigger_from_dict(trigger_to_dict(trigger)) == trigger


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("PT15M", 900), ("P1DT12H", 129_600), ("P2W", 1_209_600), ("PT1S", 1), (90, 90)],
)
def test_durations(text: str | int, seconds: int) -> None:
    assert parse_duration_ms(text) == seconds * 1000


@pytest.mark.parametrize("text", ["P1M", "P1Y", "PT0S", "P", "PT", "PT0.5S", "PT\u0661M", 0, True])
def test_refused_durations(text: object) -> None:
    with pytest.raises(InvalidTrigger, match="^every: "):
        parse_duration_ms(text)  # type: ignore[arg-type]


def test_a_long_lived_hourly_rule_finds_its_next_fire_quickly() -> None:
    trigger = RRuleTrigger("FREQ=HOURLY", parse_iso8601("2021-01-01T00:00:00Z"), "UTC")
    after = parse_iso8601("2031-01-01T00:30:00Z")
    started = datetime.now()
    assert next_fire(trigger, after) == after + 30 * 60_000
    assert datetime.now() - started < timedelta(seconds=0.5)


# --- jitter (shared.timing.next_schedule_fire) ---------------------------------------------


def test_jitter_moves_each_fire_by_its_own_stable_offset() -> None:
    from shared.timing.fires import jitter_offset_ms, next_schedule_fire
    from tests.factories import every, webhook_schedule

    minute, jitter = 60_000, 20_000
    moved = webhook_schedule(every(minute, 0), id="s1", jitter_ms=jitter)
    expected = [k * minute + jitter_offset_ms("s1", k * minute, jitter) for k in range(200)]
    offsets = [fire - k * minute for k, fire in enumerate(expected)]
    assert all(0 <= off < jitter for off in offsets) and len(set(offsets)) > 150
    assert expected == sorted(expected)
    # from any instant, the next moved fire; from each fire, the one after it
    for after in range(10 * minute, 150 * minute, 7_919):
        assert next_schedule_fire(moved, after, 0) == next(f for f in expected if f > after)
    for n in range(10, 150):
        assert next_schedule_fire(moved, expected[n], 0) == expected[n + 1]
    # another schedule's offsets differ
    assert [jitter_offset_ms("s2", k * minute, jitter) for k in range(200)] != offsets
