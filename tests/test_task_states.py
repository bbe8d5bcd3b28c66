"""How an attempt's end reads to Celery and in the logs (workers.task_states, workers.ended): pure
pieces, no worker. Flower reading them from real workers: tests/test_flower_attempts.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from celery.exceptions import Retry

from shared.config import Config
from shared.execution import Execution
from shared.model import Target
from workers import task_states
from workers.ended import Ended, failure_summary, target_of
from workers.task_states import AttemptFailed, end_task


def execution(kind: str, spec: dict[str, Any], attempt: int = 1, n: int = 0) -> Execution:
    return Execution(
        id=f"s{n}:1000",
        schedule=f"s{n}",
        account="acct",
        dialect="test",
        due_ms=1000,
        attempt=attempt,
        target=Target(kind, spec),
    )


def test_a_succeeded_attempt_returns_a_failed_one_raises_what_celery_counts() -> None:
    assert end_task(Ended("done")) == "done"
    with pytest.raises(AttemptFailed, match="HTTP 500; dead-lettered"):
        end_task(Ended("dead", "attempt 3 to h: HTTP 500; dead-lettered"))
    with pytest.raises(Retry) as retry:
        end_task(Ended("retry", "attempt 1 to h: HTTP 500; retry in 4 s", 4.0))
    assert retry.value.when == 4.0
    assert isinstance(retry.value.exc, AttemptFailed)
    assert AttemptFailed in task_states.THROWS  # logged by Celery without a traceback


def test_a_failure_names_the_error_the_target_and_the_attempt(tmp_path: Path) -> None:
    classes = tmp_path / "classes.json"
    classes.write_text(json.dumps({"Report": "http://reports.example.com:8080/run"}))
    config = Config.from_env(
        {}, data_dir=str(tmp_path), push_gateway_url="https://push.example.com/v4/push",
        task_classes_file=str(classes),
    )  # fmt: skip
    hook = execution("webhook", {"url": "https://hooks.example.com/a?b=c"}, attempt=2)
    assert failure_summary(config, hook, "HTTP 500", 4.0) == (
        "attempt 2 to hooks.example.com: HTTP 500; retry in 4 s"
    )
    assert failure_summary(config, hook, "timed out", None) == (
        "attempt 2 to hooks.example.com: timed out; dead-lettered"
    )
    assert target_of(config, execution("push", {})) == "push.example.com"
    report = execution("task", {"class_name": "Report"})
    assert target_of(config, report) == "task class Report at reports.example.com"
    backup = execution("task", {"class_name": "scheduler\\Tasks\\Backup"})
    assert target_of(config, backup) == "task class scheduler\\Tasks\\Backup"
    assert target_of(config, execution("beacon", {"job": {"name": "nightly"}})) == (
        "beacon job nightly"
    )
    assert target_of(config, execution("webhook", {})) == "(no URL)"  # a refused message's


class FakeDispatcher:
    buffer_limit = 24

    def __init__(self) -> None:
        self.sent: list[tuple[str, dict[str, Any]]] = []

    def send(self, kind: str, **fields: Any) -> None:
        self.sent.append((kind, fields))


class FakeHub:
    def __init__(self) -> None:
        self.on_tick: set[Any] = set()

    def turn(self) -> None:
        for callback in list(self.on_tick):
            callback()


class FakeConsumer:
    def __init__(self) -> None:
        self.hub = FakeHub()
        self.event_dispatcher = FakeDispatcher()


def test_each_attempt_of_a_batch_is_a_task_of_its_own_sent_by_the_event_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    consumer = FakeConsumer()
    monkeypatch.setattr(task_states, "_worker", {})
    task_states._remember_consumer(sender=consumer)  # as the worker_ready signal does
    batch = [execution("webhook", {"url": "http://h/"}, attempt=1 + n % 2, n=n) for n in range(3)]
    task_states.attempts_began(batch)
    ends = [Ended("done"), Ended("retry", "attempt 2 ... retry in 1 s", 1.0), Ended("dead", "x")]
    task_states.attempts_ended(list(zip(batch, ends, strict=True)), 0.25)

    # The pool thread only queued them; the loop's next turn (the main thread) sends them.
    assert consumer.event_dispatcher.sent == []
    consumer.hub.turn()
    sent = consumer.event_dispatcher.sent
    assert [(kind, fields["uuid"]) for kind, fields in sent] == [
        ("task-received", "s0:1000/1"),
        ("task-received", "s1:1000/2"),
        ("task-received", "s2:1000/1"),
        ("task-succeeded", "s0:1000/1"),
        ("task-retried", "s1:1000/2"),
        ("task-failed", "s2:1000/1"),
    ]
    assert sent[0][1]["name"] == "workers.webhooks.deliver"
    assert sent[1][1]["retries"] == 1
    assert sent[3][1]["runtime"] == 0.25
    assert sent[5][1]["exception"] == "AttemptFailed('x')"
    assert consumer.event_dispatcher.buffer_limit == task_states.BUFFER_LIMIT
    consumer.hub.turn()  # nothing left: sent once
    assert len(consumer.event_dispatcher.sent) == 6


def test_outside_a_worker_no_event_is_queued(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(task_states, "_worker", {})
    task_states.attempts_began([execution("webhook", {"url": "http://h/"})])
    assert not task_states._queued
