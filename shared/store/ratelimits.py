"""The API's rate-limit window counters: one request's checks and counts, and its HTTP Basic
credentials' check when it brings some, in one round trip."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shared.store.base import StoreBase


@dataclass(frozen=True)
class Counter:
    """One window counter: its name under ``Keys.rate_limits()`` and its limit or window."""

    name: str  # the ``limits`` package's ``LIMITER/<what>/<who>/...`` for one limit and caller
    limit: int  # the most hits its window allows
    window_s: int


@dataclass(frozen=True)
class Group:
    """What a request adds one hit to: ``counts`` (events, e.g. failures) and ``charges`` (the
    request itself, whose counts come back)."""

    counts: Sequence[Counter] = ()
    charges: Sequence[Counter] = ()


@dataclass(frozen=True)
class Tally:
    """What ``rate_limit_tally`` found: the first checked counter at its limit (index into the
    checks, and seconds until it resets), else the account when credentials were checked and
    are right, and each charged counter's count and reset."""

    refused: int | None
    refused_reset_s: int
    account: dict[str, Any] | None
    charged: tuple[tuple[int, int], ...]  # (count after this hit, seconds until reset)


class RateLimitVerbs(StoreBase):
    """Fixed-window counters (``lua/rate_limits.lua``); the policies are the API's."""

    def rate_limit_tally(
        self,
        checks: Sequence[Counter],
        passed: Group,
        failed: Group = Group(),
        credentials: tuple[str, str] | None = None,
    ) -> Tally:
        """Refuse if any of ``checks`` is used up (counting nothing then). Else, when
        ``credentials`` (appkey, SHA-256 hex of the master secret) are given, check them
        against the stored account; add one hit to each counter of ``passed``, or of ``failed``
        when the credentials are wrong. One round trip, where the ``limits`` package's storage
        took one per counter plus one per reset read, and the account's lookup one more."""
        prefix = self.keys.rate_limits()
        counters = [*checks, *passed.counts, *passed.charges, *failed.counts, *failed.charges]
        keys = [self.keys.accounts(), *(f"{prefix}:{c.name}" for c in counters)]
        sizes = [len(checks), len(passed.counts), len(passed.charges), len(failed.counts)]
        appkey, secret_sha256 = credentials or ("", "")
        args: list[str | int] = [*sizes, appkey, secret_sha256, *(c.limit for c in checks)]
        args += [c.window_s for c in counters[len(checks) :]]
        answer = self._scripts["rate_limits"](keys=keys, args=args, client=self.redis)
        if int(answer[0]):
            return Tally(int(answer[0]) - 1, max(1, int(answer[1])), None, ())
        account = json.loads(answer[1]) if answer[1] else None
        numbers = [int(n) for n in answer[2:]]
        pairs = zip(numbers[0::2], numbers[1::2], strict=True)
        return Tally(None, 0, account, tuple((count, max(1, ttl)) for count, ttl in pairs))
