"""The misfire policies (shared.misfire): what the beat does with a fire it claims late."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from shared.misfire import Decision, decide
from tests.factories import every, webhook_schedule

T0 = 1_800_000_000_000
GRACE = 1_000
BASE = webhook_schedule(every(1000, T0))  # a fire each second from T0
OLD = "older than the schedule's catch-up window"


@pytest.mark.parametrize(
    ("fields", "late_ms", "expected"),
    [
        ({}, 500, Decision(T0, T0)),  # on time (within grace): runs, resumes from its instant
        ({}, 60_000, Decision(T0, T0 + 60_000, policy="coalesce")),
        (
            {"misfire": "skip"},
            60_000,
            Decision(None, T0 + 60_000, True, "skip", "skipped by the schedule's policy"),
        ),
        ({"catchup_ms": 10_000}, 500, Decision(T0, T0)),
        ({"catchup_ms": 10_000}, 9_000, Decision(T0, T0, policy="catchup")),
        # older than the window: recorded as missed; the window's first fire runs in its place
        ({"catchup_ms": 10_000}, 60_000, Decision(T0 + 50_000, T0 + 50_000, True, "catchup", OLD)),
        ({"catchup_ms": 0}, 1_500, Decision(None, T0 + 1_999, True, "catchup", OLD)),
    ],
)
def test_each_policy(fields: dict[str, Any], late_ms: int, expected: Decision) -> None:
    assert decide(replace(BASE, **fields), T0, T0 + late_ms, GRACE, 0) == expected


def test_a_window_without_a_fire_resumes_at_the_next_one() -> None:
    hourly = webhook_schedule(every(3_600_000, T0), catchup_ms=60_000)
    decision = decide(hourly, T0, T0 + 600_000, GRACE, 0)
    assert decision == Decision(None, T0 + 3_600_000 - 1, True, "catchup", OLD)
