"""The task scheduler dialect's own records: id counters, task history, executeTask results,
and account snapshots for BackupTask and restore."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, cast

from redis.typing import EncodableT

from shared.model import Schedule
from shared.store.base import dumps
from shared.store.definitions import definition_dict
from shared.store.keys import Keys
from shared.store.schedules import ScheduleVerbs


class TaskVerbs(ScheduleVerbs):
    """Verbs of /api/v1/api.php?target=scheduler."""

    def publish(self, queue: str, message: str, route: str) -> None:
        """Put one ready-made Celery message on a pool's queue, outside the beat (with a broker
        apart: the outbox of ``route``'s partition, an account or a schedule)."""
        self.redis.lpush(self.keys_for(route).publish_target(queue), message)

    def next_task_ids(self, account: str, tasks: int, items: int) -> tuple[int, int]:
        """Issue ``tasks`` (0 or 1) task ids and ``items`` repeat-item ids to an account; returns
        the last task id and the first of the item ids."""
        key = self.keys_for(account).task_counters(account)
        pipe = self.redis.pipeline(transaction=True)
        pipe.hincrby(key, "task", tasks)
        pipe.hincrby(key, "item", items)
        task, last_item = pipe.execute()
        return int(task), int(last_item) - items + 1

    def raise_task_counters(self, account: str, counters: dict[str, int]) -> None:
        """Move an account's id counters up to ``counters`` (a restore), never down."""
        key = self.keys_for(account).task_counters(account)
        current = self.redis.hgetall(key)
        higher: dict[EncodableT, EncodableT] = {
            k: v for k, v in counters.items() if int(current.get(k, 0)) < int(v)
        }
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
        k = self.keys_for(schedule_id)
        return int(
            self._scripts["task_log"](
                keys=[k.task_log(schedule_id), k.task_log_seq(account), k.task_last_run()],
                args=[
                    dumps(entry),
                    max(1, cap),
                    max(1, retention_s),
                    schedule_id,
                    "" if run_started_ms is None else run_started_ms,
                    self.partition_for(schedule_id),
                    self.partitions,
                ],
            )
        )

    def task_log_entries(self, schedule_id: str, limit: int = 1000) -> list[dict[str, Any]]:
        """A task's history, newest first, each entry with its ``log_id``."""
        key = self.keys_for(schedule_id).task_log(schedule_id)
        raws = cast(list[str], self.redis.lrange(key, 0, limit - 1))
        entries = []
        for raw in raws:
            log_id, _, body = raw.partition("|")
            entries.append({**json.loads(body), "log_id": int(log_id)})
        return entries

    def task_last_runs(self, schedule_ids: Sequence[str]) -> list[int | None]:
        if not schedule_ids:
            return []
        raws = self.per_partition(
            schedule_ids, lambda pipe, k, ids: pipe.hmget(k.task_last_run(), ids)
        )
        return [None if raw is None else int(raw) for raw in raws]

    def forget_task(self, schedule_id: str) -> None:
        """Drop a deleted task's history and last run."""
        k = self.keys_for(schedule_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.delete(k.task_log(schedule_id))
        pipe.hdel(k.task_last_run(), schedule_id)
        pipe.execute()

    def put_task_result(self, execution_id: str, result: dict[str, Any], ttl_s: int) -> None:
        key = self.keys_for(execution_id).task_result(execution_id)
        pipe = self.redis.pipeline(transaction=True)
        pipe.rpush(key, dumps(result))
        pipe.expire(key, max(1, ttl_s))
        pipe.execute()

    def wait_task_result(self, execution_id: str, timeout_s: float) -> dict[str, Any] | None:
        """The first outcome pushed for ``execution_id``, waiting up to ``timeout_s``."""
        key = self.keys_for(execution_id).task_result(execution_id)
        if timeout_s <= 0:
            raw = cast(str | None, self.redis.lpop(key))
            return json.loads(raw) if raw else None
        popped = self.redis.blpop([key], timeout=timeout_s)
        return json.loads(popped[1]) if popped else None

    def account_snapshot(
        self, account: str
    ) -> tuple[dict[str, int], list[tuple[dict[str, Any], int | None, int]]]:
        """Every schedule of ``account`` (all dialects) with its next fire and run count, and
        the account's task id counters: each partition read in one atomic step (P > 1: P
        steps, each consistent in itself; counters from the account's home partition)."""
        counters: dict[str, int] = {}
        rows = []
        home = self.partition_for(account)
        for p, k in enumerate(self.partition_keys):
            indexes = self._index_roots(k, account)
            keys = [k.definitions(), k.due(), k.run_counts(), k.task_counters(account), *indexes]
            flat_counters, flat = self._scripts["snapshot_account"](keys=keys, args=[])
            if p == home:
                counters = {
                    flat_counters[i]: int(flat_counters[i + 1])
                    for i in range(0, len(flat_counters), 2)
                }
            for i in range(0, len(flat), 4):
                definition = definition_dict(flat[i], flat[i + 1])
                next_ms = int(float(flat[i + 2]))
                rows.append((definition, None if next_ms < 0 else next_ms, int(flat[i + 3])))
        return counters, rows

    def _index_roots(self, k: Keys, account: str) -> list[str]:
        """The root key of each of the account's indexes in one partition (one per dialect),
        found from its keys (the buckets and their count; a ZSET stored before the buckets)."""
        base = k.account_index(account, "")
        dialects = {
            key[len(base) :].split(":", 1)[0]
            for key in self.redis.scan_iter(match=k.account_index(account, "*"), count=1000)
        }
        return sorted(k.account_index(account, dialect) for dialect in dialects)

    def restore_schedules(self, items: Sequence[tuple[Schedule, int | None, int]]) -> None:
        """Put schedules back as they were (ids kept), with their next fire and run count."""
        self.put_schedules((schedule, next_ms) for schedule, next_ms, _ in items)
        pipe = self.redis.pipeline(transaction=False)
        for schedule, _, count in items:
            if count:
                pipe.hset(self.keys_for(schedule.id).run_counts(), schedule.id, count)
        pipe.execute()
