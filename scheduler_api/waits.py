"""Caps on requests that wait (``executeTask`` waits for its task's outcome).

A waiting request holds one server thread for up to ``SCHEDULER_TASK_EXECUTE_TIMEOUT_S`` (itself
capped, see shared.config). So that one tenant cannot hold every thread of a process, each process
lets one account hold at most ``SCHEDULER_TASK_EXECUTE_MAX_WAITS_PER_ACCOUNT`` waits (429 beyond)
and everybody together ``SCHEDULER_TASK_EXECUTE_MAX_WAITS`` (503 beyond). Threads belong to a
process, so the counts are the process's own: nothing to leak in Redis if a process dies.
"""

from __future__ import annotations

import math
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager

from scheduler_api.ratelimit import Busy, RateLimited


class WaitSlots:
    def __init__(self, per_account: int, total: int, wait_s: float) -> None:
        self.per_account = per_account
        self.total = total
        self.retry_after_s = max(1, math.ceil(wait_s))  # by then a slot has come free
        self._lock = threading.Lock()
        self._held: Counter[str] = Counter()

    def held(self) -> int:
        """Waits held now in this process."""
        with self._lock:
            return self._held.total()

    @contextmanager
    def hold(self, account: str) -> Iterator[None]:
        """Hold one of ``account``'s wait slots for the block, or refuse (429 / 503)."""
        with self._lock:
            if self._held[account] >= self.per_account:
                raise RateLimited(
                    f"executeTask: {self.per_account} runs of this account are already waiting "
                    f"for their result; retry in {self.retry_after_s} s or read getTaskHistory",
                    self.retry_after_s,
                )
            if self._held.total() >= self.total:
                raise Busy(
                    f"executeTask: the server is waiting on {self.total} runs already; "
                    f"retry in {self.retry_after_s} s",
                    self.retry_after_s,
                )
            self._held[account] += 1
        try:
            yield
        finally:
            with self._lock:
                self._held[account] -= 1
                if not self._held[account]:
                    del self._held[account]
