"""The ledger of published executions on a real Redis: what commit.lua records, how
begin_execution.lua tells a lost delivery from a copy, what finish_execution.lua settles, and
what republish.lua publishes again (once, however many beats sweep)."""

from __future__ import annotations

import json
import threading

from scheduler_beat.dispatch import Dispatcher
from shared import schedules
from shared.config import Config
from shared.execution import execution_id
from shared.messages import build_message
from shared.model import RunRecord
from shared.store import Commit, RepublishOutcome, Store
from shared.store.ledger import MAX_BACKOFF_BOUNDS, QUEUE_SCAN_DEPTH
from tests.factories import once, webhook_schedule

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)
T0 = 1_800_000_000_000  # a fixed "now" in ms
BOUND = 10_000  # ms a published execution may wait unbegun
LEASE = 60_000  # ms a begun attempt holds its execution


def message(exec_id: str, tag: str) -> str:
    return build_message("workers.webhooks.deliver", exec_id, "webhooks", [{"id": exec_id}], tag)


def tag_of(raw: str) -> str:
    return str(json.loads(raw)["properties"]["delivery_tag"])


def published(store: Store, exec_id: str = "s1:1", tag: str = "t.0", at: int = T0) -> str:
    """Publish one execution as the beat does (claim + commit); returns its message."""
    schedule = webhook_schedule(once(at), id=exec_id.split(":")[0])
    store.put_schedule(schedule, at)
    store.claim(at, 1000, 10, "a")
    body = message(exec_id, tag)
    commit = Commit(schedule.id, None, "webhooks", body, ledger_id=exec_id)
    assert store.commit("a", [commit], now_ms=at, republish_after_ms=BOUND) == [1]
    return body


def begin(store: Store, tag: str, now: int, exec_id: str = "s1:1", attempt: int = 1) -> str:
    return store.begin_execution(
        exec_id, attempt, 60, 3, now_ms=now, lease_ms=LEASE, delivery_tag=tag
    )


def finish(store: Store, outcome: str, exec_id: str = "s1:1") -> None:
    record = RunRecord(exec_id, "s1", 1, 1, 2, 3, "succeeded", 1)  # type: ignore[arg-type]
    store.finish_execution(
        record,
        outcome,
        account="a",
        now_ms=T0,
        history_cap=10,
        retention_s=60,
        retry_at_ms=T0 + 1000,
        payload={"task": "t", "queue": "webhooks", "execution": {"id": exec_id, "attempt": 2}},
    )


def sweep(store: Store, now: int, limit: int = 100) -> list[tuple[str, str, int]]:
    result = store.republish_overdue(now, limit, BOUND)
    return [(e.ledger_id, e.outcome, e.copies) for e in result.entries]


# --- recording and settling ----------------------------------------------------------------------


def test_commit_records_what_it_publishes_in_the_same_step(store: Store) -> None:
    body = published(store)
    assert store.redis.lrange(store.keys.publish_target("webhooks"), 0, -1) == [body]
    assert store.ledger_deadline("s1:1") == T0 + BOUND
    assert store.ledger_message("s1:1") == (0, store.keys.publish_target("webhooks"), body)
    assert store.claim(T0, 1000, 10, "b").republish_ms == T0 + BOUND


def test_what_is_not_published_is_not_recorded(store: Store) -> None:
    skipped = webhook_schedule(once(T0))
    store.put_schedule(skipped, T0)
    store.claim(T0, 1000, 10, "a")
    store.commit("a", [Commit(skipped.id, None, None)], now_ms=T0, republish_after_ms=BOUND)
    # a claim another beat took over: nothing published, nothing recorded
    lost = Commit("gone", None, "webhooks", "m", ledger_id="gone:1")
    assert store.commit("a", [lost], now_ms=T0, republish_after_ms=BOUND) == [0]
    assert store.ledger_size() == 0 and store.claim(T0, 1000, 10, "a").republish_ms is None


def test_begin_holds_the_execution_for_its_lease_and_every_outcome_settles_it(
    store: Store,
) -> None:
    for outcome in ("done", "retry", "dead"):
        store.redis.flushdb()
        published(store)
        assert begin(store, "t.0", T0 + 5) == "run"
        assert store.ledger_deadline("s1:1") == T0 + 5 + LEASE
        finish(store, outcome)
        assert store.ledger_size() == 0 and store.ledger_message("s1:1") is None
    # an execution published outside the ledger (before it existed) is not added by begin
    assert begin(store, "x", T0, exec_id="old:1") == "run"
    assert store.ledger_deadline("old:1") is None


def test_a_run_now_is_recorded_like_a_fire(store: Store) -> None:
    schedule = webhook_schedule(once(T0))
    config = Config.from_env({}, republish_after_s=3)
    exec_id = schedules.run_now(store, config, schedule, T0)
    assert store.ledger_deadline(exec_id) == T0 + 3000
    assert store.ledger_message(exec_id) == (
        0,
        store.keys.publish_target("webhooks"),
        store.redis.lindex(store.keys.publish_target("webhooks"), 0),
    )


def test_two_runs_now_asked_in_one_millisecond_are_two_executions(store: Store) -> None:
    schedule = webhook_schedule(once(T0))
    config = Config.from_env({})
    first, second = (schedules.run_now(store, config, schedule, T0) for _ in range(2))
    assert first != second and first.startswith(f"{schedule.id}:run-{T0}-")
    assert store.ledger_size() == 2 and store.redis.llen(store.keys.publish_target("webhooks")) == 2


# --- begin: a lost delivery or a copy ------------------------------------------------------------


def test_a_copy_while_the_attempt_runs_is_skipped_and_not_counted(store: Store) -> None:
    published(store)
    assert begin(store, "t.0~1", T0 + BOUND) == "run"  # the re-published copy ran first
    assert begin(store, "t.0", T0 + BOUND + 1) == "running"  # then the original turned up
    assert store.execution_state("s1:1") == f"running|1|1|{T0 + BOUND + LEASE}|t.0~1"


def test_the_same_message_back_is_a_lost_delivery_and_counted(store: Store) -> None:
    published(store)
    assert begin(store, "t.0", T0 + 1) == "run"
    # the broker hands the very message back only once its holder is gone (a process died)
    assert begin(store, "t.0", T0 + 2) == "rerun"
    assert begin(store, "t.0", T0 + 3) == "rerun"
    assert begin(store, "t.0", T0 + 4) == "poison"  # three deliveries, none finished


def test_a_copy_after_the_lease_ran_out_is_a_lost_delivery(store: Store) -> None:
    published(store)
    store.redis.delete(store.keys.publish_target("webhooks"))  # the worker took it...
    assert begin(store, "t.0", T0 + 1) == "run"
    assert store.ledger_deadline("s1:1") == T0 + 1 + LEASE  # ... and holds it this long
    assert sweep(store, T0 + LEASE) == []
    # ... then died: once its lease ran out, a copy goes out and runs again, counted
    assert sweep(store, T0 + 1 + LEASE) == [("s1:1", RepublishOutcome.REPUBLISHED, 1)]
    assert begin(store, "t.0~1", T0 + 2 + LEASE) == "rerun"
    assert store.execution_state("s1:1") == f"running|1|2|{T0 + 2 + 2 * LEASE}|t.0~1"
    assert store.ledger_deadline("s1:1") == T0 + 2 + 2 * LEASE


def test_a_copy_of_a_finished_execution_is_skipped_and_its_entry_dropped(store: Store) -> None:
    published(store)
    begin(store, "t.0", T0 + 1)
    finish(store, "done")
    store.redis.zadd(store.keys.published(), {"s1:1": T0})  # a sweep racing the finish
    assert begin(store, "t.0~1", T0 + 2) == "done"
    assert store.ledger_size() == 0


# --- republish ----------------------------------------------------------------------------------


def test_an_overdue_message_gone_from_its_queue_is_published_again_with_a_new_tag(
    store: Store,
) -> None:
    published(store)
    assert sweep(store, T0 + BOUND - 1) == []  # not overdue yet
    store.redis.delete(
        store.keys.publish_target("webhooks")
    )  # popped by a worker that died before it began
    assert sweep(store, T0 + BOUND) == [("s1:1", RepublishOutcome.REPUBLISHED, 1)]
    [copy] = store.redis.lrange(store.keys.publish_target("webhooks"), 0, -1)
    assert tag_of(copy) == "t.0~1"
    assert json.loads(copy)["body"] == json.loads(message("s1:1", "t.0"))["body"]
    assert store.ledger_message("s1:1") == (1, store.keys.publish_target("webhooks"), copy)


def test_copies_back_off_so_a_vanishing_message_does_not_flood_its_queue(store: Store) -> None:
    published(store)
    now, waits = T0 + BOUND, []
    for _ in range(8):
        store.redis.delete(store.keys.publish_target("webhooks"))
        assert [o for _, o, _ in sweep(store, now)] == [RepublishOutcome.REPUBLISHED]
        deadline = store.ledger_deadline("s1:1")
        assert deadline is not None
        waits.append(deadline - now)
        now = deadline
    assert waits == [BOUND * 2**n for n in range(6)] + [BOUND * MAX_BACKOFF_BOUNDS] * 2
    assert tag_of(store.redis.lindex(store.keys.publish_target("webhooks"), 0)) == "t.0~8"


def test_a_message_still_in_its_queue_is_not_copied(store: Store) -> None:
    published(store)
    assert sweep(store, T0 + BOUND) == [("s1:1", RepublishOutcome.QUEUED, 0)]
    assert store.redis.llen(store.keys.publish_target("webhooks")) == 1
    assert store.ledger_deadline("s1:1") == T0 + 2 * BOUND
    # behind a backlog deeper than the sweep looks: most likely still queued, not copied
    store.redis.delete(store.keys.publish_target("webhooks"))
    store.redis.lpush(
        store.keys.publish_target("webhooks"), *(f"other-{n}" for n in range(QUEUE_SCAN_DEPTH + 1))
    )
    assert sweep(store, T0 + 2 * BOUND) == [("s1:1", RepublishOutcome.QUEUED, 0)]
    assert store.ledger_deadline("s1:1") == T0 + 4 * BOUND  # a bound per QUEUE_SCAN_DEPTH queued


def test_an_entry_without_its_message_is_dropped(store: Store) -> None:
    store.redis.zadd(store.keys.published(), {"orphan:1": T0, "stray:1": T0})
    store.redis.hset(store.keys.published_messages(), "stray:1", "0|no-such-queue|m")
    assert sorted(sweep(store, T0)) == [
        ("orphan:1", RepublishOutcome.UNKNOWN, 0),
        ("stray:1", RepublishOutcome.UNKNOWN, 0),
    ]
    assert store.ledger_size() == 0


def test_beats_sweeping_at_once_publish_each_overdue_message_once(
    store: Store, clean_redis: str
) -> None:
    pipe = store.redis.pipeline()
    queue = store.keys.publish_target("webhooks")
    for n in range(300):
        exec_id = f"s{n}:1"
        pipe.zadd(store.keys.published(), {exec_id: T0})
        pipe.hset(store.keys.published_messages(), exec_id, f"0|{queue}|{message(exec_id, 't')}")
    pipe.execute()
    beats = [Store.from_url(clean_redis) for _ in range(4)]
    taken: list[list[tuple[str, str, int]]] = [[] for _ in beats]

    def run(n: int) -> None:
        for _ in range(10):
            taken[n] += sweep(beats[n], T0 + 1, limit=20)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(len(beats))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    ids = [entry[0] for entries in taken for entry in entries]
    assert sorted(ids) == sorted(f"s{n}:1" for n in range(300))  # each taken exactly once
    assert store.redis.llen(store.keys.publish_target("webhooks")) == 300


# --- the beat's tick ----------------------------------------------------------------------------


def test_a_tick_sweeps_only_once_a_deadline_passed_and_wakes_for_the_next(store: Store) -> None:
    config = Config.from_env({}, republish_after_s=BOUND / 1000)
    dispatcher = Dispatcher(store, config)
    schedule = webhook_schedule(once(T0))
    store.put_schedule(schedule, T0)
    first = dispatcher.tick(T0)
    exec_id = execution_id(schedule.id, T0)
    assert (first.published, first.next_wake_ms) == (1, T0 + BOUND)
    assert store.ledger_deadline(exec_id) == T0 + BOUND
    store.redis.delete(store.keys.publish_target("webhooks"))
    assert dispatcher.tick(T0 + BOUND - 1).republished == 0
    again = dispatcher.tick(T0 + BOUND)
    assert (again.republished, again.next_wake_ms) == (1, T0 + 2 * BOUND)
    assert store.redis.llen(store.keys.publish_target("webhooks")) == 1
