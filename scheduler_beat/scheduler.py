"""``RedisScheduler``: a ``celery.beat.Scheduler`` whose schedule lives in our Redis store.

Run it with ``scheduler beat`` or ``celery -A shared.celery_app beat -S
scheduler_beat.scheduler:RedisScheduler``. Several may run at once: claims are atomic, so no two
beats publish the same fire, and a beat that dies mid-tick loses nothing (its leases expire).

Celery's beat loop calls ``tick()`` and sleeps for what it returns. We do the waiting inside
``tick()`` instead, on the store's wake channel, so a schedule written with an earlier due time
wakes us at once rather than after the current sleep.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from celery.beat import Scheduler

from scheduler_beat.dispatch import Dispatcher
from shared.config import Config
from shared.redis_url import resolve_redis_url
from shared.store import Store

log = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class RedisScheduler(Scheduler):
    def __init__(self, app: Any, *args: Any, **kwargs: Any) -> None:
        self.config = Config.from_env()
        self.store = Store.from_url(resolve_redis_url(self.config), self.config.key_prefix)
        self.store.check_redis_is_safe()
        self.dispatcher = Dispatcher(self.store, self.config)
        self._wake = self.store.wait_for_wake()
        kwargs["max_interval"] = self.config.beat_max_sleep_s
        super().__init__(app, *args, **kwargs)

    # Celery's own schedule (beat_schedule entries) is not used: ours is in Redis.
    def setup_schedule(self) -> None:
        pass

    @property
    def schedule(self) -> dict[str, Any]:
        return {}

    @property
    def info(self) -> str:
        return f"redis store, lease {self.config.beat_lease_ms} ms, batch {self.config.beat_batch}"

    def tick(self, *args: Any, **kwargs: Any) -> float:
        started = now_ms()
        result = self.dispatcher.tick(started)
        self.store.beat_heartbeat(started)
        if result.claimed:
            log.info(
                "beat: claimed %d, published %d, lost %d in %d ms",
                result.claimed,
                result.published,
                result.lost,
                now_ms() - started,
            )
        if not result.batch_full:
            self._sleep_until(result.next_wake_ms)
        return 0  # we already waited; the loop calls tick() again at once

    def _sleep_until(self, wake_ms: int | None) -> None:
        """Wait until ``wake_ms`` (capped), or earlier if a sooner fire is announced."""
        deadline = time.monotonic() + self.config.beat_max_sleep_s
        if wake_ms is not None:
            deadline = min(deadline, time.monotonic() + max(0, wake_ms - now_ms()) / 1000)
        while (remaining := deadline - time.monotonic()) > 0:
            message = self._wake.get_message(timeout=remaining)
            if message is None:
                continue
            announced = int(message["data"])
            if wake_ms is None or announced < wake_ms:
                return

    def close(self) -> None:
        self._wake.close()
        super().close()
