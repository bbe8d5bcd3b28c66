"""The pools' queues as Celery declares them, and as the relay declares them on RabbitMQ before it
publishes (a message published to a queue not declared yet would be dropped)."""

from __future__ import annotations

from kombu import Queue

from shared.config import Config
from shared.contract import POOLS

# RabbitMQ: replicated, durable queues (quorum queues: a message confirmed is on a majority of
# the cluster's disks). Celery detects them and drops the global QoS they do not support.
QUORUM_ARGUMENTS = {"x-queue-type": "quorum"}


def celery_queues(config: Config) -> list[Queue]:
    """One durable queue per pool, routed by its name; quorum queues on RabbitMQ."""
    arguments = QUORUM_ARGUMENTS if config.broker_is_amqp else None
    return [
        Queue(pool, routing_key=pool, durable=True, queue_arguments=arguments) for pool in POOLS
    ]
