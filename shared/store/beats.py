"""Beats that share the partitions (SCHEDULER_PARTITIONS > 1): the live beats' registry and each
partition's lease (``partition_lease.lua``). One key per command or script: no cross-slot step."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from shared.store.base import StoreBase


class BeatVerbs(StoreBase):
    """What ``scheduler_beat.partitions`` reads and writes."""

    def live_beats(self, token: str, now_ms: int, lease_ms: int) -> list[str]:
        """Say this beat is alive until ``now_ms + lease_ms``, forget beats whose lease ran
        out, and return the live ones' tokens, sorted (every beat sees the same order)."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.zadd(self.keys.beats(), {token: now_ms + lease_ms})
        pipe.zremrangebyscore(self.keys.beats(), "-inf", now_ms)
        pipe.zrange(self.keys.beats(), 0, -1)
        return sorted(str(t) for t in pipe.execute()[2])

    def leave_beats(self, token: str) -> None:
        self.redis.zrem(self.keys.beats(), token)

    def partition_owners(self) -> list[str | None]:
        """Each partition's lease holder (None: free), in partition order."""
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            pipe.get(k.partition_owner())
        return [None if owner is None else str(owner) for owner in pipe.execute()]

    def take_partitions(self, token: str, partitions: Iterable[int], lease_ms: int) -> list[int]:
        """Take (or renew) each partition's lease for ``token``; the ones now ours."""
        return self._lease_calls(token, list(partitions), "take", lease_ms)

    def drop_partitions(self, token: str, partitions: Iterable[int]) -> list[int]:
        """Give up each partition's lease if ``token`` holds it (another beat takes it at
        once, not a lease later); the ones given up."""
        return self._lease_calls(token, list(partitions), "drop", 0)

    def _lease_calls(self, token: str, partitions: list[int], op: str, lease_ms: int) -> list[int]:
        if not partitions:
            return []
        sha = self.sha("partition_lease")

        def build(pipe: Any) -> None:
            for p in partitions:
                key = self.partition_keys[p].partition_owner()
                pipe.evalsha(sha, 1, key, token, op, lease_ms)

        replies = self.pipelined(build)
        return [p for p, ok in zip(partitions, replies, strict=True) if int(ok)]
