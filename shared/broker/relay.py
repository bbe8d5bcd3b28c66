"""The relay: a thread of each beat that moves the outbox's messages to a broker apart.

Why in the beat: operators run beats already (one or more, for availability), and a relay beside
the commit is woken by it at once, so a fire's extra lag is one hand and one confirmed publish.
Several beats each run one; a lease in the store (``relay.lua``) lets one relay at a time, and
another takes over within the lease when that beat dies. A relay that stalls past its lease may
publish a batch another relay publishes too: twice is harmless (the workers run an execution once,
see ``begin_execution.lua``), and a message leaves the outbox only after the broker confirmed it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence

import redis

from shared import metrics
from shared.broker.publishers import PUBLISH_ERRORS, Publisher
from shared.store import Store, new_token

log = logging.getLogger(__name__)

LEASE_MS = 5000  # a dead beat's relay is taken over this much later
IDLE_POLL_S = 0.05  # an idle relay looks again this often (other processes publish too)
MOST_PER_HAND = 1000  # messages per outbox per hand (one confirmed batch)
FIRST_RETRY_S = 0.1
MAX_RETRY_S = 5.0


class Relay:
    """``start()`` it with the beat, ``nudge()`` it after a commit, ``stop()`` it on shutdown."""

    def __init__(
        self,
        store: Store,
        publisher: Publisher,
        pause_before_trim_ms: int = 0,
        partitions: Callable[[], Sequence[int]] = lambda: (0,),
    ) -> None:
        self.store = store
        self.publisher = publisher
        self.token = new_token()
        self.pause_before_trim_ms = pause_before_trim_ms
        # The outboxes relayed: those of the partitions the beat holds (SCHEDULER_PARTITIONS).
        self.partitions = partitions
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._confirmed: dict[int, dict[str, int]] = {}  # per partition, from the last hand
        self._thread = threading.Thread(target=self._run, name="relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def nudge(self) -> None:
        """Something was just written to the outbox: relay it now rather than at the next poll."""
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Finish the batch in hand, trim what was confirmed, and give the lease up."""
        self._stopping.set()
        self._wake.set()
        if self._thread.ident is not None:  # started (a relay stepped by hand never is)
            self._thread.join(timeout_s)
        if self._thread.is_alive():  # stuck on the broker: the lease runs out by itself
            return
        try:
            for partition, confirmed in self._confirmed.items():
                self.store.relay_hand(self.token, LEASE_MS, 0, confirmed, partition)
            for partition in self.partitions():
                self.store.release_relay(self.token, partition)
        except redis.RedisError as exc:  # nothing lost: the batch is published again
            log.warning("relay: could not trim at shutdown (%s)", exc)
        self.publisher.close()

    def step(self) -> int:
        """One round over the partitions held: trim what the broker confirmed last round, take
        the next hand, publish it and wait for the broker's confirms. Returns how many messages
        went out."""
        held = list(self.partitions())
        for gone in set(self._confirmed) - set(held):  # given up since: trim what it published
            self.store.relay_hand(self.token, LEASE_MS, 0, self._confirmed.pop(gone), gone)
        return sum(self.step_partition(p) for p in held)

    def step_partition(self, partition: int = 0) -> int:
        """One round of one partition's outbox (see ``step``)."""
        confirmed = self._confirmed.pop(partition, {})
        hand = self.store.relay_hand(self.token, LEASE_MS, MOST_PER_HAND, confirmed, partition)
        if hand is None:  # another beat relays
            return 0
        batches = {queue: messages for queue, messages in hand.items() if messages}
        if not batches:
            return 0
        self.publisher.publish(batches)
        count = sum(len(messages) for messages in batches.values())
        log.info("relay: the broker confirmed %d message(s)", count)
        if self.pause_before_trim_ms:  # testing only (SCHEDULER_RELAY_PAUSE_BEFORE_TRIM_MS)
            log.info("relay: holding %d ms before trimming", self.pause_before_trim_ms)
            time.sleep(self.pause_before_trim_ms / 1000)
        self._confirmed[partition] = {queue: len(messages) for queue, messages in batches.items()}
        metrics.record_relayed(self._confirmed[partition])
        return count

    def _run(self) -> None:
        delay = FIRST_RETRY_S
        while not self._stopping.is_set():
            self._wake.clear()
            try:
                relayed = self.step()
            except PUBLISH_ERRORS as exc:  # redis.RedisError among them: the store's too
                # Nothing trimmed: whatever went out is handed and published again.
                log.error("relay: publish failed (%s); retrying in %.1f s", exc, delay)
                self._confirmed = {}
                metrics.record_relay_failure()
                self.publisher.reset()
                self._stopping.wait(delay)
                delay = min(delay * 2, MAX_RETRY_S)
                continue
            delay = FIRST_RETRY_S
            if not relayed:
                self._wake.wait(IDLE_POLL_S)
