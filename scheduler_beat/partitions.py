"""Which partitions this beat claims: with SCHEDULER_PARTITIONS = P > 1, the live beats split them
by leases, with no leader.

Every beat registers itself in the store's ``beats`` registry (held like a partition's lease)
and, every quarter of ``SCHEDULER_PARTITION_LEASE_MS``, works out its share from the sorted list
of live beats (P divided among them, the first ones in the list taking one more when it does not
divide), gives up what it holds beyond its share and takes free partitions up to it. A lease
lasts three quarters of the setting, renewed at every quarter: a beat that dies stops renewing,
its leases (and its place among the live beats) run out within three quarters, and the next
round of another beat (a quarter later at most) takes them, so a dead beat's partitions are
taken over within one ``SCHEDULER_PARTITION_LEASE_MS``.
A graceful stop gives its leases up at once.

The leases only share the work; they are not what keeps a fire from going out twice. A beat that
lost a partition while it held claims there commits nothing another beat took over: each claim
carries its own token, checked by ``commit.lua`` (the fencing token), as with P = 1, where every
beat ticks the one partition and the claim script keeps them apart.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import redis

from shared import metrics
from shared.store import Store, new_token
from shared.timing import now_ms

log = logging.getLogger(__name__)


def share_of(count: int, beats: list[str], token: str) -> int:
    """How many of ``count`` partitions the beat ``token`` should hold among ``beats``."""
    if token not in beats:
        beats = sorted([*beats, token])
    rank = beats.index(token)
    return count // len(beats) + (1 if rank < count % len(beats) else 0)


class PartitionLeases:
    """``start()`` with the beat, ``owned()`` at every tick, ``stop()`` on shutdown."""

    def __init__(
        self,
        store: Store,
        lease_ms: int,
        on_gain: Callable[[], None] = lambda: None,
        token: str | None = None,
    ) -> None:
        self.store = store
        self.count = store.partitions
        self.lease_ms = lease_ms
        self.token = token or new_token()
        self._on_gain = on_gain
        self._owned: frozenset[int] = (
            frozenset(range(self.count)) if self.count == 1 else frozenset()
        )
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="partition-leases", daemon=True)

    def owned(self) -> list[int]:
        """The partitions to tick now (P = 1: always the one)."""
        with self._lock:
            return sorted(self._owned)

    def start(self) -> None:
        metrics.record_partitions_held(len(self.owned()))
        if self.count > 1:
            self.rebalance()  # hold a share before the first tick
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread.ident is not None:
            self._thread.join(timeout=5.0)
        if self.count == 1:
            return
        try:
            self.store.drop_partitions(self.token, self.owned())
            self.store.leave_beats(self.token)
        except redis.RedisError as exc:  # they run out by themselves
            log.warning("beat: could not give up its partitions (%s)", exc)
        with self._lock:
            self._owned = frozenset()
        metrics.record_partitions_held(0)

    def rebalance(self) -> None:
        """One round: renew what we hold, give up what is beyond our share, take free ones."""
        held_ms = self.lease_ms * 3 // 4  # renewed every quarter: see the module's docstring
        beats = self.store.live_beats(self.token, now_ms(), held_ms)
        share = share_of(self.count, beats, self.token)
        held = self.store.take_partitions(self.token, self.owned(), held_ms)
        if len(held) > share:
            extra = held[share:]
            self.store.drop_partitions(self.token, extra)
            held = held[:share]
        elif len(held) < share:
            owners = self.store.partition_owners()
            free = [p for p, owner in enumerate(owners) if owner is None]
            held += self.store.take_partitions(self.token, free[: share - len(held)], held_ms)
        with self._lock:
            gained = set(held) - self._owned
            lost = self._owned - set(held)
            self._owned = frozenset(held)
        metrics.record_partitions_held(len(held))
        if gained or lost:
            log.info(
                "beat: partitions %s (of %d, %d beat(s) live)",
                sorted(held),
                self.count,
                len(beats),
            )
        if gained:
            self._on_gain()

    def _run(self) -> None:
        period_s = self.lease_ms / 4 / 1000
        while not self._stopping.wait(period_s):
            try:
                self.rebalance()
            except redis.RedisError as exc:
                # Keep ticking what we hold: if the leases run out meanwhile, another beat takes
                # the partitions and our claims there fail their commit (nothing twice).
                log.error("beat: partition leases not renewed (%s)", exc)
