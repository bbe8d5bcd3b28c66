"""The wake channel on Redis Cluster: a PUBLISH (not sharded) reaches every node of a cluster,
so the watch listens on one node, and when that node fails, on the next one that answers.

redis-py's own cluster pubsub stays bound to the node it first chose: once that master was
killed and its replica promoted, it kept failing (and the beat lost every announcement).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import redis
from redis.cluster import RedisCluster

POLL_S = 1.0  # how long one wait for a message lasts: close() takes at most about this


class ClusterWakeWatch:
    """A running subscription to ``channel`` on some node of ``cluster``; ``close()`` ends it.
    ``on_error`` is called with each node's failure (the beat's pauses a second)."""

    def __init__(
        self,
        cluster: RedisCluster,
        channel: str,
        on_message: Callable[[dict[str, Any]], None],
        on_error: Callable[[BaseException], None],
    ) -> None:
        self._cluster = cluster
        self._channel = channel
        self._on_message = on_message
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True, name="wake-watch")
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            for node in self._nodes():
                if self._stop.is_set():
                    return
                try:
                    self._listen(node.redis_connection)
                except (redis.RedisError, OSError) as exc:
                    self._on_error(exc)

    def _nodes(self) -> list[Any]:
        """The node serving the channel's slot first (as redis-py would pick), then the rest."""
        nodes = list(self._cluster.get_nodes())  # type: ignore[no-untyped-call]
        try:
            first = self._cluster.get_node_from_key(self._channel)  # type: ignore[no-untyped-call]
        except (redis.RedisError, redis.exceptions.RedisClusterException):
            return nodes  # no master for it right now: any order will do
        return [first, *(node for node in nodes if node is not first)]

    def _listen(self, client: redis.Redis | None) -> None:
        if client is None:
            return
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(**{self._channel: self._on_message})
            while not self._stop.is_set():
                pubsub.get_message(timeout=POLL_S)  # calls on_message for a message
        finally:
            pubsub.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=POLL_S * 2)
