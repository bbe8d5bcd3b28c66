"""Readings for the metrics endpoint: how much the store holds and how deep each pool's queue is."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contract import POOLS
from shared.store.base import StoreBase


@dataclass(frozen=True)
class StoreGauges:
    stored: int  # schedule definitions
    due: int  # schedules with a next fire
    retries: int  # retries waiting for their instant
    dead: int  # dead letters kept
    published: int  # published messages not finished yet (the ledger)
    beat_ms: int | None  # the last beat tick, None if no beat ticked lately
    # Messages waiting in the store, per pool: in its queue, or (a broker apart) in its outbox.
    queue_depths: dict[str, int]


class GaugeVerbs(StoreBase):
    """Reads for operators' gauges."""

    def gauges(self) -> StoreGauges:
        """Every gauge in one pipelined round trip (a scrape must stay cheap)."""
        k = self.keys
        pipe = self.redis.pipeline(transaction=False)
        pipe.hlen(k.definitions())
        pipe.zcard(k.due())
        pipe.zcard(k.retries())
        pipe.zcard(k.dead_index())
        pipe.zcard(k.published())
        pipe.get(k.beat_heartbeat())
        for pool in POOLS:
            pipe.llen(k.publish_target(pool))
        stored, due, retries, dead, published, beat, *depths = pipe.execute()
        return StoreGauges(
            stored=int(stored),
            due=int(due),
            retries=int(retries),
            dead=int(dead),
            published=int(published),
            beat_ms=int(beat) if beat else None,
            queue_depths={pool: int(n) for pool, n in zip(POOLS, depths, strict=True)},
        )
