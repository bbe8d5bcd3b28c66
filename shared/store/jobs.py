"""The beacon jobs dialect's own records: jobs, their queues per beacon, and their history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any, cast

from shared.contract import Pool
from shared.store.base import StoreBase


class Step(StrEnum):
    """What a job transition script (``job_pickup``, ``job_start``, ``job_finish``, ``job_task``)
    answers first."""

    OK = "ok"
    MISSING = "missing"  # the account has no such job
    STATE = "state"  # the job is not in the state the step needs; detail: the state it is in
    EARLY = "early"  # queued for later; detail: its q_time (s)
    RANGE = "range"  # cur_task past the job's tasks; detail: how many tasks it has


@dataclass(frozen=True)
class Transition:
    """A job transition script's answer: ``step``, and the detail some refusals carry."""

    step: Step
    detail: str | None = None

    @classmethod
    def read(cls, reply: list[str]) -> Transition:
        return cls(Step(reply[0]), reply[1] if len(reply) > 1 else None)


class LeaseOutcome(StrEnum):
    """What ``job_expire.lua`` did with a lease that ran out."""

    REQUEUED = "requeued"  # picked up, never started: back in its queue
    FAILED = "failed"  # started, never finished: marked failed
    STALE = "stale"  # the job moved on, or holds a newer lease: nothing to do


class JobVerbs(StoreBase):
    """Verbs of /api/jobs."""

    def next_job_id(self, account: str) -> int:
        return int(self.redis.incr(self.keys_for(account).job_seq(account)))

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
        k = self.keys_for(account)
        flat: list[str] = [part for pair in fields.items() for part in pair]
        return int(
            self._scripts["job_create"](
                keys=[
                    k.job(account, job_id),
                    k.job_index(account),
                    k.job_queue(account, beacon),
                    k.job_spawned(dedupe or ""),
                    k.publish_target(Pool.JOBS),
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
        return cast(dict[str, str], self.redis.hgetall(self.keys_for(account).job(account, job_id)))

    def get_jobs(self, account: str, job_ids: Sequence[int]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys_for(account).job(account, job_id))
        return pipe.execute() if job_ids else []

    def job_ids(self, account: str) -> list[int]:
        ids = cast(list[str], self.redis.zrange(self.keys_for(account).job_index(account), 0, -1))
        return [int(i) for i in ids]

    def queued_job_ids(self, account: str, beacon: str) -> list[int]:
        """The beacon's queued jobs, earliest ``q_time`` first."""
        queue = cast(
            list[str], self.redis.zrange(self.keys_for(account).job_queue(account, beacon), 0, -1)
        )
        return [int(i) for i in queue]

    def forget_job_ids(self, account: str, job_ids: Sequence[int]) -> None:
        """Drop expired jobs from the account's index."""
        if job_ids:
            self.redis.zrem(self.keys_for(account).job_index(account), *job_ids)

    def set_job_field(self, account: str, job_id: int, name: str, value: str) -> None:
        self.redis.hset(self.keys_for(account).job(account, job_id), name, value)

    def pickup_job(
        self,
        job_id: int,
        account: str,
        beacon: str,
        now_s: int,
        lease: tuple[str, int, str] | None,
        event: str,
    ) -> Transition:
        """Queued -> picked_up (see job_pickup.lua); ``lease`` is (member, deadline ms, check
        JSON), put in the retry index so the beat hands the check to the jobs pool in time."""
        k = self.keys_for(account)
        member, deadline, check = lease or ("", 0, "")
        reply = self._scripts["job_pickup"](
            keys=[
                k.job(account, job_id),
                k.job_queue(account, beacon),
                k.retries(),
                k.retry_payloads(),
                k.publish_target(Pool.JOBS),
            ],
            args=[account, job_id, now_s, member, deadline, check, event, k.wake_channel()],
        )
        return Transition.read(reply)

    def start_job(
        self, job_id: int, account: str, now_s: int, lease: tuple[str, int, str] | None, event: str
    ) -> Transition:
        """Picked_up -> started, the pickup lease replaced by a run lease (see job_start.lua)."""
        k = self.keys_for(account)
        member, deadline, check = lease or ("", 0, "")
        reply = self._scripts["job_start"](
            keys=[
                k.job(account, job_id),
                k.retries(),
                k.retry_payloads(),
                k.publish_target(Pool.JOBS),
            ],
            args=[account, now_s, member, deadline, check, event, k.wake_channel()],
        )
        return Transition.read(reply)

    def finish_job(
        self, job_id: int, account: str, now_s: int, results: str, event: str, retention_s: int
    ) -> Transition:
        """Started -> finished with its results (see job_finish.lua)."""
        k = self.keys_for(account)
        reply = self._scripts["job_finish"](
            keys=[
                k.job(account, job_id),
                k.retries(),
                k.retry_payloads(),
                k.publish_target(Pool.JOBS),
            ],
            args=[account, now_s, results, event, max(1, retention_s)],
        )
        return Transition.read(reply)

    def set_job_task(self, job_id: int, account: str, cur_task: int, event: str) -> Transition:
        k = self.keys_for(account)
        reply = self._scripts["job_task"](
            keys=[k.job(account, job_id), k.publish_target(Pool.JOBS)],
            args=[account, cur_task, event],
        )
        return Transition.read(reply)

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
    ) -> LeaseOutcome:
        """Enforce a lease that ran out (see job_expire.lua and ``LeaseOutcome``). ``entries``
        are the history entries for the requeued and the failed case."""
        k = self.keys_for(account)
        reply = self._scripts["job_expire"](
            keys=[
                k.job(account, job_id),
                k.job_queue(account, beacon),
                k.job_history(account, job_id),
            ],
            args=[member, job_id, now_s, *entries, max(1, cap), max(1, retention_s)],
        )
        return LeaseOutcome(reply)

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
        k = self.keys_for(account)
        return bool(
            self._scripts["job_history"](
                keys=[k.job_history(account, job_id), k.job_seen(account, job_id)],
                args=[event_id, max(1, cap), max(1, retention_s), *entries],
            )
        )

    def job_history(self, account: str, job_id: int) -> list[dict[str, Any]]:
        """The job's history, oldest first."""
        raws = self.redis.lrange(self.keys_for(account).job_history(account, job_id), 0, -1)
        return [json.loads(raw) for raw in raws]
