"""What every group of store verbs shares: the client, the key schema, the Lua scripts (every
``lua/*.lua``, registered once, each starting with its KEYS/ARGV contract) and the safety check."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import redis

from shared.errors import UnsafeRedisConfig
from shared.store.keys import Keys

LUA_DIR = Path(__file__).with_name("lua")
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
        self._scripts = {
            path.stem: client.register_script(path.read_text()) for path in LUA_DIR.glob("*.lua")
        }

    def load_scripts(self) -> None:
        """Load every script now (one pipelined round trip), so the first real call does not
        pay a NOSCRIPT miss and resend its arguments (the beat's first fire would wait on it)."""
        pipe = self.redis.pipeline(transaction=False)
        for script in self._scripts.values():
            pipe.script_load(script.script)
        pipe.execute()

    def check_redis_is_safe(self) -> None:
        """Refuse to run on a Redis that may evict keys: a lost due entry is a lost fire."""
        # INFO, not CONFIG GET: managed Redis services often disable CONFIG but all answer INFO.
        policy = self.redis.info("memory").get("maxmemory_policy", "")
        if policy not in SAFE_EVICTION_POLICIES:
            raise UnsafeRedisConfig(
                f"Redis maxmemory-policy is {policy!r}: it may evict schedules. Set it to "
                "'noeviction' (CONFIG SET maxmemory-policy noeviction, and in redis.conf)."
            )
