"""Executions: begin (dedupe, delivery count), finish (run record, retry or dead letter),
history, dead letters and redrive."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from shared.contract import POOLS
from shared.model import RunRecord
from shared.store.base import (
    StoreBase,
    dumps,
)
from shared.store.keys import Keys

ACCOUNT_RUNS_CAP = 200  # run records kept per account for the dashboard's "recent runs"
# How long a buffered fire released by a finish may wait unbegun before the ledger publishes it
# again (callers pass their config's SCHEDULER_REPUBLISH_AFTER_S; this is its default).
DEFAULT_REPUBLISH_AFTER_MS = 10_000


@dataclass(frozen=True)
class Finish:
    """One attempt's end, as ``finish_execution`` writes it (see there)."""

    record: RunRecord
    outcome: str  # "done" | "retry" | "dead"
    account: str
    retry_at_ms: int = 0
    payload: dict[str, Any] | None = None
    # A dead execution's failure notice (shared.execution.failure_notice): its id and the
    # retry payload that publishes it at once, queued in the same atomic step as the death.
    notice: tuple[str, dict[str, Any]] | None = None


class Verdict(StrEnum):
    """What ``begin_execution.lua`` answers: whether this attempt runs now, else why not."""

    RUN = "run"
    RERUN = "rerun"  # run again: the process or worker that ran it was lost (counted)
    DONE = "done"  # the execution finished already: a redelivery or a re-published copy
    STALE = "stale"  # a duplicate of an attempt that finished, or older than one started
    RUNNING = "running"  # a copy of the attempt a live worker runs now (its lease lasts)
    POISON = "poison"  # delivered ``max_deliveries`` times without finishing: dead-letter it

    @property
    def runs(self) -> bool:
        return self in (Verdict.RUN, Verdict.RERUN)


class ExecutionVerbs(StoreBase):
    """One attempt's bookkeeping and what it leaves behind."""

    def begin_execution(
        self,
        execution_id: str,
        attempt: int,
        retention_s: int,
        max_deliveries: int = 3,
        *,
        now_ms: int,
        lease_ms: int,
        delivery_tag: str = "",
    ) -> Verdict:
        """Count a delivery of this attempt and say whether it runs (see ``Verdict``); one that
        runs holds the execution for ``lease_ms`` (its ledger deadline). ``delivery_tag`` is the
        broker's tag of the message being run: the same message handed back means its holder
        was lost, another one is a copy (see begin_execution.lua). Waits out a Redis outage
        (``patiently``); a repeat after a lost answer is the same message again: it counts one
        more delivery, and runs."""
        keys, args = self._begin_call(
            execution_id, attempt, retention_s, max_deliveries, now_ms, lease_ms, delivery_tag
        )
        begin = self._scripts["begin_execution"]
        return Verdict(self.durably(lambda: begin(keys=keys, args=args), keys[0]))

    def begin_executions(
        self,
        attempts: Sequence[tuple[str, int]],
        retention_s: int,
        max_deliveries: int,
        *,
        now_ms: int,
        lease_ms: int,
        delivery_tag: str,
        accounts: Sequence[str] = (),
    ) -> tuple[list[Verdict], dict[str, dict[str, Any] | None]]:
        """``begin_execution`` for each (execution id, attempt) of one message, and the stored
        accounts named (what their callbacks are signed with), in one round trip."""
        sha = self.sha("begin_execution")
        named = list(dict.fromkeys(accounts))

        def build(pipe: Any) -> None:
            for execution_id, attempt in attempts:
                keys, args = self._begin_call(
                    execution_id, attempt, retention_s, max_deliveries, now_ms, lease_ms,
                    delivery_tag,
                )  # fmt: skip
                pipe.evalsha(sha, len(keys), *keys, *args)
            if named:
                pipe.hmget(self.keys.accounts(), named)

        replicate = [self.keys_for(eid).execution(eid) for eid, _ in attempts]
        replies = self.pipelined(build, replicate)
        verdicts = [Verdict(reply) for reply in replies[: len(attempts)]]
        raws = replies[len(attempts)] if named else []
        stored = {a: json.loads(raw) if raw else None for a, raw in zip(named, raws, strict=True)}
        return verdicts, stored

    def _begin_call(
        self,
        execution_id: str,
        attempt: int,
        retention_s: int,
        max_deliveries: int,
        now_ms: int,
        lease_ms: int,
        delivery_tag: str,
    ) -> tuple[list[str], list[str | int]]:
        k = self.keys_for(execution_id)
        keys = [k.execution(execution_id), k.published(), k.published_messages()]
        args: list[str | int] = [
            execution_id,
            attempt,
            retention_s,
            max_deliveries,
            now_ms,
            lease_ms,
            delivery_tag,
        ]
        return keys, args

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
        republish_after_ms: int = DEFAULT_REPUBLISH_AFTER_MS,
        notice: tuple[str, dict[str, Any]] | None = None,
    ) -> None:
        """Write the run record (to its schedule's and its account's history) and mark the
        execution done, retrying or dead, atomically; a final outcome releases the schedule's
        next buffered fire (overlap), recorded in the ledger with ``republish_after_ms``.
        Waits out a Redis outage (``patiently``): the attempt ran, and losing its record would
        run it again; a repeat after a lost answer changes nothing (see
        ``finish_execution.lua``)."""
        keys, args = self._finish_call(
            Finish(record, outcome, account, retry_at_ms, payload, notice), now_ms, history_cap,
            retention_s, republish_after_ms,
        )  # fmt: skip
        finish = self._scripts["finish_execution"]
        self.durably(lambda: finish(keys=keys, args=args), keys[0])

    def finish_executions(
        self,
        finishes: Sequence[Finish],
        *,
        now_ms: int,
        history_cap: int,
        retention_s: int,
        republish_after_ms: int = DEFAULT_REPUBLISH_AFTER_MS,
    ) -> None:
        """``finish_execution`` for each of ``finishes``, in one round trip."""
        sha = self.sha("finish_execution")

        def build(pipe: Any) -> None:
            for finish in finishes:
                keys, args = self._finish_call(
                    finish, now_ms, history_cap, retention_s, republish_after_ms
                )
                pipe.evalsha(sha, len(keys), *keys, *args)

        if finishes:
            self.pipelined(
                build, [self.keys_for(f.record.id).execution(f.record.id) for f in finishes]
            )

    def _finish_call(
        self,
        finish: Finish,
        now_ms: int,
        history_cap: int,
        retention_s: int,
        republish_after_ms: int,
    ) -> tuple[list[str], list[str | int]]:
        record, outcome, payload = finish.record, finish.outcome, finish.payload
        if outcome not in ("done", "retry", "dead"):
            raise ValueError(f"unknown outcome {outcome!r}")
        k = self.keys_for(record.id)
        keys = [
            k.execution(record.id),
            k.history(record.schedule),
            k.retries(),
            k.retry_payloads(),
            k.dead_letters(),
            k.dead_index(),
            self._dead_index_of(k, (payload or {}).get("execution", {})),
            k.account_runs(finish.account),
            k.published(),
            k.published_messages(),
            k.overlap_running(),
            k.overlap_buffer(record.schedule),
            *(k.publish_target(pool) for pool in POOLS),
        ]
        args: list[str | int] = [
            record.id,
            outcome,
            dumps(record.to_dict()),
            record.attempt,
            history_cap,
            retention_s,
            now_ms,
            finish.retry_at_ms,
            dumps(payload or {}),
            k.wake_channel(),
            ACCOUNT_RUNS_CAP,
            record.schedule,
            republish_after_ms,
            finish.notice[0] if finish.notice else "",
            dumps(finish.notice[1]) if finish.notice else "",
        ]
        return keys, args

    def execution_state(self, execution_id: str) -> str | None:
        key = self.keys_for(execution_id).execution(execution_id)
        return cast(str | None, self.redis.get(key))

    def history(self, schedule_id: str, limit: int = 100) -> list[RunRecord]:
        raws = self.redis.lrange(self.keys_for(schedule_id).history(schedule_id), 0, limit - 1)
        return [RunRecord.from_dict(json.loads(raw)) for raw in raws]

    def account_runs(self, account: str, limit: int = ACCOUNT_RUNS_CAP) -> list[RunRecord]:
        """The account's latest run records, newest first, across all its schedules: each
        partition keeps its own list; P > 1 merges them by when each run ended (one trip)."""
        pipe = self.redis.pipeline(transaction=False)
        for k in self.partition_keys:
            pipe.lrange(k.account_runs(account), 0, limit - 1)
        records = [RunRecord.from_dict(json.loads(raw)) for raws in pipe.execute() for raw in raws]
        if self.partitions > 1:
            records.sort(key=lambda r: r.finished_ms or r.claimed_ms or 0, reverse=True)
        return records[:limit]

    def dead_letters(
        self, offset: int = 0, count: int = 100, owner: tuple[str, str] | None = None
    ) -> list[dict[str, Any]]:
        """Dead letters, newest first: all of them, or one (account, dialect)'s. P > 1: the
        first offset + count of each partition's index merged, then their letters (two trips)."""
        rows = self.merged_index(
            lambda pipe, k: pipe.zrevrange(
                k.account_dead_index(*owner) if owner else k.dead_index(),
                0,
                offset + count - 1,
                withscores=True,
            ),  # fmt: skip
            newest_first=True,
        )
        ids = [member for member, _ in rows[offset : offset + count]]
        if not ids:
            return []
        raws = self.per_partition(ids, lambda pipe, k, some: pipe.hmget(k.dead_letters(), some))
        return [json.loads(raw) for raw in raws if raw]

    def redrive(self, execution_id: str, now_ms: int, retry: dict[str, Any]) -> bool:
        k = self.keys_for(execution_id)
        return bool(
            self._scripts["redrive"](
                keys=[
                    k.dead_letters(),
                    k.dead_index(),
                    k.retries(),
                    k.retry_payloads(),
                    k.execution(execution_id),
                    self._dead_index_of(k, retry.get("execution", {})),
                ],
                args=[execution_id, now_ms, dumps(retry), k.wake_channel()],
            )
        )

    @staticmethod
    def _dead_index_of(k: Keys, execution: dict[str, Any]) -> str:
        return k.account_dead_index(execution.get("account", ""), execution.get("dialect", ""))

    def schedule_executions(self, items: list[tuple[str, int, dict[str, Any]]]) -> None:
        """Queue executions to be published at given instants, as retries are: each item is
        (execution id, at ms, retry payload); the beat publishes each when it falls due. One
        transaction per partition they fall in."""
        if not items:
            return
        by_partition: dict[int, list[tuple[str, int, dict[str, Any]]]] = {}
        for item in items:
            by_partition.setdefault(self.partition_for(item[0]), []).append(item)
        for p, some in by_partition.items():  # one partition (one schedule's runs) as a rule
            k = self.partition_keys[p]
            pipe = self.redis.pipeline(transaction=True)
            pipe.zadd(k.retries(), {exec_id: at_ms for exec_id, at_ms, _ in some})
            pipe.hset(
                k.retry_payloads(),
                mapping={exec_id: dumps(payload) for exec_id, _, payload in some},
            )
            pipe.execute()
            # After, not in, the MULTI: a cluster refuses PUBLISH there (a channel is no key).
            # The wake is only a hint: a beat not woken finds the entries on its next tick.
            self.redis.publish(self.keys.wake_channel(), min(at_ms for _, at_ms, _ in some))

    def delete_dead_letter(self, execution_id: str) -> bool:
        """Drop a dead letter for good (from every index); False if there was none."""
        letter = self.dead_letter(execution_id)
        if letter is None:
            return False
        k = self.keys_for(execution_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(k.dead_letters(), execution_id)
        pipe.zrem(k.dead_index(), execution_id)
        pipe.zrem(self._dead_index_of(k, letter.get("execution", {})), execution_id)
        return bool(pipe.execute()[0])

    def dead_letter(self, execution_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys_for(execution_id).dead_letters(), execution_id)
        return json.loads(raw) if raw else None
