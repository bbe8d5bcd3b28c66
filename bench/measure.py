"""What both sides of the beat benchmark share: the Redis server, round-trip counting,
idle-tick timing, and checks that every fire was published."""

from __future__ import annotations

import base64
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from redis.connection import AbstractConnection

from shared.contract import QUEUE_BY_TARGET, TASK_BY_TARGET, TargetKind
from shared.embedded_redis import start_redis_server

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


def redis_cpu_s(servers: list[redis.Redis]) -> float:
    """CPU seconds (user + system) the Redis servers have used, summed (a cluster's nodes)."""
    total = 0.0
    for server in servers:
        cpu = server.info("cpu")
        total += float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"])
    return total


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


def verify_executions(client: redis.Redis, queue: str, expected: int) -> None:
    """Exactly ``expected`` executions in ``queue``, each id once: a message carries one (its
    argument) or, from a batching pool's commit, a list of them (its argument is that list)."""
    ids: list[str] = []
    for raw in client.lrange(queue, 0, -1):
        message = json.loads(raw)
        text = message["body"]
        if message["properties"].get("body_encoding") == "base64":
            text = base64.b64decode(text)
        body = json.loads(text)
        if not (isinstance(body, list) and len(body) == 3):
            raise SystemExit(f"FAIL: {queue!r} message body is not a Celery protocol-2 body")
        argument = body[0][0]
        ids += [e["id"] for e in argument] if isinstance(argument, list) else [argument["id"]]
    if len(ids) != expected:
        raise SystemExit(f"FAIL: {queue!r} holds {len(ids)} executions, expected {expected}")
    if len(set(ids)) != len(ids):
        raise SystemExit(f"FAIL: {len(ids) - len(set(ids))} duplicate executions in {queue!r}")
    say(f"  verified: {len(ids)} executions in {client.llen(queue)} messages, all unique")


@dataclass(frozen=True)
class Dispatch:
    first_fire_s: float
    total_s: float
    ticks: int

    def rate(self, fires: int) -> float:
        return fires / self.total_s
