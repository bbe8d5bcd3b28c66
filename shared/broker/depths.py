"""Each pool's queue depth on a broker apart, for the API's ``/metrics`` scrape: a Redis broker's
``LLEN``, RabbitMQ's passive ``queue_declare`` (its ``message_count``: messages ready, not the
ones workers hold unacknowledged)."""

from __future__ import annotations

import logging
import threading

from shared.broker.publishers import PUBLISH_ERRORS, Publisher, publisher_for
from shared.config import Config

log = logging.getLogger(__name__)


class BrokerDepths:
    """One connection per API process, used by one scrape at a time (gunicorn's threads share
    it; an AMQP channel is not thread-safe)."""

    def __init__(self, publisher: Publisher) -> None:
        self._publisher = publisher
        self._lock = threading.Lock()

    @classmethod
    def for_config(cls, config: Config) -> BrokerDepths | None:
        """None when the broker is the store's Redis (the store's gauges read its queues)."""
        return cls(publisher_for(config)) if config.broker_is_apart else None

    def read(self) -> dict[str, int] | None:
        """The depths, or None when the broker did not answer (logged; reconnects next time)."""
        with self._lock:
            try:
                return self._publisher.depths()
            except PUBLISH_ERRORS as exc:
                log.warning("metrics: broker unavailable for a scrape (%s)", exc)
                self._publisher.reset()
                return None
