"""The outbox and its relay, on real Redis servers: the store's and a second one as the broker.

With a broker apart, what the scripts publish lands in the store's outbox; ``relay.lua`` hands
the oldest to the lease holder and trims them only once the broker confirmed them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence

import pytest
import redis
from prometheus_client import REGISTRY

from shared import metrics
from shared.broker.depths import BrokerDepths
from shared.broker.redis_broker import RedisPublisher
from shared.broker.relay import LEASE_MS, Relay
from shared.config import Config
from shared.errors import ConfigError
from shared.messages import build_message
from shared.store import Store
from tests.support import free_port, now_ms
from tests.test_store_overlap import finish, fire, overlapping

ALSO_ON_CLUSTER = True  # each test runs on one Redis and on a cluster (conftest)


def message(n: int, queue: str = "webhooks") -> str:
    return build_message("workers.webhooks.deliver", f"s{n}:1", queue, [{"n": n}])


@pytest.fixture
def outbox_store(clean_redis: str) -> Store:
    return Store.from_url(clean_redis, outbox=True)


@pytest.fixture
def broker(broker_redis_url: str) -> redis.Redis:
    client = redis.Redis.from_url(broker_redis_url, decode_responses=True)
    client.flushdb()
    return client


def broker_ids(broker: redis.Redis, queue: str = "webhooks") -> list[str]:
    """Task ids waiting in the broker's list, oldest first."""
    return [json.loads(m)["headers"]["id"] for m in reversed(broker.lrange(queue, 0, -1))]


def relayed_total(queue: str) -> float:
    """This process's ``scheduler_relayed_total`` for ``queue`` (the beat serves it)."""
    return REGISTRY.get_sample_value("scheduler_relayed_total", {"queue": queue}) or 0.0


def test_the_default_store_publishes_onto_the_queue_itself(store: Store) -> None:
    if store.keys.outbox_on:
        pytest.skip("a cluster is never the broker: its store always publishes to its outbox")
    store.publish_recorded("e1", "webhooks", message(1), now_ms() + 10_000)
    assert store.redis.llen("webhooks") == 1
    assert store.outbox_depths()["webhooks"] == 0


def test_with_a_broker_apart_publishers_write_to_the_outbox(outbox_store: Store) -> None:
    outbox_store.publish_recorded("e1", "webhooks", message(1), now_ms() + 10_000)
    assert outbox_store.redis.llen("webhooks") == 0
    assert outbox_store.outbox_depths()["webhooks"] == 1
    _, queue, _ = outbox_store.ledger_message("e1") or (0, "", "")
    assert queue == outbox_store.keys.outbox("webhooks")  # republish.lua copies there too


def test_a_hand_is_the_oldest_first_and_trims_only_what_was_confirmed(outbox_store: Store) -> None:
    for n in range(5):
        outbox_store.publish_recorded(f"e{n}", "webhooks", message(n), now_ms() + 10_000)
    hand = outbox_store.relay_hand("me", LEASE_MS, 3, {}) or {}
    assert [json.loads(m)["headers"]["id"] for m in hand["webhooks"]] == ["s0:1", "s1:1", "s2:1"]
    outbox_store.publish_recorded("e5", "webhooks", message(5), now_ms() + 10_000)  # meanwhile

    hand = outbox_store.relay_hand("me", LEASE_MS, 10, {"webhooks": 2}) or {}
    ids = [json.loads(m)["headers"]["id"] for m in hand["webhooks"]]
    assert ids == ["s2:1", "s3:1", "s4:1", "s5:1"]  # the two confirmed are gone, nothing else


def test_another_beats_lease_neither_hands_nor_trims(outbox_store: Store) -> None:
    outbox_store.publish_recorded("e1", "webhooks", message(1), now_ms() + 10_000)
    assert outbox_store.relay_hand("first", LEASE_MS, 10, {}) is not None
    assert outbox_store.relay_hand("second", LEASE_MS, 10, {"webhooks": 1}) is None
    assert outbox_store.outbox_depths()["webhooks"] == 1


def test_a_lease_that_ran_out_trims_nothing(outbox_store: Store) -> None:
    """A relay that stalled past its lease must not trim: another relay may have taken the
    same messages (and trimmed them), and the tail may now hold ones nobody published."""
    outbox_store.publish_recorded("e1", "webhooks", message(1), now_ms() + 10_000)
    assert outbox_store.relay_hand("slow", LEASE_MS, 10, {}) is not None
    outbox_store.redis.delete(outbox_store.keys.relay_lease())  # it ran out
    hand = outbox_store.relay_hand("slow", LEASE_MS, 10, {"webhooks": 1}) or {}
    assert len(hand["webhooks"]) == 1  # handed again: published twice, never lost


def test_the_relay_moves_the_outbox_to_a_redis_broker_in_order(
    outbox_store: Store, broker: redis.Redis, broker_redis_url: str
) -> None:
    for n in range(3):
        outbox_store.publish_recorded(f"e{n}", "webhooks", message(n), now_ms() + 10_000)
    outbox_store.publish_recorded("j1", "jobs", message(9, "jobs"), now_ms() + 10_000)
    relay = Relay(outbox_store, RedisPublisher(broker_redis_url, 5.0))
    before = relayed_total("webhooks")

    assert relay.step() == 4
    assert relayed_total("webhooks") == before + 3
    assert broker_ids(broker) == ["s0:1", "s1:1", "s2:1"]
    assert broker_ids(broker, "jobs") == ["s9:1"]
    assert outbox_store.outbox_depths()["webhooks"] == 3  # kept until the next hand trims
    assert relay.step() == 0
    assert outbox_store.outbox_depths() == {"push": 0, "webhooks": 0, "tasks": 0, "jobs": 0}


class FailingPublisher:
    def __init__(self) -> None:
        self.reset_calls = 0

    def publish(self, batches: Mapping[str, Sequence[str]]) -> None:
        raise ConnectionRefusedError("the broker is down")

    def depths(self) -> dict[str, int]:
        return {}

    def reset(self) -> None:
        self.reset_calls += 1

    def close(self) -> None:
        pass


def test_a_publish_that_failed_leaves_the_outbox_whole(
    outbox_store: Store, broker: redis.Redis, broker_redis_url: str
) -> None:
    outbox_store.publish_recorded("e1", "webhooks", message(1), now_ms() + 10_000)
    with pytest.raises(ConnectionRefusedError):
        Relay(outbox_store, FailingPublisher()).step()
    outbox_store.redis.delete(outbox_store.keys.relay_lease())  # as if that beat died
    assert outbox_store.outbox_depths()["webhooks"] == 1

    relay = Relay(outbox_store, RedisPublisher(broker_redis_url, 5.0))
    assert relay.step() == 1
    assert broker_ids(broker) == ["s1:1"]


def test_an_unreachable_redis_broker_fails_the_publish(outbox_store: Store) -> None:
    outbox_store.publish_recorded("e1", "webhooks", message(1), now_ms() + 10_000)
    relay = Relay(outbox_store, RedisPublisher(f"redis://127.0.0.1:{free_port()}/0", 1.0))
    with pytest.raises(redis.ConnectionError):
        relay.step()
    assert outbox_store.outbox_depths()["webhooks"] == 1


def test_the_broker_setting_is_checked_and_the_store_itself_is_not_apart() -> None:
    with pytest.raises(ConfigError, match="SCHEDULER_BROKER_URL"):
        Config.from_env({"SCHEDULER_BROKER_URL": "kafka://somewhere"})
    same = Config.from_env({"REDIS_URL": "redis://h:1/0", "SCHEDULER_BROKER_URL": "redis://h:1/0"})
    assert not same.broker_is_apart
    amqp = Config.from_env({"REDIS_URL": "redis://h:1/0", "SCHEDULER_BROKER_URL": "amqp://h//"})
    assert amqp.broker_is_apart and amqp.broker_is_amqp
    assert "amqp" not in repr(amqp)  # the URL may carry a password


def test_queue_depth_gauges_count_the_outbox_and_the_broker(
    outbox_store: Store, broker: redis.Redis, broker_redis_url: str
) -> None:
    for n in range(3):
        outbox_store.publish_recorded(f"e{n}", "webhooks", message(n), now_ms() + 10_000)
    Relay(outbox_store, RedisPublisher(broker_redis_url, 5.0)).step()  # 3 on the broker
    outbox_store.publish_recorded("e9", "webhooks", message(9), now_ms() + 10_000)
    outbox_store.redis.delete(outbox_store.keys.relay_lease())
    registry = metrics.api_registry(
        outbox_store, BrokerDepths(RedisPublisher(broker_redis_url, 5.0))
    )
    webhooks = {"pool": "webhooks"}
    assert registry.get_sample_value("scheduler_broker_up") == 1
    # the outbox still holds the 3 relayed (not trimmed yet) and the one written since
    assert registry.get_sample_value("scheduler_outbox_depth", webhooks) == 4
    assert registry.get_sample_value("scheduler_queue_depth", webhooks) == 4 + 3


def test_an_unreachable_broker_is_a_gauge_not_a_failed_scrape(outbox_store: Store) -> None:
    down = BrokerDepths(RedisPublisher(f"redis://127.0.0.1:{free_port()}/0", 1.0))
    registry = metrics.api_registry(outbox_store, down)
    assert registry.get_sample_value("scheduler_broker_up") == 0
    assert registry.get_sample_value("scheduler_queue_depth", {"pool": "webhooks"}) is None
    assert registry.get_sample_value("scheduler_redis_up") == 1


def test_a_buffered_fire_released_by_a_finish_goes_to_the_outbox(outbox_store: Store) -> None:
    """overlap buffer_one: the fire that waited on the previous execution is published when it
    finishes, into the outbox like every other publish (never onto the store's own list)."""
    schedule = overlapping(outbox_store, "buffer_one")
    fire(outbox_store, schedule, 0)
    fire(outbox_store, schedule, 1)  # buffered behind fire 0
    assert outbox_store.outbox_depths()["webhooks"] == 1
    finish(outbox_store, schedule, 0)
    assert outbox_store.redis.lrange(outbox_store.keys.outbox("webhooks"), 0, -1) == [
        "msg-1",
        "msg-0",
    ]
    assert outbox_store.redis.llen("webhooks") == 0
