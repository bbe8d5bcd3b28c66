"""What every pool's tasks share inside one worker process: the settings and the store.

The store is created lazily, after Celery's prefork pool has forked, so no Redis connection is
shared between processes (and importing this module needs no Redis settings: the store's URL is
read when the store is first asked for).
"""

from __future__ import annotations

import functools

from shared.accounts import load_secret_key
from shared.config import Config
from shared.redis_url import resolve_redis_url
from shared.store import Store
from workers.destinations import Destinations

config = Config.from_env()
_store: Store | None = None


def store() -> Store:
    """One store per worker process; its attempt bookkeeping waits out a Redis outage of up
    to ``config.worker_outage_wait_s`` (see ``Store.patiently``)."""
    global _store
    if _store is None:
        _store = Store.from_url(
            resolve_redis_url(config),
            config.key_prefix,
            timeout_s=config.redis_timeout_s,
            outage_retry_s=config.worker_outage_wait_s,
            outbox=config.broker_is_apart,
            partitions=config.partitions,
            wait_replicas=config.redis_wait_replicas,
            wait_timeout_ms=config.redis_wait_timeout_ms,
        )
    return _store


@functools.cache
def destinations() -> Destinations:
    """The per-destination caps and circuit breakers of this process (``workers.destinations``)."""
    return Destinations.from_config(config)


@functools.cache
def secret_key() -> bytes:
    """The server key (signing and sealing secrets derive from it), read once per process."""
    return load_secret_key(config)
