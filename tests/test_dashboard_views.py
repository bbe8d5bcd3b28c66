"""The overview's computed parts: upcoming fires merged soonest first (at most five of one
schedule, none past the horizon), the timeline's axis (pure), and run names (on real Redis)."""

from __future__ import annotations

from scheduler_api.dashboard.views import (
    TIMELINE_AHEAD_MS,
    Names,
    Owned,
    timeline,
    upcoming_fires,
)
from shared.model import IntervalTrigger, OnceTrigger, Schedule, Target
from shared.store import Store

NOW = 1_800_000_000_000  # 2027-01-15T08:00:00Z
MINUTE = 60_000


def every(schedule_id: str, minutes: int, first_ms: int) -> Owned:
    schedule = Schedule(
        id=schedule_id,
        account="a",
        dialect="native",
        trigger=IntervalTrigger(every_ms=minutes * MINUTE, anchor_ms=first_ms),
        target=Target("webhook", {"url": "https://example.com/"}),  # type: ignore[arg-type]
        created_ms=NOW,
        doc={"name": f"every {minutes} min"},
    )
    return Owned(schedule, first_ms, 0)


def test_upcoming_fires_merge_soonest_first_five_of_each_at_most() -> None:
    fast = every("fast", 10, NOW + MINUTE)
    slow = every("slow", 25, NOW + 2 * MINUTE)
    fires = upcoming_fires([slow, fast], NOW)
    assert [(f.schedule, (f.at_ms - NOW) // MINUTE) for f in fires] == [
        ("fast", 1), ("slow", 2), ("fast", 11), ("fast", 21), ("slow", 27), ("fast", 31),
        ("fast", 41), ("slow", 52), ("slow", 77), ("slow", 102),
    ]  # fmt: skip
    assert fires[0].name == "every 10 min" and fires[0].wait == "in 1 min 0 s"


def test_no_fire_past_the_horizon_and_none_of_a_paused_schedule() -> None:
    late = every("late", 60, NOW + TIMELINE_AHEAD_MS - 30 * MINUTE)
    once = Owned(
        Schedule("once", "a", "cli", OnceTrigger(NOW + 5 * MINUTE), late.schedule.target, NOW),
        NOW + 5 * MINUTE,
        0,
    )
    paused = Owned(every("paused", 1, NOW).schedule, None, 0)
    fires = upcoming_fires([late, once, paused], NOW)
    assert [f.schedule for f in fires] == ["once", "late"]


def test_the_timeline_has_a_tick_every_three_hours_and_now_at_a_fifth() -> None:
    drawn = timeline(upcoming_fires([every("fast", 10, NOW + MINUTE)], NOW), [], NOW)
    assert drawn.now_pct == "20.00"  # 6 h of the past, 24 h ahead
    assert [label for _, label in drawn.ticks] == [
        "03:00", "06:00", "09:00", "12:00", "15:00", "18:00", "21:00", "00:00", "03:00", "06:00",
    ]  # fmt: skip
    assert len(drawn.marks) == 5 and {m.kind for m in drawn.marks} == {"upcoming"}


def test_a_failure_notice_is_named_after_its_schedule(store: Store) -> None:
    names = Names(store, [every("s1", 5, NOW)])
    assert names.of("s1") == "every 5 min"
    assert names.of("s1:on-failure") == "failure notice of every 5 min"
    assert names.of("gone:on-failure") == "failure notice"  # its schedule no longer known
