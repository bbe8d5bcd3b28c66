"""The service on Redis Cluster, end to end: the store on a private 3-master, 3-replica cluster
(tests/redis_cluster_support.py), a second Redis as the broker apart, real beat and webhooks
worker processes, the API, and a receiver on 127.0.0.1 that records each callback's execution
id (``webhook-id``: the account signs its callbacks).

Then the master holding the engine's slot is SIGKILLed under load: its replica takes over, and
with ``SCHEDULER_REDIS_WAIT_REPLICAS=1`` no fire is lost and none is delivered twice.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from flask.testing import FlaskClient

from scheduler_api.app import create_app
from shared.accounts import create_account, load_secret_key
from shared.config import Config
from shared.execution import execution_id
from shared.store import Store
from tests.factories import once, webhook_schedule
from tests.redis_cluster_support import RedisClusterForTests
from tests.support import UNLIMITED, HttpReceiver, ProcessGroup, basic, iso, now_ms, wait_until

pytestmark = pytest.mark.e2e
JOBS = 12
FAILOVER_FIRES = 120  # over 12 s: the master is killed about 4 s in
# Test-sized: an attempt's begin and finish wait out the failover (1.5 s node timeout, then the
# election); an unbegun message is published again after 5 s.
SETTINGS = {"redis_outage_retry_s": 30, "republish_after_s": 5, "beat_max_sleep_s": 1}


@pytest.fixture
def cluster_config(
    redis_cluster: RedisClusterForTests, broker_redis_url: str, tmp_path: Path
) -> Config:
    redis_cluster.flush()
    redis.Redis.from_url(broker_redis_url).flushdb()
    return Config.from_env(
        {},
        redis_url=redis_cluster.url,
        broker_url=broker_redis_url,
        data_dir=str(tmp_path),
        target_allowlist=("127.0.0.0/8",),
        **UNLIMITED,
    )


@pytest.fixture
def cluster_store(cluster_config: Config) -> Store:
    return Store.from_url(cluster_config.redis_url, outage_retry_s=30, outbox=True)


@pytest.fixture
def cluster_processes(cluster_config: Config, tmp_path: Path) -> Iterator[ProcessGroup]:
    group = ProcessGroup(cluster_config.redis_url, tmp_path)
    try:
        yield group
    finally:
        group.stop_all()


def delivered(receiver: HttpReceiver) -> Counter[str]:
    return Counter(r.headers.get("webhook-id", "") for r in receiver.requests)


def settled(store: Store) -> bool:
    """Nothing left in the ledger or the outboxes (read as a worker reads: riding out the
    moment its client still names a killed master)."""
    return store.patiently(
        lambda: store.ledger_size() == 0 and not any(store.outbox_depths().values())
    )


def test_jobs_posted_to_the_api_are_delivered_once(
    cluster_config: Config,
    cluster_store: Store,
    cluster_processes: ProcessGroup,
    receiver: HttpReceiver,
) -> None:
    broker = {"broker_url": cluster_config.broker_url}
    cluster_processes.beat(**broker)
    cluster_processes.worker("webhooks", **broker)
    api: FlaskClient = create_app(cluster_config).test_client()
    key = load_secret_key(cluster_config)
    creds = create_account(cluster_store, "acme", secret_key=key, now_ms=now_ms())
    start = now_ms() + 1000
    headers = {**basic(creds), "Content-Type": "application/json"}
    for n in range(JOBS):
        doc = {"url": receiver.url, "data": f"job {n}", "when": iso(start + n * 1000 // JOBS)}
        assert api.post("/1/jobs", data=json.dumps(doc), headers=headers).status_code == 200

    wait_until(lambda: receiver.count() >= JOBS, timeout_s=60, what="every job delivered")
    wait_until(lambda: settled(cluster_store), what="the ledger and the outbox empty")
    counts = delivered(receiver)
    assert len(counts) == JOBS and set(counts.values()) == {1}
    assert sorted(r.body.decode() for r in receiver.requests) == sorted(
        f"job {n}" for n in range(JOBS)
    )
    assert api.get("/1/jobs", headers=basic(creds)).status_code == 200


def test_a_killed_master_loses_no_fire_and_doubles_none_with_wait_replicas(
    own_cluster: RedisClusterForTests,
    broker_redis_url: str,
    tmp_path: Path,
    receiver: HttpReceiver,
) -> None:
    redis.Redis.from_url(broker_redis_url).flushdb()
    cluster_store = Store.from_url(
        own_cluster.url, outage_retry_s=30, wait_replicas=1, wait_timeout_ms=5000
    )
    cluster_processes = ProcessGroup(own_cluster.url, tmp_path)
    try:
        failover_under_load(
            own_cluster, cluster_store, cluster_processes, broker_redis_url, receiver
        )
    finally:
        cluster_processes.stop_all()


def failover_under_load(
    cluster: RedisClusterForTests,
    cluster_store: Store,
    cluster_processes: ProcessGroup,
    broker_url: str,
    receiver: HttpReceiver,
) -> None:
    settings = {"broker_url": broker_url, "redis_wait_replicas": 1, **SETTINGS}
    cluster_processes.beat(**settings)
    cluster_processes.worker("webhooks", **settings)
    key = load_secret_key(Config.from_env({}, data_dir=str(cluster_processes.workdir)))
    account = create_account(cluster_store, "acme", secret_key=key, now_ms=now_ms())["appkey"]
    start = now_ms() + 2000
    ids = []
    for n in range(FAILOVER_FIRES):
        due = start + n * 100
        schedule = webhook_schedule(once(due), receiver.url, account=account)
        cluster_store.put_schedule(schedule, due)
        ids.append(execution_id(schedule.id, due))
    # The schedules themselves must be on the replicas too (the API waits as the beat does).
    assert cluster_store.replicated(*(cluster_store.keys_for(i).due() for i in ids)) == 1

    wait_until(lambda: receiver.count() >= FAILOVER_FIRES // 4, what="a quarter delivered")
    killed_at = time.monotonic()
    cluster.kill_master_of(cluster_store.keys.due())
    took_over_s = time.monotonic() - killed_at

    wait_until(
        lambda: set(delivered(receiver)) >= set(ids), timeout_s=120, what="every fire delivered"
    )
    wait_until(lambda: settled(cluster_store), timeout_s=60, what="the ledger and outbox empty")
    seen = now_ms()  # a few more ticks and sweeps: a late copy would show by then

    def ticked_since() -> bool:
        return (cluster_store.patiently(cluster_store.last_beat_ms) or 0) > seen + 2000

    wait_until(ticked_since, what="more ticks")
    counts = delivered(receiver)
    assert counts == dict.fromkeys(ids, 1), (
        f"took over in {took_over_s:.1f} s; doubled: {[i for i, c in counts.items() if c > 1]}"
    )
    assert all(proc.poll() is None for proc in cluster_processes.procs)  # rode it out
