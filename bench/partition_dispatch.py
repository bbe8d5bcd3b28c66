"""Dispatch with partitions and several beats (``beat_dispatch.py --partitions 1,4,16 --beats
1,3``): real beat processes (each a ``Dispatcher`` over the partitions its ``PartitionLeases``
hold, the same classes ``scheduler beat`` runs) on one real Redis; and the hand-over of a
SIGKILLed beat's partitions.

Per (P, beats): load N schedules (D due) into P partitions, start the beats, wait until they
split the partitions, then release them at once and time until the ledger holds all D fires
(each published exactly once: the ledger has one entry per execution). CPU per fire is the
beats' CPU time and Redis's (INFO cpu) over the run, divided by D: on a loaded shared machine
the steadier figure.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import time
from collections import Counter
from typing import Any

import redis
from measure import say

from scheduler_beat.dispatch import Dispatcher
from scheduler_beat.partitions import PartitionLeases
from shared.config import Config
from shared.store import Store
from shared.timing import now_ms

SPLIT_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 600.0


def beat_process(url: str, partitions: int, lease_ms: int, go: Any, out: Any) -> None:
    """One beat: hold a share of the partitions, say it is ready, wait for ``go``, tick until
    nothing is due in what it holds and every fire went out; then report its CPU seconds."""
    config = Config.from_env({}, redis_url=url, partitions=partitions, partition_lease_ms=lease_ms)
    store = Store.from_url(url, config.key_prefix, partitions=partitions)
    store.load_scripts()
    leases = PartitionLeases(store, lease_ms)
    leases.start()
    dispatcher = Dispatcher(store, config, leases.owned)
    out.put("ready")
    go.wait()
    cpu = time.process_time()
    while True:
        result = dispatcher.tick(now_ms())
        if not result.claimed and store.redis.get("bench:done"):
            break
        if not result.claimed:
            time.sleep(0.002)
    out.put(time.process_time() - cpu)
    leases.stop()


def start_all(procs: list[Any], out: Any) -> None:
    """Start the beat processes and wait until each is ready to tick (imports done, scripts
    loaded): their start-up is not part of the figures."""
    for proc in procs:
        proc.start()
    for _ in procs:
        if out.get(timeout=SPLIT_TIMEOUT_S) != "ready":
            raise SystemExit("FAIL: a beat process did not start")


def redis_cpu_s(client: redis.Redis) -> float:
    info = client.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


def wait_split(store: Store, beats: int) -> None:
    """Until every partition is held and by ``beats`` beats (P = 1: no leases to wait for)."""
    if store.partitions == 1:
        return
    deadline = time.monotonic() + SPLIT_TIMEOUT_S
    while time.monotonic() < deadline:
        owners = store.partition_owners()
        if None not in owners and len(set(owners)) == min(beats, store.partitions):
            return
        time.sleep(0.05)
    raise SystemExit(f"FAIL: {beats} beats did not split {store.partitions} partitions")


def run_point(
    url: str, load: Any, n: int, due: int, partitions: int, beats: int, lease_ms: int
) -> dict[str, Any]:
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    store = Store.from_url(url, partitions=partitions)
    store.check_partitions()
    load(store, n, due)
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=beat_process, args=(url, partitions, lease_ms, go, out))
        for _ in range(beats)
    ]
    start_all(procs, out)
    wait_split(store, beats)
    load_avg = os.getloadavg()[0]
    redis_before = redis_cpu_s(client)
    started = time.perf_counter()
    go.set()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while store.ledger_size() < due:
        if time.monotonic() > deadline:
            raise SystemExit(f"FAIL: P={partitions} beats={beats}: not all {due} fires published")
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    redis_cpu = redis_cpu_s(client) - redis_before
    client.set("bench:done", "1")
    beat_cpu = sum(out.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    if store.ledger_size() != due:
        raise SystemExit(f"FAIL: {store.ledger_size()} fires in the ledger, expected {due}")
    row = {
        "partitions": partitions,
        "beats": beats,
        "fires_per_s": round(due / elapsed, 1),
        "beat_cpu_us_per_fire": round(beat_cpu / due * 1e6, 1),
        "redis_cpu_us_per_fire": round(redis_cpu / due * 1e6, 1),
        "loadavg": round(load_avg, 2),
    }
    say(
        f"  P={partitions:>2} beats={beats}: {row['fires_per_s']:>9,.0f} fires/s; CPU per fire: "
        f"beats {row['beat_cpu_us_per_fire']} µs, Redis {row['redis_cpu_us_per_fire']} µs "
        f"(load avg {load_avg:.2f})"
    )
    return row


def handover(url: str, partitions: int, lease_ms: int) -> dict[str, Any]:
    """Two beats split ``partitions``; one is SIGKILLed: seconds until the other holds all."""
    client = redis.Redis.from_url(url, decode_responses=True)
    client.flushdb()
    store = Store.from_url(url, partitions=partitions)
    store.check_partitions()
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    procs = [
        ctx.Process(target=beat_process, args=(url, partitions, lease_ms, go, out))
        for _ in range(2)
    ]
    start_all(procs, out)
    wait_split(store, 2)
    go.set()
    time.sleep(lease_ms / 1000)  # both renewing, ticking an empty store
    os.kill(procs[0].pid or 0, signal.SIGKILL)
    killed = time.perf_counter()
    while True:
        owners = Counter(store.partition_owners())
        if None not in owners and len(owners) == 1:
            break
        if time.perf_counter() - killed > 10 * lease_ms / 1000:
            raise SystemExit("FAIL: the dead beat's partitions were not taken over")
        time.sleep(0.01)
    took_s = time.perf_counter() - killed
    client.set("bench:done", "1")
    out.get(timeout=60)
    for proc in procs:
        proc.join(timeout=30)
    say(f"  hand-over of a SIGKILLed beat's partitions (P={partitions}, lease {lease_ms} ms): "
        f"{took_s:.2f} s")  # fmt: skip
    return {"partitions": partitions, "lease_ms": lease_ms, "handover_s": round(took_s, 3)}


def run_partitions(
    url: str,
    load: Any,
    n: int,
    due: int,
    partition_counts: list[int],
    beat_counts: list[int],
    lease_ms: int,
) -> dict[str, Any]:
    """Every (P, beats) point, then the hand-over time at the largest P."""
    say(f"partitions: N={n}, D={due}, lease {lease_ms} ms")
    rows = [
        run_point(url, load, n, due, p, b, lease_ms) for p in partition_counts for b in beat_counts
    ]
    biggest = max([p for p in partition_counts if p > 1] or [4])
    result = {"rows": rows, "handover": handover(url, biggest, lease_ms)}
    redis.Redis.from_url(url).flushdb()
    return result
