"""The beacon jobs dialect's own records: jobs, their queues per beacon, and their history."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from shared.contract import Pool
from shared.store.base import StoreBase


class JobVerbs(StoreBase):
    """Verbs of /api/jobs."""

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
                    k.queue(Pool.JOBS),
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
        return cast(dict[str, str], self.redis.hgetall(self.keys.job(account, job_id)))

    def get_jobs(self, account: str, job_ids: Sequence[int]) -> list[dict[str, str]]:
        pipe = self.redis.pipeline(transaction=False)
        for job_id in job_ids:
            pipe.hgetall(self.keys.job(account, job_id))
        return pipe.execute() if job_ids else []

    def job_ids(self, account: str) -> list[int]:
        ids = cast(list[str], self.redis.zrange(self.keys.job_index(account), 0, -1))
        return [int(i) for i in ids]

    def queued_job_ids(self, account: str, beacon: str) -> list[int]:
        """The beacon's queued jobs, earliest ``q_time`` first."""
        queue = cast(list[str], self.redis.zrange(self.keys.job_queue(account, beacon), 0, -1))
        return [int(i) for i in queue]

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
        reply: list[str] = self._scripts["job_pickup"](
            keys=[
                k.job(account, job_id),
                k.job_queue(account, beacon),
                k.retries(),
                k.retry_payloads(),
                k.queue(Pool.JOBS),
            ],
            args=[account, job_id, now_s, member, deadline, check, event, k.wake_channel()],
        )
        return reply

    def start_job(
        self, job_id: int, account: str, now_s: int, lease: tuple[str, int, str] | None, event: str
    ) -> list[str]:
        """Picked_up -> started, the pickup lease replaced by a run lease (see job_start.lua)."""
        k = self.keys
        member, deadline, check = lease or ("", 0, "")
        reply: list[str] = self._scripts["job_start"](
            keys=[k.job(account, job_id), k.retries(), k.retry_payloads(), k.queue(Pool.JOBS)],
            args=[account, now_s, member, deadline, check, event, k.wake_channel()],
        )
        return reply

    def finish_job(
        self, job_id: int, account: str, now_s: int, results: str, event: str, retention_s: int
    ) -> list[str]:
        """Started -> finished with its results (see job_finish.lua)."""
        k = self.keys
        reply: list[str] = self._scripts["job_finish"](
            keys=[k.job(account, job_id), k.retries(), k.retry_payloads(), k.queue(Pool.JOBS)],
            args=[account, now_s, results, event, max(1, retention_s)],
        )
        return reply

    def set_job_task(self, job_id: int, account: str, cur_task: int, event: str) -> list[str]:
        k = self.keys
        reply: list[str] = self._scripts["job_task"](
            keys=[k.job(account, job_id), k.queue(Pool.JOBS)], args=[account, cur_task, event]
        )
        return reply

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
        outcome: str = self._scripts["job_expire"](
            keys=[
                k.job(account, job_id),
                k.job_queue(account, beacon),
                k.job_history(account, job_id),
            ],
            args=[member, job_id, now_s, *entries, max(1, cap), max(1, retention_s)],
        )
        return outcome

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
