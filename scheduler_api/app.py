"""The Flask app factory. Each API dialect is a blueprint: a thin adapter over ``shared``."""

from __future__ import annotations

import logging

import redis
from flask import Flask, jsonify
from werkzeug.middleware.proxy_fix import ProxyFix

from scheduler_api import (
    adapter,
    beacon_jobs,
    body,
    dashboard,
    landing,
    native,
    openapi,
    page_security,
    push_schedules,
    ratelimit,
    task_scheduler,
    webhook_jobs,
)
from scheduler_api.head_cap import HeadersCap
from scheduler_api.waits import WaitSlots
from shared import logs, metrics
from shared.broker.depths import BrokerDepths
from shared.config import Config
from shared.public_errors import without_paths
from shared.redis_url import resolve_redis_url
from shared.store import Store
from shared.timing import now_ms

BEAT_STALE_MS = 30_000
HEALTH = openapi.Reply(
    "status (ok, degraded, unavailable), and what was checked",
    {
        "type": "object",
        "required": ["status"],
        "properties": {
            "status": {"type": "string", "enum": ["ok", "degraded", "unavailable"]},
            "redis": {"type": "string"},
            "beat_fresh": {"type": "boolean"},
        },
        "additionalProperties": False,
    },
    examples={
        "up (/healthz)": {"status": "ok"},
        "ready (/readyz)": {"status": "ok", "redis": "ok", "beat_fresh": True},
        "no beat ticked lately (/readyz, 503)": {
            "status": "degraded",
            "redis": "ok",
            "beat_fresh": False,
        },
    },
)


def create_app(config: Config | None = None) -> Flask:
    config = config or Config.from_env()
    app = Flask(__name__)
    if not logging.getLogger().handlers:  # e.g. under gunicorn; `scheduler api` configures first
        logs.configure(config.log_format)
        logs.register_config_secrets(config)
    store = Store.from_url(
        resolve_redis_url(config),
        config.key_prefix,
        timeout_s=config.redis_timeout_s,
        outbox=config.broker_is_apart,
        partitions=config.partitions,
        wait_replicas=config.redis_wait_replicas,
        wait_timeout_ms=config.redis_wait_timeout_ms,
    )
    store.check_redis_is_safe()
    app.extensions["scheduler.config"] = config
    app.extensions["scheduler.store"] = store
    ratelimit.install(app, ratelimit.Limiter.from_config(config, store))
    app.extensions["scheduler.waits"] = WaitSlots(
        config.task_execute_max_waits_per_account,
        config.task_execute_max_waits,
        config.task_execute_timeout_s,
    )
    # Callback URLs travel inside paths (POST /1/jobs/<when>/<callback>): keep their "//".
    app.url_map.merge_slashes = False
    # All header lines together, whatever server parsed them (gunicorn caps only each one).
    app.wsgi_app = HeadersCap(app.wsgi_app, config.api_max_headers_bytes)  # type: ignore[method-assign]
    if config.proxy_count:  # only a declared proxy may say the client's address and scheme
        hops = config.proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    dashboard.configure_sessions(app, config)
    page_security.install(app)  # CSP and friends on every HTML page
    body.install(app, config)  # caps on any body read; dialects set their own, lower
    app.register_blueprint(dashboard.blueprint)
    app.register_blueprint(openapi.blueprint)
    app.register_blueprint(landing.blueprint)
    adapter.install(app)  # unknown paths/methods under a dialect's prefix: its error shape
    # One blueprint per dialect.
    app.register_blueprint(webhook_jobs.blueprint)
    app.register_blueprint(push_schedules.blueprint)
    app.register_blueprint(task_scheduler.blueprint)
    app.register_blueprint(beacon_jobs.blueprint)
    app.register_blueprint(native.blueprint)

    registry = metrics.api_registry(store, BrokerDepths.for_config(config))

    @app.get("/metrics")
    @openapi.documented(
        summary="Prometheus metrics: store sizes, queue depths",
        security="",
        responses={200: openapi.Reply("Prometheus text exposition", untyped=("text/plain",))},
    )
    def prometheus_metrics():  # gauges read from Redis at scrape time (shared.metrics)
        body, content_type = metrics.exposition(registry)
        return body, 200, {"Content-Type": content_type}

    @app.get("/healthz")
    @openapi.documented(summary="Liveness: the process is up", security="", responses={200: HEALTH})
    def healthz():  # the process is up
        return jsonify(status="ok")

    @app.get("/readyz")
    @openapi.documented(
        summary="Readiness: Redis reachable, beat heartbeat fresh",
        security="",
        responses={200: HEALTH, 503: openapi.Reply("not ready (status says why)", HEALTH.schema)},
    )
    def readyz():  # Redis reachable and a beat ticked recently
        try:
            last_beat = store.last_beat_ms()
        except (redis.RedisError, redis.exceptions.RedisClusterException) as exc:
            return jsonify(status="unavailable", redis=without_paths(str(exc))), 503
        now = now_ms()
        beat_ok = last_beat is not None and now - last_beat < BEAT_STALE_MS
        body = jsonify(status="ok" if beat_ok else "degraded", redis="ok", beat_fresh=beat_ok)
        return body, 200 if beat_ok else 503

    return app
