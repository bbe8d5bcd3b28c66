"""The relay's added lag: how long a message takes from its publish in the store to a consumer
on the broker, with the default broker (the commit LPUSHes onto the store's own Redis: the
baseline, measured in the same run) and with a broker apart (the outbox, then the relay to a
second Redis, or to RabbitMQ with publisher confirms); and how fast a relay drains a backlog.

    .venv/bin/python bench/relay_lag.py [--rate 200] [--seconds 10] [--backlog 20000]

Real parts only: redis-servers (``shared.embedded_redis``), a private RabbitMQ node (the tests'
``tests/rabbitmq_support.py``: Debian's rabbitmq-server, private ports; skipped with a message
if it is not installed), the engine's ``publish.lua`` (what a run now publishes) and the real
``shared.broker.relay.Relay``, nudged after each publish as the beat nudges it after a commit.
Each broker gets the same rate for 5 s first, not measured (a fresh RabbitMQ node confirms
more slowly in its first seconds). Consumers: a thread popping the list (BRPOP) or consuming
the queue (basic_consume, no ack). The last line printed is one JSON object.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import redis

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests' RabbitMQ node

from shared.broker.amqp_broker import AmqpPublisher, connect, declare_queues  # noqa: E402
from shared.broker.redis_broker import RedisPublisher  # noqa: E402
from shared.broker.relay import Relay  # noqa: E402
from shared.embedded_redis import start_redis_server  # noqa: E402
from shared.messages import build_message  # noqa: E402
from shared.store import Store  # noqa: E402
from shared.timing import now_ms  # noqa: E402

QUEUE = "webhooks"
WARM_UP_S = 5.0  # published at the same rate first, not measured
Consumer = Callable[[Callable[[bytes], None], threading.Event], None]


def sent_ns(body: bytes) -> int:
    """The send instant carried in a message's body (``[[{"sent_ns": ...}], {}, {...}]``)."""
    return int(json.loads(body)[0][0]["sent_ns"])


def as_bytes(body: bytes | str) -> bytes:
    """py-amqp hands a utf-8 body over decoded."""
    return body.encode() if isinstance(body, str) else body


def redis_consumer(url: str) -> Consumer:
    def consume(got: Callable[[bytes], None], stop: threading.Event) -> None:
        client = redis.Redis.from_url(url)
        while not stop.is_set():
            popped = client.brpop([QUEUE], timeout=0.2)
            if popped:
                envelope = json.loads(popped[1])
                got(base64.b64decode(envelope["body"]))

    return consume


def amqp_consumer(url: str) -> Consumer:
    def consume(got: Callable[[bytes], None], stop: threading.Event) -> None:
        connection = connect(url, 10.0)
        channel = connection.channel()
        declare_queues(channel)
        channel.basic_consume(QUEUE, no_ack=True, callback=lambda m: got(as_bytes(m.body)))
        while not stop.is_set():
            try:
                connection.drain_events(timeout=0.2)
            except TimeoutError:
                continue
        connection.close()

    return consume


def measure_lag(store: Store, relay: Relay | None, consume: Consumer, rate: int, seconds: float):
    """Publish ``rate`` messages a second for ``seconds``; each one's lag to the consumer (ms)."""
    lags: list[float] = []
    stop = threading.Event()

    def got(body: bytes) -> None:
        lags.append((time.time_ns() - sent_ns(body)) / 1e6)

    consumer = threading.Thread(target=consume, args=(got, stop), daemon=True)
    consumer.start()
    time.sleep(0.5)  # the consumer connected
    total = int(rate * seconds)
    start = time.monotonic()
    for n in range(total):
        time.sleep(max(0.0, start + n / rate - time.monotonic()))
        message = build_message(
            "workers.webhooks.deliver", f"m{n}:1", QUEUE, [{"sent_ns": time.time_ns()}]
        )
        store.publish_recorded(f"m{n}:1", QUEUE, message, now_ms() + 60_000)
        if relay is not None:
            relay.nudge()
    deadline = time.monotonic() + 30
    while len(lags) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    stop.set()
    consumer.join(5)
    if len(lags) != total:
        raise SystemExit(f"only {len(lags)} of {total} messages reached the consumer")
    return lags


def drain_rate(store: Store, relay: Relay, backlog: int) -> float:
    """Messages a second a relay publishes (with confirms) from a backlog in the outbox."""
    message = build_message("workers.webhooks.deliver", "b:1", QUEUE, [{"sent_ns": 0}])
    pipe = store.redis.pipeline(transaction=False)
    for _ in range(backlog):
        pipe.lpush(store.keys.outbox(QUEUE), message)
    pipe.execute()
    start = time.monotonic()
    while store.outbox_depths()[QUEUE]:
        relay.step()
    return backlog / (time.monotonic() - start)


def figures(lags: list[float]) -> dict[str, float]:
    ordered = sorted(lags)
    return {
        "p50_ms": round(statistics.median(ordered), 2),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1], 2),
        "max_ms": round(ordered[-1], 2),
    }


@contextmanager
def fresh_store(url: str, outbox: bool) -> Iterator[Store]:
    store = Store.from_url(url, outbox=outbox)
    store.redis.flushdb()
    yield store
    store.redis.close()


def run_apart(store_url: str, broker_url: str, publisher: Any, consume: Consumer, args: Any):
    with fresh_store(store_url, outbox=True) as store:
        relay = Relay(store, publisher)
        relay.start()
        try:
            measure_lag(store, relay, consume, args.rate, WARM_UP_S)  # a fresh node is slower
            lags = measure_lag(store, relay, consume, args.rate, args.seconds)
        finally:
            relay.stop()
    with fresh_store(store_url, outbox=True) as store:
        relay = Relay(store, publisher)
        rate = drain_rate(store, relay, args.backlog)
        relay.stop()
    return {**figures(lags), "relay_drain_per_s": round(rate)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=int, default=200, help="messages a second")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--backlog", type=int, default=20_000)
    args = parser.parse_args()
    out: dict[str, Any] = {
        "rate_per_s": args.rate,
        "seconds": args.seconds,
        "backlog": args.backlog,
    }
    with tempfile.TemporaryDirectory() as tmp:
        store_server = start_redis_server(Path(tmp) / "store")
        broker_server = start_redis_server(Path(tmp) / "broker")
        try:
            print(f"direct (baseline): {args.rate}/s for {args.seconds} s ...", flush=True)
            with fresh_store(store_server.url, outbox=False) as store:
                consume = redis_consumer(store_server.url)
                measure_lag(store, None, consume, args.rate, WARM_UP_S)  # as for the others
                lags = measure_lag(store, None, consume, args.rate, args.seconds)
            out["direct"] = figures(lags)
            print(f"  {out['direct']}", flush=True)

            print("relay to a second Redis ...", flush=True)
            redis.Redis.from_url(broker_server.url).flushdb()
            out["relay_redis"] = run_apart(
                store_server.url,
                broker_server.url,
                RedisPublisher(broker_server.url, 10.0),
                redis_consumer(broker_server.url),
                args,
            )
            print(f"  {out['relay_redis']}", flush=True)
            out["relay_rabbitmq"] = rabbitmq_figures(Path(tmp), store_server.url, args)
            print(f"  {out['relay_rabbitmq']}", flush=True)
        finally:
            store_server.stop()
            broker_server.stop()
    print(json.dumps(out))


def rabbitmq_figures(tmp: Path, store_url: str, args: Any) -> dict[str, Any]:
    from tests.rabbitmq_support import RABBITMQ_BIN, RabbitNode

    if not (RABBITMQ_BIN / "rabbitmq-server").exists():
        print("  SKIPPED: rabbitmq-server is not installed (make rabbitmq)", flush=True)
        return {"skipped": "rabbitmq-server not installed"}
    print("relay to RabbitMQ (quorum queue, publisher confirms) ...", flush=True)
    (tmp / "rabbitmq").mkdir()
    node = RabbitNode(tmp / "rabbitmq")
    node.start()
    try:
        publisher = AmqpPublisher(node.url, 10.0)
        return run_apart(store_url, node.url, publisher, amqp_consumer(node.url), args)
    finally:
        node.stop()


if __name__ == "__main__":
    main()
