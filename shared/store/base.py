"""What every group of store verbs shares: the client, the key schema, the Lua scripts and the
safety check; and the one serialisation of stored values."""

from __future__ import annotations

import json
import uuid
from typing import Any

import redis

from shared.errors import UnsafeRedisConfig
from shared.store.keys import Keys
from shared.store.scripts import Scripts

SAFE_EVICTION_POLICIES = ("noeviction",)


def dumps(data: Any) -> str:
    """Compact JSON, the one serialisation for stored values."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def new_token() -> str:
    return uuid.uuid4().hex


class StoreBase:
    """The client, the key schema and the registered scripts; every group of verbs builds on it."""

    def __init__(self, client: redis.Redis, prefix: str = "sched") -> None:
        # A client made with decode_responses=True (Store.from_url): its replies are str where
        # redis-py's annotations say bytes | str, so the verbs cast() replies to what they are.
        self.redis = client
        self.keys = Keys(prefix)
        self._scripts = Scripts(client)

    def load_scripts(self) -> None:
        """Load every script now (see ``Scripts.load``): the beat does, before its first tick."""
        self._scripts.load()

    def check_redis_is_safe(self) -> None:
        """Refuse to run on a Redis that may evict keys: a lost due entry is a lost fire."""
        # INFO, not CONFIG GET: managed Redis services often disable CONFIG but all answer INFO.
        policy = self.redis.info("memory").get("maxmemory_policy", "")
        if policy not in SAFE_EVICTION_POLICIES:
            raise UnsafeRedisConfig(
                f"Redis maxmemory-policy is {policy!r}: it may evict schedules. Set it to "
                "'noeviction' (CONFIG SET maxmemory-policy noeviction, and in redis.conf)."
            )
