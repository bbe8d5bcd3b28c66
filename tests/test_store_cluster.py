"""The store on Redis Cluster (``REDIS_URL=redis+cluster://``): what the store modules that run
on both (``ALSO_ON_CLUSTER``) do not already cover: the settings it needs, the names of the keys
outside the engine, the scripts no such module calls, the wake channel, and a script cache
emptied under the client (a master replaced by its replica starts with none).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import pytest
from redis.crc import key_slot

from scheduler_api.app import create_app
from shared.accounts import create_account
from shared.config import Config
from shared.errors import ConfigError, UnsafeRedisConfig
from shared.store import Keys, LeaseOutcome, Store
from tests.factories import every, webhook_schedule
from tests.redis_cluster_support import RedisClusterForTests
from tests.support import UNLIMITED, basic, now_ms, wait_until

T0 = 1_800_000_000_000
MIN = 60_000


@pytest.fixture
def cluster_store(redis_cluster: RedisClusterForTests) -> Store:
    redis_cluster.flush()
    return Store.from_url(redis_cluster.url)


def test_a_cluster_store_needs_a_broker_apart() -> None:
    with pytest.raises(ConfigError, match="SCHEDULER_BROKER_URL") as refused:
        Config.from_env({"REDIS_URL": "redis+cluster://10.0.0.1:7000"})
    assert "\n" not in str(refused.value)  # one line says what to set
    with pytest.raises(ConfigError, match="SCHEDULER_BROKER_URL"):  # a cluster is no broker
        Config.from_env(
            {"REDIS_URL": "redis://h:1/0", "SCHEDULER_BROKER_URL": "redis+cluster://h:1"}
        )
    for broker in ("redis://broker:6379/0", "amqp://u:p@rabbit:5672//"):
        config = Config.from_env(
            {"REDIS_URL": "redis+cluster://10.0.0.1:7000", "SCHEDULER_BROKER_URL": broker}
        )
        assert config.broker_is_apart


def test_keys_outside_the_engine_are_tagged_on_a_cluster_only() -> None:
    single, cluster = Keys("sched"), Keys("sched", cluster=True)
    assert single.accounts() == "sched:accounts"  # as stored before: no migration
    assert single.rate_limits() == "sched:ratelimit"
    outside = (
        Keys.accounts,
        Keys.account_keys,
        Keys.push_credentials,
        Keys.wake_channel,
        Keys.rate_limits,
        lambda keys: keys.api_keys("a"),
        lambda keys: keys.idempotency("a", "d"),
        lambda keys: keys.dashboard_session("d"),
    )
    names = [name(cluster) for name in outside]
    assert all(name.startswith("sched:{global}:") for name in names)
    assert len({key_slot(name.encode()) for name in names}) == 1
    assert cluster.due() == single.due()  # engine keys keep their partition's tag


def test_a_cluster_store_always_publishes_to_its_outbox(cluster_store: Store) -> None:
    assert cluster_store.keys.outbox_on
    cluster_store.publish("webhooks", "m", route="a")
    assert cluster_store.outbox_depths()["webhooks"] == 1
    cluster_store.put_schedule(webhook_schedule(every(MIN, T0), account="a"), T0)
    gauges = cluster_store.gauges()  # one pipeline over the masters (the metrics' scrape)
    assert (gauges.stored, gauges.due, gauges.queue_depths["webhooks"]) == (1, 1, 1)


def test_task_log_and_an_account_snapshot(cluster_store: Store) -> None:
    schedule = webhook_schedule(every(MIN, T0), account="a")
    cluster_store.put_schedule(schedule, T0)
    log = {"account": "a", "cap": 10, "retention_s": 60}
    first = cluster_store.log_task(schedule.id, {"event": "added"}, **log)
    second = cluster_store.log_task(schedule.id, {"event": "run"}, run_started_ms=T0, **log)
    assert second == first + 1
    assert [e["event"] for e in cluster_store.task_log_entries(schedule.id)] == ["run", "added"]
    assert cluster_store.task_last_runs([schedule.id]) == [T0]
    cluster_store.next_task_ids("a", 1, 2)
    counters, rows = cluster_store.account_snapshot("a")
    assert counters == {"task": 1, "item": 2}
    assert [(row[0]["id"], row[1]) for row in rows] == [(schedule.id, T0)]


def test_a_job_lease_runs_out_and_its_history_is_written_once(cluster_store: Store) -> None:
    fields = {"status": "queued", "doc": json.dumps({"name": "j"})}
    job = cluster_store.create_job(1, "a", "east", fields, queue_at_s=0, event="")
    assert cluster_store.queued_job_ids("a", "east") == [job]
    expired = cluster_store.expire_job_lease(
        job, "a", "east", "no-such-lease", 1, ("{}", "{}"), 5, 60
    )
    assert expired == LeaseOutcome.STALE  # not this job's lease: nothing done
    history = {"account": "a", "job_id": job, "cap": 5, "retention_s": 60}
    assert cluster_store.append_job_history(event_id="e1", entries=['{"n": 1}'], **history)
    assert not cluster_store.append_job_history(event_id="e1", entries=['{"n": 1}'], **history)
    assert cluster_store.job_history("a", job) == [{"n": 1}]


def test_a_written_schedule_wakes_a_watching_beat(cluster_store: Store) -> None:
    announced: list[int] = []
    arrived = threading.Event()

    def on_announce(ms: int) -> None:
        announced.append(ms)
        arrived.set()

    watch = cluster_store.watch_wake(on_announce, on_error=lambda exc: None)
    try:
        schedule = webhook_schedule(every(MIN, T0), account="a")
        # The subscription is made in the background: write until one announcement arrives.
        for _ in range(100):
            cluster_store.put_schedule(schedule, T0)
            if arrived.wait(0.2):
                break
        assert T0 in announced
    finally:
        watch.close()


def test_scripts_are_loaded_again_on_a_master_that_lost_them(
    cluster_store: Store, redis_cluster: RedisClusterForTests
) -> None:
    """A replica promoted to master has an empty script cache (Redis does not replicate it)."""
    cluster_store.load_scripts()
    for node in redis_cluster.masters():
        node.client().script_flush()
    schedule = webhook_schedule(every(MIN, T0), account="a")
    cluster_store.put_schedule(schedule, T0)  # a script called by itself (redis-py reloads it)
    for node in redis_cluster.masters():
        node.client().script_flush()
    verdicts, accounts = cluster_store.begin_executions(  # pipelined (see StoreBase.pipelined)
        [(f"{schedule.id}:1", 1)],
        60,
        3,
        now_ms=T0,
        lease_ms=10_000,
        delivery_tag="t",
        accounts=["a"],
    )
    assert [verdict.value for verdict in verdicts] == ["run"]
    assert accounts == {"a": None}
    for node in redis_cluster.masters():
        node.client().script_flush()
    more = [webhook_schedule(every(MIN, T0), account="b") for _ in range(20)]
    cluster_store.put_schedules((one, T0) for one in more)  # a bulk write (restore) pipelines it
    assert cluster_store.count_schedules("b", "test") == 20


def test_a_node_that_may_evict_is_refused(
    cluster_store: Store, redis_cluster: RedisClusterForTests
) -> None:
    replica = next(node for node in redis_cluster.nodes if node not in redis_cluster.masters())
    replica.client().config_set("maxmemory-policy", "allkeys-lru")
    try:
        with pytest.raises(UnsafeRedisConfig, match="allkeys-lru"):
            cluster_store.check_redis_is_safe()  # a replica becomes the master after a failover
    finally:
        replica.client().config_set("maxmemory-policy", "noeviction")
    cluster_store.check_redis_is_safe()


def test_a_commit_waits_for_the_replica_when_asked(
    redis_cluster: RedisClusterForTests, caplog: pytest.LogCaptureFixture
) -> None:
    redis_cluster.flush()
    durable = Store.from_url(redis_cluster.url, wait_replicas=1, wait_timeout_ms=10_000)
    schedule = webhook_schedule(every(MIN, T0), account="a")
    durable.put_schedule(schedule, T0)
    assert durable.replicated(durable.keys.due(), durable.keys.accounts()) == 1
    # Two replicas asked of masters that have one: the wait ends at its timeout, and says so.
    greedy = Store.from_url(redis_cluster.url, wait_replicas=2, wait_timeout_ms=50)
    assert greedy.replicated(greedy.keys.due()) == 1
    assert "1 of 2 replicas acknowledged within 50 ms" in caplog.text
    assert greedy.replicated(greedy.keys.due()) == 0  # not waited on again for a while
    assert Store.from_url(redis_cluster.url).replicated(durable.keys.due()) == 0  # off


def test_the_api_answers_503_while_a_master_fails_over_then_serves_again(
    own_cluster: RedisClusterForTests, broker_redis_url: str, tmp_path: Path
) -> None:
    config = Config.from_env(
        {},
        redis_url=own_cluster.url,
        broker_url=broker_redis_url,
        data_dir=str(tmp_path),
        **UNLIMITED,
    )
    store = Store.from_url(own_cluster.url)
    creds = create_account(store, "acme", secret_key=b"k" * 32, now_ms=now_ms())
    api = create_app(config).test_client()
    assert api.get("/v1/schedules", headers=basic(creds)).status_code == 200
    victim = own_cluster.master_of(store.keys.accounts())  # every request reads its account
    victim.kill()
    answers = {api.get("/v1/schedules", headers=basic(creds)).status_code}  # the master is gone
    own_cluster.wait_healthy()  # its replica took over
    wait_until(
        lambda: (
            answers.add(api.get("/v1/schedules", headers=basic(creds)).status_code)
            or 200 in answers
        ),
        what="served again",
    )
    assert answers == {503, 200}  # an outage while it lasts, never an error of ours


def test_only_the_part_a_master_without_its_scripts_failed_is_sent_again(
    redis_cluster: RedisClusterForTests,
) -> None:
    """Executions on every master in one pipeline; one master lost its scripts: the others'
    begins ran once (a second run would count a lost delivery: "rerun")."""
    redis_cluster.flush()
    spread = Store.from_url(redis_cluster.url, partitions=4)
    spread.load_scripts()
    ids = [f"sched-{n}:1" for n in range(8)]
    assert {spread.partition_for(i) for i in ids} == {0, 1, 2, 3}
    redis_cluster.master_of(spread.partition_keys[0].due()).client().script_flush()
    verdicts, _ = spread.begin_executions(
        [(i, 1) for i in ids], 60, 3, now_ms=T0, lease_ms=10_000, delivery_tag="t"
    )
    assert [verdict.value for verdict in verdicts] == ["run"] * len(ids)


def test_the_wake_watch_moves_to_another_node_when_its_node_fails(
    own_cluster: RedisClusterForTests,
) -> None:
    store = Store.from_url(own_cluster.url)
    announced: list[int] = []
    errors: list[BaseException] = []
    watch = store.watch_wake(announced.append, errors.append)
    try:
        schedule = webhook_schedule(every(MIN, T0), account="a")

        def heard(ms: int) -> bool:
            store.put_schedule(schedule, ms)  # announced again until the watch hears it
            return ms in announced

        wait_until(lambda: heard(T0), what="an announcement")
        own_cluster.kill_master_of(store.keys.wake_channel())  # the node it listens on first
        wait_until(lambda: heard(T0 + 1), what="an announcement after the failover")
        assert errors  # it noticed, and moved on
    finally:
        watch.close()


def test_a_durable_write_returns_only_once_the_replica_has_it(
    own_cluster: RedisClusterForTests,
) -> None:
    """SCHEDULER_REDIS_WAIT_REPLICAS=1: the API's write of a schedule waits while replication to
    the replica is stalled, and survives its master's death once it returned."""
    store = Store.from_url(
        own_cluster.url, outage_retry_s=30, wait_replicas=1, wait_timeout_ms=60_000
    )
    schedule = webhook_schedule(every(MIN, T0), account="a")
    key = store.keys_for(schedule.id).definitions()
    replica = own_cluster.replica_of(own_cluster.master_of(key))
    resumed = threading.Event()

    def resume() -> None:
        resumed.set()
        replica.resume()

    replica.pause()
    threading.Timer(1.0, resume).start()
    store.put_schedule(schedule, T0)
    assert resumed.is_set()  # it did not return while the replica could not have the write
    own_cluster.kill_master_of(key)  # at once: only the replica can still have it
    # The client learns the new master on its first call after the failover (one refused
    # connection, ridden out as a worker rides it out).
    assert store.patiently(lambda: store.get_schedule(schedule.id)) == schedule
    assert store.next_fire_ms(schedule.id) == T0
