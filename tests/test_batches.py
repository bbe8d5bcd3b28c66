"""Batches on a real Redis: the fires of one beat tick for the webhooks queue go out as one
message (commit.lua), whose argument a worker reads back as the list of their executions; a fire
alone goes out as its own message, a fire whose claim was lost is in no message, and the ledger
keeps every fire's own message for a re-publish."""

from __future__ import annotations

import base64
import json
from typing import Any

from scheduler_beat.dispatch import Dispatcher
from shared.config import Config
from shared.contract import RunStatus, TaskName
from shared.execution import Execution, execution_id, retry_payload
from shared.model import RunRecord
from shared.store import Store
from tests.factories import once, webhook_schedule

T0 = 1_800_000_000_000


def queued(store: Store) -> list[dict[str, Any]]:
    """The webhooks queue's messages, oldest first, as kombu's Redis transport reads them."""
    return [json.loads(raw) for raw in reversed(store.redis.lrange("webhooks", 0, -1))]


def arguments(message: dict[str, Any]) -> Any:
    """The task's one argument, decoded the way kombu and Celery decode the body."""
    body = message["body"]  # kombu: decoded only if the properties name an encoding
    if message["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body).decode()
    args, kwargs, _ = json.loads(body)
    assert kwargs == {} and len(args) == 1
    return args[0]


def due_schedules(store: Store, count: int, at: int = T0) -> list[str]:
    ids = [f"s{n}" for n in range(count)]
    for schedule_id in ids:
        store.put_schedule(webhook_schedule(once(at), id=schedule_id), at)
    return ids


def test_the_fires_of_one_tick_go_out_as_one_message(store: Store) -> None:
    ids = due_schedules(store, 3)
    assert Dispatcher(store, Config()).tick(T0).published == 3
    (message,) = queued(store)
    assert message["headers"]["task"] == TaskName.WEBHOOK_DELIVER_BATCH
    executions = [Execution.from_message(body) for body in arguments(message)]
    assert sorted(e.id for e in executions) == sorted(execution_id(i, T0) for i in ids)
    # each is in the ledger with its own message, for a copy if no worker begins it
    for schedule_id in ids:
        copies, queue, single = store.ledger_message(execution_id(schedule_id, T0))
        assert (copies, queue) == (0, "webhooks")
        assert arguments(json.loads(single))["id"] == execution_id(schedule_id, T0)


def test_a_fire_alone_goes_out_as_its_own_message(store: Store) -> None:
    (schedule_id,) = due_schedules(store, 1)
    Dispatcher(store, Config()).tick(T0)
    (message,) = queued(store)
    assert message["headers"]["task"] == TaskName.WEBHOOK_DELIVER
    assert arguments(message)["id"] == execution_id(schedule_id, T0)


def test_no_message_holds_more_than_the_batch_size(store: Store) -> None:
    due_schedules(store, 7)
    Dispatcher(store, Config(delivery_batch=3)).tick(T0)
    sizes = sorted(
        len(arguments(m)) if m["headers"]["task"] == TaskName.WEBHOOK_DELIVER_BATCH else 1
        for m in queued(store)
    )
    assert sizes == [1, 3, 3]


def test_a_fire_deleted_between_claim_and_commit_is_in_no_batch(store: Store) -> None:
    ids = due_schedules(store, 3)
    dispatcher = Dispatcher(store, Config())
    real_claim = store.claim

    def claim_then_delete(*args: Any, **kwargs: Any) -> Any:
        claimed = real_claim(*args, **kwargs)
        schedule = store.get_schedule(ids[1])
        assert schedule is not None
        store.delete_schedule(schedule)
        return claimed

    store.claim = claim_then_delete  # type: ignore[method-assign]
    assert dispatcher.tick(T0).published == 2
    (message,) = queued(store)
    sent = {body["id"] for body in arguments(message)}
    assert sent == {execution_id(ids[0], T0), execution_id(ids[2], T0)}
    assert store.ledger_message(execution_id(ids[1], T0)) is None


def test_a_batch_body_is_plain_json_text(store: Store) -> None:
    due_schedules(store, 2)
    Dispatcher(store, Config()).tick(T0)
    (message,) = queued(store)
    assert "body_encoding" not in message["properties"]
    assert not _is_base64_json(message["body"])


def _is_base64_json(text: str) -> bool:
    try:
        json.loads(base64.b64decode(text, validate=True))
    except ValueError:
        return False
    return True


def _fail_for_a_retry(
    store: Store, body: dict[str, Any], retry_at_ms: int, payload: dict[str, Any] | None = None
) -> None:
    """Attempt 1 of ``body`` begun and failed, its retry (attempt 2 unless ``payload`` says
    otherwise) due at ``retry_at_ms``."""
    execution = Execution.from_message(body)
    assert store.begin_execution(execution.id, 1, 60, 3, now_ms=T0, lease_ms=1000) == "run"
    record = RunRecord(execution.id, execution.schedule, T0, T0, T0, T0, RunStatus.RETRYING, 1)
    store.finish_execution(
        record, "retry", account=execution.account, now_ms=T0, history_cap=10, retention_s=60,
        retry_at_ms=retry_at_ms, payload=payload or retry_payload(body, 2),
    )  # fmt: skip


def test_the_retries_due_in_one_tick_go_out_as_one_message(store: Store) -> None:
    due_schedules(store, 3)
    Dispatcher(store, Config()).tick(T0)
    (fires,) = queued(store)
    store.redis.delete("webhooks")
    for body in arguments(fires):
        _fail_for_a_retry(store, body, T0 + 2000)
    assert Dispatcher(store, Config()).tick(T0 + 2000).published == 3
    (message,) = queued(store)
    assert message["headers"]["task"] == TaskName.WEBHOOK_DELIVER_BATCH
    retried = [Execution.from_message(body) for body in arguments(message)]
    assert sorted(e.id for e in retried) == sorted(body["id"] for body in arguments(fires))
    assert {e.attempt for e in retried} == {2}
    for execution in retried:  # each in the ledger with its own message, for a copy
        _, queue, single = store.ledger_message(execution.id)
        assert queue == "webhooks" and arguments(json.loads(single))["attempt"] == 2


def test_retries_of_a_task_without_a_batch_form_go_out_one_a_message(store: Store) -> None:
    due_schedules(store, 2)
    Dispatcher(store, Config()).tick(T0)
    (fires,) = queued(store)
    store.redis.delete("webhooks")
    for body in arguments(fires):  # as the beat's job lease checks are: a task of its own
        payload = {"task": TaskName.JOB_LEASE, "queue": "jobs", "execution": body}
        _fail_for_a_retry(store, body, T0 + 2000, payload)
    assert Dispatcher(store, Config()).tick(T0 + 2000).published == 2
    messages = [json.loads(raw) for raw in store.redis.lrange("jobs", 0, -1)]
    assert [m["headers"]["task"] for m in messages] == [TaskName.JOB_LEASE] * 2
