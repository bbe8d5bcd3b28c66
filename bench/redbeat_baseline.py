"""The baseline: celery-redbeat's own ``RedBeatScheduler.tick`` on the same Redis, loaded and
timed the way ``beat_dispatch`` times ours."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import redis
from measure import (
    REDBEAT_PREFIX,
    REDBEAT_QUEUE,
    TASK,
    Dispatch,
    Idle,
    measure_idle,
    say,
    used_memory,
    verify_published,
    wait_clear_of_boundary,
)

# --- celery-redbeat ------------------------------------------------------------------------------


def redbeat_app(url: str) -> Any:
    """A Celery app as a redbeat deployment configures it: broker and redbeat on the same Redis."""
    from celery import Celery

    app = Celery("bench_redbeat", broker=url, set_as_current=False)
    app.conf.update(
        redbeat_redis_url=url,
        redbeat_key_prefix=REDBEAT_PREFIX,
        timezone="UTC",
        enable_utc=True,
        result_expires=None,  # no celery.backend_cleanup entry: only our N entries are scheduled
        broker_connection_retry_on_startup=True,
    )
    return app


class _BatchingClient:
    """Stands in for redbeat's Redis client while loading, so each real ``entry.save()`` queues its
    commands (HSET definition, HSETNX meta, ZADD score) on one shared pipeline instead of paying a
    round trip per entry. Only the loading is batched; the stored data is exactly redbeat's."""

    def __init__(self, client: redis.Redis) -> None:
        self._pipe = client.pipeline(transaction=False)
        self.queued = 0

    def pipeline(self) -> _BatchingClient:
        return self

    def __enter__(self) -> _BatchingClient:
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pipe, name)

    def execute(self) -> None:
        self.queued += 1
        if self.queued % 1000 == 0:
            self.flush()

    def flush(self) -> None:
        self._pipe.execute()


def save_redbeat_entries(app: Any, start: int, stop: int, last_run_at: datetime) -> None:
    from celery.schedules import crontab
    from redbeat import RedBeatSchedulerEntry

    schedule = crontab(minute="*/5")
    batching = _BatchingClient(redis.Redis.from_url(app.conf.redbeat_redis_url))
    app.redbeat_redis = batching
    try:
        for i in range(start, stop):
            RedBeatSchedulerEntry(
                name=uuid.uuid4().hex,
                task=TASK,
                schedule=schedule,
                kwargs={
                    "url": f"https://example.com/hook/{i}",
                    "data": json.dumps({"event": "tick", "n": i}),
                    "content_type": "application/json",
                },
                options={"queue": REDBEAT_QUEUE},
                last_run_at=last_run_at,
                app=app,
            ).save()
        batching.flush()
    finally:
        app.redbeat_redis = None


def load_redbeat(client: redis.Redis, url: str, n: int, due: int) -> tuple[float, float]:
    """Flush, save ``n`` redbeat entries: ``due`` of them last run 10 min ago (due now), the rest
    with last_run_at a day ahead (next fire in over a day, like our "a day ahead")."""
    client.flushdb()
    before = used_memory(client)
    started = time.perf_counter()
    app = redbeat_app(url)
    save_redbeat_entries(app, due, n, datetime.now(UTC) + timedelta(days=1))
    save_redbeat_entries(app, 0, due, datetime.now(UTC) - timedelta(minutes=10))
    load_s = time.perf_counter() - started
    due_now = client.zcount(f"{REDBEAT_PREFIX}:schedule", 0, time.time())
    if due_now != due:
        raise SystemExit(f"FAIL: {due_now} redbeat entries are due, expected {due}")
    return (used_memory(client) - before) / n, load_s


class _Redbeat:
    """A starting redbeat beat: scheduler built, distributed lock taken (as beat_init does)."""

    def __init__(self, url: str) -> None:
        from redbeat.schedulers import RedBeatScheduler, acquire_distributed_beat_lock

        self.scheduler = RedBeatScheduler(app=redbeat_app(url))
        acquire_distributed_beat_lock(sender=SimpleNamespace(scheduler=self.scheduler))
        self.sent = 0
        self.first_sent_at = 0.0
        send = self.scheduler.apply_async

        def counted_apply_async(*args: Any, **kwargs: Any) -> Any:
            result = send(*args, **kwargs)  # raises on failure: redbeat then logs, not counted
            self.sent += 1
            if not self.first_sent_at:
                self.first_sent_at = time.perf_counter()
            return result

        self.scheduler.apply_async = counted_apply_async

    def tick(self) -> float:
        return float(self.scheduler.tick())


def dispatch_redbeat(url: str, due: int) -> tuple[Dispatch, float, _Redbeat]:
    """Real redbeat ticks until ``due`` messages are sent: (figures, first tick end s, beat)."""
    started = time.perf_counter()
    beat = _Redbeat(url)
    ticks, first_tick_end = 0, 0.0
    while beat.sent < due:
        before = beat.sent
        beat.tick()
        ticks += 1
        if beat.sent and not first_tick_end:
            first_tick_end = time.perf_counter() - started
        if beat.sent == before:
            raise SystemExit(f"FAIL: a redbeat tick sent nothing after {before} of {due}")
    total = time.perf_counter() - started
    return Dispatch(beat.first_sent_at - started, total, ticks), first_tick_end, beat


def idle_redbeat(beat: _Redbeat) -> Idle:
    def tick() -> None:
        before = beat.sent
        beat.tick()
        if beat.sent != before:
            raise SystemExit("FAIL: an idle redbeat tick sent a task")

    return measure_idle(tick)


def run_redbeat(client: redis.Redis, url: str, n: int, due: int) -> dict[str, Any]:
    say(f"redbeat: saving {n} RedBeatSchedulerEntry ({due} due) ...")
    wait_clear_of_boundary(30 + due / 250)
    per_schedule, load_s = load_redbeat(client, url, n, due)
    say(f"  loaded in {load_s:.1f} s; {per_schedule:.0f} bytes/schedule (used_memory delta / N)")
    dispatch, first_tick_end, beat = dispatch_redbeat(url, due)
    say(
        f"  dispatched {due} fires in {dispatch.total_s:.3f} s over {dispatch.ticks} ticks: "
        f"{dispatch.rate(due):,.0f} fires/s; first message in Redis after "
        f"{dispatch.first_fire_s:.3f} s, first tick ended after {first_tick_end:.3f} s"
    )
    verify_published(client, REDBEAT_QUEUE, due)
    idle = idle_redbeat(beat)
    say(
        f"  idle tick: mean {idle.mean_ms:.3f} ms, p99 {idle.p99_ms:.3f} ms, "
        f"{idle.round_trips:g} Redis round trip(s) per tick"
    )
    beat.scheduler.close()
    return {
        "dispatch_per_s": round(dispatch.rate(due), 1),
        "first_fire_s": round(dispatch.first_fire_s, 4),
        "first_tick_end_s": round(first_tick_end, 4),
        "dispatch_ticks": dispatch.ticks,
        "idle_tick_ms": round(idle.mean_ms, 4),
        "idle_tick_p99_ms": round(idle.p99_ms, 4),
        "redis_round_trips_per_idle_tick": idle.round_trips,
        "bytes_per_schedule": round(per_schedule, 1),
        "load_s": round(load_s, 2),
    }
