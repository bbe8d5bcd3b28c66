"""Executions: begin (dedupe, delivery count), finish (run record, retry or dead letter),
history, dead letters and redrive."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, cast

from shared.model import RunRecord
from shared.store.base import (
    StoreBase,
    dumps,
)

ACCOUNT_RUNS_CAP = 200  # run records kept per account for the dashboard's "recent runs"


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
        k = self.keys
        begin = self._scripts["begin_execution"]
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
        reply = self.patiently(lambda: begin(keys=keys, args=args))
        return Verdict(reply)

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
        execution done, retrying or dead, atomically. Waits out a Redis outage
        (``patiently``): the attempt ran, and losing its record would run it again; a repeat
        after a lost answer changes nothing (see ``finish_execution.lua``)."""
        if outcome not in ("done", "retry", "dead"):
            raise ValueError(f"unknown outcome {outcome!r}")
        k = self.keys
        keys = [
            k.execution(record.id),
            k.history(record.schedule),
            k.retries(),
            k.retry_payloads(),
            k.dead_letters(),
            k.dead_index(),
            self._dead_index_of((payload or {}).get("execution", {})),
            k.account_runs(account),
            k.published(),
            k.published_messages(),
        ]
        args: list[str | int] = [
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
        ]
        finish = self._scripts["finish_execution"]
        self.patiently(lambda: finish(keys=keys, args=args))

    def execution_state(self, execution_id: str) -> str | None:
        return cast(str | None, self.redis.get(self.keys.execution(execution_id)))

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
        ids = cast(list[str], self.redis.zrevrange(index, offset, offset + count - 1))
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

    def delete_dead_letter(self, execution_id: str) -> bool:
        """Drop a dead letter for good (from every index); False if there was none."""
        letter = self.dead_letter(execution_id)
        if letter is None:
            return False
        pipe = self.redis.pipeline(transaction=True)
        pipe.hdel(self.keys.dead_letters(), execution_id)
        pipe.zrem(self.keys.dead_index(), execution_id)
        pipe.zrem(self._dead_index_of(letter.get("execution", {})), execution_id)
        return bool(pipe.execute()[0])

    def dead_letter(self, execution_id: str) -> dict[str, Any] | None:
        raw = self.redis.hget(self.keys.dead_letters(), execution_id)
        return json.loads(raw) if raw else None
