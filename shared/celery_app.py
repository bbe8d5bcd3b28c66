"""The one Celery app, built from the same ``Config`` as everything else.

``celery -A shared.celery_app worker -Q webhooks`` and ``celery -A shared.celery_app beat -S
scheduler_beat.scheduler:RedisScheduler`` both find ``app`` here. One queue per pool; the beat
publishes straight onto those queues (see ``shared.messages``).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

from celery import Celery, signals

from shared import logs, metrics
from shared.broker.queues import celery_queues
from shared.config import Config
from shared.contract import Pool, TaskName
from shared.errors import ConfigError, UnsafeRedisConfig
from shared.redis_url import resolve_redis_url
from shared.store import Store

POOL_TASK = "workers.gate:PoolTask"
GATED_CONSUMER = "workers.gate:GatedConsumer"

# One module per pool, named by its tasks' names; each registers its tasks on ``app``.
WORKER_MODULES = sorted({task.rpartition(".")[0] for task in TaskName})


def create_celery(config: Config) -> Celery:
    # Every pool task checks its message in the worker's main process first (workers.gate).
    celery = Celery("scheduler", include=WORKER_MODULES, task_cls=POOL_TASK)
    celery.add_defaults(_broker_settings)
    celery.conf.update(
        task_queues=celery_queues(config),
        task_default_queue=Pool.WEBHOOKS,
        # A message is acknowledged only after its task ran; a worker that dies mid-task has its
        # message redelivered after the visibility timeout. Completed executions are deduplicated
        # in our store, so a redelivery never runs a finished execution again.
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_consumer=GATED_CONSUMER,
        # No attempt holds a pool process for long: past the soft limit the attempt is
        # interrupted (SoftTimeLimitExceeded) and recorded as failed; a process that ignores it
        # is killed a quarter of the limit (+1 s) later. Celery then acknowledges its message
        # (task_acks_on_failure_or_timeout, left at its default): the execution's lease in the
        # published ledger (begin_execution.lua) runs out and the ledger publishes it again,
        # counted per delivery (SCHEDULER_MAX_DELIVERIES): never lost, never forever.
        task_soft_time_limit=config.attempt_time_limit_s,
        task_time_limit=config.attempt_hard_limit_s,
        worker_prefetch_multiplier=1,
        broker_transport_options=_transport_options(config),
        # A lost broker connection (Redis restarted, failed over) is re-established, for ever,
        # backing off up to 30 s between tries; meanwhile the pool finishes what it holds.
        broker_connection_retry=True,
        broker_connection_retry_on_startup=True,
        broker_connection_max_retries=None,
        # Not cancelled on a connection loss: a delivery cut off mid-request would be delivered
        # again after the redelivery; an attempt that finishes writes its record (the store
        # waits out the outage) and is acknowledged once the worker is connected again.
        worker_cancel_long_running_tasks_on_connection_loss=False,
        task_ignore_result=True,
        task_serializer="json",
        accept_content=["json"],
        worker_send_task_events=True,
        task_send_sent_event=False,
        worker_hijack_root_logger=False,
        beat_max_loop_interval=config.beat_max_sleep_s,
        timezone="UTC",
        enable_utc=True,
    )
    return celery


def _transport_options(config: Config) -> dict[str, Any]:
    """kombu's transport options: Redis's (the store's own, or another); RabbitMQ needs none
    of them (no visibility timeout: a lost worker's channel closes and its messages return)."""
    if config.broker_is_amqp:
        return {}
    return {
        "visibility_timeout": config.visibility_timeout_s,
        # Sweep for messages of lost workers often enough to honour the visibility timeout
        # (kombu's default sweeps only every ~100 s).
        "unacked_restore_interval": max(1, min(10, config.visibility_timeout_s // 4)),
        "unacked_restore_throttle": 1,
        # A Redis that vanished without closing its connections (a failover, a partition)
        # must break them, or a worker waits on a dead socket forever: timeouts (above
        # kombu's 1 s BRPOP), keepalive, and a PING before using a connection idle 10 s.
        "socket_timeout": config.redis_timeout_s,
        "socket_connect_timeout": config.redis_timeout_s,
        "socket_keepalive": True,
        "health_check_interval": 10,
    }


def _broker_settings() -> dict[str, str]:
    """The broker (``SCHEDULER_BROKER_URL``, else the store's Redis), looked up when Celery
    first reads its settings (a worker or beat starting, a message sent) in the environment of
    that moment, not at import: importing the app or a worker module needs no Redis settings."""
    config = Config.from_env()
    return {"broker_url": config.broker_url or resolve_redis_url(config)}


app = create_celery(Config.from_env())


# --- process hooks: logs and metrics (shared.logs, shared.metrics) ---------------------------


@signals.setup_logging.connect
def _setup_logging(loglevel: Any = None, **_: Any) -> None:
    """Connected, so Celery configures no logging of its own: ours is JSON (or text) lines with
    secrets redacted, in the beat, a worker and each of its pool processes."""
    config = Config.from_env()
    logs.configure(config.log_format, loglevel or logging.INFO)
    logs.register_config_secrets(config)


@signals.beat_init.connect
def _serve_beat_metrics(**_: Any) -> None:
    # A signal, not RedisScheduler.__init__: Celery also builds a scheduler just for its banner.
    metrics.serve_beat(Config.from_env())


@signals.celeryd_init.connect
def _refuse_a_store_it_cannot_serve(**_: Any) -> None:
    """A worker started as ``celery -A shared.celery_app worker`` checks the store as
    ``scheduler worker`` does: on an evicting Redis, or with another partition count than the
    data's (its executions would be looked for in the wrong partitions), it stops with one
    line. An exception would only be logged by Celery's signal, so it exits; a Redis not up
    yet is not a refusal (the worker waits it out)."""
    config = Config.from_env()
    store = Store.from_url(
        resolve_redis_url(config),
        config.key_prefix,
        timeout_s=config.redis_timeout_s,
        partitions=config.partitions,
    )
    try:
        store.check_redis_is_safe()
    except (ConfigError, UnsafeRedisConfig) as exc:
        print(f"error: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(2) from exc
    finally:
        store.redis.close()  # not inherited by the pool's processes


@signals.celeryd_init.connect
def _prepare_worker_metrics(options: dict[str, Any] | None = None, **_: Any) -> None:
    """Before the pool forks: the multiprocess metrics directory (served on worker_ready)."""
    queues = (options or {}).get("queues") or []
    if isinstance(queues, str):
        queues = queues.split(",")
    metrics.prepare_worker(Config.from_env(), queues)


@signals.worker_ready.connect
def _serve_worker_metrics(**_: Any) -> None:
    metrics.serve_worker()


@signals.worker_shutdown.connect
def _cleanup_worker_metrics(**_: Any) -> None:
    metrics.cleanup_worker()
