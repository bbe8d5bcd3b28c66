"""The wall clock: the one place the system reads it.

Read once where a request, a tick or a task begins (the adapters, the CLI, the beat, the
workers) and passed down as ``now_ms``: no core verb and no other module of this package calls
it, so the timing functions stay pure functions of the instants they are given.
"""

from __future__ import annotations

import time


def now_ms() -> int:
    """UTC milliseconds since the epoch, now."""
    return time.time_ns() // 1_000_000
