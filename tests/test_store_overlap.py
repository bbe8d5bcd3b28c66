"""The overlap policies in the store's Lua, on a real Redis: commit.lua publishes, buffers or
skips each fire while the schedule's previous execution has not finished, finish_execution.lua
releases the next buffered fire when it ends for good, and delete_schedule.lua leaves nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest

from shared.contract import RunStatus
from shared.model import OverlapPolicy, RunRecord, Schedule
from shared.store import Commit, CommitStatus, Finish, Store
from tests.factories import every, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_800_000_000_000
SECOND = 1000
BOUND_MS = 10_000  # the ledger's bound for a released fire


def overlapping(store: Store, policy: OverlapPolicy) -> Schedule:
    schedule = webhook_schedule(every(SECOND, T0), overlap=policy)
    store.put_schedule(schedule, T0)
    return schedule


def fire(store: Store, schedule: Schedule, n: int) -> CommitStatus:
    """Claim and commit the schedule's fire n (due T0 + n s), as the beat does."""
    [status] = fire_all(store, [schedule], n)
    return status


def fire_all(store: Store, schedules: list[Schedule], n: int) -> list[CommitStatus]:
    """Claim and commit fire n of each of ``schedules`` (all due at T0 + n s) in one tick."""
    due = T0 + n * SECOND
    token = f"beat-{n}"
    claimed = store.claim(due, 1000, 10, token).entries
    assert sorted(e.member for e in claimed) == sorted(s.id for s in schedules)
    commits = [
        Commit(
            s.id,
            due + SECOND,
            "webhooks",
            f"msg-{n}",
            ledger_id=exec_id(s, n),
            overlap="" if s.overlap == "allow_all" else s.overlap,
        )  # fmt: skip
        for s in schedules
    ]
    return store.commit(token, commits, now_ms=due, republish_after_ms=BOUND_MS)


def exec_id(schedule: Schedule, n: int) -> str:
    return f"{schedule.id}:{T0 + n * SECOND}"


def finish(
    store: Store, schedule: Schedule, n: int, outcome: str = "done", attempt: int = 1
) -> None:
    status = {"done": RunStatus.SUCCEEDED, "retry": RunStatus.RETRYING, "dead": RunStatus.DEAD}
    record = RunRecord(exec_id(schedule, n), schedule.id, T0, T0, T0, T0, status[outcome], attempt)
    payload: dict[str, Any] = {"execution": {"id": record.id, "account": "acct"}}
    store.finish_execution(
        record, outcome, account="acct", now_ms=T0 + 100 * SECOND, history_cap=50,
        retention_s=600, retry_at_ms=T0 + 200 * SECOND, payload=payload,
        republish_after_ms=BOUND_MS,
    )  # fmt: skip


def queued(store: Store) -> list[str]:
    """The webhooks queue's messages, oldest first."""
    return list(reversed(store.redis.lrange(store.keys.publish_target("webhooks"), 0, -1)))


def running(store: Store, schedule: Schedule) -> str | None:
    value = store.redis.hget(store.keys.overlap_running(), schedule.id)
    return None if value is None else str(value)


def no_overlap_state(store: Store, schedule: Schedule) -> bool:
    k = store.keys
    return running(store, schedule) is None and not store.redis.exists(
        k.overlap_buffer(schedule.id)
    )


def test_allow_all_publishes_every_fire_and_keeps_no_state(store: Store) -> None:
    schedule = overlapping(store, "allow_all")
    assert [fire(store, schedule, n) for n in range(3)] == [CommitStatus.COMMITTED] * 3
    assert queued(store) == ["msg-0", "msg-1", "msg-2"]
    assert not store.redis.exists(store.keys.overlap_running())


def test_skip_drops_fires_while_the_previous_execution_runs(store: Store) -> None:
    schedule = overlapping(store, "skip")
    assert fire(store, schedule, 0) == CommitStatus.COMMITTED
    assert running(store, schedule) == exec_id(schedule, 0)
    assert fire(store, schedule, 1) == CommitStatus.SKIPPED
    assert fire(store, schedule, 2) == CommitStatus.SKIPPED
    assert queued(store) == ["msg-0"]
    assert store.next_fire_ms(schedule.id) == T0 + 3 * SECOND  # a skipped fire still advances
    assert store.run_count(schedule.id) == 3
    finish(store, schedule, 0)
    assert no_overlap_state(store, schedule)
    assert fire(store, schedule, 3) == CommitStatus.COMMITTED
    assert queued(store) == ["msg-0", "msg-3"]


def test_a_retrying_execution_still_holds_the_schedule(store: Store) -> None:
    schedule = overlapping(store, "skip")
    fire(store, schedule, 0)
    finish(store, schedule, 0, "retry")
    assert running(store, schedule) == exec_id(schedule, 0)
    assert fire(store, schedule, 1) == CommitStatus.SKIPPED
    finish(store, schedule, 0, "done", attempt=2)
    assert no_overlap_state(store, schedule)


def test_buffer_one_keeps_one_fire_waiting_and_skips_the_rest(store: Store) -> None:
    schedule = overlapping(store, "buffer_one")
    statuses = [fire(store, schedule, n) for n in range(4)]
    assert statuses == [
        CommitStatus.COMMITTED,
        CommitStatus.BUFFERED,
        CommitStatus.SKIPPED,
        CommitStatus.SKIPPED,
    ]
    assert queued(store) == ["msg-0"]
    finish(store, schedule, 0)
    # the waiting fire goes out when the running one ends, recorded in the ledger
    assert queued(store) == ["msg-0", "msg-1"]
    assert running(store, schedule) == exec_id(schedule, 1)
    ledger = store.redis.zscore(store.keys.published(), exec_id(schedule, 1))
    assert ledger == T0 + 100 * SECOND + BOUND_MS
    entry = store.redis.hget(store.keys.published_messages(), exec_id(schedule, 1))
    assert entry == f"0|{store.keys.publish_target('webhooks')}|msg-1"
    assert fire(store, schedule, 4) == CommitStatus.BUFFERED  # the buffer has room again
    finish(store, schedule, 1)
    finish(store, schedule, 4)
    assert queued(store) == ["msg-0", "msg-1", "msg-4"]
    assert no_overlap_state(store, schedule)


def test_buffer_all_runs_every_fire_in_order_one_at_a_time(store: Store) -> None:
    schedule = overlapping(store, "buffer_all")
    statuses = [fire(store, schedule, n) for n in range(4)]
    assert statuses == [CommitStatus.COMMITTED] + [CommitStatus.BUFFERED] * 3
    for n in range(4):
        assert queued(store)[-1] == f"msg-{n}" and len(queued(store)) == n + 1
        assert running(store, schedule) == exec_id(schedule, n)
        finish(store, schedule, n)
    assert no_overlap_state(store, schedule)


def test_a_dead_letter_ends_the_wait_and_releases_the_next(store: Store) -> None:
    schedule = overlapping(store, "buffer_all")
    fire(store, schedule, 0)
    fire(store, schedule, 1)
    finish(store, schedule, 0, "dead")
    assert store.dead_letter(exec_id(schedule, 0)) is not None
    assert running(store, schedule) == exec_id(schedule, 1)
    finish(store, schedule, 1, "dead")
    assert no_overlap_state(store, schedule)


def test_only_the_execution_waited_on_releases(store: Store) -> None:
    """Another execution of the schedule (a run now, a redrive, a skipped fire's record) ending
    releases nothing; a repeated finish of the one waited on releases once."""
    schedule = overlapping(store, "buffer_all")
    for n in range(3):
        fire(store, schedule, n)
    other = RunRecord(f"{schedule.id}:run-1", schedule.id, T0, T0, T0, T0, RunStatus.SUCCEEDED, 1)
    store.finish_executions(
        [Finish(other, "done", "acct")], now_ms=T0, history_cap=50, retention_s=600
    )
    assert running(store, schedule) == exec_id(schedule, 0)
    finish(store, schedule, 0)
    finish(store, schedule, 0)  # a worker's repeat after a lost answer
    assert queued(store) == ["msg-0", "msg-1"]
    assert running(store, schedule) == exec_id(schedule, 1)


def test_delete_leaves_no_overlap_state(store: Store) -> None:
    schedule = overlapping(store, "buffer_all")
    for n in range(3):
        fire(store, schedule, n)
    assert store.delete_schedule(schedule)
    assert no_overlap_state(store, schedule)
    finish(store, schedule, 0)  # the execution that was running ends after the delete
    assert queued(store) == ["msg-0"]
    assert no_overlap_state(store, schedule)


@pytest.mark.parametrize("policy", ["skip", "buffer_one", "buffer_all"])
def test_a_fire_after_the_wait_ended_is_published_at_once(store: Store, policy: str) -> None:
    schedule = overlapping(store, policy)  # type: ignore[arg-type]
    fire(store, schedule, 0)
    finish(store, schedule, 0)
    assert fire(store, schedule, 1) == CommitStatus.COMMITTED
    assert queued(store) == ["msg-0", "msg-1"]


def test_the_beat_records_a_fire_it_skipped_for_overlap_with_its_reason(
    store: Store, config: Any
) -> None:
    from scheduler_beat.dispatch import Dispatcher

    schedule = overlapping(store, "buffer_one")
    beat = Dispatcher(store, config)
    published = [beat.tick(T0 + n * SECOND).published for n in range(3)]
    assert published == [1, 0, 0]  # the first runs, the second waits, the third is skipped
    [skipped] = store.history(schedule.id)
    assert (skipped.id, skipped.status, skipped.attempt) == (
        exec_id(schedule, 2),
        RunStatus.SKIPPED,
        0,
    )
    assert skipped.error is not None and "buffer full" in skipped.error
    finish(store, schedule, 0)
    released = json.loads(store.redis.lrange(store.keys.publish_target("webhooks"), 0, 0)[0])
    assert released["headers"]["id"] == exec_id(schedule, 1)  # a whole Celery message


def test_a_wait_on_an_execution_lost_for_good_ends_at_the_next_fire(store: Store) -> None:
    """An execution neither the ledger nor the retry schedule holds (its message dropped from
    the ledger as unknown) never finishes: the schedule stops waiting on it."""
    schedule = overlapping(store, "skip")
    fire(store, schedule, 0)
    store.settle(exec_id(schedule, 0))  # gone from the ledger, never finished
    assert fire(store, schedule, 1) == CommitStatus.COMMITTED
    assert running(store, schedule) == exec_id(schedule, 1)
    assert queued(store) == ["msg-0", "msg-1"]


def test_finishes_pipelined_release_as_a_single_finish_does(store: Store) -> None:
    """The webhooks pool records a batch's ends in one round trip (``finish_executions``)."""
    first, second = overlapping(store, "buffer_all"), overlapping(store, "buffer_one")
    assert fire_all(store, [first, second], 0) == [CommitStatus.COMMITTED] * 2
    assert fire_all(store, [first, second], 1) == [CommitStatus.BUFFERED] * 2
    ends = [
        Finish(RunRecord(exec_id(s, 0), s.id, T0, T0, T0, T0, RunStatus.SUCCEEDED, 1), "done", "a")
        for s in (first, second)
    ]
    store.finish_executions(ends, now_ms=T0, history_cap=50, retention_s=600)
    assert [running(store, s) for s in (first, second)] == [exec_id(first, 1), exec_id(second, 1)]
    assert len(queued(store)) == 4
