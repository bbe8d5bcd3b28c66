"""Beat dispatch benchmark: the real Dispatcher on a real Redis, optionally against celery-redbeat.

    python bench/beat_dispatch.py --schedules 100000 --due 10000 --compare-redbeat --idle-scaling

Every figure comes from real parts: a real redis-server (``REDIS_URL``, or an embedded one started
in a temp dir with appendonly off), real ``Dispatcher.tick`` calls (one claim.lua call, message
building, one commit.lua call that LPUSHes onto kombu's queue list and advances the schedules),
and, with ``--compare-redbeat``, redbeat's own ``RedBeatScheduler.tick`` publishing through kombu.
Human-readable lines go out as it runs; the last line is one JSON object. See bench/README.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import redis
from redis.connection import AbstractConnection

from scheduler_beat.dispatch import Dispatcher
from shared.config import Config
from shared.contract import QUEUE_BY_TARGET, TASK_BY_TARGET, TargetKind
from shared.embedded_redis import start_redis_server
from shared.model import CronTrigger, Schedule, Target
from shared.store import Store

CRON = "*/5 * * * *"
DAY_MS = 86_400_000
CRON_PERIOD_S = 300  # fired schedules re-arm at the next */5 boundary
IDLE_TICKS = 200
SCALING_NS = (1_000, 10_000, 100_000, 1_000_000)
SLOW_LOAD_S = 120.0
OUR_QUEUE = QUEUE_BY_TARGET[TargetKind.WEBHOOK]
TASK = TASK_BY_TARGET[TargetKind.WEBHOOK]
REDBEAT_QUEUE = "redbeat"
REDBEAT_PREFIX = "redbeat:"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def say(line: str) -> None:
    print(line, flush=True)


# --- Redis --------------------------------------------------------------------------------------


@contextmanager
def redis_url(env_url: str) -> Iterator[str]:
    """``REDIS_URL`` as given, or an embedded redis-server (no AOF) that is stopped at the end."""
    if env_url:
        yield env_url
        return
    with tempfile.TemporaryDirectory(prefix="beat-bench-") as tmp:
        server = start_redis_server(Path(tmp), appendonly=False)
        try:
            yield server.url
        finally:
            server.stop()


def used_memory(client: redis.Redis) -> int:
    return int(client.info("memory")["used_memory"])


class RoundTrips:
    """Counts Redis round trips of every redis-py connection (kombu's included) while active.

    One ``send_packed_command`` is one request on the wire: a single command, a whole pipeline or
    an EVALSHA each count once; a NOSCRIPT retry counts as the extra round trips it really costs.
    """

    def __init__(self) -> None:
        self.count = 0

    @contextmanager
    def counting(self) -> Iterator[RoundTrips]:
        original = AbstractConnection.send_packed_command

        def send_packed_command(
            conn: AbstractConnection, command: Any, check_health: bool = True
        ) -> None:
            self.count += 1
            original(conn, command, check_health)

        AbstractConnection.send_packed_command = send_packed_command  # type: ignore[method-assign]
        try:
            yield self
        finally:
            AbstractConnection.send_packed_command = original  # type: ignore[method-assign]


@dataclass(frozen=True)
class Idle:
    mean_ms: float
    p99_ms: float
    round_trips: float


def measure_idle(tick: Callable[[], object], ticks: int = IDLE_TICKS) -> Idle:
    """Time ``ticks`` calls of ``tick`` and count the Redis round trips they make."""
    durations: list[float] = []
    with RoundTrips().counting() as trips:
        for _ in range(ticks):
            started = time.perf_counter()
            tick()
            durations.append((time.perf_counter() - started) * 1000)
    p99 = statistics.quantiles(durations, n=100)[98]
    return Idle(statistics.fmean(durations), p99, trips.count / ticks)


def wait_clear_of_boundary(margin_s: float) -> None:
    """Keep the next */5 boundary out of the measured window.

    Fired schedules re-arm at the next boundary; if it passed mid-run they would be due again and
    the idle ticks would not be idle. So if it is nearer than ``margin_s``, let it pass first.
    """
    left = CRON_PERIOD_S - time.time() % CRON_PERIOD_S
    if left < margin_s:
        say(f"  waiting {left:.0f} s for the */5 boundary to pass (keeps the run clean)")
        time.sleep(left + 1)


def decode_ids(client: redis.Redis, queue: str) -> list[str]:
    """The Celery task id (headers.id) of every message in a kombu queue list."""
    ids = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        ids.append(message["headers"]["id"])
    return ids


def verify_published(client: redis.Redis, queue: str, expected: int) -> None:
    """Exactly ``expected`` messages in ``queue``, with unique task ids and a decodable body."""
    length = client.llen(queue)
    if length != expected:
        raise SystemExit(f"FAIL: {queue!r} holds {length} messages, expected exactly {expected}")
    ids = decode_ids(client, queue)
    if len(set(ids)) != len(ids):
        raise SystemExit(f"FAIL: {len(ids) - len(set(ids))} duplicate task ids in {queue!r}")
    sample = json.loads(client.lindex(queue, 0))
    body = json.loads(base64.b64decode(sample["body"]))
    if not (isinstance(body, list) and len(body) == 3):
        raise SystemExit(f"FAIL: {queue!r} message body is not a Celery protocol-2 body: {body!r}")
    say(f"  verified: LLEN {queue} = {length}, {len(ids)} task ids decoded, all unique")


# --- our engine ---------------------------------------------------------------------------------


def webhook_schedule(i: int) -> Schedule:
    """A realistic webhook schedule: */5 cron in UTC, a per-schedule URL, small JSON data."""
    return Schedule(
        id=uuid.uuid4().hex,
        account=f"acct-{i // 1000:05d}",
        dialect="webhook",
        trigger=CronTrigger(expr=CRON, timezone="UTC"),
        target=Target(
            "webhook",
            {
                "url": f"https://example.com/hook/{i}",
                "data": json.dumps({"event": "tick", "n": i}),
                "content_type": "application/json",
            },
        ),
        created_ms=now_ms(),
    )


def schedules(start: int, stop: int, fire_ms: int) -> Iterator[tuple[Schedule, int]]:
    for i in range(start, stop):
        yield webhook_schedule(i), fire_ms


def load_ours(client: redis.Redis, store: Store, n: int, due: int) -> tuple[float, float]:
    """Flush, load ``n`` schedules (the ``due`` ones last, at now - 1 s): (bytes each, load s)."""
    client.flushdb()
    before = used_memory(client)
    started = time.perf_counter()
    store.put_schedules(schedules(due, n, now_ms() + DAY_MS))
    # One instant for all D, as a cron's fires are: every */5 schedule is due at the same moment.
    store.put_schedules(schedules(0, due, now_ms() - 1000))
    load_s = time.perf_counter() - started
    return (used_memory(client) - before) / n, load_s


@dataclass(frozen=True)
class Dispatch:
    first_fire_s: float
    total_s: float
    ticks: int

    def rate(self, fires: int) -> float:
        return fires / self.total_s


def dispatch_ours(url: str, config: Config, due: int) -> tuple[Dispatch, Dispatcher]:
    """A starting beat: fresh Store and Dispatcher, real ticks until ``due`` fires are published."""
    started = time.perf_counter()
    dispatcher = Dispatcher(Store.from_url(url, config.key_prefix), config)
    published, ticks, first = 0, 0, 0.0
    while published < due:
        result = dispatcher.tick(now_ms())
        ticks += 1
        if result.published and not first:
            first = time.perf_counter() - started
        if not result.claimed:
            raise SystemExit(f"FAIL: nothing left to claim after {published} of {due} fires")
        published += result.published
    total = time.perf_counter() - started
    if published != due:
        raise SystemExit(f"FAIL: published {published} fires, expected {due}")
    return Dispatch(first, total, ticks), dispatcher


def idle_ours(dispatcher: Dispatcher) -> Idle:
    def tick() -> None:
        result = dispatcher.tick(now_ms())
        if result.claimed:
            raise SystemExit(f"FAIL: an idle tick claimed {result.claimed} entries")

    return measure_idle(tick)


def run_ours(client: redis.Redis, url: str, config: Config, n: int, due: int) -> dict[str, Any]:
    say(f"ours: loading {n} schedules ({due} due) with Store.put_schedules ...")
    wait_clear_of_boundary(20 + due / 2000)
    per_schedule, load_s = load_ours(client, Store(client, config.key_prefix), n, due)
    say(f"  loaded in {load_s:.1f} s; {per_schedule:.0f} bytes/schedule (used_memory delta / N)")
    dispatch, dispatcher = dispatch_ours(url, config, due)
    say(
        f"  dispatched {due} fires in {dispatch.total_s:.3f} s over {dispatch.ticks} ticks: "
        f"{dispatch.rate(due):,.0f} fires/s; first fire {dispatch.first_fire_s * 1000:.1f} ms"
    )
    verify_published(client, OUR_QUEUE, due)
    idle = idle_ours(dispatcher)
    say(
        f"  idle tick: mean {idle.mean_ms:.3f} ms, p99 {idle.p99_ms:.3f} ms, "
        f"{idle.round_trips:g} Redis round trip(s) per tick"
    )
    return {
        "dispatch_per_s": round(dispatch.rate(due), 1),
        "first_fire_s": round(dispatch.first_fire_s, 4),
        "dispatch_ticks": dispatch.ticks,
        "idle_tick_ms": round(idle.mean_ms, 4),
        "idle_tick_p99_ms": round(idle.p99_ms, 4),
        "redis_round_trips_per_idle_tick": idle.round_trips,
        "bytes_per_schedule": round(per_schedule, 1),
        "load_s": round(load_s, 2),
    }


def idle_scaling(client: redis.Redis, url: str, config: Config) -> dict[str, float]:
    """Idle tick time for growing N (nothing due): it should stay flat (O(log N) claim)."""
    by_n: dict[str, float] = {}
    for n in SCALING_NS:
        per_schedule, load_s = load_ours(client, Store(client, config.key_prefix), n, 0)
        dispatcher = Dispatcher(Store.from_url(url, config.key_prefix), config)
        dispatcher.tick(now_ms())  # connect and load the script: not part of an idle tick
        idle = idle_ours(dispatcher)
        slow = f"  (SLOW LOAD: over {SLOW_LOAD_S:.0f} s)" if load_s > SLOW_LOAD_S else ""
        say(
            f"  N={n:>9,}: loaded in {load_s:6.1f} s ({per_schedule:.0f} B/schedule); idle tick "
            f"mean {idle.mean_ms:.3f} ms, p99 {idle.p99_ms:.3f} ms, "
            f"{idle.round_trips:g} round trip(s){slow}"
        )
        by_n[str(n)] = round(idle.mean_ms, 4)
    client.flushdb()
    return by_n


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


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=100_000, help="N schedules (100000)")
    parser.add_argument("--due", type=int, default=10_000, help="D of them due now (10000)")
    parser.add_argument("--batch", type=int, default=None, help="beat_batch (Config default)")
    parser.add_argument("--compare-redbeat", action="store_true", help="run celery-redbeat too")
    parser.add_argument("--idle-scaling", action="store_true", help="idle tick for N=10^3..10^6")
    args = parser.parse_args(None if argv is None else list(argv))
    if not 0 < args.due <= args.schedules:
        parser.error("need 0 < --due <= --schedules")
    return args


def bench(url: str, args: argparse.Namespace) -> dict[str, Any]:
    overrides: dict[str, Any] = {"redis_url": url}
    if args.batch:
        overrides["beat_batch"] = args.batch
    config = Config.from_env({}, **overrides)
    client = redis.Redis.from_url(url, decode_responses=True)
    n, due = args.schedules, args.due
    say(f"redis {client.info('server')['redis_version']} at {url}; beat_batch {config.beat_batch}")
    out: dict[str, Any] = {"schedules": n, "due": due, "beat_batch": config.beat_batch}
    out.update(run_ours(client, url, config, n, due))
    if args.compare_redbeat:
        redbeat = run_redbeat(client, url, n, due)
        out["redbeat"] = redbeat
        out["dispatch_ratio"] = round(out["dispatch_per_s"] / redbeat["dispatch_per_s"], 2)
        out["bytes_ratio"] = round(out["bytes_per_schedule"] / redbeat["bytes_per_schedule"], 3)
        say(
            f"ours/redbeat: dispatch rate x{out['dispatch_ratio']}, "
            f"bytes per schedule x{out['bytes_ratio']}"
        )
    if args.idle_scaling:
        say("idle scaling (nothing due):")
        out["idle_tick_ms_by_n"] = idle_scaling(client, url, config)
    client.flushdb()
    return out


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    with redis_url(os.environ.get("REDIS_URL", "")) as url:
        result = bench(url, args)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
