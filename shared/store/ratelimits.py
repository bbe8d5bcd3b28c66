"""The API's rate-limit window counters: one request's checks and counts in one round trip."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shared.store.base import StoreBase


@dataclass(frozen=True)
class Counter:
    """One window counter: its name under ``Keys.rate_limits()`` and its limit or window."""

    name: str  # the ``limits`` package's ``LIMITER/<what>/<who>/...`` for one limit and caller
    limit: int  # the most hits its window allows
    window_s: int


@dataclass(frozen=True)
class Tally:
    """What ``rate_limit_tally`` found: the first checked counter at its limit (index into the
    checks, and seconds until it resets), else each charged counter's count and reset."""

    refused: int | None
    refused_reset_s: int
    charged: tuple[tuple[int, int], ...]  # (count after this hit, seconds until reset)


class RateLimitVerbs(StoreBase):
    """Fixed-window counters (``lua/rate_limits.lua``); the policies are the API's."""

    def rate_limit_tally(
        self, checks: Sequence[Counter], counts: Sequence[Counter], charges: Sequence[Counter]
    ) -> Tally:
        """Refuse if any of ``checks`` is used up (counting nothing then); else add one hit to
        each of ``counts`` and ``charges`` and return the charged ones' counts. One round trip,
        where the ``limits`` package's storage took one per counter, plus one per reset read."""
        prefix = self.keys.rate_limits()
        keys = [f"{prefix}:{c.name}" for c in (*checks, *counts, *charges)]
        args = [len(checks), len(counts), *(c.limit for c in checks)]
        args += [c.window_s for c in (*counts, *charges)]
        answer = [int(n) for n in self._scripts["rate_limits"](keys=keys, args=args)]
        if answer[0]:
            return Tally(answer[0] - 1, max(1, answer[1]), ())
        pairs = zip(answer[1::2], answer[2::2], strict=True)
        return Tally(None, 0, tuple((count, max(1, ttl)) for count, ttl in pairs))
