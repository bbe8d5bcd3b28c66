"""Schedules and the beat: put, get, delete and list definitions; claim due fires and commit
what the beat decided, atomically."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from enum import IntEnum
from typing import Any, cast

import redis
from redis.cluster import RedisCluster

from shared.contract import POOLS
from shared.errors import QuotaExceeded
from shared.messages import batch_envelope
from shared.model import Schedule
from shared.store.base import is_cluster
from shared.store.definitions import decode_definition, due_bucket, encode_definition
from shared.store.keys import Keys
from shared.store.listing import ListingVerbs
from shared.store.wake import ClusterWakeWatch

HEARTBEAT_TTL_S = 60
OVER_QUOTA = -1  # put_schedule.lua's answer when a new schedule would pass the account's quota


class CommitStatus(IntEnum):
    """What ``commit.lua`` answers for each claimed entry."""

    LEASE_LOST = 0  # the claim is not ours (any more): nothing published
    COMMITTED = 1  # published (when it had a queue) and advanced, unless edited since the claim
    DELETED = 2  # the definition was deleted since the claim: nothing published
    # A fire of a schedule whose previous execution has not finished, under its overlap policy
    # (both advanced the schedule, as COMMITTED does):
    SKIPPED = 3  # not published: the caller records it as skipped
    BUFFERED = 4  # waits: published when the running execution ends (finish_execution.lua)

    @property
    def committed(self) -> bool:
        return self not in (CommitStatus.LEASE_LOST, CommitStatus.DELETED)


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
    republish_ms: int | None = None  # the ledger's earliest deadline (None: nothing published)


@dataclass(frozen=True)
class Commit:
    """What the beat decided for one claimed entry."""

    member: str
    next_ms: int | None  # None: no future fire
    queue: str | None  # None: publish nothing (a skipped misfire)
    message: str = ""
    # set (account, dialect): delete the definition when it has no future fire
    purge_from: tuple[str, str] | None = None
    # the purged schedule's created ms: where its account index entry is looked for (0: from
    # the first bucket; see lua/lib/account_index.lua)
    created_ms: int = 0
    counts_as_run: bool = True
    retain_s: int = 0  # keep a purged definition this long as ``retired`` (0 = not at all)
    # The published message's id in the ledger of published executions ("" = not recorded)
    ledger_id: str = ""
    # Set: the execution's JSON, published in one message with the others of this commit for
    # the same queue and ``batch_task`` (commit.lua; ``message`` if it is the only one)
    batch: str = ""
    batch_task: str = ""
    # The schedule's overlap policy when it is not allow_all ("": publish whatever runs)
    overlap: str = ""


class WakeWatch:
    """A running subscription to the wake channel; ``close()`` ends it."""

    def __init__(
        self, pubsub: redis.client.PubSub, thread: redis.client.PubSubWorkerThread
    ) -> None:
        self._pubsub = pubsub
        self._thread = thread

    def close(self) -> None:
        self._thread.stop()
        self._thread.join(timeout=2.0)  # it is inside get_message for up to its sleep_time
        self._pubsub.close()


class ScheduleVerbs(ListingVerbs):
    """Definitions, the due index and the beat's claim/commit."""

    def put_schedule(
        self, schedule: Schedule, next_ms: int | None, *, quota: int = 0, new: bool = True
    ) -> int:
        """Create or replace a schedule; ``next_ms`` None keeps it out of the due index.

        ``new`` resets its run counter (a fresh definition). Raises QuotaExceeded when a new
        schedule would take the account past ``quota`` (0 = no limit). With P > 1 partitions
        the account's schedules in the others are counted first (one more round trip): two
        creates racing in two partitions may both pass the last free place.
        """
        elsewhere = self._held_elsewhere(schedule) if quota and self.partitions > 1 else 0
        keys, args = self._put_call(schedule, next_ms, quota, new, elsewhere)
        version = self._scripts["put_schedule"](keys=keys, args=args)
        self.replicated(keys[0])  # a schedule the API confirmed survives a failover
        if version == OVER_QUOTA:
            raise QuotaExceeded(
                f"account {schedule.account} already has {quota} schedules", limit=quota
            )
        return int(version)

    def put_schedules(
        self, items: Iterable[tuple[Schedule, int | None]], chunk: int = 1000
    ) -> None:
        """Bulk create (restore, benchmarks): the same script per schedule, pipelined by chunks."""
        script = self._scripts["put_schedule"]
        if is_cluster(self.redis):  # its pipelines do not load a script they lack, as one's do
            self.redis.script_load(script.script)
        pipe = self.redis.pipeline(transaction=False)
        for n, (schedule, next_ms) in enumerate(items, 1):
            keys, args = self._put_call(schedule, next_ms, quota=0, new=True)
            script(keys=keys, args=args, client=pipe)
            if n % chunk == 0:
                pipe.execute()
        pipe.execute()

    def _put_call(
        self, schedule: Schedule, next_ms: int | None, quota: int, new: bool, elsewhere: int = 0
    ) -> tuple[list[str], list[Any]]:
        """KEYS and ARGV of ``put_schedule.lua`` for one schedule."""
        keys = self._definition_keys(schedule)
        args = [
            schedule.id,
            encode_definition(schedule),
            -1 if next_ms is None else next_ms,
            schedule.created_ms,
            quota,
            self.keys.wake_channel(),
            1 if new else 0,
            elsewhere,
            self.partition_for(schedule.id),
            self.partitions,
        ]
        return keys, args

    def _definition_keys(self, schedule: Schedule) -> list[str]:
        """The KEYS that ``put_schedule.lua`` and ``delete_schedule.lua`` share, in their order."""
        k = self.keys_for(schedule.id)
        return [
            k.definitions(),
            k.versions(),
            k.due(),
            k.account_index(schedule.account, schedule.dialect),
            k.run_counts(),
        ]

    def get_schedule(self, schedule_id: str) -> Schedule | None:
        definitions = self.keys_for(schedule_id).definitions()
        raw = cast(str | None, self.redis.hget(definitions, schedule_id))
        return decode_definition(schedule_id, raw) if raw else None

    def retired_schedule(self, schedule_id: str) -> Schedule | None:
        raw = cast(str | None, self.redis.get(self.keys_for(schedule_id).retired(schedule_id)))
        return decode_definition(schedule_id, raw) if raw else None

    def get_schedules(self, schedule_ids: Sequence[str]) -> list[Schedule]:
        """The stored ones of ``schedule_ids``, in their order: one round trip, an HMGET per
        partition that holds some."""
        if not schedule_ids:
            return []
        raws = self.per_partition(
            schedule_ids, lambda pipe, k, ids: pipe.hmget(k.definitions(), ids)
        )
        return [
            decode_definition(schedule_id, raw)
            for schedule_id, raw in zip(schedule_ids, raws, strict=True)
            if raw
        ]

    def delete_schedule(self, schedule: Schedule) -> bool:
        k = self.keys_for(schedule.id)
        overlap = [k.overlap_running(), k.overlap_buffer(schedule.id)]
        deleted = self._scripts["delete_schedule"](
            keys=[*self._definition_keys(schedule), *overlap],
            args=[schedule.id, schedule.created_ms * self.partitions],
        )
        return bool(deleted)

    def next_fire_ms(self, schedule_id: str) -> int | None:
        return self.fire_facts([schedule_id])[0][0]

    def run_count(self, schedule_id: str) -> int:
        return int(self.redis.hget(self.keys_for(schedule_id).run_counts(), schedule_id) or 0)

    def fire_facts(self, schedule_ids: Sequence[str]) -> list[tuple[int | None, int]]:
        """(next fire or None, fires so far) of each schedule, in two round trips: what a
        listing of many schedules shows beside each. The first reads the definitions, which
        name the due index's bucket holding each (lib/due_index.lua); a schedule keeps it for
        life, so the two reads agree."""
        if not schedule_ids:
            return []
        raws = self.per_partition(
            schedule_ids, lambda pipe, k, ids: pipe.hmget(k.definitions(), ids)
        )
        pipe = self.redis.pipeline(transaction=False)
        for schedule_id, raw in zip(schedule_ids, raws, strict=True):
            k = self.keys_for(schedule_id)
            bucket = due_bucket(raw) if raw else None
            pipe.zscore(k.due_bucket(bucket) if bucket else k.due(), schedule_id)
        for schedule_id in schedule_ids:
            pipe.hget(self.keys_for(schedule_id).run_counts(), schedule_id)
        replies = pipe.execute()
        scores, counts = replies[: len(schedule_ids)], replies[len(schedule_ids) :]
        return [
            (None if score is None else int(score), int(count or 0))
            for score, count in zip(scores, counts, strict=True)
        ]

    # --- beat -----------------------------------------------------------------------------

    def claim(
        self, now_ms: int, lease_ms: int, limit: int, token: str, partition: int = 0
    ) -> ClaimResult:
        k = self.partition_keys[partition]
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
                k.published(),
            ],
            args=[now_ms, lease_ms, limit, token, HEARTBEAT_TTL_S],
        )
        wake, republish = int(raw[0]), int(raw[1])
        entries = [
            ClaimedEntry(
                kind=raw[i],
                member=raw[i + 1],
                due_ms=int(float(raw[i + 2])),
                version=int(raw[i + 3]),
                body=raw[i + 4],
                runs=int(raw[i + 5]),
            )
            for i in range(2, len(raw), 6)
        ]
        return ClaimResult(
            next_wake_ms=None if wake < 0 else wake,
            entries=entries,
            republish_ms=None if republish < 0 else republish,
        )

    def commit(
        self,
        token: str,
        commits: Iterable[Commit],
        *,
        now_ms: int,
        republish_after_ms: int,
        batch_size: int = 1,
        partition: int = 0,
    ) -> list[CommitStatus]:
        """Publish and advance entries claimed from ``partition``, recording each published
        message that has a ``ledger_id`` with the deadline ``now_ms + republish_after_ms``; one
        status per commit (see commit.lua). Commits with a ``batch`` go out ``batch_size`` to a
        message."""
        k = self.partition_keys[partition]
        keys = [
            k.due(),
            k.leases(),
            k.claims(),
            k.definitions(),
            k.versions(),
            k.run_counts(),
            k.retry_payloads(),
            k.published(),
            k.published_messages(),
            k.overlap_running(),
        ]
        positions: dict[str, int] = {}

        def position(key: str) -> int:
            if key not in positions:
                keys.append(key)
                positions[key] = len(keys)  # Lua's KEYS is 1-based
            return positions[key]

        for pool in POOLS:
            position(k.publish_target(pool))
        commits = list(commits)
        envelopes, envelope_of = self._envelopes(token, commits, batch_size, position, k)
        args: list[Any] = [token, now_ms, republish_after_ms, len(envelopes) // 3, *envelopes]
        for n, c in enumerate(commits):
            args += [
                c.member,
                -1 if c.next_ms is None else c.next_ms,
                position(k.publish_target(c.queue)) if c.queue else 0,
                c.message,
                position(k.account_index(*c.purge_from)) if c.purge_from else 0,
                1 if c.counts_as_run else 0,
                position(k.retired(c.member)) if c.purge_from and c.retain_s else 0,
                c.retain_s,
                c.ledger_id,
                envelope_of.get(n, 0),
                c.batch,
                c.overlap,
                position(k.overlap_buffer(c.member)) if c.overlap else 0,
                c.created_ms * self.partitions,
            ]
        if not commits:
            return []
        statuses = [CommitStatus(int(s)) for s in self._scripts["commit"](keys=keys, args=args)]
        self.replicated(k.due())  # the fires' advance and ledger survive a failover
        return statuses

    def _envelopes(
        self,
        token: str,
        commits: list[Commit],
        batch_size: int,
        position: Callable[[str], int],
        k: Keys,
    ) -> tuple[list[Any], dict[int, int]]:
        """The batch envelopes of a commit (flat triples for commit.lua), and each batched
        commit's envelope number: the commits for one queue and task, ``batch_size`` at most
        per message."""
        envelopes: list[Any] = []
        envelope_of: dict[int, int] = {}
        open_by_task: dict[tuple[str, str], tuple[int, int]] = {}  # -> (envelope, members)
        for n, c in enumerate(commits):
            if not (c.batch and c.queue and c.batch_task):
                continue
            number, members = open_by_task.get((c.queue, c.batch_task), (0, batch_size))
            if members >= batch_size:
                number, members = len(envelopes) // 3 + 1, 0
                task_id = f"{token}.b{number}"
                head, tail = batch_envelope(c.batch_task, task_id, c.queue, batch_size, task_id)
                envelopes += [position(k.publish_target(c.queue)), head, tail]
            open_by_task[(c.queue, c.batch_task)] = (number, members + 1)
            envelope_of[n] = number
        return envelopes, envelope_of

    def watch_wake(
        self,
        on_announce: Callable[[int], None],
        on_error: Callable[[BaseException], None],
    ) -> WakeWatch | ClusterWakeWatch:
        """Call ``on_announce(next fire ms)``, in a daemon thread, for every instant a writer
        announces on the wake channel (see ``put_schedule.lua``; on a cluster ``wake``);
        ``on_error`` when Redis goes
        away (the thread stays: it reconnects and resubscribes by itself)."""

        def on_message(message: dict[str, Any]) -> None:
            try:
                announced = int(message["data"])
            except (TypeError, ValueError):
                return
            on_announce(announced)

        if is_cluster(self.redis):
            cluster = cast(RedisCluster, self.redis)
            return ClusterWakeWatch(cluster, self.keys.wake_channel(), on_message, on_error)
        pubsub = self.redis.pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(**{self.keys.wake_channel(): on_message})
        thread = pubsub.run_in_thread(
            sleep_time=1.0,
            daemon=True,
            exception_handler=lambda exc, _pubsub, _thread: on_error(exc),
        )
        return WakeWatch(pubsub, thread)

    def last_beat_ms(self) -> int | None:
        """The latest tick of any beat in any partition (each claim sets its partition's)."""
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            pipe.get(k.beat_heartbeat())
        raws = pipe.execute()
        ticks = [int(raw) for raw in raws if raw]
        return max(ticks) if ticks else None
