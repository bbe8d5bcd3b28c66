"""Readings for the metrics endpoint: how much the store holds and how deep each pool's queue is."""

from __future__ import annotations

from dataclasses import dataclass

from shared.contract import POOLS
from shared.store.base import StoreBase
from shared.store.keys import Keys


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
        """Every gauge in one pipelined round trip (a scrape must stay cheap): the partitions'
        counts summed, the latest beat tick of any."""
        pipe = self.redis.pipeline(transaction=False)
        queues = list(
            dict.fromkeys(k.publish_target(p) for k in self.partition_keys for p in POOLS)
        )
        for k in self.partition_keys:
            pipe.hlen(k.definitions())
            pipe.zcard(k.due())  # the entries stored before the buckets (lib/due_index.lua)
            pipe.get(k.due_count())
            pipe.zcard(k.retries())
            pipe.zcard(k.dead_index())
            pipe.zcard(k.published())
            pipe.get(k.beat_heartbeat())
        for queue in queues:  # kombu's queues are shared by the partitions; outboxes are not
            pipe.llen(queue)
        replies = pipe.execute()
        per = [replies[n : n + 7] for n in range(0, 7 * self.partitions, 7)]
        lengths = dict(zip(queues, replies[7 * self.partitions :], strict=True))
        depths: dict[str, int] = {
            pool: sum(lengths.get(k.publish_target(pool), 0) for k in self._distinct_targets(pool))
            for pool in POOLS
        }
        beats = [int(row[6]) for row in per if row[6]]
        return StoreGauges(
            stored=sum(int(row[0]) for row in per),
            due=sum(int(row[1]) + int(row[2] or 0) for row in per),
            retries=sum(int(row[3]) for row in per),
            dead=sum(int(row[4]) for row in per),
            published=sum(int(row[5]) for row in per),
            beat_ms=max(beats) if beats else None,
            queue_depths=depths,
        )

    def _distinct_targets(self, pool: str) -> list[Keys]:
        """One key schema per distinct place ``pool``'s messages are published to."""
        seen: dict[str, Keys] = {}
        for k in self.partition_keys:
            seen.setdefault(k.publish_target(pool), k)
        return list(seen.values())
