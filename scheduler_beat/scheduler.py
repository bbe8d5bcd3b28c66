"""``RedisScheduler``: a ``celery.beat.Scheduler`` whose schedule lives in our Redis store.

Run it with ``scheduler beat`` or ``celery -A shared.celery_app beat -S
scheduler_beat.scheduler:RedisScheduler``. Several may run at once: claims are atomic, so no two
beats publish the same fire, and a beat that dies mid-tick loses nothing (its leases expire).

Celery's beat loop calls ``tick()`` and sleeps for what it returns. We do the waiting inside
``tick()`` instead, on an event set by a thread that listens to the store's wake channel, so a
schedule written with an earlier due time wakes us at once rather than after the current sleep.
(The main thread never blocks inside a Redis read: beat's SIGTERM handler raises SystemExit
wherever the main thread is, and an interrupted socket read leaves redis-py in a broken state.)
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import redis
from celery.beat import Scheduler

from scheduler_beat.dispatch import Dispatcher
from scheduler_beat.partitions import PartitionLeases
from shared.broker.publishers import publisher_for
from shared.broker.relay import Relay
from shared.config import Config
from shared.redis_url import resolve_redis_url
from shared.store import Store
from shared.timing import now_ms

log = logging.getLogger(__name__)
REDIS_RETRY_S = 2.0


class RedisScheduler(Scheduler):
    # Set by setup_schedule(): a lazy scheduler (Celery's banner) never has them.
    store: Store
    dispatcher: Dispatcher
    _wake: WakeWatcher

    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.config = Config.from_env()
        kwargs["max_interval"] = self.config.beat_max_sleep_s
        super().__init__(app, *args, **kwargs)  # calls setup_schedule() unless lazy

    def setup_schedule(self) -> None:
        """Connect and start listening; Celery calls it for the scheduler that will tick, never
        for the ``lazy`` one it builds just to print its banner. (That one used to connect too;
        when it was dropped, its client's finaliser closed the connection pool under its wake
        thread: "wake channel error (Connection closed by server.)" at every start, and a
        second subscriber left running.) Celery's own schedule (beat_schedule) is not used:
        ours is in Redis."""
        self.store = Store.from_url(
            resolve_redis_url(self.config),
            self.config.key_prefix,
            timeout_s=self.config.redis_timeout_s,
            outbox=self.config.broker_is_apart,
            partitions=self.config.partitions,
            wait_replicas=self.config.redis_wait_replicas,
            wait_timeout_ms=self.config.redis_wait_timeout_ms,
        )
        self.store.check_redis_is_safe()
        self.store.load_scripts()
        self._wake = WakeWatcher(self.store)
        # P > 1: this beat's share of the partitions, by leases (scheduler_beat.partitions);
        # a partition it gains is ticked at once.
        self.leases = PartitionLeases(
            self.store, self.config.partition_lease_ms, on_gain=self._wake.poke
        )
        self.leases.start()
        self.dispatcher = Dispatcher(self.store, self.config, self.leases.owned)
        self.relay: Relay | None = None
        if self.config.broker_is_apart:  # see shared.broker.relay: why the beat relays
            self.relay = Relay(
                self.store,
                publisher_for(self.config),
                self.config.relay_pause_before_trim_ms,
                partitions=self.leases.owned,
            )
            self.relay.start()

    @property  # Celery's is a property too; celery-types spells it a plain attribute
    def schedule(self) -> dict[str, Any]:  # type: ignore[override]
        return {}

    @property
    def info(self) -> str:
        return (
            f"redis store, lease {self.config.beat_lease_ms} ms, batch {self.config.beat_batch}, "
            f"{self.config.partitions} partition(s)"
        )

    def tick(self, *args: Any, **kwargs: Any) -> float:
        self._wake.reset()  # announcements from here on are newer than what the claim sees
        started = now_ms()
        try:
            result = self.dispatcher.tick(started)
        except redis.RedisError as exc:
            # Nothing is lost: unclaimed fires stay due, and our claims expire for any beat.
            log.error("beat: Redis unavailable (%s); retrying in %.0f s", exc, REDIS_RETRY_S)
            return REDIS_RETRY_S
        if (result.published or result.republished) and self.relay is not None:
            self.relay.nudge()
        if result.claimed:
            log.info(
                "beat: claimed %d, published %d, lost %d in %d ms",
                result.claimed,
                result.published,
                result.lost,
                now_ms() - started,
            )
        if not result.batch_full:
            wake_ms = result.next_wake_ms
            if result.published and wake_ms is not None:
                # Fires due within the next few ms wait for them: one message, not one each.
                wake_ms = max(wake_ms, started + self.config.beat_min_tick_ms)
            self._sleep_until(wake_ms)
        return 0  # we already waited; the loop calls tick() again at once

    def _sleep_until(self, wake_ms: int | None) -> None:
        """Wait until ``wake_ms`` (capped), or earlier if a sooner fire is announced."""
        timeout = self.config.beat_max_sleep_s
        if wake_ms is not None:
            timeout = min(timeout, max(0, wake_ms - now_ms()) / 1000)
        self._wake.wait(wake_ms, timeout)

    def close(self) -> None:
        if hasattr(self, "_wake"):
            self._wake.close()
        relay: Relay | None = getattr(self, "relay", None)
        if relay is not None:
            relay.stop()
        leases: PartitionLeases | None = getattr(self, "leases", None)
        if leases is not None:
            leases.stop()
        super().close()


class WakeWatcher:
    """Listens, in a daemon thread, for next-fire instants announced by writers."""

    def __init__(self, store: Store) -> None:
        self._lock = threading.Lock()
        self._changed = threading.Event()
        self._earliest: int | None = None
        self._watch = store.watch_wake(self._on_announce, self._on_error)

    def reset(self) -> None:
        with self._lock:
            self._earliest = None
            self._changed.clear()

    def wait(self, wake_ms: int | None, timeout_s: float) -> None:
        """Sleep up to ``timeout_s``; return early once something due before ``wake_ms`` is
        announced (already announced since ``reset()`` counts too)."""
        deadline = time.monotonic() + timeout_s
        while (remaining := deadline - time.monotonic()) > 0:
            with self._lock:
                if self._earliest is not None and (wake_ms is None or self._earliest < wake_ms):
                    return
                self._changed.clear()
            self._changed.wait(remaining)

    def poke(self) -> None:
        """Wake the beat now (it gained partitions to tick)."""
        self._on_announce(0)

    def _on_announce(self, announced: int) -> None:
        with self._lock:
            if self._earliest is None or announced < self._earliest:
                self._earliest = announced
            self._changed.set()

    def _on_error(self, exc: BaseException) -> None:
        # Redis went away: keep the thread alive; get_message reconnects and resubscribes.
        log.warning("beat: wake channel error (%s); retrying", exc)
        time.sleep(1.0)

    def close(self) -> None:
        self._watch.close()
