"""One typed settings object, built once from the environment at start-up.

Every process (API, beat, workers, CLI) calls ``Config.from_env()``; nothing else reads
``os.environ`` for settings. Units are in the names. Each setting is listed in README.md, with its
default.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field, fields
from pathlib import Path

import limits

from shared.errors import ConfigError
from shared.netguard import UnsafeTarget, read_url

ENV_PREFIX = "SCHEDULER_"
# A longer executeTask wait would pin a server thread (and outlive proxies' read timeouts).
TASK_EXECUTE_TIMEOUT_MAX_S = 30.0
REDIS_SCHEMES = ("redis://", "rediss://", "unix://")
# The store on Redis Cluster (any node's address; redis-py's cluster client finds the others).
CLUSTER_SCHEMES = ("redis+cluster://", "rediss+cluster://")
AMQP_SCHEMES = ("amqp://", "amqps://")
BROKER_SCHEMES = REDIS_SCHEMES + AMQP_SCHEMES
RATE_LIMIT_SETTINGS = (
    "rate_limit_per_account",
    "rate_limit_per_address",
    "auth_failures_per_address",
    "auth_failures_per_appkey",
)


MAX_PARTITIONS = 1024
MIN_PARTITION_LEASE_MS = 300


@dataclass(frozen=True)
class Config:
    # Redis: the store and the Celery broker. Empty = start an embedded redis-server (dev/run/test).
    redis_url: str = ""
    data_dir: str = "var"  # embedded Redis data, backups, worker files
    key_prefix: str = "sched"
    # Every Redis connection (store and broker) gives up connecting or waiting for an answer
    # after this, so a Redis that vanishes without closing its connections (a failover, a
    # partition) fails a call instead of hanging it.
    redis_timeout_s: float = 10.0
    # While Redis is unreachable (a restart, a failover), a worker retries an attempt's store
    # writes (its begin and its finish) this long (at most half SCHEDULER_ATTEMPT_TIME_LIMIT_S:
    # see worker_outage_wait_s) before it gives the message back to the broker; the API
    # answers 503 at once.
    redis_outage_retry_s: float = 20.0
    # Durability across a failover (README "Redis Cluster"): after the beat's commit and a
    # worker's begin and finish of an attempt, wait (WAIT) until this many replicas of the
    # master written have the write, at most SCHEDULER_REDIS_WAIT_TIMEOUT_MS. 0 = no wait.
    redis_wait_replicas: int = 0
    redis_wait_timeout_ms: int = 1000
    # The Celery broker. Empty (or REDIS_URL itself) = the store's own Redis: the beat's commit
    # publishes and advances in one atomic step. Another Redis (redis://) or RabbitMQ (amqp://):
    # publishers write to an outbox in the store and the beats' relay publishes from it
    # (shared.broker; README "Exactly once, by construction").
    broker_url: str = field(default="", repr=False)  # may carry a password
    # Testing only: the relay holds what the broker confirmed this long before trimming it from
    # the outbox, so crash tests can SIGKILL a beat there. Leave at 0.
    relay_pause_before_trim_ms: int = 0

    api_host: str = "127.0.0.1"
    api_port: int = 8080
    flower_port: int = 5555
    # `scheduler api` (and so `make run`) serves with gunicorn: this many worker processes of this
    # many threads each (1 thread: gunicorn's sync worker). Sized for 2 cores; README "Settings".
    api_workers: int = 2
    api_threads: int = 4
    api_access_log: bool = True  # one log line per request (through the process's log handler)

    # Request limits of every server the project starts (`scheduler api`, gunicorn in deploy/,
    # test servers): beyond them a request is refused (414/431/413) before the app reads it.
    api_max_request_line_bytes: int = 8190  # method, target and version: else 414
    api_max_header_line_bytes: int = 8190  # one header line: else 431
    api_max_headers_bytes: int = 16_384  # all header lines together: else 431
    api_max_header_count: int = 100  # else 431
    api_max_body_bytes: int = 1_048_576  # any body; each dialect caps its own lower: else 413
    api_max_form_parts: int = 1000  # multipart parts of a form: else 413

    # Outbound calls: private/loopback targets are refused unless inside one of these networks.
    target_allowlist: tuple[str, ...] = ()
    push_gateway_url: str = ""

    # Beat.
    beat_batch: int = 1000  # schedules claimed per Lua call
    beat_lease_ms: int = 30_000  # a claim not committed by then is re-claimed by any beat
    beat_max_sleep_s: float = 5.0  # longest sleep between ticks when nothing is due
    misfire_grace_ms: int = 60_000  # later than this = a misfire (coalesced or skipped)
    backfill_pace_ms: int = 100  # a backfill's runs go out this far apart (10 a second)
    # Every published execution is in a ledger until it finishes: one that no worker has begun
    # this long after its publish (or whose worker died: its attempt's hard limit plus this) is
    # published again, whatever the broker did with the message (see README "Durability").
    republish_after_s: float = 10.0
    # Fires of one tick for one delivery queue go out as one message of up to delivery_batch
    # executions (workers.batch); after a tick that published, the next claims at least
    # beat_min_tick_ms later, so fires due close together share a message (lag: that at most).
    delivery_batch: int = 100
    beat_min_tick_ms: int = 20
    # Testing only: hold claims this long before committing, so crash tests can SIGKILL a beat
    # between claim and publish. Leave at 0.
    beat_pause_after_claim_ms: int = 0
    # The store's partitions (README "Partitions"): each schedule lives in one, picked by a hash
    # of its id; 1 = one partition, the layout of every earlier release. Fixed for the life of a
    # deployment: the store records it at first start and refuses another.
    partitions: int = 1
    # With partitions > 1, each beat holds a share of them by leases this long, renewed at a
    # third of it; a dead beat's partitions are taken over within one lease.
    partition_lease_ms: int = 5000

    # Workers.
    http_connect_timeout_s: float = 5.0
    http_read_timeout_s: float = 15.0
    max_attempts: int = 5
    retry_base_s: float = 2.0
    retry_max_s: float = 3600.0
    response_body_cap_bytes: int = 16_384
    history_max_runs: int = 100  # run records kept per schedule
    history_retention_s: int = 30 * 86_400  # run records and execution marks expire after this
    visibility_timeout_s: int = 3600  # broker redelivery of unacked messages (worker lost)
    # Delivery concurrency of the push and webhooks pools (workers.destinations): callbacks in
    # flight in one worker process (threads); at most so many to one destination (scheme, host,
    # port), a delivery waiting longer than destination_wait_s for a slot fails (retried later);
    # after breaker_failures failures in a row (a wait for a slot in which no call ended counts) a
    # destination's circuit opens for breaker_open_s (its deliveries fail at once, retried
    # later), then one trial call decides.
    # 1,000: a receiver that hangs holds up to destination_max_in_flight of it until its calls
    # time out; at 500 that was two fifths, and the other destinations' fires waited for room
    # (bench/README.md, "A receiver that hangs"). Threads are started only as messages need them.
    delivery_in_flight: int = 1000
    destination_max_in_flight: int = 200
    destination_wait_s: float = 1.0
    breaker_failures: int = 5
    breaker_open_s: float = 30.0
    # Poison messages (workers.gate, workers.runner): an attempt running longer is interrupted
    # and recorded as failed (its process is killed a quarter of that later if it does not stop); a
    # message delivered this many times without its attempt finishing (its process died or
    # was killed each time) is dead-lettered instead of run again; a larger message is
    # dead-lettered unread.
    attempt_time_limit_s: float = 60.0
    max_deliveries: int = 3
    message_max_bytes: int = 4 * 1024 * 1024
    # Client JSON (a task's data, a push, a job's tasks, each result): at most this many bytes
    # each, nested at most shared.payload_limits.MAX_DEPTH (32) levels.
    json_max_bytes: int = 64 * 1024

    # Per-account quota of schedules (the push dialect documents 1000).
    max_schedules_per_account: int = 1000

    # Push schedules (/v4/schedules).

    # Rate limits, in the limits package's notation ("20/second;600/minute": every part holds);
    # empty = off. See README "Rate limits" and scheduler_api/ratelimit.py.
    rate_limit_per_account: str = "20/second;600/minute"  # requests of one authenticated account
    rate_limit_per_address: str = "10/second;300/minute"  # unauthenticated requests of one address
    auth_failures_per_address: str = "10/minute"  # failed authentications from one client address
    auth_failures_per_appkey: str = "60/minute"  # failed authentications naming one appkey

    # Task scheduler (/api/v1/api.php).
    task_execute_timeout_s: float = 10.0  # executeTask waits this long for the task's message
    task_execute_max_waits_per_account: int = 1  # executeTask waits one account holds (per process)
    task_execute_max_waits: int = 2  # executeTask waits one API process holds in all (< threads)
    task_history_max_entries: int = 200  # getTaskHistory entries kept per task
    task_classes_file: str = ""  # JSON or TOML mapping task class names to HTTP endpoints
    backup_dir: str = ""  # BackupTask snapshots; empty = <data_dir>/backups
    backup_keep: int = 10  # newest BackupTask snapshots kept per account

    # Beacon jobs (/api/jobs).
    job_pickup_lease_s: float = 300.0  # a picked-up job not started by then returns to its queue
    job_run_timeout_s: float = 3600.0  # a started job not finished by then is marked failed
    job_history_max_entries: int = 500  # lifecycle events kept per job

    # Operations: logs and Prometheus metrics (see shared.logs, shared.metrics).
    log_format: str = "json"  # json (one object per line) or text
    beat_metrics_port: int = 0  # the beat's /metrics port; 0 = off
    worker_metrics_port: int = 0  # a worker's /metrics port is this + its pool's index; 0 = off

    # Dashboard sessions, and reverse proxies in front of the API.
    dashboard_session_ttl_s: int = 8 * 3600  # a dashboard sign-in lasts this long at most
    # Reverse proxies in front of the API whose X-Forwarded-For/-Proto are trusted (0 = none,
    # the headers are ignored): say how many there are, or a client could claim to be HTTPS.
    proxy_count: int = 0

    # Signs webhook secrets (derived per account, see shared.accounts). Empty = a random key kept in
    # <data_dir>/secret.key. Kept out of repr so a logged Config never shows it.
    secret_key: str = field(default="", repr=False)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: object) -> Config:
        """Build from ``REDIS_URL`` and ``SCHEDULER_*`` variables; ``overrides`` win (tests)."""
        env = dict(os.environ if environ is None else environ)
        values: dict[str, object] = {}
        if env.get("REDIS_URL"):
            values["redis_url"] = env["REDIS_URL"]
        for f in fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name not in env:
                continue
            values[f.name] = _convert(name, env[name], f.default)
        values.update(overrides)
        config = cls(**values)  # type: ignore[arg-type]
        config.validate()
        return config

    def validate(self) -> None:
        self._validate_addresses()
        self._validate_targets()
        self._validate_rate_limits()
        self._validate_sizes()

    def _validate_addresses(self) -> None:
        """Where the service finds Redis and listens, and how it logs."""
        if self.redis_url and not self.redis_url.startswith(REDIS_SCHEMES + CLUSTER_SCHEMES):
            raise ConfigError(
                f"REDIS_URL={self.redis_url!r}: use redis://host:port/db (or rediss://, unix://), "
                "or redis+cluster://host:port for Redis Cluster"
            )
        if is_cluster_url(self.redis_url) and not self.broker_is_apart:
            raise ConfigError(
                "REDIS_URL is a Redis Cluster, which cannot be Celery's broker: set "
                "SCHEDULER_BROKER_URL to another Redis (redis://) or RabbitMQ (amqp://)"
            )
        if self.broker_url and not self.broker_url.startswith(BROKER_SCHEMES):
            raise ConfigError(
                f"SCHEDULER_BROKER_URL: use redis://host:port/db (or rediss://, unix://) or "
                f"amqp://user:password@host:5672/vhost (or amqps://), not {self.broker_url[:40]!r}"
            )
        for name in ("api_port", "flower_port"):
            port = getattr(self, name)
            if not 0 < port < 65536:
                raise ConfigError(f"SCHEDULER_{name.upper()}={port}: must be a port 1-65535")
        if self.log_format not in ("json", "text"):
            raise ConfigError(f"SCHEDULER_LOG_FORMAT={self.log_format!r}: use json or text")
        for name in ("beat_metrics_port", "worker_metrics_port"):
            if not 0 <= getattr(self, name) <= 65535 - 3:  # workers add their pool's index
                raise ConfigError(f"SCHEDULER_{name.upper()}: a port 1-65532, or 0 for off")

    def _validate_targets(self) -> None:
        """What the service may call out to."""
        for cidr in self.target_allowlist:
            try:
                ipaddress.ip_network(cidr, strict=False)
            except ValueError as exc:
                raise ConfigError(
                    f"SCHEDULER_TARGET_ALLOWLIST: {cidr!r} is not a CIDR such as 10.0.0.0/8"
                ) from exc
        if self.push_gateway_url:
            try:  # its one reading (see shared.netguard); its addresses are checked per call
                read_url(self.push_gateway_url, "SCHEDULER_PUSH_GATEWAY_URL")
            except UnsafeTarget as exc:
                raise ConfigError(str(exc)) from None

    def _validate_sizes(self) -> None:
        """Counts, sizes and durations: each within its range."""
        for name in ("proxy_count", "redis_outage_retry_s", "redis_wait_replicas"):
            if getattr(self, name) < 0:
                raise ConfigError(f"SCHEDULER_{name.upper()} must be 0 (none) or more")
        if not 0 <= self.task_execute_timeout_s <= TASK_EXECUTE_TIMEOUT_MAX_S:
            raise ConfigError(
                f"SCHEDULER_TASK_EXECUTE_TIMEOUT_S={self.task_execute_timeout_s}: must be 0-"
                f"{TASK_EXECUTE_TIMEOUT_MAX_S} (each wait holds a server thread)"
            )
        positive = (
            "task_execute_max_waits_per_account",
            "task_execute_max_waits",
            "beat_batch",
            "beat_lease_ms",
            "backfill_pace_ms",
            "max_attempts",
            "history_max_runs",
            "visibility_timeout_s",
            "delivery_in_flight",
            "destination_max_in_flight",
            "destination_wait_s",
            "breaker_failures",
            "breaker_open_s",
            "attempt_time_limit_s",
            "republish_after_s",
            "delivery_batch",
            "max_deliveries",
            "message_max_bytes",
            "json_max_bytes",
            "dashboard_session_ttl_s",
            "api_max_request_line_bytes",
            "api_max_header_line_bytes",
            "api_max_headers_bytes",
            "api_max_header_count",
            "api_max_body_bytes",
            "api_max_form_parts",
            "api_workers",
            "api_threads",
            "redis_timeout_s",
            "redis_wait_timeout_ms",
        )
        for name in positive:
            if getattr(self, name) <= 0:
                raise ConfigError(f"SCHEDULER_{name.upper()} must be > 0")
        if self.visibility_timeout_s <= self.attempt_hard_limit_s:
            # The broker would hand a live attempt's own message to a second worker.
            raise ConfigError(
                f"SCHEDULER_VISIBILITY_TIMEOUT_S={self.visibility_timeout_s} must exceed the "
                f"attempt's hard limit ({self.attempt_hard_limit_s:g} s: "
                "SCHEDULER_ATTEMPT_TIME_LIMIT_S x 1.25 + 1)"
            )
        self._validate_partitions()

    def _validate_partitions(self) -> None:
        if not 1 <= self.partitions <= MAX_PARTITIONS:
            raise ConfigError(
                f"SCHEDULER_PARTITIONS={self.partitions}: must be 1-{MAX_PARTITIONS} (1: one "
                "Redis as before; more: one per Redis Cluster shard or so)"
            )
        if self.partition_lease_ms < MIN_PARTITION_LEASE_MS:
            raise ConfigError(
                f"SCHEDULER_PARTITION_LEASE_MS={self.partition_lease_ms}: must be at least "
                f"{MIN_PARTITION_LEASE_MS} (a beat renews its leases at a third of it)"
            )

    def _validate_rate_limits(self) -> None:
        for name in RATE_LIMIT_SETTINGS:
            value = getattr(self, name)
            try:
                limits.parse_many(value) if value else None
            except ValueError as exc:
                raise ConfigError(
                    f"SCHEDULER_{name.upper()}={value!r}: write limits such as "
                    '"20/second;600/minute", or leave it empty for no limit'
                ) from exc

    @property
    def attempt_hard_limit_s(self) -> float:
        """When Celery kills a pool process whose attempt ignored the soft limit."""
        return self.attempt_time_limit_s * 1.25 + 1

    @property
    def republish_after_ms(self) -> int:
        """The ledger's bound: how long a published execution may wait unbegun."""
        return int(self.republish_after_s * 1000)

    @property
    def attempt_lease_ms(self) -> int:
        """How long a begun attempt holds its execution: past this its worker is known dead (the
        hard limit ends any live attempt before), so the execution is published again."""
        return int((self.attempt_hard_limit_s + self.republish_after_s) * 1000)

    @property
    def worker_outage_wait_s(self) -> float:
        """How long a worker's store waits out a Redis outage: SCHEDULER_REDIS_OUTAGE_RETRY_S,
        but at most half the attempt's time limit, which would otherwise interrupt the wait
        (and the attempt's finish with it)."""
        return min(self.redis_outage_retry_s, self.attempt_time_limit_s / 2)

    @property
    def broker_is_apart(self) -> bool:
        """The broker is not the store's Redis: publishers write to the store's outbox and the
        beats' relay publishes from it (shared.broker)."""
        return bool(self.broker_url) and self.broker_url != self.redis_url

    @property
    def broker_is_amqp(self) -> bool:
        return self.broker_url.startswith(AMQP_SCHEMES)

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()


def is_cluster_url(url: str) -> bool:
    """``url`` names a Redis Cluster (the store then uses redis-py's cluster client)."""
    return url.startswith(CLUSTER_SCHEMES)


def _convert(name: str, raw: str, default: object) -> object:
    """Parse one environment value into the type of its default, with a message on failure."""
    try:
        if isinstance(default, bool):
            if raw.lower() in ("1", "true", "yes", "on"):
                return True
            if raw.lower() in ("0", "false", "no", "off", ""):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError as exc:
        kind = type(default).__name__
        raise ConfigError(f"{name}={raw!r}: expected {kind}") from exc
    return raw
