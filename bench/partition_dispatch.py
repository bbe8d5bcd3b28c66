"""Dispatch with partitions and several beats (``beat_dispatch.py --partitions 1,4,16 --beats
1,3``): real beat processes (each a ``Dispatcher`` over the partitions its ``PartitionLeases``
hold, the same classes ``scheduler beat`` runs) on one real Redis, and with ``--cluster`` on a
private 3-master, 3-replica Redis Cluster too (tests/redis_cluster_support.py, as
cluster_store.py; its broker is apart, so the beats publish to the outbox), point by point
interleaved; and the hand-over of a SIGKILLed beat's partitions on each.

Per (P, beats): load N schedules (D due) into P partitions, start the beats, wait until they
split the partitions, then release them at once and time until the ledger holds all D fires
(each published exactly once: the ledger has one entry per execution). CPU per fire is the
beats' CPU time and Redis's (INFO cpu, every node of a cluster, replicas included) over the run,
divided by D: on a loaded shared machine the steadier figure.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import signal
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from measure import redis_cpu_s, say

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' cluster fixture

from scheduler_beat.dispatch import Dispatcher  # noqa: E402
from scheduler_beat.partitions import PartitionLeases  # noqa: E402
from shared.config import Config  # noqa: E402
from shared.store import Store  # noqa: E402
from shared.timing import now_ms  # noqa: E402
from tests.redis_cluster_support import running_cluster  # noqa: E402

SPLIT_TIMEOUT_S = 60.0
RUN_TIMEOUT_S = 600.0
# Config wants a broker apart from a cluster; nothing is relayed from the outbox in this bench.
NO_BROKER = "redis://127.0.0.1:1/0"


@dataclass(frozen=True)
class Target:
    """Where the beats run: one Redis, or a cluster (``url`` redis+cluster://, broker apart)."""

    name: str
    url: str
    flush: Callable[[], None]
    nodes: list[redis.Redis]  # every server a fire costs CPU on (a cluster's replicas too)
    broker_url: str = ""


def single_target(url: str) -> Target:
    client = redis.Redis.from_url(url)
    return Target("one_redis", url, client.flushdb, [client])


@contextmanager
def cluster_target(tmp: Path) -> Iterator[Target]:
    """A private 3-master, 3-replica cluster (an append-only file on each node), stopped after."""
    with running_cluster(tmp) as cluster:
        nodes = [node.client() for node in cluster.nodes]
        yield Target("cluster", cluster.url, cluster.flush, nodes, NO_BROKER)


def beat_process(
    url: str, broker_url: str, partitions: int, lease_ms: int, go: Any, out: Any
) -> None:
    """One beat: hold a share of the partitions, say it is ready, wait for ``go``, tick until
    nothing is due in what it holds and every fire went out; then report its CPU seconds."""
    config = Config.from_env(  # no worker takes the fires: no sweep publishes them again
        {},
        redis_url=url,
        broker_url=broker_url,
        partitions=partitions,
        partition_lease_ms=lease_ms,
        republish_after_s=3600,
    )
    store = Store.from_url(
        url, config.key_prefix, partitions=partitions, outbox=config.broker_is_apart
    )
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


def fresh_store(target: Target, partitions: int) -> Store:
    target.flush()
    store = Store.from_url(target.url, partitions=partitions, outbox=bool(target.broker_url))
    store.check_partitions()
    return store


def start_beats(target: Target, count: int, partitions: int, lease_ms: int) -> tuple[Any, ...]:
    """``count`` beat processes, started and ready: (processes, go, out)."""
    ctx = mp.get_context("spawn")
    go, out = ctx.Event(), ctx.Queue()
    args = (target.url, target.broker_url, partitions, lease_ms, go, out)
    procs = [ctx.Process(target=beat_process, args=args) for _ in range(count)]
    start_all(procs, out)
    return procs, go, out


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
    target: Target, load: Any, n: int, due: int, partitions: int, beats: int, lease_ms: int
) -> dict[str, Any]:
    store = fresh_store(target, partitions)
    load(store, n, due)
    procs, go, out = start_beats(target, beats, partitions, lease_ms)
    wait_split(store, beats)
    load_avg = os.getloadavg()[0]
    redis_before = redis_cpu_s(target.nodes)
    started = time.perf_counter()
    go.set()
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while store.ledger_size() < due:
        if time.monotonic() > deadline:
            raise SystemExit(f"FAIL: P={partitions} beats={beats}: not all {due} fires published")
        time.sleep(0.005)
    elapsed = time.perf_counter() - started
    redis_cpu = redis_cpu_s(target.nodes) - redis_before
    store.redis.set("bench:done", "1")
    beat_cpu = sum(out.get(timeout=60) for _ in procs)
    for proc in procs:
        proc.join(timeout=30)
    if store.ledger_size() != due:
        raise SystemExit(f"FAIL: {store.ledger_size()} fires in the ledger, expected {due}")
    row = {
        "redis": target.name,
        "partitions": partitions,
        "beats": beats,
        "fires_per_s": round(due / elapsed, 1),
        "beat_cpu_us_per_fire": round(beat_cpu / due * 1e6, 1),
        "redis_cpu_us_per_fire": round(redis_cpu / due * 1e6, 1),
        "loadavg": round(load_avg, 2),
    }
    say(
        f"  {target.name:>9} P={partitions:>2} beats={beats}: {row['fires_per_s']:>9,.0f} "
        f"fires/s; CPU per fire: beats {row['beat_cpu_us_per_fire']} µs, "
        f"Redis {row['redis_cpu_us_per_fire']} µs (load avg {load_avg:.2f})"
    )
    return row


def handover(target: Target, partitions: int, lease_ms: int) -> dict[str, Any]:
    """Two beats split ``partitions``; one is SIGKILLed: seconds until the other holds all."""
    store = fresh_store(target, partitions)
    procs, go, out = start_beats(target, 2, partitions, lease_ms)
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
    store.redis.set("bench:done", "1")
    out.get(timeout=60)
    for proc in procs:
        proc.join(timeout=30)
    say(f"  {target.name}: hand-over of a SIGKILLed beat's partitions (P={partitions}, "
        f"lease {lease_ms} ms): {took_s:.2f} s")  # fmt: skip
    return {
        "redis": target.name,
        "partitions": partitions,
        "lease_ms": lease_ms,
        "handover_s": round(took_s, 3),
    }


def run_partitions(
    targets: list[Target],
    load: Any,
    n: int,
    due: int,
    partition_counts: list[int],
    beat_counts: list[int],
    lease_ms: int,
) -> dict[str, Any]:
    """Every (P, beats) point on each target in turn (interleaved: each meets the same load),
    then the hand-over time at the largest P on each."""
    say(f"partitions: N={n}, D={due}, lease {lease_ms} ms, on {[t.name for t in targets]}")
    rows = [
        run_point(target, load, n, due, p, b, lease_ms)
        for p in partition_counts
        for b in beat_counts
        for target in targets
    ]
    biggest = max([p for p in partition_counts if p > 1] or [4])
    handovers = [handover(target, biggest, lease_ms) for target in targets]
    for target in targets:
        target.flush()
    return {"rows": rows, "handover": handovers}
