"""The store during a Redis outage: what waits it out (a worker's begin and finish), what does
not (everything else: the API answers 503), and what a repeat after a lost answer does."""

from __future__ import annotations

import socket
import time

import pytest
import redis

from shared.config import Config
from shared.errors import ConfigError
from shared.model import RunRecord
from shared.store import Store, connect
from tests.support import free_port

T0 = 1_800_000_000_000
RUN_AT = {"now_ms": T0, "lease_ms": 60_000}


def unreachable(outage_retry_s: float) -> Store:
    """A store on a port nobody listens on (connection refused, as while Redis restarts)."""
    return Store(connect(f"redis://127.0.0.1:{free_port()}/0", 0.5), "sched", outage_retry_s)


def test_patiently_tries_again_until_redis_answers() -> None:
    store = unreachable(5.0)
    failures = iter([redis.ConnectionError("down"), redis.BusyLoadingError("loading")])

    def call() -> str:
        error = next(failures, None)
        if error:
            raise error
        return "answered"

    started = time.monotonic()
    assert store.patiently(call) == "answered"
    assert time.monotonic() - started < 1.0  # 50 ms, then 100 ms: not the whole budget


def test_patiently_gives_up_after_its_budget() -> None:
    store = unreachable(0.4)
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        store.begin_execution("s1:1", 1, 60, **RUN_AT)
    assert 0.3 <= time.monotonic() - started < 3.0


def test_patiently_does_not_wait_for_other_errors() -> None:
    store = unreachable(5.0)
    calls = []

    def call() -> None:
        calls.append(1)
        raise redis.ResponseError("WRONGTYPE")

    with pytest.raises(redis.ResponseError):
        store.patiently(call)
    assert calls == [1]


def test_without_a_budget_an_unreachable_redis_fails_at_once() -> None:
    store = unreachable(0.0)  # the API's store: it answers 503 rather than wait
    started = time.monotonic()
    with pytest.raises(redis.ConnectionError):
        store.begin_execution("s1:1", 1, 60, **RUN_AT)
    with pytest.raises(redis.ConnectionError):
        store.get_account("nobody")
    assert time.monotonic() - started < 2.0


def test_a_repeated_finish_writes_nothing_twice(store: Store) -> None:
    record = RunRecord("s1:1", "s1", 1, 1, 2, 3, "succeeded", 1)
    assert store.begin_execution("s1:1", 1, 60, **RUN_AT) == "run"
    for _ in range(2):  # the worker's repeat after Redis ran the first but lost its answer
        store.finish_execution(
            record, "done", account="a", now_ms=T0, history_cap=10, retention_s=60
        )
    assert [r.attempt for r in store.history("s1")] == [1]
    assert [r.attempt for r in store.account_runs("a")] == [1]
    assert store.begin_execution("s1:1", 1, 60, **RUN_AT) == "done"


def test_the_clients_time_out_on_a_silent_redis() -> None:
    # A listener that never answers: a Redis gone without closing its connections.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        port = silent.getsockname()[1]
        store = Store(connect(f"redis://127.0.0.1:{port}/0", 0.3))
        started = time.monotonic()
        with pytest.raises(redis.TimeoutError):
            store.get_account("nobody")
        assert time.monotonic() - started < 2.0


def test_a_workers_wait_for_redis_ends_before_the_attempt_time_limit() -> None:
    assert Config.from_env({}).worker_outage_wait_s == 20
    short = Config.from_env({"SCHEDULER_ATTEMPT_TIME_LIMIT_S": "2"})
    assert short.worker_outage_wait_s == 1  # half the limit: the attempt's finish still fits
    with pytest.raises(ConfigError, match="SCHEDULER_REDIS_OUTAGE_RETRY_S"):
        Config.from_env({"SCHEDULER_REDIS_OUTAGE_RETRY_S": "-1"})
    with pytest.raises(ConfigError, match="SCHEDULER_REDIS_TIMEOUT_S"):
        Config.from_env({"SCHEDULER_REDIS_TIMEOUT_S": "0"})


def test_a_pool_task_gives_its_message_back_when_redis_stays_away(
    monkeypatch: pytest.MonkeyPatch, clean_redis: str
) -> None:
    from celery.exceptions import Reject

    from shared.execution import new_execution
    from tests.factories import once, webhook_schedule
    from workers import context, webhooks

    monkeypatch.setenv("REDIS_URL", clean_redis)  # Celery's settings, if not read yet
    monkeypatch.setattr(context, "_store", unreachable(0.2))  # the worker's wait ran out
    schedule = webhook_schedule(once(T0))
    body = new_execution(schedule, f"{schedule.id}:{T0}", T0, T0).to_message()
    with pytest.raises(Reject) as rejected:
        webhooks.deliver(body)  # the task as its pool process runs it
    assert rejected.value.requeue  # back to its queue, not acknowledged as a failure
    assert isinstance(rejected.value.reason, redis.ConnectionError)
