"""The broker a relay publishes to, chosen by ``SCHEDULER_BROKER_URL``'s scheme."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Protocol

import amqp
import redis

from shared.broker.amqp_broker import AmqpPublisher, BrokerRefused
from shared.broker.redis_broker import RedisPublisher
from shared.config import Config

# What a failed publish raises: the relay logs it, reconnects and hands the batch again.
PUBLISH_ERRORS: tuple[type[Exception], ...] = (
    BrokerRefused,
    OSError,  # socket errors, refused connections, timeouts
    amqp.AMQPError,
    redis.RedisError,
)


class Publisher(Protocol):
    def publish(self, batches: Mapping[str, Sequence[str]]) -> None:
        """Publish each queue's messages (oldest first); return only once the broker confirmed
        every one, else raise one of ``PUBLISH_ERRORS``."""

    def depths(self) -> dict[str, int]:
        """Messages waiting in each pool's queue on the broker."""

    def reset(self) -> None:
        """Drop the connection after a failure; the next call connects again."""

    def close(self) -> None: ...


def publisher_for(config: Config) -> Publisher:
    """The publisher of a broker apart (``config.broker_is_apart``)."""
    if config.broker_is_amqp:
        return AmqpPublisher(config.broker_url, config.redis_timeout_s)
    return RedisPublisher(config.broker_url, config.redis_timeout_s)
