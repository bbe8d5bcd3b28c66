"""RabbitMQ as the broker: the relay's publisher (publisher confirms, in batches) and queue depths.

The outbox holds messages in the envelope of kombu's Redis transport (``shared.messages``); each
is published as the AMQP message Celery itself would send: the same body, headers and properties.
Queues are declared first, exactly as Celery declares them (``shared.broker.queues``), so nothing
is published to a queue that does not exist yet; and every message is published ``mandatory``:
one the broker could not route comes back, and the batch counts as not confirmed.
"""

from __future__ import annotations

import base64
import contextlib
import json
import time
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

import amqp

from shared.broker.queues import QUORUM_ARGUMENTS
from shared.contract import POOLS

AMQP_PORT = 5672
AMQPS_PORT = 5671


class BrokerRefused(Exception):
    """The broker did not confirm a batch (nacked, returned, or no answer in time)."""


def connect(url: str, timeout_s: float) -> amqp.Connection:
    """An open connection for ``amqp://user:password@host:port/vhost`` (or ``amqps://``)."""
    parts = urllib.parse.urlsplit(url)
    secure = parts.scheme == "amqps"
    vhost = urllib.parse.unquote(parts.path[1:]) if len(parts.path) > 1 else "/"
    port = parts.port or (AMQPS_PORT if secure else AMQP_PORT)
    connection = amqp.Connection(
        host=f"{parts.hostname or 'localhost'}:{port}",
        userid=urllib.parse.unquote(parts.username or "guest"),
        password=urllib.parse.unquote(parts.password or "guest"),
        virtual_host=vhost,
        ssl=secure,  # amqps: TLS with the system's certificate authorities
        connect_timeout=timeout_s,
        read_timeout=timeout_s,
        write_timeout=timeout_s,
    )
    connection.connect()
    return connection


def declare_queues(channel: amqp.Channel) -> None:
    for pool in POOLS:
        channel.queue_declare(pool, durable=True, auto_delete=False, arguments=QUORUM_ARGUMENTS)


def to_amqp(raw: str) -> tuple[amqp.Message, str]:
    """A message of the outbox as the AMQP message Celery sends, and its queue."""
    envelope = json.loads(raw)
    properties = envelope["properties"]
    body = envelope["body"]
    if properties.get("body_encoding") == "base64":
        payload = base64.b64decode(body)
    else:
        payload = body.encode("utf-8")
    message = amqp.Message(
        payload,
        content_type=envelope["content-type"],
        content_encoding=envelope["content-encoding"],
        application_headers=envelope["headers"],
        delivery_mode=2,  # persistent
        priority=properties.get("priority", 0),
        correlation_id=properties.get("correlation_id"),
        reply_to=properties.get("reply_to") or None,
    )
    return message, properties["delivery_info"]["routing_key"]


def _message_count(declared: Any) -> int:
    """A passive queue_declare's answer: (queue, message_count, consumer_count)."""
    return int(declared[1])


class AmqpPublisher:
    """Publishes batches with publisher confirms on one channel; reconnects after a failure."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self.timeout_s = timeout_s
        self._connection: amqp.Connection | None = None
        self._channel: amqp.Channel | None = None
        self._published = 0  # the channel's last publish sequence number
        self._unconfirmed: set[int] = set()
        self._refused: list[str] = []

    def publish(self, batches: Mapping[str, Sequence[str]]) -> None:
        """Publish every message (oldest first per queue) and return once the broker confirmed
        all of them; raise (BrokerRefused, a connection error) otherwise."""
        channel = self._open()
        self._refused.clear()
        for queue, messages in batches.items():
            for raw in messages:
                message, routing_key = to_amqp(raw)
                channel.basic_publish(
                    message, exchange="", routing_key=routing_key or queue, mandatory=True
                )
                self._published += 1
                self._unconfirmed.add(self._published)
        self._await_confirms()

    def depths(self) -> dict[str, int]:
        """Messages ready in each pool's queue (a passive declare: RabbitMQ's message_count,
        which leaves out the unacknowledged ones workers hold)."""
        channel = self._open()
        return {pool: _message_count(channel.queue_declare(pool, passive=True)) for pool in POOLS}

    def close(self) -> None:
        connection, self._connection, self._channel = self._connection, None, None
        if connection is not None:
            with contextlib.suppress(OSError, amqp.AMQPError):  # already broken
                connection.close()

    def reset(self) -> None:
        """After a failure: a new connection next time (the old one's state is unknown)."""
        self.close()

    def _open(self) -> amqp.Channel:
        if self._channel is None:
            connection = connect(self.url, self.timeout_s)
            channel = connection.channel()
            declare_queues(channel)
            channel.confirm_select()
            events: Any = channel.events  # type: ignore[attr-defined]  # untyped in the stubs
            events["basic_ack"].add(self._on_ack)
            events["basic_nack"].add(self._on_nack)
            events["basic_return"].add(self._on_return)
            self._connection, self._channel = connection, channel
            self._published = 0
            self._unconfirmed = set()
        return self._channel

    def _await_confirms(self) -> None:
        assert self._connection is not None
        deadline = time.monotonic() + self.timeout_s
        while self._unconfirmed and not self._refused:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrokerRefused(f"{len(self._unconfirmed)} message(s) not confirmed in time")
            try:
                self._connection.drain_events(timeout=remaining)
            except TimeoutError:
                continue
        if self._refused:
            raise BrokerRefused("; ".join(self._refused[:3]))

    def _on_ack(self, tag: int, multiple: bool) -> None:
        if multiple:
            self._unconfirmed = {t for t in self._unconfirmed if t > tag}
        else:
            self._unconfirmed.discard(tag)

    def _on_nack(self, tag: int, multiple: bool) -> None:
        self._refused.append(f"nacked (delivery tag {tag})")

    def _on_return(self, code: int, text: str, exchange: str, key: str, *_: Any) -> None:
        self._refused.append(f"returned by the broker: {code} {text} (queue {key!r})")
