"""The store on Redis Cluster beside one Redis, in the same run (``--due 20000 --rounds 3``).

1. Dispatch: one beat's ``Dispatcher`` (the class ``scheduler beat`` runs) publishing D fires
   due at once, with P = 1 and P = 4 partitions, on one embedded redis-server and on a private
   3-master, 3-replica cluster (tests/redis_cluster_support.py; P = 4's tags fall on all three
   masters). Both publish to the outbox (a cluster's broker is always apart), both keep an
   append-only file (fsync every second); the cluster's figures include its replicas. Rounds are
   interleaved; each prints fires/s and CPU per fire: the beat's (process time) and the Redis
   servers' (INFO cpu, every node), the steadier figures on a loaded machine.
2. ``SCHEDULER_REDIS_WAIT_REPLICAS``: the API's write of a schedule (``put_schedule``), with
   0 and 1, on the cluster: wall time and client CPU per write, interleaved.

The last line is JSON. State the load average (printed) with any figure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import redis
from beat_dispatch import schedules
from measure import redis_cpu_s, say

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' cluster fixture

from scheduler_beat.dispatch import Dispatcher  # noqa: E402
from shared.config import Config  # noqa: E402
from shared.embedded_redis import start_redis_server  # noqa: E402
from shared.model import CronTrigger, Schedule  # noqa: E402
from shared.store import Store  # noqa: E402
from shared.timing import now_ms  # noqa: E402
from tests.redis_cluster_support import running_cluster  # noqa: E402

NO_BROKER = "redis://127.0.0.1:1/0"  # Config wants one apart from a cluster; nothing is relayed
# Once a year, so a fired schedule's next fire is far off: beat_dispatch.py's */5 cron re-arms
# at the next 5-minute boundary, and a round that crosses one on a slow machine fires again.
YEARLY = CronTrigger(expr="0 0 1 1 *", timezone="UTC")


def due_schedules(count: int, fire_ms: int) -> Iterator[tuple[Schedule, int]]:
    for schedule, at_ms in schedules(0, count, fire_ms):
        yield dataclasses.replace(schedule, trigger=YEARLY), at_ms


def dispatch_round(
    url: str, partitions: int, due: int, flush: Callable[[], None], nodes: list[redis.Redis]
) -> dict[str, float]:
    """Load ``due`` schedules due now, then tick until every fire is published."""
    flush()
    config = Config.from_env(  # no worker takes the fires: no sweep publishes them again
        {}, redis_url=url, broker_url=NO_BROKER, partitions=partitions, republish_after_s=3600
    )
    store = Store.from_url(url, partitions=partitions, outbox=True)
    store.put_schedules(due_schedules(due, now_ms() - 1000))
    store.load_scripts()
    dispatcher = Dispatcher(store, config)
    servers_before, cpu_before = redis_cpu_s(nodes), time.process_time()
    started = time.perf_counter()
    published = 0
    while published < due:
        result = dispatcher.tick(now_ms())
        if not result.claimed:
            raise SystemExit(f"FAIL: nothing left to claim after {published} of {due}")
        published += result.published
    wall = time.perf_counter() - started
    if published != due or store.ledger_size() != due:
        raise SystemExit(f"FAIL: published {published}, ledger {store.ledger_size()} of {due}")
    return {
        "fires_per_s": due / wall,
        "beat_cpu_us_per_fire": (time.process_time() - cpu_before) / due * 1e6,
        "redis_cpu_us_per_fire": (redis_cpu_s(nodes) - servers_before) / due * 1e6,
    }


def wait_round(url: str, wait_replicas: int, writes: int) -> dict[str, float]:
    """``writes`` schedules written one by one, as the API writes them."""
    store = Store.from_url(url, wait_replicas=wait_replicas, wait_timeout_ms=1000)
    items = list(due_schedules(writes, now_ms() + 86_400_000))
    cpu, started = time.process_time(), time.perf_counter()
    for schedule, next_ms in items:
        store.put_schedule(schedule, next_ms)
    return {
        "wall_us_per_write": (time.perf_counter() - started) / writes * 1e6,
        "client_cpu_us_per_write": (time.process_time() - cpu) / writes * 1e6,
    }


def medians(rounds: Iterable[dict[str, float]]) -> dict[str, float]:
    rounds = list(rounds)
    return {key: round(statistics.median(r[key] for r in rounds), 1) for key in rounds[0]}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--due", type=int, default=20_000, help="fires per dispatch round")
    parser.add_argument("--writes", type=int, default=2_000, help="writes per WAIT round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    with (
        tempfile.TemporaryDirectory(prefix="cluster-bench-") as tmp,
        running_cluster(Path(tmp) / "cluster") as cluster,
    ):
        single = start_redis_server(Path(tmp) / "single", appendonly=True)  # as the nodes
        try:
            single_client = redis.Redis.from_url(single.url)
            nodes = [node.client() for node in cluster.nodes]
            setups = {
                "one_redis": (single.url, single_client.flushall, [single_client]),
                "cluster": (cluster.url, cluster.flush, nodes),
            }
            say(f"load average before: {os.getloadavg()}")
            results: dict[str, list[dict[str, float]]] = {}
            for n in range(args.rounds):  # interleaved: each setup meets the same load
                for partitions in (1, 4):
                    for name, (url, flush, clients) in setups.items():
                        key = f"{name} P={partitions}"
                        row = dispatch_round(url, partitions, args.due, flush, clients)
                        results.setdefault(key, []).append(row)
                        say(f"round {n + 1} dispatch {key}: {row} (load {os.getloadavg()[0]:.1f})")
                for wait in (0, 1):
                    cluster.flush()
                    row = wait_round(cluster.url, wait, args.writes)
                    results.setdefault(f"cluster put_schedule wait={wait}", []).append(row)
                    say(f"round {n + 1} cluster put_schedule wait={wait}: {row}")
            summary: dict[str, Any] = {key: medians(rows) for key, rows in results.items()}
            summary["load_average_after"] = os.getloadavg()
            summary["due"], summary["writes"] = args.due, args.writes
            print(json.dumps(summary))
        finally:
            single.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
