"""An account's schedules across the partitions: each partition keeps its own index of the
account's schedules (one per dialect, in creation order, in buckets: lua/lib/account_index.lua),
and a listing merges them by creation order in one round trip. Cost: one script call per
partition (P), pipelined; a page of ``count`` reads ``count`` from each partition (an offset
page ``offset + count``), so P x the rows read."""

from __future__ import annotations

from typing import Any

from shared.model import Schedule
from shared.store.base import StoreBase


class ListingVerbs(StoreBase):
    """Lists, counts and quotas over an account's per-partition indexes."""

    def list_schedule_ids(
        self, account: str, dialect: str, offset: int = 0, count: int = 50
    ) -> list[str]:
        """An account's schedule ids of one dialect, in creation order (paged; count -1 = all).
        P > 1: the first offset + count of each partition's index, merged (one round trip)."""
        limit = -1 if count < 0 else offset + count
        rows = self._index_rows(account, dialect, "-inf", limit)
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
        rows = self._index_rows(account, dialect, low, count)
        return [(member, int(score)) for member, score in rows[:count]]

    def _index_rows(
        self, account: str, dialect: str, after: str, limit: int
    ) -> list[tuple[str, float]]:
        """(id, order) from each partition's index (``account_index.lua``), merged by order."""

        def build(pipe: Any) -> None:
            for k in self.partition_keys:
                key = k.account_index(account, dialect)
                pipe.evalsha(self.sha("account_index"), 1, key, "range", after, limit)

        rows = [
            (str(flat[i]), float(flat[i + 1]))
            for flat in self.pipelined(build)
            for i in range(0, len(flat), 2)
        ]
        return sorted(rows, key=lambda row: row[1])

    def count_schedules(self, account: str, dialect: str) -> int:
        return self._count(account, dialect, range(len(self.partition_keys)))

    def _held_elsewhere(self, schedule: Schedule) -> int:
        """How many schedules of its account and dialect the other partitions hold."""
        own = self.partition_for(schedule.id)
        others = [p for p in range(len(self.partition_keys)) if p != own]
        return self._count(schedule.account, schedule.dialect, others)

    def _count(self, account: str, dialect: str, partitions: range | list[int]) -> int:
        """Schedules in these partitions' indexes: the buckets' count and any older index."""
        pipe = self.redis.pipeline(transaction=False)
        for p in partitions:
            k = self.partition_keys[p]
            pipe.zcard(k.account_index(account, dialect))
            pipe.get(k.account_index_count(account, dialect))
        return sum(int(n or 0) for n in pipe.execute())
