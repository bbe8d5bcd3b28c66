"""The executions of one message, delivered together: how the webhooks pool keeps up with the beat.

The beat publishes the fires of one tick for one delivery queue as one message (up to
``SCHEDULER_DELIVERY_BATCH`` executions, and its retries alike; a re-published copy or a run on
demand is a message of one). ``run_batch`` gives every execution of it the life
``workers.runner`` gives one (dedupe, delivery count, lease, poison, run record, retry or dead
letter, metrics, logs) at a fraction of the cost:

- one Redis round trip begins them all and reads the accounts that sign their callbacks;
- their calls are coroutines on the process's delivery loop (``workers.event_loop``), all in
  flight at once, while the task's thread waits;
- as calls end, the ends gathered meanwhile are recorded in one round trip.

The message is acknowledged (``acks_late``) once every execution in it is recorded. A worker
that dies first leaves it unacknowledged: the broker hands it back (the same delivery tag: the
executions that had begun run again, counted) or the ledger publishes each unbegun execution
again; ``begin_execution`` lets each run at most once at a time and never after it finished.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import queue
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

from shared import logs, metrics
from shared.config import Config
from shared.errors import InvalidSchedule
from shared.execution import Execution, MalformedExecution
from shared.store import Store, Verdict
from shared.timing import now_ms
from workers import event_loop, runner, task_states
from workers.ended import Ended, target_of
from workers.runner import Outcome

log = logging.getLogger(__name__)

Account = dict[str, Any] | None
AsyncDeliver = Callable[[Execution, Account], Awaitable[Outcome]]
Begun = tuple[Execution, int]  # an execution that runs, and when it started (ms)


def run_batch(
    store: Store,
    config: Config,
    bodies: list[Any],
    deliver: AsyncDeliver,
    refuse: Callable[[Any, str], Ended],
    delivery_tag: str,
) -> list[Ended]:
    """Run one attempt of each execution in ``bodies`` (a message's argument); returns what
    happened to each, in order. ``refuse(body, reason)`` dead-letters a body that is no
    execution."""
    outcomes: dict[int, Ended] = {}
    executions: dict[int, Execution] = {}
    for n, body in enumerate(bodies):
        try:
            executions[n] = Execution.from_message(body)
        except MalformedExecution as exc:
            outcomes[n] = refuse(body, f"malformed message: {exc}")
    # Taken before the begin: an attempt's lease must not run out while it waits for room.
    with capacity(config).held(len(executions)) as room:
        begun = _begin(store, config, executions, outcomes, delivery_tag)
        room.keep(len(begun))
        _deliver_all(store, config, begun, deliver, outcomes, room)
    return [outcomes[n] for n in range(len(bodies))]


class Capacity:
    """At most ``limit`` executions of this process between begin and end at once: a message
    waits on its thread until there is room for all of it (all at once, so two large messages
    can never each hold part of the room and wait for the rest). Messages get room in the order
    they asked for it: the oldest fires go first, and a large message is not passed for ever by
    small ones; each waiter is woken alone, when its turn comes."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._used = 0
        self._lock = threading.Lock()
        self._waiting: deque[tuple[int, threading.Event]] = deque()

    @contextmanager
    def held(self, count: int) -> Iterator[Room]:
        """Room for ``count`` executions, for the block; ``Room.keep`` gives back what the
        message's ended executions no longer need."""
        count = min(count, self.limit)
        self._take(count)
        room = Room(self, count)
        try:
            yield room
        finally:
            room.keep(0)

    def waiting(self) -> int:
        """Messages waiting for room."""
        with self._lock:
            return len(self._waiting)

    def _take(self, count: int) -> None:
        with self._lock:
            if not self._waiting and self._used + count <= self.limit:
                self._used += count
                return
            turn = threading.Event()
            self._waiting.append((count, turn))
        turn.wait()  # the room was counted as ours by whoever gave it back

    def _give_back(self, count: int) -> None:
        with self._lock:
            self._used -= count
            while self._waiting and self._used + self._waiting[0][0] <= self.limit:
                wanted, turn = self._waiting.popleft()
                self._used += wanted
                turn.set()


class Room:
    """The room one message holds. Given back as its executions end, not when the last does:
    a message whose few calls hang (until their time-out) must not hold the room of its many
    answered ones, or other destinations' fires wait behind it."""

    def __init__(self, capacity: Capacity, count: int) -> None:
        self._capacity = capacity
        self.count = count

    def keep(self, running: int) -> None:
        """Keep room for ``running`` executions still between begin and end (at most what was
        taken), give back the rest."""
        spare = self.count - min(self.count, running)
        if spare:
            self.count -= spare
            self._capacity._give_back(spare)


@functools.cache
def capacity(config: Config) -> Capacity:
    """This process's room: ``SCHEDULER_DELIVERY_IN_FLIGHT`` executions."""
    return Capacity(config.delivery_in_flight)


def _begin(
    store: Store,
    config: Config,
    executions: dict[int, Execution],
    outcomes: dict[int, Ended],
    delivery_tag: str,
) -> dict[int, tuple[Execution, Account]]:
    """Begin every execution in one round trip; the ones that run now, with their accounts."""
    if not executions:
        return {}
    verdicts, accounts = store.begin_executions(
        [(e.id, e.attempt) for e in executions.values()],
        config.history_retention_s,
        config.max_deliveries,
        now_ms=now_ms(),
        lease_ms=config.attempt_lease_ms,
        delivery_tag=delivery_tag,
        accounts=[e.account for e in executions.values()],
    )
    runs: dict[int, tuple[Execution, Account]] = {}
    for (n, execution), verdict in zip(executions.items(), verdicts, strict=True):
        metrics.record_delivery(execution, verdict)
        with logs.execution_context(**logs.execution_fields(execution)):
            if verdict == Verdict.POISON:
                task_states.attempts_began([execution])
                outcomes[n] = runner.dead_letter(
                    store, config, execution, runner.lost_reason(config)
                )
                task_states.attempts_ended([(execution, outcomes[n])], 0.0)
            elif not verdict.runs:
                log.info("execution %s attempt %d not run: %s", execution.id, execution.attempt,
                         verdict)  # fmt: skip
                outcomes[n] = Ended(verdict)
            else:
                if verdict == Verdict.RERUN:
                    log.warning("execution %s attempt %d runs again: its last delivery was lost",
                                execution.id, execution.attempt)  # fmt: skip
                runs[n] = (execution, accounts.get(execution.account))
    task_states.attempts_began([execution for execution, _ in runs.values()])
    return runs


def _deliver_all(
    store: Store,
    config: Config,
    begun: dict[int, tuple[Execution, Account]],
    deliver: AsyncDeliver,
    outcomes: dict[int, Ended],
    room: Room,
) -> None:
    """Every begun call in flight at once; the ends gathered at each wake recorded together
    (and their room given back)."""
    started = now_ms()
    ends: queue.SimpleQueue[tuple[int, Outcome]] = queue.SimpleQueue()
    event_loop.submit(_attempt_all(config, deliver, begun, ends))
    left = dict(begun)
    while left:
        ended = _next_ends(ends, left, config)
        finished = now_ms()
        finishes = [
            runner.settlement(config, left[n][0], runner.storable(outcome), started, finished)
            for n, outcome in ended
        ]
        store.finish_executions(
            finishes,
            now_ms=finished,
            history_cap=config.history_max_runs,
            retention_s=config.history_retention_s,
            republish_after_ms=config.republish_after_ms,
        )
        pairs = []
        for (n, _), finish in zip(ended, finishes, strict=True):
            execution = left.pop(n)[0]
            with logs.execution_context(**logs.execution_fields(execution)):
                outcomes[n] = runner.settled(config, execution, finish, finished)
            pairs.append((execution, outcomes[n]))
        task_states.attempts_ended(pairs, (finished - started) / 1000)
        room.keep(len(left))


def _next_ends(
    ends: queue.SimpleQueue[tuple[int, Outcome]],
    left: dict[int, tuple[Execution, Account]],
    config: Config,
) -> list[tuple[int, Outcome]]:
    """The calls that ended since the last look (waiting for one at least). A call the loop
    never ends by its hard limit (a bug: each call has its own time limit) fails, retryable."""
    try:
        ended = [ends.get(timeout=config.attempt_hard_limit_s)]
    except queue.Empty:
        error = f"the attempt ran past {config.attempt_hard_limit_s:g} s"
        return [(n, Outcome(ok=False, retryable=True, error=error)) for n in left]
    while True:
        try:
            ended.append(ends.get_nowait())
        except queue.Empty:
            return ended


async def _attempt_all(
    config: Config,
    deliver: AsyncDeliver,
    begun: dict[int, tuple[Execution, Account]],
    ends: queue.SimpleQueue[tuple[int, Outcome]],
) -> None:
    async def one(n: int, execution: Execution, account: Account) -> None:
        ends.put((n, await _attempt(config, deliver, execution, account)))

    await asyncio.gather(*(one(n, e, a) for n, (e, a) in begun.items()))


async def _attempt(
    config: Config, deliver: AsyncDeliver, execution: Execution, account: Account
) -> Outcome:
    """``deliver``, its errors turned into outcomes as ``workers.runner`` does."""
    try:
        return await deliver(execution, account)
    except InvalidSchedule as exc:  # the stored definition breaks a rule: retrying can't help
        return Outcome(ok=False, error=str(exc))
    except Exception as exc:  # a bug or an unexpected error: retry, and say what
        with logs.execution_context(**logs.execution_fields(execution)):
            log.exception("execution %s attempt %d to %s raised", execution.id,
                          execution.attempt, target_of(config, execution))  # fmt: skip
        return Outcome(ok=False, retryable=True, error=f"{type(exc).__name__}: {exc}")
