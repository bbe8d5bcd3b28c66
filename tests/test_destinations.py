"""Per-destination in-flight caps and circuit breakers (workers.destinations), on a fake clock."""

from __future__ import annotations

import asyncio
import threading

import pytest
from prometheus_client import REGISTRY

from workers.destinations import Destinations, Refused

HOST = ("http", "receiver.example", 80)
OTHER = ("http", "other.example", 80)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def opened() -> float:
    """scheduler_circuits_opened_total, as the metrics endpoint shows it."""
    return REGISTRY.get_sample_value("scheduler_circuits_opened_total") or 0.0


def go(gate: Destinations, destination: tuple[str, str, int]) -> None:
    with gate.slot(destination):
        pass


def destinations(clock: Clock, cap: int = 2, failures: int = 3) -> Destinations:
    return Destinations(cap, wait_s=0.05, failures_to_open=failures, open_s=30, clock=clock)


def past_its_open_time(clock: Clock) -> Destinations:
    """A gate whose HOST circuit opened (one failure) and whose open time is up."""
    gate = destinations(clock, failures=1)
    with gate.slot(HOST):
        gate.record(HOST, failed=True)
    clock.now += 31
    return gate


def test_a_destination_at_its_cap_refuses_more_but_others_still_go() -> None:
    gate = destinations(Clock(), cap=2)
    with gate.slot(HOST), gate.slot(HOST):
        with pytest.raises(Refused) as refused, gate.slot(HOST):
            pass
        assert refused.value.reason == "busy"
        assert "2 deliveries in flight" in str(refused.value)
        with gate.slot(OTHER):  # another destination has its own slots
            pass
    with gate.slot(HOST):  # released: free again
        pass


def test_a_waiting_delivery_gets_the_slot_another_releases() -> None:
    gate = Destinations(1, wait_s=5, failures_to_open=3, open_s=30)
    holding, got = threading.Event(), threading.Event()

    def hold() -> None:
        with gate.slot(HOST):
            holding.set()
            got.wait(0.2)

    thread = threading.Thread(target=hold)
    thread.start()
    holding.wait(5)
    with gate.slot(HOST):  # waits for the holder, then goes
        got.set()
    thread.join(5)


def test_failures_in_a_row_open_the_circuit_until_its_time_is_up() -> None:
    clock = Clock()
    gate = destinations(clock, failures=3)
    for _ in range(2):
        with gate.slot(HOST):
            gate.record(HOST, failed=True)
    with gate.slot(HOST):  # two failures: still closed
        gate.record(HOST, failed=True)
    with pytest.raises(Refused) as refused:  # the third opened it
        go(gate, HOST)
    assert refused.value.reason == "circuit_open"
    assert refused.value.retry_after_s == pytest.approx(30)
    clock.now += 10
    with pytest.raises(Refused) as later, gate.slot(HOST):
        pass
    assert later.value.retry_after_s == pytest.approx(20)
    with gate.slot(OTHER):  # only that destination
        gate.record(OTHER, failed=False)


def test_deliveries_refused_for_want_of_a_slot_open_the_circuit() -> None:
    # Every slot held by calls that hang: nothing answers while deliveries wait for one.
    gate = destinations(Clock(), cap=1, failures=2)
    opened_before = opened()
    with gate.slot(HOST):
        for _ in range(2):
            with pytest.raises(Refused) as busy:
                go(gate, HOST)
            assert busy.value.reason == "busy"
        with pytest.raises(Refused) as backed_off:  # at once, without waiting for a slot
            go(gate, HOST)
    assert backed_off.value.reason == "circuit_open"
    assert backed_off.value.retry_after_s == pytest.approx(30)
    assert opened() == opened_before + 1  # visible in metrics


def test_the_delivery_loop_backs_off_a_destination_whose_slots_all_hang() -> None:
    gate = destinations(Clock(), cap=1, failures=2)

    async def refusals() -> list[str]:
        reasons = []
        async with gate.loop_slot(HOST):  # a call that hangs
            for _ in range(3):
                try:
                    async with gate.loop_slot(HOST):
                        pass
                except Refused as exc:
                    reasons.append(exc.reason)
        return reasons

    assert asyncio.run(refusals()) == ["busy", "busy", "circuit_open"]


def test_a_destination_whose_calls_end_while_others_wait_is_not_backed_off() -> None:
    # A healthy receiver at its cap: its calls end while others wait for a slot (even failing
    # ones count as ending: they are counted themselves), so its busy refusals are not failures.
    clock = Clock()
    gate = destinations(clock, cap=2, failures=2)
    with gate.slot(HOST), gate.slot(HOST):
        for failed in (False, False, True):
            gate.record(HOST, failed=failed)  # a call ended (the fake clock: within the wait)
            with pytest.raises(Refused) as busy:
                go(gate, HOST)
            assert busy.value.reason == "busy"
    go(gate, HOST)
    clock.now += 1  # nothing ended since: the waits count again
    with gate.slot(HOST), gate.slot(HOST):
        for reason in ("busy", "circuit_open"):
            with pytest.raises(Refused) as refused:
                go(gate, HOST)
            assert refused.value.reason == reason


def test_a_success_between_failures_starts_the_count_again() -> None:
    gate = destinations(Clock(), failures=3)
    for failed in (True, True, False, True, True):
        with gate.slot(HOST):
            gate.record(HOST, failed=failed)
    with gate.slot(HOST):  # never three in a row
        pass


def test_after_the_open_time_one_trial_goes_and_decides() -> None:
    clock = Clock()
    gate = past_its_open_time(clock)
    with gate.slot(HOST):  # the trial
        with pytest.raises(Refused):  # while it is out, the others still wait
            go(gate, HOST)
        gate.record(HOST, failed=True)  # the trial failed: open again, for the whole time
    with pytest.raises(Refused) as reopened, gate.slot(HOST):
        pass
    assert reopened.value.retry_after_s == pytest.approx(30)
    clock.now += 31
    with gate.slot(HOST):
        gate.record(HOST, failed=False)  # the trial succeeded: closed
    for _ in range(3):
        with gate.slot(HOST):
            pass


def test_a_trial_that_ends_without_an_outcome_lets_the_next_one_go() -> None:
    clock = Clock()
    gate = past_its_open_time(clock)
    with pytest.raises(RuntimeError), gate.slot(HOST):
        raise RuntimeError("a bug of ours, not the receiver's answer")
    with gate.slot(HOST):  # another trial, not a circuit stuck half-open
        pass


def test_idle_destinations_are_forgotten_past_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("workers.destinations.MAX_TRACKED", 3)
    gate = destinations(Clock(), failures=1)
    with gate.slot(HOST):
        gate.record(HOST, failed=True)  # open: remembered
    for n in range(10):
        with gate.slot(("http", f"h{n}.example", 80)):
            pass
    assert len(gate._states) <= 4
    with pytest.raises(Refused):  # the open circuit was kept
        go(gate, HOST)
