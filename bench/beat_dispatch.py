"""Beat dispatch benchmark: the real Dispatcher on a real Redis, optionally against celery-redbeat.

    python bench/beat_dispatch.py --schedules 100000 --due 10000 --compare-redbeat --idle-scaling
    python bench/beat_dispatch.py --overlap skip    # allow_all, then the same fires under skip
    python bench/beat_dispatch.py --partitions 1,4,16 --beats 1,3   # + beat processes sharing P
    python bench/beat_dispatch.py --partitions 1,4,16 --beats 1,3 --cluster   # + on a cluster

Every figure comes from real parts: a real redis-server (``REDIS_URL``, or an embedded one started
in a temp dir with appendonly off), real ``Dispatcher.tick`` calls (one claim.lua call, message
building, one commit.lua call that LPUSHes onto kombu's queue list and advances the schedules),
and, with ``--compare-redbeat``, redbeat's own ``RedBeatScheduler.tick`` publishing through kombu.
Human-readable lines go out as it runs; the last line is one JSON object. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import redis
from measure import (
    CRON,
    DAY_MS,
    OUR_QUEUE,
    SCALING_NS,
    SLOW_LOAD_S,
    Dispatch,
    Idle,
    measure_idle,
    redis_url,
    say,
    used_memory,
    verify_executions,
    wait_clear_of_boundary,
)
from partition_dispatch import cluster_target, run_partitions, single_target
from redbeat_baseline import (
    run_redbeat,
)

from scheduler_beat.dispatch import Dispatcher
from shared.config import Config
from shared.contract import DialectName
from shared.model import (
    DEFAULT_OVERLAP,
    OVERLAP_POLICIES,
    CronTrigger,
    OverlapPolicy,
    Schedule,
    Target,
)
from shared.store import Store
from shared.timing import now_ms

# --- our engine ---------------------------------------------------------------------------------


def webhook_schedule(i: int, overlap: OverlapPolicy = DEFAULT_OVERLAP) -> Schedule:
    """A realistic webhook schedule: */5 cron in UTC, a per-schedule URL, small JSON data."""
    return Schedule(
        id=uuid.uuid4().hex,
        account=f"acct-{i // 1000:05d}",
        dialect=DialectName.WEBHOOK_JOBS,
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
        overlap=overlap,
    )


def schedules(
    start: int, stop: int, fire_ms: int, overlap: OverlapPolicy = DEFAULT_OVERLAP
) -> Iterator[tuple[Schedule, int]]:
    for i in range(start, stop):
        yield webhook_schedule(i, overlap), fire_ms


def load_ours(
    client: redis.Redis, store: Store, n: int, due: int, overlap: OverlapPolicy = DEFAULT_OVERLAP
) -> tuple[float, float]:
    """Flush, load ``n`` schedules (the ``due`` ones last, at now - 1 s): (bytes each, load s)."""
    client.flushdb()
    before = used_memory(client)
    started = time.perf_counter()
    put_ours(store, n, due, overlap)
    load_s = time.perf_counter() - started
    return (used_memory(client) - before) / n, load_s


def put_ours(store: Store, n: int, due: int, overlap: OverlapPolicy = DEFAULT_OVERLAP) -> None:
    store.put_schedules(schedules(due, n, now_ms() + DAY_MS, overlap))
    # One instant for all D, as a cron's fires are: every */5 schedule is due at the same moment.
    store.put_schedules(schedules(0, due, now_ms() - 1000, overlap))


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


def run_ours(
    client: redis.Redis,
    url: str,
    config: Config,
    n: int,
    due: int,
    overlap: OverlapPolicy = DEFAULT_OVERLAP,
) -> dict[str, Any]:
    say(f"ours: loading {n} schedules ({due} due, overlap {overlap}) with Store.put_schedules ...")
    wait_clear_of_boundary(20 + due / 2000)
    per_schedule, load_s = load_ours(client, Store(client, config.key_prefix), n, due, overlap)
    say(f"  loaded in {load_s:.1f} s; {per_schedule:.0f} bytes/schedule (used_memory delta / N)")
    dispatch, dispatcher = dispatch_ours(url, config, due)
    say(
        f"  dispatched {due} fires in {dispatch.total_s:.3f} s over {dispatch.ticks} ticks: "
        f"{dispatch.rate(due):,.0f} fires/s; first fire {dispatch.first_fire_s * 1000:.1f} ms"
    )
    verify_executions(client, OUR_QUEUE, due)
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


# --- main ---------------------------------------------------------------------------------------


def parse_args(argv: Iterable[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--schedules", type=int, default=100_000, help="N schedules (100000)")
    parser.add_argument("--due", type=int, default=10_000, help="D of them due now (10000)")
    parser.add_argument("--batch", type=int, default=None, help="beat_batch (Config default)")
    parser.add_argument("--compare-redbeat", action="store_true", help="run celery-redbeat too")
    parser.add_argument("--idle-scaling", action="store_true", help="idle tick for N=10^3..10^6")
    parser.add_argument(
        "--overlap",
        choices=[p for p in OVERLAP_POLICIES if p != DEFAULT_OVERLAP],
        help="dispatch the same fires again under this overlap policy (each publishes and "
        "becomes its schedule's running execution): its cost beside allow_all's",
    )
    parser.add_argument(
        "--partitions",
        type=counts,
        help="comma-separated partition counts: dispatch rate of beat processes at each (and the "
        "hand-over time of a SIGKILLed beat's partitions at the largest)",
    )
    parser.add_argument("--beats", type=counts, default=[1], help="beat processes (1; e.g. 1,3)")
    parser.add_argument("--lease-ms", type=int, default=5000, help="SCHEDULER_PARTITION_LEASE_MS")
    parser.add_argument(
        "--cluster",
        action="store_true",
        help="with --partitions: the same points on a private 3-master, 3-replica Redis Cluster "
        "too, interleaved with one Redis's",
    )
    args = parser.parse_args(None if argv is None else list(argv))
    if not 0 < args.due <= args.schedules:
        parser.error("need 0 < --due <= --schedules")
    if args.cluster and not args.partitions:
        parser.error("--cluster goes with --partitions")
    return args


def counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


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
    if args.overlap:
        governed = run_ours(client, url, config, n, due, args.overlap)
        out["overlap"] = {"policy": args.overlap, **governed}
        out["overlap_dispatch_ratio"] = round(governed["dispatch_per_s"] / out["dispatch_per_s"], 3)
        say(f"overlap {args.overlap}/allow_all: dispatch rate x{out['overlap_dispatch_ratio']}")
    if args.partitions:
        out["partitions"] = partitions(url, args)
    if args.idle_scaling:
        say("idle scaling (nothing due):")
        out["idle_tick_ms_by_n"] = idle_scaling(client, url, config)
    client.flushdb()
    return out


def partitions(url: str, args: argparse.Namespace) -> dict[str, Any]:
    with ExitStack() as stack:
        targets = [single_target(url)]
        if args.cluster:
            tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="beat-bench-cluster-"))
            targets.append(stack.enter_context(cluster_target(Path(tmp))))
        points = args.partitions, args.beats
        return run_partitions(targets, put_ours, args.schedules, args.due, *points, args.lease_ms)


def main(argv: Iterable[str] | None = None) -> int:
    args = parse_args(argv)
    with redis_url(os.environ.get("REDIS_URL", "")) as url:
        result = bench(url, args)
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
