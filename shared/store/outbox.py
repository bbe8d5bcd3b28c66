"""The outbox: with a broker apart (``SCHEDULER_BROKER_URL``), every script that publishes writes
its message to the partition's ``outbox(queue)`` in the store, in the same atomic step as today,
and the beats' relay (``shared.broker.relay``) moves the messages to the broker.

``relay.lua`` hands the relay the oldest messages under a lease, and trims them only once the
broker confirmed them (the next call says how many): a crash anywhere leaves them in the outbox.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

from shared.contract import POOLS
from shared.store.base import StoreBase


class OutboxVerbs(StoreBase):
    """The relay's side of the outbox."""

    def relay_hand(
        self,
        token: str,
        lease_ms: int,
        most: int,
        confirmed: Mapping[str, int],
        partition: int = 0,
    ) -> dict[str, list[str]] | None:
        """Trim each pool's ``confirmed[pool]`` oldest messages (the broker confirmed them from
        the last hand) of ``partition``'s outbox, renew its relay lease for ``token`` and hand
        the ``most`` oldest of each outbox, oldest first. None while another beat's lease
        holds."""
        k = self.partition_keys[partition]
        raw = self._scripts["relay"](
            keys=[k.relay_lease(), *(k.outbox(pool) for pool in POOLS)],
            args=[token, lease_ms, most, *(confirmed.get(pool, 0) for pool in POOLS)],
        )
        if int(raw[0]) == 0:
            return None
        hands = cast(list[list[str]], raw[1:])
        return {pool: list(reversed(hand)) for pool, hand in zip(POOLS, hands, strict=True)}

    def release_relay(self, token: str, partition: int = 0) -> None:
        """Give the lease up at shutdown (only if it is still ours), so another beat relays
        at once instead of after the lease."""
        key = self.partition_keys[partition].relay_lease()
        if self.redis.get(key) == token:
            self.redis.delete(key)  # a race with expiry only lets another relay a bit sooner

    def outbox_depths(self) -> dict[str, int]:
        """Messages waiting for the relay, per pool (all partitions)."""
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            for pool in POOLS:
                pipe.llen(k.outbox(pool))
        depths: dict[str, int] = dict.fromkeys(POOLS, 0)
        for n, depth in enumerate(pipe.execute()):
            depths[POOLS[n % len(POOLS)]] += int(depth)
        return depths
