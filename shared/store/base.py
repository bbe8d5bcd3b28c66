"""What every group of store verbs shares: the client, the key schema, the Lua scripts and the
safety check; riding out a Redis outage; and the one serialisation of stored values."""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable, Sequence
from typing import Any, TypeVar, cast

import redis
from redis.backoff import NoBackoff
from redis.cluster import RedisCluster
from redis.retry import Retry

from shared.config import is_cluster_url
from shared.errors import ConfigError, UnsafeRedisConfig
from shared.store.keys import Keys
from shared.store.partitions import partition_of
from shared.store.scripts import Scripts

log = logging.getLogger(__name__)
T = TypeVar("T")

SAFE_EVICTION_POLICIES = ("noeviction",)
DEFAULT_TIMEOUT_S = 10.0  # shared.config's redis_timeout_s default
# Redis unreachable: down, restarting, or loading its data (BusyLoadingError is a
# ConnectionError); on a cluster, a shard failing over (its slots down, or moving: TRYAGAIN).
# Anything else (a script error, a wrong type) is not worth waiting for.
OUTAGE_ERRORS = (
    redis.ConnectionError,
    redis.TimeoutError,
    redis.exceptions.ClusterDownError,
    redis.exceptions.TryAgainError,
    redis.exceptions.MovedError,  # asked of a master whose slot a replica took over
)
FIRST_RETRY_DELAY_S = 0.05
MAX_RETRY_DELAY_S = 1.0
SHORT_OF_REPLICAS_PAUSE_S = 10.0
NO_SCRIPT = redis.exceptions.NoScriptError


def connect(url: str, timeout_s: float = DEFAULT_TIMEOUT_S) -> redis.Redis:
    """The store's client for ``url``, connecting on demand (nothing here needs Redis up).

    Connect and read timeouts, and TCP keepalive, so a Redis that vanished without closing
    its connections (a failover, a partition) fails a call in ``timeout_s`` instead of hanging
    it. One immediate retry on a broken connection: after a restart every pooled connection is
    dead, and the first command on one fails; the retry runs it on a new connection. No more
    than that here: an API request answers 503 while Redis is down, it does not wait; what
    must wait (a worker's attempt) asks ``StoreBase.patiently``.

    ``redis+cluster://host:port`` (any node): redis-py's cluster client, with the same
    settings; it routes each command (and each script, by its keys) to the master of its slot,
    and follows the cluster's map when a master fails over.
    """
    options: dict[str, Any] = {
        "decode_responses": True,
        "socket_timeout": timeout_s,
        "socket_connect_timeout": timeout_s,
        "socket_keepalive": True,
        "retry": Retry(NoBackoff(), 1, supported_errors=(redis.ConnectionError,)),
    }
    if is_cluster_url(url):
        # The cluster client is not a redis.Redis, but offers the same commands the verbs use.
        return cast(redis.Redis, RedisCluster.from_url(url.replace("+cluster", "", 1), **options))
    return redis.Redis.from_url(url, **options)


def is_cluster(client: redis.Redis) -> bool:
    return isinstance(client, RedisCluster)


class _Only:
    """A pipeline that queues, of the commands asked of it, only those at ``positions``."""

    def __init__(self, pipe: Any, positions: Sequence[int]) -> None:
        self._pipe, self._positions, self._asked = pipe, set(positions), 0

    def __getattr__(self, name: str) -> Callable[..., None]:
        command = getattr(self._pipe, name)

        def queue(*args: Any, **kwargs: Any) -> None:
            if self._asked in self._positions:
                command(*args, **kwargs)
            self._asked += 1

        return queue


def dumps(data: Any) -> str:
    """Compact JSON, the one serialisation for stored values."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def new_token() -> str:
    return uuid.uuid4().hex


class StoreBase:
    """The client, the key schema and the registered scripts; every group of verbs builds on it."""

    def __init__(
        self,
        client: redis.Redis,
        prefix: str = "sched",
        outage_retry_s: float = 0.0,
        *,
        outbox: bool = False,
        partitions: int = 1,
        wait_replicas: int = 0,
        wait_timeout_ms: int = 1000,
    ) -> None:
        # A client made with decode_responses=True (Store.from_url): its replies are str where
        # redis-py's annotations say bytes | str, so the verbs cast() replies to what they are.
        self.redis = client
        # outbox: the broker is apart, so publishers write to the store's outbox (Keys); a
        # cluster is never the broker (Config refuses it), and its keys carry hash tags.
        # One key schema per partition (see shared.store.partitions); ``keys`` is partition 0's,
        # which also names the keys that belong to no partition (accounts, sessions, ...).
        cluster = is_cluster(client)
        self.partitions = partitions
        self.partition_keys = [
            Keys(prefix, str(p), outbox=outbox or cluster, cluster=cluster)
            for p in range(partitions)
        ]
        self.keys = self.partition_keys[0]
        self.outage_retry_s = outage_retry_s
        # SCHEDULER_REDIS_WAIT_REPLICAS / _TIMEOUT_MS (see ``replicated``).
        self.wait_replicas = wait_replicas
        self.wait_timeout_ms = wait_timeout_ms
        self._short_until: dict[str, float] = {}  # replication mark -> monotonic time
        self._scripts = Scripts(client)

    def keys_for(self, ident: str) -> Keys:
        """The keys of the partition that holds ``ident``: a schedule, an execution (routed by
        its schedule) or an account (its home partition)."""
        return self.partition_keys[partition_of(ident, self.partitions)]

    def partition_for(self, ident: str) -> int:
        return partition_of(ident, self.partitions)

    def per_partition(
        self, idents: Sequence[str], call: Callable[[Any, Keys, list[str]], Any]
    ) -> list[Any]:
        """One reply per id of ``idents``, in their order: ``call(pipe, keys, ids)`` queues one
        command per partition that holds some of them (answering one reply per id, as HMGET
        does), all sent in one round trip."""
        groups: dict[int, list[int]] = {}
        for n, ident in enumerate(idents):
            groups.setdefault(self.partition_for(ident), []).append(n)
        pipe = self.redis.pipeline(transaction=False)
        for p, positions in groups.items():
            call(pipe, self.partition_keys[p], [idents[n] for n in positions])
        replies: list[Any] = [None] * len(idents)
        for positions, answer in zip(groups.values(), pipe.execute(), strict=True):
            for n, reply in zip(positions, answer, strict=True):
                replies[n] = reply
        return replies

    def merged_index(
        self, call: Callable[[Any, Keys], Any], newest_first: bool = False
    ) -> list[tuple[str, float]]:
        """The (member, score) rows that ``call(pipe, keys)`` reads from each partition's copy
        of one index, merged by score (one round trip, one command per partition)."""
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            call(pipe, k)
        rows = [(str(m), float(score)) for answer in pipe.execute() for m, score in answer]
        return sorted(rows, key=lambda row: row[1], reverse=newest_first)

    def patiently(self, call: Callable[[], T]) -> T:
        """``call()``, tried again while Redis is unreachable, for up to ``outage_retry_s``
        (0: once), with a growing pause between tries; then its error is raised.

        For the writes a worker must not lose to a Redis restart or failover: an attempt's
        begin and finish. Each must be safe to repeat, since a call may have run on Redis
        just before it went away, its answer lost."""
        deadline = time.monotonic() + self.outage_retry_s
        delay = FIRST_RETRY_DELAY_S
        while True:
            try:
                return call()
            except OUTAGE_ERRORS as exc:
                if time.monotonic() + delay > deadline:
                    raise
                log.warning("Redis unreachable (%s); trying again in %.2f s", exc, delay)
            time.sleep(delay)
            delay = min(delay * 2, MAX_RETRY_DELAY_S)

    def durably(self, call: Callable[[], T], *near: str) -> T:
        """``call()`` then ``replicated(*near)``, the two waiting out an outage together
        (``patiently``): a master lost before its replicas had the write runs it again on the
        replica that took over."""

        def then_replicated() -> T:
            result = call()
            self.replicated(*near)
            return result

        return self.patiently(then_replicated)

    def replicated(self, *near: str) -> int:
        """After writes a failover must not lose: wait until ``wait_replicas`` replicas of the
        master of each key ``near`` have everything it was written so far (Redis's WAIT), for
        at most ``wait_timeout_ms``; fewer in that time is logged, not raised (the write stands
        on the master, as without the setting). Nothing when ``wait_replicas`` is 0. Returns
        the fewest replicas that acknowledged, of the masters waited on."""
        if self.wait_replicas <= 0:
            return 0
        fewest = self.wait_replicas
        for mark in dict.fromkeys(self.keys.replication_mark(key) for key in near):
            if time.monotonic() < self._short_until.get(mark, 0.0):
                fewest = 0  # short of replicas a moment ago: not waited on (see below)
                continue
            # WAIT counts what its own connection wrote, so one write of ours goes first on the
            # same connection: a master's replication offset only grows, so it covers every
            # write made there before, by any client.
            pipe = self._master_of(mark).pipeline(transaction=False)
            pipe.set(mark, "1", px=60_000)
            pipe.wait(self.wait_replicas, self.wait_timeout_ms)
            acknowledged = pipe.execute()[1]
            if acknowledged < self.wait_replicas:
                # A master that lost its replica (it died, or was just promoted in its place)
                # would cost every write the whole timeout: it is not waited on for a while.
                self._short_until[mark] = time.monotonic() + SHORT_OF_REPLICAS_PAUSE_S
                log.warning(
                    "%d of %d replicas acknowledged within %d ms (%s): a failover now may lose "
                    "the last writes; not waiting on this master for %g s", acknowledged,
                    self.wait_replicas, self.wait_timeout_ms, mark, SHORT_OF_REPLICAS_PAUSE_S,
                )  # fmt: skip
            fewest = min(fewest, acknowledged)
        return fewest

    def _master_of(self, key: str) -> redis.Redis:
        """A client of the one master holding ``key`` (on one Redis: the client itself)."""
        if is_cluster(self.redis):
            cluster = cast(RedisCluster, self.redis)
            node = cluster.get_node_from_key(key)  # type: ignore[no-untyped-call]
            return cluster.get_redis_connection(node)
        return self.redis

    def pipelined(self, build: Callable[[Any], None], replicate: Sequence[str] = ()) -> list[Any]:
        """The replies of the commands ``build(pipe)`` queues, sent in one round trip (no
        transaction: each script is atomic on its own). Scripts are queued as
        ``pipe.evalsha(self.sha("name"), ...)``; after a Redis restart (on a cluster: a replica
        promoted) emptied a script cache, they are loaded and the commands that failed for it
        sent again, only those (on a cluster the other masters ran theirs). Waits out an outage
        (``patiently``), so every command queued must be safe to repeat. Then ``replicated``
        for the keys ``replicate`` (in the same wait: a failover before the replicas had the
        writes sends them again, to the new master)."""

        def call() -> list[Any]:
            pipe = self.redis.pipeline(transaction=False)
            build(pipe)
            replies = pipe.execute(raise_on_error=False)
            missing = [n for n, reply in enumerate(replies) if isinstance(reply, NO_SCRIPT)]
            if missing:
                self._scripts.load()
                pipe = self.redis.pipeline(transaction=False)
                build(_Only(pipe, missing))
                for n, reply in zip(missing, pipe.execute(raise_on_error=False), strict=True):
                    replies[n] = reply
            for reply in replies:
                if isinstance(reply, Exception):
                    raise reply
            self.replicated(*replicate)
            return replies

        return self.patiently(call)

    def sha(self, script: str) -> str:
        """The SHA1 of ``lua/<script>.lua``, for ``pipe.evalsha`` in ``pipelined``."""
        return str(self._scripts[script].sha)

    def load_scripts(self) -> None:
        """Load every script now (see ``Scripts.load``): the beat does, before its first tick."""
        self._scripts.load()

    def check_redis_is_safe(self) -> None:
        """Refuse to run on a Redis that may evict keys: a lost due entry is a lost fire."""
        # INFO, not CONFIG GET: managed Redis services often disable CONFIG but all answer INFO.
        # On a cluster, every node's (a replica is a master after a failover).
        if is_cluster(self.redis):
            answers = self.redis.info("memory", target_nodes=RedisCluster.ALL_NODES)
            policies = {answer.get("maxmemory_policy", "") for answer in answers.values()}
        else:
            policies = {self.redis.info("memory").get("maxmemory_policy", "")}
        unsafe = sorted(policies - set(SAFE_EVICTION_POLICIES))
        if unsafe:
            raise UnsafeRedisConfig(
                f"Redis maxmemory-policy is {unsafe[0]!r}: it may evict schedules. Set it to "
                "'noeviction' (CONFIG SET maxmemory-policy noeviction, and in redis.conf)."
            )
        self.check_partitions()

    def check_partitions(self) -> None:
        """Record the partition count at first start; refuse to run with another one (the
        data would be looked for in the wrong partitions). Data stored before the count was
        recorded was stored in one partition."""
        key = self.keys.partition_count()
        stored = cast(str | None, self.redis.get(key))
        if stored is None:
            before = self.redis.exists(self.keys.definitions(), self.keys.due())
            stored = "1" if before else str(self.partitions)
            self.redis.set(key, stored, nx=True)
            stored = (
                cast(str | None, self.redis.get(key)) or stored
            )  # another process may have been first
        if int(stored) != self.partitions:
            raise ConfigError(
                f"SCHEDULER_PARTITIONS={self.partitions}, but this Redis holds data in "
                f"{int(stored)} partition(s) (key {key!r}): set SCHEDULER_PARTITIONS={stored}. "
                "The count can't change on a running deployment (each schedule's keys live in "
                "the partition its id hashes to); to change it, move the schedules with "
                "`scheduler restore` from backups into an empty Redis."
            )
