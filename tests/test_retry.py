"""Backoff timing and Retry-After parsing: pure functions."""

from __future__ import annotations

import random

import pytest

from shared.retry import compute_backoff, parse_retry_after


@pytest.mark.parametrize(
    ("attempt", "low", "high"),
    [(1, 1.0, 2.0), (2, 2.0, 4.0), (3, 4.0, 8.0), (10, 30.0, 60.0)],
)
def test_backoff_doubles_with_jitter_in_the_upper_half_and_is_capped(
    attempt: int, low: float, high: float
) -> None:
    rng = random.Random(7)
    delays = [compute_backoff(attempt, base_s=2, max_s=60, rng=rng) for _ in range(200)]
    assert low <= min(delays) and max(delays) <= high
    assert len(set(delays)) > 100  # jittered, not constant


def test_retry_after_is_a_floor_but_still_capped() -> None:
    assert compute_backoff(1, base_s=1, max_s=60, retry_after_s=30) == 30
    assert compute_backoff(1, base_s=1, max_s=60, retry_after_s=600) == 60


def test_retry_after_header_forms() -> None:
    now = 1445412480_000  # 2015-10-21 07:28:00 UTC
    assert parse_retry_after("120", now_ms=now) == 120
    assert parse_retry_after("Wed, 21 Oct 2015 07:28:10 GMT", now_ms=now) == 10
    assert parse_retry_after("soon", now_ms=now) is None
    assert parse_retry_after("\u00b2", now_ms=now) is None  # a digit to str.isdigit, not to float()
    assert parse_retry_after(None, now_ms=now) is None
