"""Fair shares of a worker's delivery capacity: per-destination in-flight caps and circuit breakers.

A destination is the (scheme, host, port) a callback goes to. A delivery pool keeps hundreds of
callbacks in flight in one process (``SCHEDULER_DELIVERY_IN_FLIGHT``); without a share per
destination, one receiver that hangs would soon hold all of them. So, in each worker process:

- at most ``SCHEDULER_DESTINATION_MAX_IN_FLIGHT`` deliveries go to one destination at a time; a
  delivery that waits ``SCHEDULER_DESTINATION_WAIT_S`` for a slot is not sent and fails as
  retryable (it is retried in our own schedule), so a slow receiver holds only its own slots;
- ``SCHEDULER_BREAKER_FAILURES`` failures in a row (no connection, a timeout, a retryable status)
  open the destination's circuit for ``SCHEDULER_BREAKER_OPEN_S``: its deliveries fail at once,
  with that time left as their Retry-After, instead of hammering a receiver that is down; then one
  trial delivery goes out (half-open) and its outcome closes the circuit or opens it again.
  A delivery refused for want of a slot, when no call to its destination ended while it waited,
  counts as such a failure too: a destination whose calls all hang until their time-out is
  backed off within a few waits, not only once its first calls time out; a healthy receiver at
  its cap keeps ending calls meanwhile, and is not.

Both are counted in metrics (``shared.metrics``). The state is shared between the threads of
Celery's threads pool under locks; the webhooks pool's calls, made on its delivery loop, wait
for a slot with ``loop_slot`` (the same cap and breaker, without blocking the loop).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

from shared import metrics
from shared.config import Config

Destination = tuple[str, str, int]  # scheme, host, port
# Destinations remembered per process beyond which idle ones (nothing in flight, circuit closed,
# no failures) are forgotten: tenants may name any number of hosts.
MAX_TRACKED = 10_000


class Refused(Exception):
    """The delivery was not sent: its destination is at its cap or its circuit is open."""

    def __init__(self, reason: str, message: str, retry_after_s: float | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.retry_after_s = retry_after_s


@dataclass
class _State:
    slots: threading.BoundedSemaphore
    failures: int = 0  # in a row
    open_until: float = 0.0  # monotonic seconds; 0 = closed
    trial_out: bool = False  # half-open: one trial delivery is out, the others wait for it
    in_flight: int = 0
    last_end: float = 0.0  # monotonic seconds: when a call that went out last ended
    lock: threading.Lock = field(default_factory=threading.Lock)
    loop_slots: asyncio.Semaphore | None = None  # the same cap, for the delivery loop's calls


class Destinations:
    """The caps and breakers of one worker process, by destination."""

    def __init__(
        self,
        max_in_flight: int,
        wait_s: float,
        failures_to_open: int,
        open_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_in_flight = max_in_flight
        self.wait_s = wait_s
        self.failures_to_open = failures_to_open
        self.open_s = open_s
        self._clock = clock
        self._states: dict[Destination, _State] = {}
        self._lock = threading.Lock()

    @classmethod
    def from_config(cls, config: Config) -> Destinations:
        return cls(
            config.destination_max_in_flight,
            config.destination_wait_s,
            config.breaker_failures,
            config.breaker_open_s,
        )

    @contextmanager
    def slot(self, destination: Destination) -> Iterator[None]:
        """Hold one of ``destination``'s slots while the caller delivers; raises ``Refused``."""
        state = self._state(destination)
        trial = self._pass_breaker(destination, state)
        with _trial_given_back_on_error(state, trial):
            if not state.slots.acquire(timeout=self.wait_s):
                raise self._busy(destination, state)
        try:
            with self._holding(state, trial):
                yield
        finally:
            state.slots.release()

    @asynccontextmanager
    async def loop_slot(self, destination: Destination) -> AsyncIterator[None]:
        """``slot`` for a coroutine on the delivery loop (``workers.event_loop``): the wait for a
        slot suspends only this delivery, never the loop's others. Call it on that loop only."""
        state = self._state(destination)
        trial = self._pass_breaker(destination, state)
        if state.loop_slots is None:
            state.loop_slots = asyncio.Semaphore(self.max_in_flight)
        slots = state.loop_slots
        with _trial_given_back_on_error(state, trial):
            if slots.locked():  # no slot free: wait for one, at most wait_s
                try:
                    await asyncio.wait_for(slots.acquire(), self.wait_s)
                except TimeoutError:
                    raise self._busy(destination, state) from None
            else:  # a slot is free: taken at once (wait_for would cost a task per call)
                await slots.acquire()
        try:
            with self._holding(state, trial):
                yield
        finally:
            slots.release()

    def _busy(self, destination: Destination, state: _State) -> Refused:
        """A delivery that waited its time for a slot and got none: refused, and counted as a
        failure in a row if no call to the destination ended in all that time."""
        metrics.record_refused("busy")
        with state.lock:
            if state.last_end <= self._clock() - self.wait_s:
                self._count_failure(state)
        return Refused(
            "busy",
            f"{_name(destination)} already has {self.max_in_flight} deliveries in flight "
            f"from this worker (waited {self.wait_s:g} s for one to finish)",
            None,
        )

    @contextmanager
    def _holding(self, state: _State, trial: bool) -> Iterator[None]:
        with state.lock:
            state.in_flight += 1
        try:
            yield
        finally:
            with state.lock:
                state.in_flight -= 1
                if trial:  # the trial ended without an outcome (an error of ours): let another go
                    state.trial_out = False

    def record(self, destination: Destination, failed: bool) -> None:
        """The outcome of a delivery that went out: a failure counts towards opening the circuit;
        anything else (an answer, even a 4xx) shows the receiver is up and closes it."""
        state = self._state(destination)
        with state.lock:
            state.trial_out = False
            state.last_end = self._clock()
            if not failed:
                state.failures, state.open_until = 0, 0.0
                return
            self._count_failure(state)

    def _count_failure(self, state: _State) -> None:
        """One more failure in a row (``state.lock`` held): enough of them, or one while the
        circuit is half-open, (re)opens it."""
        state.failures += 1
        half_open = state.open_until != 0.0
        if half_open or state.failures >= self.failures_to_open:
            state.open_until = self._clock() + self.open_s
            metrics.record_circuit_opened()

    def _pass_breaker(self, destination: Destination, state: _State) -> bool:
        """Refuse while the circuit is open; past its time, let one trial through (returns True
        for that one)."""
        with state.lock:
            if state.open_until == 0.0:
                return False
            left = state.open_until - self._clock()
            if left <= 0 and not state.trial_out:
                state.trial_out = True
                return True
        metrics.record_refused("circuit_open")
        wait = max(left, 1.0)
        raise Refused(
            "circuit_open",
            f"{_name(destination)} failed {state.failures} times in a row: its circuit is open, "
            f"calls resume in {wait:.0f} s",
            wait,
        )

    def _state(self, destination: Destination) -> _State:
        with self._lock:
            state = self._states.get(destination)
            if state is None:
                if len(self._states) >= MAX_TRACKED:
                    self._forget_idle()
                state = _State(threading.BoundedSemaphore(self.max_in_flight))
                self._states[destination] = state
            return state

    def _forget_idle(self) -> None:
        idle = [
            key
            for key, state in self._states.items()
            if not state.in_flight and not state.failures and not state.open_until
        ]
        for key in idle:
            del self._states[key]


@contextmanager
def _trial_given_back_on_error(state: _State, trial: bool) -> Iterator[None]:
    """A half-open circuit's trial that never went out (no slot, an error) lets another go."""
    try:
        yield
    except BaseException:
        if trial:
            state.trial_out = False
        raise


def _name(destination: Destination) -> str:
    scheme, host, port = destination
    return f"{scheme}://{host}:{port}"
