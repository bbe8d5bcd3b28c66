"""Retry timing in one pure function, shared by every worker pool."""

from __future__ import annotations

import email.utils
import random


def compute_backoff(
    attempt: int,
    *,
    base_s: float,
    max_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before attempt ``attempt + 1``, after attempt ``attempt`` failed.

    Exponential (base, 2*base, 4*base, ...) capped at ``max_s``, with "equal jitter": a random
    point in the upper half of the window, so retries of many executions that failed together
    spread out but never come back sooner than half the backoff. A server's ``Retry-After`` is a
    floor: we never call back earlier than it asked (still capped at ``max_s``).
    """
    window = min(max_s, base_s * 2 ** max(0, attempt - 1))
    jitter = (rng.uniform if rng is not None else random.uniform)(0, window / 2)
    delay: float = window / 2 + jitter
    if retry_after_s is not None:
        delay = max(delay, retry_after_s)
    return min(delay, max_s)


def parse_retry_after(value: str | None, *, now_ms: int) -> float | None:
    """``Retry-After`` as seconds from ``now_ms``: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isascii() and value.isdigit():  # str.isdigit alone admits '²' and other digits
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now_ms / 1000)
