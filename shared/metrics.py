"""Prometheus metrics: what each process counts, and how each serves them.

Three kinds of process, three ways of serving, each the simplest that is correct for it:

- **API** (``GET /metrics``): gauges read from Redis at scrape time (``StoreCollector``): schedules
  stored, schedules in the due index, retries waiting, dead letters, each pool's queue depth (with
  a broker apart: its outbox plus the broker's queue, ``shared.broker.depths``), the age of the
  beat's heartbeat. Every API process answers the same, however many gunicorn runs.
- **Beat** (``SCHEDULER_BEAT_METRICS_PORT``): one process, so prometheus_client's ordinary
  in-process registry: fires dispatched by queue, the due -> published lag, misfires, messages
  published again (no worker began them in time).
- **Worker** (``SCHEDULER_WORKER_METRICS_PORT`` + the pool's index in ``POOLS``): Celery's prefork
  pool runs tasks in child processes, so the counters are kept in prometheus_client's multiprocess
  mode. The parent, before it forks its pool (``prepare_worker``, on ``celeryd_init``), points
  ``PROMETHEUS_MULTIPROC_DIR`` at a fresh private directory; each child writes its own
  memory-mapped files there; the parent serves a ``MultiProcessCollector`` over the directory
  (``serve_worker``, on ``worker_ready``), so a scrape sums every child, replaced ones included.
  The directory is removed when the worker stops.

Metrics are created on first use (``_metrics()``), so in a worker they are born in the pool
processes, after the parent chose multiprocess storage.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from typing import Any

import redis
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
    values,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector

from shared.broker.depths import BrokerDepths
from shared.config import Config
from shared.contract import POOLS, QUEUE_BY_TARGET, RunStatus
from shared.execution import Execution
from shared.store import Store
from shared.timing import now_ms

log = logging.getLogger(__name__)

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# Lag buckets from "on time" (a few ms) to "the beat was down for an hour".
LAG_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)

# Set in a worker's parent by ``prepare_worker``: where to serve, and the directory it created.
_worker: dict[str, Any] = {}


class _Metrics:
    """Every metric a beat or a worker records (the API's are read from Redis instead)."""

    def __init__(self) -> None:
        self.fires = Counter(
            "scheduler_fires_dispatched",
            "Fires the beat published onto a pool's queue (first attempts; retries not included)",
            ["queue"],
        )
        self.publish_lag = Histogram(
            "scheduler_fire_publish_lag_seconds",
            "From a fire's due instant to the beat's commit that published it",
            ["queue"],
            buckets=LAG_BUCKETS,
        )
        self.misfires = Counter(
            "scheduler_misfires",
            "Fires found later than SCHEDULER_MISFIRE_GRACE_MS, by the schedule's policy",
            ["policy"],
        )
        self.republished = Counter(
            "scheduler_republished",
            "Messages the beat published again: no worker began them within their deadline "
            "(SCHEDULER_REPUBLISH_AFTER_S; a begun attempt's hard limit more)",
            ["queue"],
        )
        self.relayed = Counter(
            "scheduler_relayed",
            "Messages this beat's relay published to a broker apart and the broker confirmed",
            ["queue"],
        )
        self.partitions_held = Gauge(
            "scheduler_beat_partitions_held",
            "Partitions this beat claims from (SCHEDULER_PARTITIONS; its share, by leases)",
            multiprocess_mode="livesum",
        )
        self.relay_failures = Counter(
            "scheduler_relay_failures",
            "Relay rounds that failed (broker or store unreachable, a message not confirmed)",
        )
        self.deliveries = Counter(
            "scheduler_deliveries",
            "Messages of executions a worker began, by what it found: run, rerun (its previous "
            "worker was lost), done, stale or running (a copy: skipped), poison",
            ["pool", "verdict"],
        )
        self.attempts = Counter(
            "scheduler_attempts_finished",
            "Delivery attempts a worker finished, by pool and run status",
            ["pool", "status"],
        )
        self.delivery_lag = Histogram(
            "scheduler_fire_delivery_lag_seconds",
            "From a fire's due instant to its successful delivery (retries included)",
            ["pool"],
            buckets=LAG_BUCKETS,
        )
        self.retries = Counter(
            "scheduler_retries", "Attempts that failed and were scheduled again", ["pool"]
        )
        self.dead_letters = Counter(
            "scheduler_dead_letters", "Executions that became dead letters", ["pool"]
        )
        self.refused = Counter(
            "scheduler_deliveries_refused",
            "Deliveries not sent (retried later): the destination was at its in-flight cap "
            "(busy) or its circuit was open (circuit_open)",
            ["reason"],
        )
        self.circuits_opened = Counter(
            "scheduler_circuits_opened",
            "Times a destination's circuit opened (failures in a row, waits for a slot that got "
            "none included, or a failed trial call)",
        )


@functools.cache
def _metrics() -> _Metrics:
    return _Metrics()


# --- recording -------------------------------------------------------------------------------


def record_published(fires: Iterable[tuple[str, int]], published_ms: int | None = None) -> None:
    """The beat committed these ``(queue, due_ms)`` fires: count them and observe their lag."""
    m = _metrics()
    # Lag is real elapsed time, so it is measured on the real clock, not on a tick's ``now``.
    published_ms = now_ms() if published_ms is None else published_ms
    lags: dict[str, list[float]] = {}
    for queue, due_ms in fires:
        lags.setdefault(queue, []).append(max(0, published_ms - due_ms) / 1000)
    for queue, values_s in lags.items():  # one label lookup per queue: a tick may hold 1000s
        m.fires.labels(queue).inc(len(values_s))
        histogram = m.publish_lag.labels(queue)
        for lag_s in values_s:
            histogram.observe(lag_s)


def record_misfire(policy: str) -> None:
    _metrics().misfires.labels(policy).inc()


def record_republished(queue: str) -> None:
    _metrics().republished.labels(queue).inc()


def record_relayed(counts: dict[str, int]) -> None:
    for queue, count in counts.items():
        _metrics().relayed.labels(queue).inc(count)


def record_partitions_held(count: int) -> None:
    _metrics().partitions_held.set(count)


def record_relay_failure() -> None:
    _metrics().relay_failures.inc()


def record_delivery(execution: Execution, verdict: str) -> None:
    """A worker began a message of ``execution``; ``verdict`` is what it found."""
    _metrics().deliveries.labels(QUEUE_BY_TARGET[execution.target.kind], verdict).inc()


def record_attempt(execution: Execution, status: str, finished_ms: int) -> None:
    """A worker finished an attempt of ``execution`` with run status ``status``."""
    m = _metrics()
    pool = QUEUE_BY_TARGET[execution.target.kind]
    m.attempts.labels(pool, status).inc()
    if status == RunStatus.SUCCEEDED:
        lag_ms = max(0, finished_ms - execution.due_ms)
        m.delivery_lag.labels(pool).observe(lag_ms / 1000)
    elif status == RunStatus.RETRYING:
        m.retries.labels(pool).inc()
    elif status in (RunStatus.DEAD, RunStatus.FAILED):
        m.dead_letters.labels(pool).inc()


def record_refused(reason: str) -> None:
    _metrics().refused.labels(reason).inc()


def record_circuit_opened() -> None:
    _metrics().circuits_opened.inc()


# --- serving ---------------------------------------------------------------------------------


def serve(port: int, host: str, registry: CollectorRegistry = REGISTRY) -> bool:
    """Serve ``/metrics`` on ``host:port`` from a daemon thread. A port already taken (a second
    beat on the same host) is logged, not fatal: metrics must never stop dispatching."""
    try:
        start_http_server(port, addr=host, registry=registry)
    except OSError as exc:
        log.error(
            "metrics: cannot listen on %s:%d (%s); this process serves no metrics", host, port, exc
        )
        return False
    log.info("metrics: serving http://%s:%d/metrics", host, port)
    return True


def serve_beat(config: Config) -> None:
    if config.beat_metrics_port:
        serve(config.beat_metrics_port, config.api_host)


def worker_port(config: Config, queues: Iterable[str]) -> int:
    """The worker's metrics port: the base setting plus the index of its (first) pool, so the
    four pools of one host each get their own; 0 when metrics are off."""
    if not config.worker_metrics_port:
        return 0
    pools = [POOLS.index(q) for q in queues if q in POOLS]
    return config.worker_metrics_port + (min(pools) if pools else 0)


def prepare_worker(config: Config, queues: Iterable[str]) -> None:
    """In a worker's parent, before its pool forks: choose multiprocess storage."""
    port = worker_port(config, queues)
    if not port:
        return
    created = None
    if MULTIPROC_ENV not in os.environ:
        created = tempfile.mkdtemp(prefix="scheduler-metrics-")
        os.environ[MULTIPROC_ENV] = created
    # prometheus_client chose its storage when first imported, and the `celery` command imports
    # it (through Flower's plugin) before any of our code runs: choose again, now that the
    # directory is set and before any metric value exists (they are created in the children).
    values.ValueClass = values.get_value_class()
    _worker.update(port=port, host=config.api_host, created=created)


def serve_worker() -> None:
    """In a worker's parent, once its pool runs: serve what every pool process recorded."""
    if "port" not in _worker:
        return
    registry = CollectorRegistry()
    MultiProcessCollector(registry, os.environ[MULTIPROC_ENV])
    serve(_worker["port"], _worker["host"], registry)


def cleanup_worker() -> None:
    """Remove the multiprocess directory this worker created (never one given by the operator)."""
    if _worker.get("created"):
        shutil.rmtree(_worker["created"], ignore_errors=True)


# --- the API: gauges read from Redis at scrape time -----------------------------------------


class StoreCollector:
    """Reads the store's sizes in one pipelined round trip per scrape (and, with a broker
    apart, the broker's queue depths: one more round trip)."""

    def __init__(self, store: Store, broker: BrokerDepths | None = None) -> None:
        self.store = store
        self.broker = broker

    def collect(self) -> Iterator[Any]:
        up = GaugeMetricFamily("scheduler_redis_up", "1 if Redis answered this scrape")
        try:
            gauges = self.store.gauges()
        except redis.RedisError as exc:
            log.warning("metrics: Redis unavailable for a scrape (%s)", exc)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        for name, doc, value in (
            ("scheduler_schedules_stored", "Schedule definitions stored", gauges.stored),
            ("scheduler_schedules_due_index", "Schedules with a next fire", gauges.due),
            ("scheduler_retries_waiting", "Retries waiting for their instant", gauges.retries),
            ("scheduler_dead_letters_stored", "Dead letters kept", gauges.dead),
            (
                "scheduler_published_unfinished",
                "Published messages no worker has finished yet (the ledger)",
                gauges.published,
            ),
        ):
            yield GaugeMetricFamily(name, doc, value=value)
        yield from self._queue_depths(gauges.queue_depths)
        if gauges.beat_ms is not None:
            age = max(0, now_ms() - gauges.beat_ms) / 1000
            yield GaugeMetricFamily(
                "scheduler_beat_heartbeat_age_seconds", "Since the last beat tick", value=age
            )

    def _queue_depths(self, in_store: dict[str, int]) -> Iterator[Any]:
        """Messages waiting for a worker per pool: in the queue; with a broker apart, in the
        store's outbox plus the broker's queue (none when the broker did not answer)."""
        depth = GaugeMetricFamily(
            "scheduler_queue_depth", "Messages waiting in each pool's queue", labels=["pool"]
        )
        if self.broker is None:
            for pool in POOLS:
                depth.add_metric([pool], in_store[pool])
            yield depth
            return
        outbox = GaugeMetricFamily(
            "scheduler_outbox_depth", "Messages the relay has yet to publish", labels=["pool"]
        )
        for pool in POOLS:
            outbox.add_metric([pool], in_store[pool])
        yield outbox
        on_broker = self.broker.read()
        yield GaugeMetricFamily(
            "scheduler_broker_up",
            "1 if the broker apart answered this scrape",
            value=int(on_broker is not None),
        )
        if on_broker is not None:
            for pool in POOLS:
                depth.add_metric([pool], in_store[pool] + on_broker.get(pool, 0))
            yield depth


def api_registry(store: Store, broker: BrokerDepths | None = None) -> CollectorRegistry:
    registry = CollectorRegistry()
    registry.register(StoreCollector(store, broker))
    return registry


def exposition(registry: CollectorRegistry) -> tuple[bytes, str]:
    """The body and content type of a ``/metrics`` answer."""
    return generate_latest(registry), CONTENT_TYPE_LATEST
