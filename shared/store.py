"""The Redis store: every key the service uses, every Lua script, and the verbs over them.

Nothing else in the project spells a key or runs a script. The data model on one page:

======================  ======  ===============================================  ==================
key (``Keys`` method)   type    contents                                         expires
======================  ======  ===============================================  ==================
``due``                 ZSET    schedule id -> next fire (UTC ms): the due index  never
``retries``             ZSET    execution id -> retry at (ms)                    never (drained)
``leases``              ZSET    claimed member -> lease expiry (ms)              never (drained)
``claims``              HASH    claimed member -> "token|kind|due ms|version"    never (drained)
``definitions``         HASH    schedule id -> schedule JSON (``Schedule``)      never
``versions``            HASH    schedule id -> edit counter                      never
``run_counts``          HASH    schedule id -> fires dispatched                  never
``retry_payloads``      HASH    execution id -> retry JSON                       never (drained)
``account_index(a, d)`` ZSET   schedule id -> created ms, per account+dialect   never
``history(s)``          LIST    run record JSON, newest first, capped            retention
``retired(s)``          STRING  a purged (done) schedule's JSON: who owns history retention
``execution(e)``        STRING  "state|attempt" of one execution (dedupe)        retention
``dead_letters``        HASH    execution id -> dead letter JSON                 never
``dead_index``          ZSET    execution id -> died at (ms)                     never
``account_dead_index``  ZSET    execution id -> died at, per account+dialect      never
``accounts``            HASH    appkey -> account JSON (secrets hashed)          never
``account_keys``        HASH    "userkey:<sha256>" -> appkey                     never
``beat_heartbeat``      STRING  last tick (ms), set by ``claim.lua``             60 s
``wake_channel``        pubsub  next fire (ms) of a schedule just written        -
======================  ======  ===============================================  ==================

Every engine key carries the hash tag ``{<partition>}`` (one partition today), so each script
touches one Redis Cluster slot; Celery's queue lists (kombu's, named after the queue) are the one
exception, written by ``commit.lua`` in the same atomic step as the schedule's advance.

The beat's idle tick is one ``claim.lua`` call: ``ZRANGEBYSCORE`` on the due index costs O(log N)
and the script also answers when the next thing is due.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

from shared.errors import QuotaExceeded, UnsafeRedisConfig
from shared.model import POOLS, RunRecord, Schedule

LUA_DIR = Path(__file__).with_name("lua")
SAFE_EVICTION_POLICIES = ("noeviction",)
HEARTBEAT_TTL_S = 60


class Keys:
    """The key schema. One method per key; see the table in this module's docstring."""

    def __init__(self, prefix: str = "sched", partition: str = "0") -> None:
        self.base = f"{prefix}:{{{partition}}}"
        self.prefix = prefix

    def due(self) -> str:
        return f"{self.base}:due"

    def retries(self) -> str:
        return f"{self.base}:retries"

    def leases(self) -> str:
        return f"{self.base}:leases"

    def claims(self) -> str:
        return f"{self.base}:claims"

    def definitions(self) -> str:
        return f"{self.base}:definitions"

    def versions(self) -> str:
        return f"{self.base}:versions"

    def run_counts(self) -> str:
        return f"{self.base}:run_counts"

    def retry_payloads(self) -> str:
        return f"{self.base}:retry_payloads"

    def account_index(self, account: str, dialect: str) -> str:
        """An account's schedules of one dialect: each API lists (and counts) only its own."""
        return f"{self.base}:account:{account}:{dialect}"

    def history(self, schedule_id: str) -> str:
        return f"{self.base}:history:{schedule_id}"

    def retired(self, schedule_id: str) -> str:
        """A definition purged after its last fire, kept as long as its history."""
        return f"{self.base}:retired:{schedule_id}"

    def execution(self, execution_id: str) -> str:
        return f"{self.base}:execution:{execution_id}"

    def dead_letters(self) -> str:
        return f"{self.base}:dead_letters"

    def dead_index(self) -> str:
        return f"{self.base}:dead_index"

    def account_dead_index(self, account: str, dialect: str) -> str:
        """An account's dead letters of one dialect (the API and dashboard list these)."""
        return f"{self.base}:dead:{account}:{dialect}"

    def accounts(self) -> str:
        return f"{self.prefix}:accounts"

    def account_keys(self) -> str:
        return f"{self.prefix}:account_keys"

    def beat_heartbeat(self) -> str:
        return f"{self.base}:beat_heartbeat"

    def wake_channel(self) -> str:
        return f"{self.prefix}:wake"

    # --- push schedules (/v4/schedules) ---------------------------------------------------

    # --- task scheduler (/api/v1/api.php) -------------------------------------------------

    # --- beacon jobs (/api/jobs) ----------------------------------------------------------

    @staticmethod
    def queue(name: str) -> str:
        """kombu's Redis transport keeps a queue's messages in a list named after the queue."""
        return name


@dataclass(frozen=True)
class ClaimedEntry:
    """One thing a beat claimed: a schedule fire (``kind`` "s") or a retry (``kind`` "r")."""

    kind: str
    member: str
    due_ms: int
    version: int
    body: str
    runs: int


@dataclass(frozen=True)
class ClaimResult:
    next_wake_ms: int | None
    entries: list[ClaimedEntry]


@dataclass(frozen=True)
class Commit:
    """What the beat decided for one claimed entry."""

    member: str
    next_ms: int | None  # None: no future fire
    queue: str | None  # None: publish nothing (a skipped misfire)
    message: str = ""
    # set (account, dialect): delete the definition when it has no future fire
    purge_from: tuple[str, str] | None = None
    counts_as_run: bool = True
    retain_s: int = 0  # keep a purged definition this long as ``retired`` (0 = not at all)


class Store:
    """Symmetric verbs over the key schema. Holds no state besides the client and the scripts."""

    def __init__(self, client: redis.Redis, prefix: str = "sched") -> None:
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

    @classmethod
    def from_url(cls, url: str, prefix: str = "sched") -> Store:
        return cls(redis.Redis.from_url(url, decode_responses=True), prefix)

    # --- safety ---------------------------------------------------------------------------

    def check_redis_is_safe(self) -> None:
        """Refuse to run on a Redis that may evict keys: a lost due entry is a lost fire."""
        policy = self.redis.config_get("maxmemory-policy").get("maxmemory-policy", "")
        if policy not in SAFE_EVICTION_POLICIES:
            raise UnsafeRedisConfig(
                f"Redis maxmemory-policy is {policy!r}: it may evict schedules. Set it to "
                "'noeviction' (CONFIG SET maxmemory-policy noeviction, and in redis.conf)."
            )

    # --- schedules ------------------------------------------------------------------------

    def put_schedule(
        self, schedule: Schedule, next_ms: int | None, *, quota: int = 0, new: bool = True
    ) -> int:
        """Create or replace a schedule; ``next_ms`` None keeps it out of the due index.

        ``new`` resets its run counter (a fresh definition). Raises QuotaExceeded when a new
        schedule would take the account past ``quota`` (0 = no limit).
        """
        keys, args = self._put_call(schedule, next_ms, quota, new)
        version = self._scripts["put_schedule"](keys=keys, args=args)
        if version == -1:
            raise QuotaExceeded(f"account {schedule.account} already has {quota} schedules")
        return int(version)

    def put_schedules(
        self, items: Iterable[tuple[Schedule, int | None]], chunk: int = 1000
    ) -> None:
        """Bulk create (restore, benchmarks): the same script per schedule, pipelined by chunks."""
        script = self._scripts["put_schedule"]
        pipe = self.redis.pipeline(transaction=False)
        for n, (schedule, next_ms) in enumerate(items, 1):
            keys, args = self._put_call(schedule, next_ms, quota=0, new=True)
            script(keys=keys, args=args, client=pipe)
            if n % chunk == 0:
                pipe.execute()
        pipe.execute()

    def _put_call(
        self, schedule: Schedule, next_ms: int | None, quota: int, new: bool
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``put_schedule.lua`` for one schedule."""
        k = self.keys
        keys = [
            k.definitions(),
            k.versions(),
            k.due(),
            k.account_index(schedule.account, schedule.dialect),
            k.run_counts(),
        ]
        args = [
            schedule.id,
            dumps(schedule.to_dict()),
            -1 if next_ms is None else next_ms,
            schedule.created_ms,
            quota,
            k.wake_channel(),
            1 if new else 0,
        ]
        return keys, args

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        raw = self.redis.hget(self.keys.definitions(), schedule_id)
        return Schedule.from_dict(json.loads(raw)) if raw else None

    def retired_schedule(self, schedule_id: str) -> Schedule | None:
        raw = self.redis.get(self.keys.retired(schedule_id))
        return Schedule.from_dict(json.loads(raw)) if raw else None

    def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        if not schedule_ids:
            return []
        raws = self.redis.hmget(self.keys.definitions(), list(schedule_ids))
        return [Schedule.from_dict(json.loads(raw)) for raw in raws if raw]

    def delete_schedule(self, schedule: Schedule) -> bool:
        k = self.keys
        deleted = self._scripts["delete_schedule"](
            keys=[
                k.definitions(),
                k.versions(),
                k.due(),
                k.account_index(schedule.account, schedule.dialect),
                k.run_counts(),
            ],
            args=[schedule.id],
        )
        return bool(deleted)

    def list_schedule_ids(
        self, account: str, dialect: str, offset: int = 0, count: int = 50
    ) -> list[str]:
        """An account's schedule ids of one dialect, in creation order (paged; count -1 = all)."""
        stop = -1 if count < 0 else offset + count - 1
        return self.redis.zrange(self.keys.account_index(account, dialect), offset, stop)

    def count_schedules(self, account: str, dialect: str) -> int:
        return self.redis.zcard(self.keys.account_index(account, dialect))

    def next_fire_ms(self, schedule_id: str) -> int | None:
        score = self.redis.zscore(self.keys.due(), schedule_id)
        return None if score is None else int(score)

    def run_count(self, schedule_id: str) -> int:
        return int(self.redis.hget(self.keys.run_counts(), schedule_id) or 0)

    # --- beat -----------------------------------------------------------------------------

    def claim(self, now_ms: int, lease_ms: int, limit: int, token: str) -> ClaimResult:
        k = self.keys
        raw = self._scripts["claim"](
            keys=[
                k.due(),
                k.retries(),
                k.leases(),
                k.claims(),
                k.definitions(),
                k.versions(),
                k.run_counts(),
                k.retry_payloads(),
                k.beat_heartbeat(),
            ],
            args=[now_ms, lease_ms, limit, token, HEARTBEAT_TTL_S],
        )
        wake = int(raw[0])
        entries = [
            ClaimedEntry(
                kind=raw[i],
                member=raw[i + 1],
                due_ms=int(float(raw[i + 2])),
                version=int(raw[i + 3]),
                body=raw[i + 4],
                runs=int(raw[i + 5]),
            )
            for i in range(1, len(raw), 6)
        ]
        return ClaimResult(next_wake_ms=None if wake < 0 else wake, entries=entries)

    def commit(self, token: str, commits: Iterable[Commit]) -> list[int]:
        """Publish and advance claimed entries; one status per commit (see commit.lua)."""
        k = self.keys
        keys = [
            k.due(),
            k.leases(),
            k.claims(),
            k.definitions(),
            k.versions(),
            k.run_counts(),
            k.retry_payloads(),
        ]
        positions: dict[str, int] = {}

        def position(key: str) -> int:
            if key not in positions:
                keys.append(key)
                positions[key] = len(keys)  # Lua's KEYS is 1-based
            return positions[key]

        for pool in POOLS:
            position(k.queue(pool))
        args: list[Any] = [token]
        for c in commits:
            args += [
                c.member,
                -1 if c.next_ms is None else c.next_ms,
                position(k.queue(c.queue)) if c.queue else 0,
                c.message,
                position(k.account_index(*c.purge_from)) if c.purge_from else 0,
                1 if c.counts_as_run else 0,
                position(k.retired(c.member)) if c.purge_from and c.retain_s else 0,
                c.retain_s,
            ]
        if len(args) == 1:
            return []
        return [int(s) for s in self._scripts["commit"](keys=keys, args=args)]

    def wait_for_wake(self) -> redis.client.PubSub:
        """A subscription to the channel where writers announce new next-fire instants."""
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(self.keys.wake_channel())
        return pubsub

    def last_beat_ms(self) -> int | None:
        raw = self.redis.get(self.keys.beat_heartbeat())
        return int(raw) if raw else None

    # --- executions -----------------------------------------------------------------------

    def begin_execution(self, execution_id: str, attempt: int, retention_s: int) -> str:
        """ "run" if this attempt should run now, else why not ("done" or "stale")."""
        return self._scripts["begin_execution"](
            keys=[self.keys.execution(execution_id)], args=[attempt, retention_s]
        )

    def finish_execution(
        self,
        record: RunRecord,
        outcome: str,
        *,
        now_ms: int,
        history_cap: int,
        retention_s: int,
        retry_at_ms: int = 0,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Write the run record and mark the execution done, retrying or dead, atomically."""
        if outcome not in ("done", "retry", "dead"):
            raise ValueError(f"unknown outcome {outcome!r}")
        k = self.keys
        self._scripts["finish_execution"](
            keys=[
                k.execution(record.id),
                k.history(record.schedule),
                k.retries(),
                k.retry_payloads(),
                k.dead_letters(),
                k.dead_index(),
                self._dead_index_of((payload or {}).get("execution", {})),
            ],
            args=[
                record.id,
                outcome,
                dumps(record.to_dict()),
                record.attempt,
                history_cap,
                retention_s,
                now_ms,
                retry_at_ms,
                dumps(payload or {}),
                k.wake_channel(),
            ],
        )

    def execution_state(self, execution_id: str) -> str | None:
        return self.redis.get(self.keys.execution(execution_id))

    def history(self, schedule_id: str, limit: int = 100) -> list[RunRecord]:
        raws = self.redis.lrange(self.keys.history(schedule_id), 0, limit - 1)
        return [RunRecord.from_dict(json.loads(raw)) for raw in raws]

    def dead_letters(
        self, offset: int = 0, count: int = 100, owner: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Dead letters, newest first: all of them, or one (account, dialect)'s."""
        index = self.keys.account_dead_index(*owner) if owner else self.keys.dead_index()
        ids = self.redis.zrevrange(index, offset, offset + count - 1)
        if not ids:
            return []
        raws = self.redis.hmget(self.keys.dead_letters(), ids)
        return [json.loads(raw) for raw in raws if raw]

    def redrive(self, execution_id: str, now_ms: int, retry: dict[str, Any]) -> bool:
        k = self.keys
        return bool(
            self._scripts["redrive"](
                keys=[
                    k.dead_letters(),
                    k.dead_index(),
                    k.retries(),
                    k.retry_payloads(),
                    k.execution(execution_id),
                    self._dead_index_of(retry.get("execution", {})),
                ],
                args=[execution_id, now_ms, dumps(retry), k.wake_channel()],
            )
        )

    def _dead_index_of(self, execution: dict[str, Any]) -> str:
        return self.keys.account_dead_index(
            execution.get("account", ""), execution.get("dialect", "")
        )

    def dead_letter(self, execution_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.dead_letters(), execution_id)
        return json.loads(raw) if raw else None

    # --- accounts -------------------------------------------------------------------------

    def put_account(self, account: dict[str, Any]) -> None:
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(self.keys.accounts(), account["appkey"], dumps(account))
        pipe.hset(
            self.keys.account_keys(), f"userkey:{account['userkey_sha256']}", account["appkey"]
        )
        pipe.execute()

    def get_account(self, appkey: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.accounts(), appkey)
        return json.loads(raw) if raw else None

    def appkey_for_userkey(self, userkey_sha256: str) -> str | None:
        return self.redis.hget(self.keys.account_keys(), f"userkey:{userkey_sha256}")

    def list_accounts(self) -> list[dict[str, Any]]:
        return [json.loads(raw) for raw in self.redis.hvals(self.keys.accounts())]

    # --- push schedules (/v4/schedules) ---------------------------------------------------

    # --- task scheduler (/api/v1/api.php) -------------------------------------------------

    # --- beacon jobs (/api/jobs) ----------------------------------------------------------


def dumps(data: Any) -> str:
    """Compact JSON, the one serialisation for stored values."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def new_token() -> str:
    return uuid.uuid4().hex
