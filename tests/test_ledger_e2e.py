"""Every published execution is accounted for, end to end: a real beat and real webhook workers,
a real receiver on 127.0.0.1, messages lost the ways a broker loses them.

kombu's Redis transport pops a message, then records it as unacknowledged: a worker killed in
between takes the message with it, and one killed mid-attempt holds its message until the
visibility timeout (an hour). The ledger publishes both again within seconds, and the workers'
dedupe keeps every execution to one delivery (counted by webhook-id at the receiver).
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.execution import execution_id, new_execution
from shared.messages import build_message
from shared.store import Store
from tests.factories import once, webhook_schedule
from tests.support import HttpReceiver, ProcessGroup, now_ms, queued_messages, wait_until

BOUND_S = 1  # SCHEDULER_REPUBLISH_AFTER_S of every process here
LIMIT_S = 2  # SCHEDULER_ATTEMPT_TIME_LIMIT_S: a begun attempt's lease is 2 x 1.25 + 1 + 1 s
LEASE_MS = int((LIMIT_S * 1.25 + 1 + BOUND_S) * 1000)
SETTINGS: dict[str, Any] = {"republish_after_s": BOUND_S, "attempt_time_limit_s": LIMIT_S}
SLACK_MS = 10_000  # beat ticks, a worker starting, forks and polling on a busy 2-core machine


def signed_account(store: Store, config: Config) -> str:
    """An account whose callbacks carry Standard Webhooks headers (webhook-id = execution id)."""
    key = load_secret_key(config)
    return create_account(store, "acme", secret_key=key, now_ms=now_ms())["appkey"]


def delivered_ids(receiver: HttpReceiver) -> Counter[str]:
    return Counter(r.headers.get("webhook-id", "") for r in receiver.requests)


def settle(store: Store, processes: ProcessGroup) -> None:
    """Wait until nothing is left to account for, then past one more bound and a few ticks."""
    wait_until(lambda: store.ledger_size() == 0, timeout_s=30, what="the ledger emptied")
    seen = now_ms()
    wait_until(
        lambda: (store.last_beat_ms() or 0) > seen + BOUND_S * 1000 + 1000,
        what="ticks past one more bound",
    )


def test_a_fire_whose_message_vanished_after_publish_is_delivered_once(
    store: Store, config: Config, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    account = signed_account(store, config)
    processes.beat(**SETTINGS)
    doomed = processes.worker("webhooks", **SETTINGS)
    wait_until(lambda: "ready." in processes.logs(), timeout_s=30, what="the worker ready")
    os.killpg(doomed.pid, signal.SIGSTOP)  # frozen, maybe inside its blocking pop
    due = now_ms() + 500
    schedule = webhook_schedule(once(due), receiver.url, account=account)
    store.put_schedule(schedule, due)
    exec_id = execution_id(schedule.id, due)
    wait_until(lambda: store.ledger_message(exec_id), what="the fire published")
    # The pop handed the message to the frozen worker's socket, or it is still queued: take it.
    store.redis.delete("webhooks")
    processes.kill(doomed)  # and with it whatever it had popped: the broker keeps no trace

    processes.worker("webhooks", **SETTINGS)
    wait_until(lambda: receiver.count() == 1, timeout_s=30, what="the re-published fire")
    assert receiver.requests[0].at_ms - due < BOUND_S * 1000 + SLACK_MS
    settle(store, processes)
    assert delivered_ids(receiver) == {exec_id: 1}
    assert [(r.status, r.attempt) for r in store.history(schedule.id)] == [("succeeded", 1)]
    logs = processes.logs()
    assert f"republished {exec_id} on webhooks (copy 1)" in logs
    assert "runs again" not in logs  # never begun: not a lost delivery


def test_a_worker_killed_mid_attempt_has_its_execution_run_again_after_the_lease(
    store: Store, config: Config, processes: ProcessGroup
) -> None:
    account = signed_account(store, config)
    with HttpReceiver(hold_first=True) as receiver:
        processes.beat(**SETTINGS)
        doomed = processes.worker("webhooks", **SETTINGS)  # the broker's hour-long timeout
        due = now_ms() + 200
        schedule = webhook_schedule(once(due), receiver.url, account=account)
        store.put_schedule(schedule, due)
        wait_until(lambda: receiver.count() == 1, timeout_s=30, what="the delivery, in flight")
        processes.kill(doomed)  # before it could acknowledge the message or record the run

        processes.worker("webhooks", **SETTINGS)
        wait_until(lambda: receiver.count() == 2, timeout_s=30, what="the execution run again")
        first, second = receiver.requests
        # The lease runs from the begin, a moment before the request reached the receiver.
        assert LEASE_MS - 500 <= second.at_ms - first.at_ms < LEASE_MS + SLACK_MS
        settle(store, processes)
        exec_id = execution_id(schedule.id, due)
        assert delivered_ids(receiver) == {exec_id: 2}  # the first never answered
        assert [(r.status, r.attempt) for r in store.history(schedule.id)] == [("succeeded", 1)]
        assert store.execution_state(exec_id) == "done|1"
        assert f"execution {exec_id} attempt 1 runs again" in processes.logs()  # counted


def test_a_republished_copy_of_a_completed_execution_is_skipped(
    store: Store, processes: ProcessGroup, receiver: HttpReceiver
) -> None:
    processes.beat(**SETTINGS)
    processes.worker("webhooks", **SETTINGS)
    due = now_ms() + 200
    schedule = webhook_schedule(once(due), receiver.url)
    store.put_schedule(schedule, due)
    wait_until(lambda: store.history(schedule.id), timeout_s=30, what="the delivery")
    wait_until(lambda: store.ledger_size() == 0, what="its ledger entry settled")

    # A sweep that raced the run record: the entry is back, overdue, its message gone.
    exec_id = execution_id(schedule.id, due)
    body = new_execution(schedule, exec_id, due, due).to_message()
    message = build_message("workers.webhooks.deliver", exec_id, "webhooks", [body], "t.0")
    store.redis.hset(store.keys.published_messages(), exec_id, f"0|webhooks|{message}")
    store.redis.zadd(store.keys.published(), {exec_id: now_ms() - 1})
    wait_until(lambda: "not run: done" in processes.logs(), what="the copy skipped")
    settle(store, processes)
    assert f"republished {exec_id} on webhooks (copy 1)" in processes.logs()
    assert receiver.count() == 1


def test_two_beats_sweeping_at_once_publish_each_lost_message_once(
    store: Store, processes: ProcessGroup, clean_redis: str
) -> None:
    ids = [f"lost{n}:1" for n in range(50)]
    for exec_id in ids:  # published, then lost before any worker took them
        message = build_message("workers.webhooks.deliver", exec_id, "webhooks", [{}], "t")
        store.redis.hset(store.keys.published_messages(), exec_id, f"0|webhooks|{message}")
        store.redis.zadd(store.keys.published(), {exec_id: now_ms()})
    processes.beat(**SETTINGS)
    processes.beat(**SETTINGS)
    wait_until(lambda: len(queued_messages(clean_redis, "webhooks")) >= 50, what="the copies")
    # Several bounds more: each copy waits in its queue (no worker), so none is copied again.
    seen = now_ms()
    wait_until(lambda: (store.last_beat_ms() or 0) > seen + 3 * BOUND_S * 1000, what="ticks")
    messages = queued_messages(clean_redis, "webhooks")
    assert sorted(m["headers"]["id"] for m in messages) == sorted(ids)
    assert {m["properties"]["delivery_tag"] for m in messages} == {"t~1"}
