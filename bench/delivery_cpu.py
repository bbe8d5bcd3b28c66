"""The webhooks worker's CPU per fire, in-process: variants side by side, interleaved.

    .venv/bin/python bench/delivery_cpu.py [--fires 4000] [--batch 40] [--runs 3] [--variants a,b]

Starts its own redis-server and the bench's receiver (bench/receiver.py, four 127.0.0.1 ports,
answers at once). Each run of a variant is a fresh child process that stores ``--fires``
one-off webhook schedules of one signing account (due now, over the four ports), has a real
beat tick (``Dispatcher.tick``) publish them as messages of ``--batch``, and runs each message
through the webhooks pool's own ``run_batch`` and ``deliver_webhook``, one after the other,
without Celery: begin, the signed callbacks on the delivery loop, finish. CPU per fire is the
child's utime + stime (``getrusage``) over all but the first message (connections are opened
there), divided by the fires it delivered; every fire must end "done". Runs are interleaved
(a, b, a, b, ...) so both variants see the same load. Variants:

- ``asyncio``: the delivery loop on the standard library's event loop;
- ``uvloop``: on uvloop's (the default).

Last line: one JSON object (per variant: every run's figure, the best and the median).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from shared.embedded_redis import free_port, start_redis_server  # noqa: E402

VARIANTS = ("asyncio", "uvloop")
PORTS = 4


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fires", type=int, default=4000)
    parser.add_argument("--batch", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--variants", default=",".join(VARIANTS))
    parser.add_argument(
        "--profile", metavar="DIR", help="record each run with py-spy (collapsed stacks) in DIR"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)  # a variant, run in this process
    parser.add_argument("--redis-url", help=argparse.SUPPRESS)
    parser.add_argument("--ports", help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args)), flush=True)
    else:
        parent(args)


def parent(args: argparse.Namespace) -> None:
    variants = [v for v in args.variants.split(",") if v]
    unknown = set(variants) - set(VARIANTS)
    if unknown:
        raise SystemExit(f"unknown variants {sorted(unknown)}: choose from {VARIANTS}")
    say(f"load average at start: {os.getloadavg()}")
    figures: dict[str, list[float]] = {v: [] for v in variants}
    with tempfile.TemporaryDirectory(prefix="delivery-cpu-") as tmp:
        workdir = Path(tmp)
        server = start_redis_server(workdir / "redis")
        ports = [free_port() for _ in range(PORTS)]
        receiver = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "receiver.py"), "--ports",
             ",".join(map(str, ports)), "--out", str(workdir / "received.txt")],
            stdout=subprocess.PIPE,
        )  # fmt: skip
        try:
            assert receiver.stdout is not None and receiver.stdout.readline().strip() == b"ready"
            for run in range(args.runs):
                for variant in variants:
                    result = run_child(args, variant, server.url, ports, workdir)
                    figures[variant].append(result["cpu_ms_per_fire"])
                    say(f"run {run + 1} {variant}: {result['cpu_ms_per_fire']:.3f} ms CPU per "
                        f"fire ({result['fires']} fires, load {result['load']:.1f})")  # fmt: skip
        finally:
            receiver.terminate()
            receiver.wait(10)
            server.stop()
    summary: dict[str, Any] = {"fires": args.fires, "batch": args.batch}
    for variant, values in figures.items():
        summary[variant] = {
            "cpu_ms_per_fire": [round(v, 3) for v in values],
            "best": round(min(values), 3),
            "median": round(statistics.median(values), 3),
        }
        say(f"{variant}: best {min(values):.3f} ms, median {statistics.median(values):.3f} ms")
    summary["load_average_end"] = os.getloadavg()
    say(json.dumps(summary))


def run_child(
    args: argparse.Namespace, variant: str, redis_url: str, ports: list[int], workdir: Path
) -> dict[str, Any]:
    command = [
        sys.executable, __file__, "--child", variant, "--redis-url", redis_url,
        "--ports", ",".join(map(str, ports)), "--fires", str(args.fires),
        "--batch", str(args.batch), "--data-dir", str(workdir / "data"),
    ]  # fmt: skip
    if args.profile:  # py-spy is no dependency: `pip install py-spy` to use it
        out = Path(args.profile) / f"{variant}-{time.time_ns()}.txt"
        spy = ["py-spy", "record", "--gil", "-r", "400", "-f", "raw", "-o", str(out), "--"]
        command = [*spy, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(f"the {variant} run failed:\n{done.stderr[-3000:]}")
    last = [line for line in done.stdout.splitlines() if line.startswith("{")][-1]
    result: dict[str, Any] = json.loads(last)
    return result


def child(args: argparse.Namespace) -> dict[str, Any]:
    os.environ.update(
        REDIS_URL=args.redis_url,
        SCHEDULER_DATA_DIR=args.data_dir,
        SCHEDULER_TARGET_ALLOWLIST="127.0.0.0/8",
        SCHEDULER_DELIVERY_BATCH=str(args.batch),
        SCHEDULER_LOG_LEVEL="WARNING",
    )
    from workers import event_loop

    if args.child == "asyncio":
        import asyncio

        event_loop.new_loop = asyncio.new_event_loop
    bodies = publish(args)
    return deliver(bodies)


def publish(args: argparse.Namespace) -> list[list[dict[str, Any]]]:
    """``--fires`` schedules due now, published by one beat tick; the messages' arguments."""
    from scheduler_beat.dispatch import Dispatcher
    from shared.accounts import create_account
    from shared.model import OnceTrigger, Schedule, Target
    from shared.timing import now_ms
    from workers.context import config, secret_key, store

    now = now_ms()
    account = create_account(store(), "bench", secret_key=secret_key(), now_ms=now)["appkey"]
    ports = args.ports.split(",")
    run = uuid.uuid4().hex[:8]
    for n in range(args.fires):
        url = f"http://127.0.0.1:{ports[n % len(ports)]}/f/{n}/{now}"
        spec = {"url": url, "data": f'{{"n":{n}}}', "content_type": "application/json"}
        schedule = Schedule(
            id=f"{run}-{n}",
            account=account,
            dialect="native",
            trigger=OnceTrigger(at_ms=now),
            target=Target("webhook", spec),
            created_ms=now,
        )
        store().put_schedule(schedule, now)
    dispatcher = Dispatcher(store(), config)
    while dispatcher.tick(now).claimed:  # the beat claims growing batches, tick by tick
        pass
    raw = store().redis.lrange("webhooks", 0, -1)
    store().redis.delete("webhooks")
    return [arguments(json.loads(message)) for message in reversed(raw)]


def arguments(message: dict[str, Any]) -> list[dict[str, Any]]:
    import base64

    body = message["body"]
    if message["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body).decode()
    (argument,), _, _ = json.loads(body)
    return argument if isinstance(argument, list) else [argument]


def deliver(messages: list[list[dict[str, Any]]]) -> dict[str, Any]:
    from workers.batch import run_batch
    from workers.context import config, store
    from workers.webhooks import _refuse, deliver_webhook

    def one(bodies: list[dict[str, Any]], n: int) -> None:
        ends = run_batch(store(), config, bodies, deliver_webhook, _refuse, f"bench.{n}")
        failed = [end for end in ends if end.outcome != "done"]
        if failed:
            raise SystemExit(f"not delivered: {failed[:3]}")

    one(messages[0], 0)  # opens the connections: not counted
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    for n, bodies in enumerate(messages[1:], 1):
        one(bodies, n)
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    fires = sum(len(bodies) for bodies in messages[1:])
    return {
        "cpu_ms_per_fire": cpu_s * 1000 / fires,
        "fires": fires,
        "wall_s": time.monotonic() - started,
        "load": os.getloadavg()[0],
    }


if __name__ == "__main__":
    main()
