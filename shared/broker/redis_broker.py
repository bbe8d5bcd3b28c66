"""Another Redis as the broker: the relay pushes onto kombu's lists there, as the commit does on
the store's own Redis; the LPUSH's reply is the confirmation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import redis

from shared.contract import POOLS


class RedisPublisher:
    def __init__(self, url: str, timeout_s: float) -> None:
        self.client = redis.Redis.from_url(
            url,
            decode_responses=True,
            socket_timeout=timeout_s,
            socket_connect_timeout=timeout_s,
            socket_keepalive=True,
        )

    def publish(self, batches: Mapping[str, Sequence[str]]) -> None:
        """One LPUSH per queue, oldest first (kombu pops the oldest from the tail), all in one
        round trip; returns once Redis answered every push, raises otherwise."""
        pipe = self.client.pipeline(transaction=False)
        for queue, messages in batches.items():
            if messages:
                pipe.lpush(queue, *messages)
        pipe.execute()

    def depths(self) -> dict[str, int]:
        pipe = self.client.pipeline(transaction=False)
        for pool in POOLS:
            pipe.llen(pool)
        return {pool: int(n) for pool, n in zip(POOLS, pipe.execute(), strict=True)}

    def reset(self) -> None:
        self.client.connection_pool.disconnect()

    def close(self) -> None:
        self.client.close()
