"""An account's schedules across the partitions: each partition keeps its own index of the
account's schedules (one per dialect, in creation order), and a listing merges them by creation
order in one round trip. Cost: one command per partition (P), pipelined; a page of ``count`` reads
``count`` from each partition (an offset page ``offset + count``), so P x the rows read."""

from __future__ import annotations

from shared.model import Schedule
from shared.store.base import StoreBase


class ListingVerbs(StoreBase):
    """Lists, counts and quotas over an account's per-partition indexes."""

    def list_schedule_ids(
        self, account: str, dialect: str, offset: int = 0, count: int = 50
    ) -> list[str]:
        """An account's schedule ids of one dialect, in creation order (paged; count -1 = all).
        P > 1: the first offset + count of each partition's index, merged (one round trip)."""
        stop = -1 if count < 0 else offset + count - 1
        rows = self.merged_index(
            lambda pipe, k: pipe.zrange(k.account_index(account, dialect), 0, stop, withscores=True)
        )
        end = None if count < 0 else offset + count
        return [member for member, _ in rows[offset:end]]

    def page_schedule_ids(
        self, account: str, dialect: str, after_ms: int | None, count: int
    ) -> list[tuple[str, int]]:
        """Up to ``count`` (id, creation order) of one dialect's schedules created after
        ``after_ms`` (an order read before; None: from the first), oldest first. The order is
        the created ms (x P with P > 1 partitions), strictly increasing per index and unique
        across an account's partitions (put_schedule.lua), so the last one read is a stable
        cursor. P > 1: ``count`` from each partition, merged (one round trip)."""
        low = "-inf" if after_ms is None else f"({after_ms}"
        rows = self.merged_index(
            lambda pipe, k: pipe.zrangebyscore(
                k.account_index(account, dialect),
                low,
                "+inf",
                start=0,
                num=count,
                withscores=True,
            )  # fmt: skip
        )
        return [(member, int(score)) for member, score in rows[:count]]

    def count_schedules(self, account: str, dialect: str) -> int:
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            pipe.zcard(k.account_index(account, dialect))
        return sum(int(n) for n in pipe.execute())

    def _held_elsewhere(self, schedule: Schedule) -> int:
        """How many schedules of its account and dialect the other partitions hold."""
        own = self.partition_for(schedule.id)
        pipe = self.redis.pipeline(transaction=False)
        for p, k in enumerate(self.partition_keys):
            if p != own:
                pipe.zcard(k.account_index(schedule.account, schedule.dialect))
        return sum(int(n) for n in pipe.execute())
