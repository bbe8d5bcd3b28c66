"""A delivery pool keeps many callbacks in flight, shares them fairly between destinations, and
stops calling a destination that keeps failing: real beat, real webhooks worker (`scheduler
worker`, Celery's threads pool), receivers on 127.0.0.1."""

from __future__ import annotations

from shared.store import Store
from tests.factories import once, webhook_schedule
from tests.support import HttpReceiver, ProcessGroup, free_port, now_ms, wait_until


def schedule_many(store: Store, url: str, count: int, due_ms: int, step_ms: int = 0) -> list[str]:
    ids = []
    for n in range(count):
        schedule = webhook_schedule(once(due_ms + n * step_ms), f"{url}/{n}")
        store.put_schedule(schedule, due_ms + n * step_ms)
        ids.append(schedule.id)
    return ids


def test_one_worker_process_keeps_many_slow_callbacks_in_flight(
    store: Store, processes: ProcessGroup
) -> None:
    with HttpReceiver(delay_s=1.0) as slow:
        processes.beat()
        processes.worker("webhooks")  # its default: SCHEDULER_DELIVERY_IN_FLIGHT
        wait_until(store.last_beat_ms, what="beat running")
        due = now_ms() + 1500
        schedule_many(store, slow.url, 60, due)
        wait_until(lambda: slow.count() == 60, timeout_s=30, what="60 callbacks")
        # One at a time, 60 callbacks answering in 1 s take a minute; two processes, 30 s.
        spread_ms = max(r.at_ms for r in slow.requests) - due
        assert spread_ms < 6000, f"the 60th callback arrived {spread_ms} ms after the due instant"


HUNG_S = 60  # how long a hung receiver holds a call (its read timeout)


def test_a_hanging_destination_holds_only_its_own_slots(
    store: Store, processes: ProcessGroup
) -> None:
    with HttpReceiver(hang_prefix="/") as hung, HttpReceiver() as healthy:
        processes.beat()
        processes.worker(
            "webhooks",
            concurrency=12,
            destination_max_in_flight=4,
            destination_wait_s=0.2,
            http_read_timeout_s=HUNG_S,
            retry_base_s=30,  # the refused ones wait: not part of this test
        )
        wait_until(store.last_beat_ms, what="beat running")
        due = now_ms() + 1500
        schedule_many(store, hung.url, 30, due)  # first in the queue
        schedule_many(store, healthy.url, 30, due + 50)
        # Without the cap the hung receiver would hold all 12 slots until its calls time out:
        # every healthy callback arrives long before that (a loaded machine's slowness aside).
        wait_until(lambda: healthy.count() == 30, timeout_s=HUNG_S * 0.75, what="the healthy ones")
        assert max(r.at_ms for r in healthy.requests) - due < HUNG_S * 1000
        assert hung.count() <= 4


def test_a_destination_that_keeps_failing_is_not_called_while_its_circuit_is_open(
    store: Store, processes: ProcessGroup
) -> None:
    closed = f"http://127.0.0.1:{free_port()}"  # nothing listens: connection refused
    processes.beat()
    processes.worker("webhooks", breaker_failures=2, breaker_open_s=60, max_attempts=1)
    wait_until(store.last_beat_ms, what="beat running")
    ids = schedule_many(store, closed, 5, now_ms() + 1500, step_ms=300)

    def errors() -> list[str] | None:
        runs = [store.history(i) for i in ids]
        return [r[0].error or "" for r in runs] if all(runs) else None

    found = wait_until(errors, timeout_s=30, what="the five attempts")
    assert all("Connection" in e for e in found[:2]), found
    assert all("circuit is open" in e for e in found[2:]), found


def test_a_destination_whose_calls_all_hang_is_backed_off_before_they_time_out(
    store: Store, processes: ProcessGroup
) -> None:
    with HttpReceiver(hang_prefix="/") as hung:
        processes.beat()
        processes.worker(
            "webhooks",
            destination_max_in_flight=2,
            destination_wait_s=0.2,
            breaker_failures=2,
            breaker_open_s=HUNG_S,
            http_read_timeout_s=HUNG_S,
            max_attempts=1,
        )
        wait_until(store.last_beat_ms, what="beat running")
        ids = schedule_many(store, hung.url, 8, now_ms() + 1500, step_ms=300)
        # Two calls hang in its two slots; the next two wait for a slot in vain and open the
        # circuit; the rest are refused at once. None waits for a hung call's time-out.
        later = ids[4:]
        errors = wait_until(
            lambda: [r[0].error or "" for r in map(store.history, later)]
            if all(map(store.history, later)) else None,
            timeout_s=HUNG_S * 0.75,
            what="the later fires refused",
        )  # fmt: skip
        assert all("circuit is open" in e for e in errors), errors
        assert hung.count() == 2
