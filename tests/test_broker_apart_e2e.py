"""A broker apart from the store, end to end: a private RabbitMQ node (quorum queues, publisher
confirms) or a second Redis; real beats, real webhooks workers, a real receiver on 127.0.0.1.

Each fire goes to the store's outbox in the commit, and the beat's relay moves it to the broker.
A beat killed before the broker confirmed, or after it confirmed but before the outbox was
trimmed, loses nothing; a message it published twice runs once (the workers' dedupe).
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

import pytest
import redis
from flask.testing import FlaskClient

from shared.accounts import create_account, load_secret_key
from shared.broker.amqp_broker import AmqpPublisher, connect
from shared.broker.relay import LEASE_MS, Relay
from shared.config import Config
from shared.execution import execution_id
from shared.messages import build_message
from shared.store import Store
from tests.factories import once, webhook_schedule
from tests.support import (
    HttpReceiver,
    ProcessGroup,
    basic,
    free_port,
    iso,
    now_ms,
    wait_until,
)

pytestmark = pytest.mark.e2e
FIRES = 12


@pytest.fixture
def outbox_store(clean_redis: str) -> Store:
    return Store.from_url(clean_redis, outbox=True)


@pytest.fixture(params=["rabbitmq", "redis"])
def broker_url(request: pytest.FixtureRequest) -> str:
    """Each broker apart in turn: RabbitMQ, then a second Redis (emptied first)."""
    if request.param == "rabbitmq":
        return str(request.getfixturevalue("rabbitmq_url"))
    url = str(request.getfixturevalue("broker_redis_url"))
    redis.Redis.from_url(url).flushdb()
    return url


def schedule_fires(
    store: Store, config: Config, receiver: HttpReceiver, spread_ms: int = 1000
) -> list[str]:
    """FIRES one-off webhook schedules due over ``spread_ms`` from a second from now; their
    execution ids. Their
    account signs its callbacks, so each carries its execution id (``webhook-id``)."""
    key = load_secret_key(config)  # the processes' too: the same data dir
    account = create_account(store, "acme", secret_key=key, now_ms=now_ms())["appkey"]
    start = now_ms() + 1000
    ids = []
    for n in range(FIRES):
        due = start + n * spread_ms // FIRES
        schedule = webhook_schedule(once(due), receiver.url, account=account)
        store.put_schedule(schedule, due)
        ids.append(execution_id(schedule.id, due))
    return ids


def delivered(receiver: HttpReceiver) -> Counter[str]:
    return Counter(r.headers.get("webhook-id", "") for r in receiver.requests)


def settled(store: Store) -> bool:
    return store.ledger_size() == 0 and not any(store.outbox_depths().values())


def post_jobs(api: FlaskClient, creds: dict[str, str], url: str, count: int = FIRES) -> None:
    """``count`` webhook jobs (``/1/jobs``) due over a second, from a second from now."""
    start = now_ms() + 1000
    for n in range(count):
        doc = {"url": url, "data": f"job {n}", "when": iso(start + n * 1000 // count)}
        headers = {**basic(creds), "Content-Type": "application/json"}
        assert api.post("/1/jobs", data=json.dumps(doc), headers=headers).status_code == 200


def test_webhook_jobs_are_delivered_once_through_a_broker_apart(
    outbox_store: Store,
    local_api: tuple[FlaskClient, dict[str, str]],
    processes: ProcessGroup,
    receiver: HttpReceiver,
    broker_url: str,
) -> None:
    api, creds = local_api
    processes.beat(broker_url=broker_url)
    processes.worker("webhooks", broker_url=broker_url)
    post_jobs(api, creds, receiver.url)
    wait_until(lambda: receiver.count() >= FIRES, timeout_s=60, what="every job delivered")
    wait_until(lambda: settled(outbox_store), what="the ledger and the outbox empty")
    seen = now_ms()
    wait_until(lambda: (outbox_store.last_beat_ms() or 0) > seen + 1000, what="more ticks")
    counts = delivered(receiver)
    assert len(counts) == FIRES and set(counts.values()) == {1}  # each job once, none twice
    assert sorted(r.body.decode() for r in receiver.requests) == sorted(
        f"job {n}" for n in range(FIRES)
    )
    assert outbox_store.redis.llen("webhooks") == 0  # nothing went to the store's own list
    assert "relay: the broker confirmed" in processes.logs()


def test_a_beat_killed_before_the_broker_confirmed_loses_nothing(
    outbox_store: Store,
    config: Config,
    processes: ProcessGroup,
    receiver: HttpReceiver,
    rabbitmq_url: str,
) -> None:
    unreachable = f"amqp://guest:guest@127.0.0.1:{free_port()}//"
    doomed = processes.beat(broker_url=unreachable)
    ids = schedule_fires(outbox_store, config, receiver)
    wait_until(lambda: outbox_store.outbox_depths()["webhooks"] >= 1, what="fires in the outbox")
    wait_until(lambda: "relay: publish failed" in processes.logs(), what="a failed publish")
    wait_until(lambda: outbox_store.ledger_size() == FIRES, what="every fire committed")
    processes.kill(doomed)

    processes.worker("webhooks", broker_url=rabbitmq_url)
    processes.beat(broker_url=rabbitmq_url)  # relays once the dead beat's lease ran out
    wait_until(lambda: receiver.count() >= FIRES, timeout_s=60, what="every fire delivered")
    wait_until(lambda: settled(outbox_store), what="the ledger and the outbox empty")
    assert delivered(receiver) == dict.fromkeys(ids, 1)


def test_a_beat_killed_after_the_confirm_publishes_again_and_each_fire_runs_once(
    outbox_store: Store,
    config: Config,
    processes: ProcessGroup,
    receiver: HttpReceiver,
    rabbitmq_url: str,
) -> None:
    processes.worker("webhooks", broker_url=rabbitmq_url)
    doomed = processes.beat(broker_url=rabbitmq_url, relay_pause_before_trim_ms=120_000)
    # One instant: one tick, one hand (the paused relay publishes nothing after its first).
    ids = schedule_fires(outbox_store, config, receiver, spread_ms=0)
    wait_until(lambda: receiver.count() >= FIRES, timeout_s=60, what="every fire delivered")
    wait_until(lambda: outbox_store.ledger_size() == 0, what="every run recorded")
    processes.kill(doomed)  # confirmed by the broker, run, but never trimmed from the outbox
    left = sum(outbox_store.outbox_depths().values())
    assert left >= 1

    processes.beat(broker_url=rabbitmq_url)
    wait_until(lambda: settled(outbox_store), timeout_s=LEASE_MS / 1000 + 40, what="relayed")
    wait_until(lambda: processes.logs().count("not run: done") >= left, what="each copy skipped")
    assert delivered(receiver) == dict.fromkeys(ids, 1)


def test_rabbitmq_gets_ordinary_celery_messages_in_quorum_queues(
    outbox_store: Store, rabbitmq_url: str
) -> None:
    message = build_message("workers.webhooks.deliver", "s1:1", "webhooks", [{"n": 1}])
    outbox_store.publish_recorded("s1:1", "webhooks", message, now_ms() + 10_000)
    publisher = AmqpPublisher(rabbitmq_url, 10.0)
    try:
        assert Relay(outbox_store, publisher).step() == 1
        assert publisher.depths()["webhooks"] == 1  # the gauge: a passive declare's count
    finally:
        publisher.close()

    connection = connect(rabbitmq_url, 10.0)
    try:
        channel = connection.channel()
        declared: Any = channel.queue_declare("webhooks", passive=True)
        assert declared[1] == 1
        got = channel.basic_get("webhooks", no_ack=True)
        assert got is not None
        assert got.headers["task"] == "workers.webhooks.deliver"
        assert got.headers["id"] == "s1:1"
        assert got.properties["delivery_mode"] == 2
        assert json.loads(got.body)[0] == [{"n": 1}]
        with pytest.raises(Exception, match="PRECONDITION|inequivalent"):
            channel.queue_declare("webhooks", durable=True)  # it is a quorum queue, not classic
    finally:
        connection.close()
