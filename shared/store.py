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
``account_index(a, d)`` ZSET   schedule id -> created ms (strictly increasing),  never
                                per account+dialect: creation order
``history(s)``          LIST    run record JSON, newest first, capped            retention
``retired(s)``          STRING  a purged (done) schedule's JSON: who owns history retention
``account_runs(a)``     LIST    run record JSON of all an account's schedules,    retention
                                newest first, capped (the dashboard's recent runs)
``execution(e)``        STRING  "state|attempt[|deliveries]" of one execution   retention
                                (dedupe; deliveries bound a crash loop)
``dead_letters``        HASH    execution id -> dead letter JSON                 never
``dead_index``          ZSET    execution id -> died at (ms)                     never
``account_dead_index``  ZSET    execution id -> died at, per account+dialect      never
``accounts``            HASH    appkey -> account JSON (secrets hashed)          never
``account_keys``        HASH    "userkey:<sha256>" -> appkey                     never
``beat_heartbeat``      STRING  last tick (ms), set by ``claim.lua``             60 s
``wake_channel``        pubsub  next fire (ms) of a schedule just written        -
``push_devices(a)``     HASH    registration id -> device JSON (zone, tags)      never
``push_msg_ids(s)``     HASH    "<due ms>:<batch>" -> gateway msg_id             retention
``push_credentials``    HASH    appkey -> Fernet token of gateway credentials    never
``task_counters(a)``    HASH    "task", "item" -> last id issued (task ids)     never
``task_log(s)``         LIST    "<log id>|<entry JSON>", newest first, capped    retention
``task_log_seq(a)``     STRING  last task history log id issued, per account    never
``task_last_run``       HASH    schedule id -> start of its last run (ms)        never
``task_result(e)``      LIST    one run's outcome JSON, for an executeTask wait  minutes
``job_seq(a)``          STRING  last beacon job id issued, per account           never
``job(a, j)``           HASH    a beacon job: lifecycle fields + ``doc`` JSON    retention once done
``job_index(a)``        ZSET    job id -> job id, per account                    never (pruned)
``job_queue(a, b)``     ZSET    queued job id -> q_time (s), per account+beacon  never (drained)
``job_history(a, j)``   LIST    lifecycle event JSON, oldest first, capped       retention
``job_seen(a, j)``      SET     event ids already in the job's history           retention
``job_spawned(e)``      STRING  job id an execution of a scheduled job created   retention
``rate_limits`` + ...   STRING  a rate-limit window counter (limits package)     its window
``dashboard_session(d)`` STRING a dashboard session (JSON), by token digest      session lifetime
======================  ======  ===============================================  ==================

``rate_limits()`` is a prefix, not a key: the ``limits`` package appends its own
``LIMITER/<what>/<who>/<amount>/<multiples>/<granularity>`` to it and expires each counter with its
window (see scheduler_api/ratelimit.py).

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
ACCOUNT_RUNS_CAP = 200  # run records kept per account for the dashboard's "recent runs"


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

    def account_runs(self, account: str) -> str:
        """An account's latest run records, whatever the schedule (purged ones included)."""
        return f"{self.base}:account_runs:{account}"

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

    def push_devices(self, account: str) -> str:
        """An account's device registry (the zones, tags and alias of registration ids)."""
        return f"{self.base}:push:devices:{account}"

    def push_msg_ids(self, schedule_id: str) -> str:
        """The gateway's msg_id of each push a schedule sent, by "<due ms>:<batch>"."""
        return f"{self.base}:push:msg_ids:{schedule_id}"

    def push_credentials(self) -> str:
        return f"{self.prefix}:push_credentials"

    # --- task scheduler (/api/v1/api.php) -------------------------------------------------

    def task_counters(self, account: str) -> str:
        """The last task id and repeat-item id issued to an account (the document's numbers)."""
        return f"{self.base}:tasks:counters:{account}"

    def task_log(self, schedule_id: str) -> str:
        """A task's history (added, updated, started, finished, failed), newest first."""
        return f"{self.base}:tasks:log:{schedule_id}"

    def task_log_seq(self, account: str) -> str:
        """The last log id issued to an account: per account, so another account's activity
        never shows in the ids one account sees."""
        return f"{self.base}:tasks:log_seq:{account}"

    def task_last_run(self) -> str:
        return f"{self.base}:tasks:last_run"

    def task_result(self, execution_id: str) -> str:
        """The outcome of one run, pushed by the worker for an ``executeTask`` waiting on it."""
        return f"{self.base}:tasks:result:{execution_id}"

    # --- beacon jobs (/api/jobs) ----------------------------------------------------------

    def job_seq(self, account: str) -> str:
        """The last beacon job id issued to an account. Job ids are per account (as task ids
        are): a global sequence would show each account how busy the others are."""
        return f"{self.base}:jobs:seq:{account}"

    def job(self, account: str, job_id: int | str) -> str:
        """One beacon job: its lifecycle fields, and its fixed fields as one JSON ``doc``."""
        return f"{self.base}:jobs:job:{account}:{job_id}"

    def job_index(self, account: str) -> str:
        return f"{self.base}:jobs:account:{account}"

    def job_queue(self, account: str, beacon: str) -> str:
        """An account's queued jobs for one beacon, scored by ``q_time`` (unix seconds)."""
        return f"{self.base}:jobs:queued:{account}:{beacon}"

    def job_history(self, account: str, job_id: int | str) -> str:
        return f"{self.base}:jobs:history:{account}:{job_id}"

    def job_seen(self, account: str, job_id: int | str) -> str:
        """Ids of the lifecycle events already written (a redelivered event is not)."""
        return f"{self.base}:jobs:history_seen:{account}:{job_id}"

    def job_spawned(self, execution_id: str) -> str:
        """The job instance a scheduled job's fire created (a redelivered fire creates none)."""
        return f"{self.base}:jobs:spawned:{execution_id}"

    def rate_limits(self) -> str:
        """Prefix under which the ``limits`` package keeps its window counters (no hash tag:
        they are not engine keys and no script of ours touches them)."""
        return f"{self.prefix}:ratelimit"

    # --- dashboard ------------------------------------------------------------------------

    def dashboard_session(self, token_digest: str) -> str:
        """A signed-in dashboard session, by the SHA-256 of its cookie's token (so the store
        holds no token a browser could replay)."""
        return f"{self.prefix}:dashboard_session:{token_digest}"

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
        # INFO, not CONFIG GET: managed Redis services often disable CONFIG but all answer INFO.
        policy = self.redis.info("memory").get("maxmemory_policy", "")
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

    def begin_execution(
        self, execution_id: str, attempt: int, retention_s: int, max_deliveries: int = 3
    ) -> str:
        """ "run" if this attempt should run now, else why not: "done", "stale", or "poison"
        (delivered ``max_deliveries`` times already without finishing: dead-letter it)."""
        return self._scripts["begin_execution"](
            keys=[self.keys.execution(execution_id)],
            args=[attempt, retention_s, max_deliveries],
        )

    def finish_execution(
        self,
        record: RunRecord,
        outcome: str,
        *,
        account: str,
        now_ms: int,
        history_cap: int,
        retention_s: int,
        retry_at_ms: int = 0,
        payload: dict[str, Any] | None = None,
    ) -> None:
        """Write the run record (to its schedule's and its account's history) and mark the
        execution done, retrying or dead, atomically."""
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
                k.account_runs(account),
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
                ACCOUNT_RUNS_CAP,
            ],
        )

    def execution_state(self, execution_id: str) -> str | None:
        return self.redis.get(self.keys.execution(execution_id))

    def history(self, schedule_id: str, limit: int = 100) -> list[RunRecord]:
        raws = self.redis.lrange(self.keys.history(schedule_id), 0, limit - 1)
        return [RunRecord.from_dict(json.loads(raw)) for raw in raws]

    def account_runs(self, account: str, limit: int = ACCOUNT_RUNS_CAP) -> list[RunRecord]:
        """The account's latest run records, newest first, across all its schedules."""
        raws = self.redis.lrange(self.keys.account_runs(account), 0, limit - 1)
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

    def put_device(self, account: str, registration_id: str, device: dict[str, Any]) -> None:
        self.redis.hset(self.keys.push_devices(account), registration_id, dumps(device))

    def get_devices(
        self, account: str, registration_ids: Sequence[str]
    ) -> list[dict[str, Any] | None]:
        """The registered devices among ``registration_ids`` (None where unknown), in order."""
        if not registration_ids:
            return []
        raws = self.redis.hmget(self.keys.push_devices(account), list(registration_ids))
        return [json.loads(raw) if raw else None for raw in raws]

    def all_devices(self, account: str) -> dict[str, dict[str, Any]]:
        raws = self.redis.hgetall(self.keys.push_devices(account))
        return {rid: json.loads(raw) for rid, raw in raws.items()}

    def delete_device(self, account: str, registration_id: str) -> bool:
        return bool(self.redis.hdel(self.keys.push_devices(account), registration_id))

    def add_push_msg_id(self, schedule_id: str, part: str, msg_id: str, retention_s: int) -> None:
        """Record the msg_id of one push (``part`` = "<due ms>:<batch>"); kept as long as runs."""
        key = self.keys.push_msg_ids(schedule_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hset(key, part, msg_id)
        pipe.expire(key, max(1, retention_s))
        pipe.execute()

    def push_msg_ids(self, schedule_id: str) -> dict[str, str]:
        return self.redis.hgetall(self.keys.push_msg_ids(schedule_id))

    def forget_push_msg_ids(self, schedule_id: str) -> None:
        self.redis.delete(self.keys.push_msg_ids(schedule_id))

    def put_push_credentials(self, appkey: str, sealed: str) -> None:
        """An account's push gateway credentials, sealed (encrypted) by ``shared.push``."""
        self.redis.hset(self.keys.push_credentials(), appkey, sealed)

    def sealed_push_credentials(self, appkey: str) -> str | None:
        return self.redis.hget(self.keys.push_credentials(), appkey)

    # --- task scheduler (/api/v1/api.php) -------------------------------------------------

    def publish(self, queue: str, message: str) -> None:
        """Put one ready-made Celery message on a pool's queue: a run now, outside the beat."""
        self.redis.lpush(self.keys.queue(queue), message)

    def next_task_ids(self, account: str, tasks: int, items: int) -> tuple[int, int]:
        """Issue ``tasks`` (0 or 1) task ids and ``items`` repeat-item ids to an account; returns
        the last task id and the first of the item ids."""
        key = self.keys.task_counters(account)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, "task", tasks)
        pipe.hincrby(key, "item", items)
        task, last_item = pipe.execute()
        return int(task), int(last_item) - items + 1

    def raise_task_counters(self, account: str, counters: dict[str, int]) -> None:
        """Move an account's id counters up to ``counters`` (a restore), never down."""
        key = self.keys.task_counters(account)
        current = self.redis.hgetall(key)
        higher = {k: v for k, v in counters.items() if int(current.get(k, 0)) < int(v)}
        if higher:
            self.redis.hset(key, mapping=higher)

    def log_task(
        self,
        schedule_id: str,
        entry: dict[str, Any],
        *,
        account: str,
        cap: int,
        retention_s: int,
        run_started_ms: int | None = None,
    ) -> int:
        """Add an entry to a task's history; returns its log id. ``run_started_ms`` also makes
        it the task's last run."""
        k = self.keys
        return int(
            self._scripts["task_log"](
                keys=[k.task_log(schedule_id), k.task_log_seq(account), k.task_last_run()],
                args=[
                    dumps(entry),
                    max(1, cap),
                    max(1, retention_s),
                    schedule_id,
                    "" if run_started_ms is None else run_started_ms,
                ],
            )
        )

    def task_log_entries(self, schedule_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A task's history, newest first, each entry with its ``log_id``."""
        raws = self.redis.lrange(self.keys.task_log(schedule_id), 0, limit - 1)
        entries = []
        for raw in raws:
            log_id, _, body = raw.partition("|")
            entries.append({**json.loads(body), "log_id": int(log_id)})
        return entries

    def task_last_runs(self, schedule_ids: Sequence[str]) -> list[int | None]:
        if not schedule_ids:
            return []
        raws = self.redis.hmget(self.keys.task_last_run(), list(schedule_ids))
        return [None if raw is None else int(raw) for raw in raws]

    def forget_task(self, schedule_id: str) -> None:
        """Drop a deleted task's history and last run."""
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(self.keys.task_log(schedule_id))
        pipe.hdel(self.keys.task_last_run(), schedule_id)
        pipe.execute()

    def put_task_result(self, execution_id: str, result: dict[str, Any], ttl_s: int) -> None:
        key = self.keys.task_result(execution_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, dumps(result))
        pipe.expire(key, max(1, ttl_s))
        pipe.execute()

    def wait_task_result(self, execution_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The first outcome pushed for ``execution_id``, waiting up to ``timeout_s``."""
        if timeout_s <= 0:
            raw = self.redis.lpop(self.keys.task_result(execution_id))
            return json.loads(raw) if raw else None
        popped = self.redis.blpop([self.keys.task_result(execution_id)], timeout=timeout_s)
        return json.loads(popped[1]) if popped else None

    def account_snapshot(
        self, account: str
    ) -> tuple[dict[str, int], list[tuple[dict[str, Any], int | None, int]]]:
        """Every schedule of ``account`` (all dialects) with its next fire and run count, and
        the account's task id counters, read in one atomic step."""
        k = self.keys
        indexes = sorted(self.redis.scan_iter(match=k.account_index(account, "*"), count=1000))
        keys = [k.definitions(), k.due(), k.run_counts(), k.task_counters(account), *indexes]
        flat_counters, flat = self._scripts["snapshot_account"](keys=keys, args=[])
        counters = {
            flat_counters[i]: int(flat_counters[i + 1]) for i in range(0, len(flat_counters), 2)
        }
        rows = []
        for i in range(0, len(flat), 3):
            next_ms = int(float(flat[i + 1]))
            rows.append((json.loads(flat[i]), None if next_ms < 0 else next_ms, int(flat[i + 2])))
        return counters, rows

    def restore_schedules(self, items: Sequence[tuple[Schedule, int | None, int]]) -> None:
        """Put schedules back as they were (ids kept), with their next fire and run count."""
        self.put_schedules((schedule, next_ms) for schedule, next_ms, _ in items)
        runs = {schedule.id: count for schedule, _, count in items if count}
        if runs:
            self.redis.hset(self.keys.run_counts(), mapping=runs)

    # --- beacon jobs (/api/jobs) ----------------------------------------------------------

    def next_job_id(self, account: str) -> int:
        return int(self.redis.incr(self.keys.job_seq(account)))

    def create_job(
        self,
        job_id: int,
        account: str,
        beacon: str,
        fields: dict[str, str],
        *,
        queue_at_s: int | None,
        event: str,
        dedupe: str | None = None,
        retention_s: int = 1,
    ) -> int:
        """Store a job (``fields`` as its hash), queued at ``queue_at_s`` unless None. With
        ``dedupe`` (an execution id) a second call returns the first call's job id instead."""
        k = self.keys
        flat: list[str] = [part for pair in fields.items() for part in pair]
        return int(
            self._scripts["job_create"](
                keys=[
                    k.job(account, job_id),
                    k.job_index(account),
                    k.job_queue(account, beacon),
                    k.job_spawned(dedupe or ""),
                    k.queue("jobs"),
                ],
                args=[
                    job_id,
                    -1 if queue_at_s is None else queue_at_s,
                    event,
                    1 if dedupe else 0,
                    max(1, retention_s),
                    *flat,
                ],
            )
        )

    def get_job(self, account: str, job_id: int) -> dict[str, str]:
        """The account's job's hash (empty when the account has no such job)."""
        return self.redis.hgetall(self.keys.job(account, job_id))

    def get_jobs(self, account: str, job_ids: Sequence[int]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(account, job_id))
        return pipe.execute() if job_ids else []

    def job_ids(self, account: str) -> list[int]:
        return [int(i) for i in self.redis.zrange(self.keys.job_index(account), 0, -1)]

    def queued_job_ids(self, account: str, beacon: str) -> list[int]:
        """The beacon's queued jobs, earliest ``q_time`` first."""
        return [int(i) for i in self.redis.zrange(self.keys.job_queue(account, beacon), 0, -1)]

    def forget_job_ids(self, account: str, job_ids: Sequence[int]) -> None:
        """Drop expired jobs from the account's index."""
        if job_ids:
            self.redis.zrem(self.keys.job_index(account), *job_ids)

    def set_job_field(self, account: str, job_id: int, name: str, value: str) -> None:
        self.redis.hset(self.keys.job(account, job_id), name, value)

    def pickup_job(
        self,
        job_id: int,
        account: str,
        beacon: str,
        now_s: int,
        lease: tuple[str, int, str] | None,
        event: str,
    ) -> list[str]:
        """Queued -> picked_up (see job_pickup.lua); ``lease`` is (member, deadline ms, check
        JSON), put in the retry index so the beat hands the check to the jobs pool in time."""
        k = self.keys
        member, deadline, check = lease or ("", 0, "")
        return self._scripts["job_pickup"](
            keys=[
                k.job(account, job_id),
                k.job_queue(account, beacon),
                k.retries(),
                k.retry_payloads(),
                k.queue("jobs"),
            ],
            args=[account, job_id, now_s, member, deadline, check, event, k.wake_channel()],
        )

    def start_job(
        self, job_id: int, account: str, now_s: int, lease: tuple[str, int, str] | None, event: str
    ) -> list[str]:
        """Picked_up -> started, the pickup lease replaced by a run lease (see job_start.lua)."""
        k = self.keys
        member, deadline, check = lease or ("", 0, "")
        return self._scripts["job_start"](
            keys=[k.job(account, job_id), k.retries(), k.retry_payloads(), k.queue("jobs")],
            args=[account, now_s, member, deadline, check, event, k.wake_channel()],
        )

    def finish_job(
        self, job_id: int, account: str, now_s: int, results: str, event: str, retention_s: int
    ) -> list[str]:
        """Started -> finished with its results (see job_finish.lua)."""
        k = self.keys
        return self._scripts["job_finish"](
            keys=[k.job(account, job_id), k.retries(), k.retry_payloads(), k.queue("jobs")],
            args=[account, now_s, results, event, max(1, retention_s)],
        )

    def set_job_task(self, job_id: int, account: str, cur_task: int, event: str) -> list[str]:
        k = self.keys
        return self._scripts["job_task"](
            keys=[k.job(account, job_id), k.queue("jobs")], args=[account, cur_task, event]
        )

    def expire_job_lease(
        self,
        job_id: int,
        account: str,
        beacon: str,
        member: str,
        now_s: int,
        entries: tuple[str, str],
        cap: int,
        retention_s: int,
    ) -> str:
        """Enforce a lease that ran out (see job_expire.lua): "requeued", "failed" or "stale".
        ``entries`` are the history entries for the requeued and the failed case."""
        k = self.keys
        return self._scripts["job_expire"](
            keys=[
                k.job(account, job_id),
                k.job_queue(account, beacon),
                k.job_history(account, job_id),
            ],
            args=[member, job_id, now_s, *entries, max(1, cap), max(1, retention_s)],
        )

    def append_job_history(
        self,
        account: str,
        job_id: int,
        event_id: str,
        entries: Sequence[str],
        cap: int,
        retention_s: int,
    ) -> bool:
        """Write one event's entries to the job's history, unless that event was written."""
        k = self.keys
        return bool(
            self._scripts["job_history"](
                keys=[k.job_history(account, job_id), k.job_seen(account, job_id)],
                args=[event_id, max(1, cap), max(1, retention_s), *entries],
            )
        )

    def job_history(self, account: str, job_id: int) -> list[dict[str, Any]]:
        """The job's history, oldest first."""
        raws = self.redis.lrange(self.keys.job_history(account, job_id), 0, -1)
        return [json.loads(raw) for raw in raws]

    # --- dashboard ------------------------------------------------------------------------

    def put_dashboard_session(self, token_digest: str, record: dict[str, Any], ttl_s: int) -> None:
        self.redis.set(self.keys.dashboard_session(token_digest), dumps(record), ex=max(1, ttl_s))

    def get_dashboard_session(self, token_digest: str) -> dict[str, Any] | None:
        raw = self.redis.get(self.keys.dashboard_session(token_digest))
        return json.loads(raw) if raw else None

    def delete_dashboard_session(self, token_digest: str) -> None:
        self.redis.delete(self.keys.dashboard_session(token_digest))


def dumps(data: Any) -> str:
    """Compact JSON, the one serialisation for stored values."""
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def new_token() -> str:
    return uuid.uuid4().hex
