"""The ledger of published messages: everything the engine published that no worker has finished,
each with the deadline by which a worker must have begun it (then: finished it); past that,
``republish.lua`` publishes it again, whatever the broker did with the message.

Writers record in the same atomic step as their publish (``commit.lua`` for the beat's fires,
retries and lease checks; ``publish.lua`` for a run now or a job's lifecycle event). A worker's
``begin_execution.lua`` moves the deadline out while the attempt runs, ``finish_execution.lua``
(or ``settle`` for messages that are not executions) removes the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from shared.contract import POOLS
from shared.store.base import StoreBase

# How far into a queue republish.lua looks for a message that may still be waiting there (from
# the oldest end); a queue deeper than this is a backlog, where an overdue message most likely
# waits too: it is not copied, only looked at again after one bound per this many queued.
QUEUE_SCAN_DEPTH = 1000
# The longest wait between two copies of one message, in bounds: the wait doubles per copy.
MAX_BACKOFF_BOUNDS = 32


class RepublishOutcome(StrEnum):
    """What ``republish.lua`` did with one overdue entry."""

    REPUBLISHED = "republished"  # a copy went out
    QUEUED = "queued"  # still waiting in its queue (or behind a backlog): no copy
    UNKNOWN = "unknown"  # no message or no such queue: dropped from the ledger


@dataclass(frozen=True)
class Republished:
    ledger_id: str
    queue: str
    outcome: RepublishOutcome
    copies: int  # copies published so far (the original not counted)


@dataclass(frozen=True)
class RepublishResult:
    next_deadline_ms: int | None  # the ledger's earliest deadline now (None: empty)
    entries: list[Republished]


class LedgerVerbs(StoreBase):
    """Record, re-publish and settle published messages."""

    def publish_recorded(
        self, ledger_id: str, queue: str, message: str, deadline_ms: int, route: str = ""
    ) -> None:
        """Put a ready-made Celery message on a pool's queue and record it in the ledger, due to
        be begun by ``deadline_ms``, in one atomic step, in the partition of ``route`` (default:
        the ledger id's, an execution's schedule)."""
        k = self.keys_for(route or ledger_id)
        self._scripts["publish"](
            keys=[k.publish_target(queue), k.published(), k.published_messages()],
            args=[ledger_id, message, deadline_ms],
        )

    def republish_overdue(
        self, now_ms: int, limit: int, bound_ms: int, partition: int = 0
    ) -> RepublishResult:
        """Publish again (at most ``limit``) entries of ``partition``'s ledger whose deadline
        has passed by ``now_ms``."""
        k = self.partition_keys[partition]
        raw = self._scripts["republish"](
            keys=[k.published(), k.published_messages(), *(k.publish_target(p) for p in POOLS)],
            args=[now_ms, limit, bound_ms, bound_ms * MAX_BACKOFF_BOUNDS, QUEUE_SCAN_DEPTH],
        )
        pools = {k.publish_target(p): p for p in POOLS}  # an outbox's key names its pool
        entries = [
            Republished(
                raw[i],
                pools.get(raw[i + 1], raw[i + 1]),
                RepublishOutcome(raw[i + 2]),
                int(raw[i + 3]),
            )
            for i in range(1, len(raw), 4)
        ]
        first = int(raw[0])
        return RepublishResult(None if first < 0 else first, entries)

    def settle(self, ledger_id: str, route: str = "") -> None:
        """Take a message that is not an execution (a lease check, a job event) out of the
        ledger once its task ran (an execution leaves it with its run record); ``route`` as
        it was published (a job's lease check: its account)."""
        k = self.keys_for(route or ledger_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.zrem(k.published(), ledger_id)
        pipe.hdel(k.published_messages(), ledger_id)
        pipe.execute()

    def ledger_deadline(self, ledger_id: str, route: str = "") -> int | None:
        score = self.redis.zscore(self.keys_for(route or ledger_id).published(), ledger_id)
        return None if score is None else int(score)

    def ledger_size(self) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            pipe.zcard(k.published())
        return sum(int(n) for n in pipe.execute())

    def ledger_message(self, ledger_id: str) -> tuple[int, str, str] | None:
        """(copies published, queue, the last message published) of one entry."""
        key = self.keys_for(ledger_id).published_messages()
        raw = cast(str | None, self.redis.hget(key, ledger_id))
        if raw is None:
            return None
        copies, queue, message = raw.split("|", 2)
        return int(copies), queue, message
